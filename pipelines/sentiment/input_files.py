"""Read the texts to score from a CSV or Parquet file, naming the row when the file is corrupt."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cluster.errors import ConfigError, ParseError, SchemaError


def read_text_file(path: Path, *, text_column: str, id_column: str | None = None) -> pa.Table:
    """Read ``path`` (``.csv``/``.parquet``) and check that the text (and id) columns exist.

    Parameters
    ----------
    path:
        The input file.
    text_column:
        Column holding the texts (nulls count as empty texts).
    id_column:
        Optional id column that must be present.

    Returns
    -------
    pyarrow.Table
        Every column of the file; the text column as strings.

    Raises
    ------
    ParseError
        When a CSV row has the wrong number of fields or is not UTF-8 (the message names the row),
        or a Parquet file cannot be read.
    SchemaError
        When a named column is missing.
    ConfigError
        For an unsupported suffix or a missing file.
    """
    if not path.is_file():
        raise ConfigError(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ParseError(f"{path}: not a readable Parquet file: {exc}") from exc
    else:
        raise ConfigError(f"{path}: use a .csv or .parquet file, not {suffix or 'no suffix'}")
    wanted = [text_column] + ([id_column] if id_column else [])
    missing = frozenset(c for c in wanted if c not in table.column_names)
    if missing:
        raise SchemaError(f"{path} lacks column(s) {', '.join(sorted(missing))}; it has "
                          f"{', '.join(table.column_names)}", missing_columns=missing)
    text = table.column(text_column)
    if not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
        try:
            text = text.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(f"{path}: column {text_column!r} ({text.type}) is not text") from exc
        table = table.set_column(table.column_names.index(text_column), text_column, text)
    return table


def _read_csv(path: Path) -> pa.Table:
    """Strict CSV read: every data row must have as many fields as the header."""
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n")  # the header is line 1, so data row = newlines before the error
        raise ParseError(f"{path}: row {row} is not valid UTF-8 ({exc.reason})" if row else
                         f"{path}: the header row is not valid UTF-8 ({exc.reason})") from exc
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ParseError(f"{path}: empty file (no header row)")
        for row_fields in reader:
            if len(row_fields) != len(header):
                raise ParseError(
                    f"{path}: row {len(rows) + 1} has {len(row_fields)} field(s), the header has {len(header)}",
                    excerpt=",".join(row_fields))
            rows.append(row_fields)
    except csv.Error as exc:
        raise ParseError(f"{path}: row {len(rows) + 1}: {exc}") from exc
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    return pa.table({name: pa.array(list(col), pa.string()) for name, col in zip(header, columns, strict=True)})
