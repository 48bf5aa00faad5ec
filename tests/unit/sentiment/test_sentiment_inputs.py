"""Input files: corrupt CSVs name the row; missing columns and bad Parquet are clear errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cluster.errors import ConfigError, ParseError, SchemaError
from pipelines.sentiment.input_files import read_text_file


def test_csv_with_quoted_newlines_reads(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('id,text\n1,"Bitcoin\nup"\n2,plain\n', encoding="utf-8")
    table = read_text_file(path, text_column="text", id_column="id")
    assert table.column("text").to_pylist() == ["Bitcoin\nup", "plain"]


def test_corrupt_csv_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,text\n1,fine\n2,also fine\n3,too,many\n", encoding="utf-8")
    with pytest.raises(ParseError, match="row 3 has 3 field"):
        read_text_file(path, text_column="text")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"id,text\n1,ok\n2,caf\xe9\n")
    with pytest.raises(ParseError, match="row 2 is not valid UTF-8"):
        read_text_file(latin, text_column="text")


def test_missing_column_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"body": ["x"], "n": [1]}), path)
    with pytest.raises(SchemaError, match="lacks column"):
        read_text_file(path, text_column="text")
    assert read_text_file(path, text_column="n").column("n").to_pylist() == ["1"]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(ParseError, match="not a readable Parquet"):
        read_text_file(broken, text_column="text")
    with pytest.raises(ConfigError):
        read_text_file(tmp_path / "x.json", text_column="text")
