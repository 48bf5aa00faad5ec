"""The real ``coinray`` console script: ingest file, sql, doctor, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.integration
COINRAY = [sys.executable, "-m", "cluster.cli"]


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COINRAY, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def count(sql: str = "SELECT count() AS n FROM candles FINAL") -> int:
    out = run("sql", sql, "--format", "json")
    assert out.returncode == 0, out.stderr
    return int(json.loads(out.stdout)[0]["n"])


def test_ingest_is_idempotent_and_reports_json(sample_dir: Path) -> None:
    files = [str(sample_dir / "BTC_USDT-1d.feather"), str(sample_dir / "ETH_USDT-1d.feather")]
    out = run("ingest", "file", *files, "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    raw_rows = sum(pl.read_ipc(f).height for f in files)
    assert summary["files"] == 2 and summary["rows_ingested"] == raw_rows and summary["rows_rejected"] == 0
    assert summary["symbols"] == ["BTC/USDT", "ETH/USDT"] and summary["timeframes"] == ["1d"]
    before = count()
    assert before == raw_rows
    again = run("ingest", "file", *files, "--json")
    assert again.returncode == 0
    assert count() == before


def test_bad_rows_are_reported_and_recorded(tmp_path: Path) -> None:
    bad = tmp_path / "SOL_USDT-1h.csv"
    bad.write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,100,110,95,105,10\n"
        "2024-01-01T01:00:00Z,105,104,101,107,12\n"  # high below close
        "2024-01-01T02:00:00Z,107,109,100,101,-9\n"  # negative volume
        "2024-01-01T03:00:00Z,101,103,100,102,5\n"
    )
    missing = tmp_path / "BTC_USDT-1h.csv"
    missing.write_text("date,open,high,low,close\n2024-01-01T00:00:00Z,1,2,0.5,1.5\n")
    out = run("ingest", "file", str(bad), str(missing), "--json")
    assert out.returncode == 1  # one file could not be used at all
    summary = json.loads(out.stdout)
    assert summary["rows_ingested"] == 2 and summary["rows_rejected"] == 2
    assert summary["rejects_by_rule"] == {"high_below_open_close": 1, "missing_columns": 1, "negative_volume": 1}
    assert "volume" in summary["failed_files"][str(missing)]
    rec = run("sql", "SELECT file, row, rule FROM data_quality ORDER BY file, row", "--format", "csv")
    lines = rec.stdout.strip().splitlines()
    assert lines[0] == "file,row,rule"
    assert f"{missing},0,missing_columns" in lines
    assert f"{bad},2,high_below_open_close" in lines and f"{bad},3,negative_volume" in lines
    human = run("ingest", "file", str(bad))
    assert "row 2: high_below_open_close" in human.stdout and human.returncode == 0
    assert run("ingest", "file", str(bad), "--strict").returncode == 1


def test_sql_formats_and_errors() -> None:
    table = run("sql", "SELECT 1 AS one, 'x' AS s")
    assert table.returncode == 0 and "one" in table.stdout and "1 row(s)" in table.stdout
    assert run("sql", "SELECT 1 AS one", "--format", "csv").stdout.splitlines() == ["one", "1"]
    bad = run("sql", "SELEKT nonsense")
    assert bad.returncode == 1 and "chdb query failed" in bad.stderr
    fmt = run("sql", "SELECT 1", "--format", "xml")
    assert fmt.returncode == 2 and "--format must be" in fmt.stderr


def test_bad_config_exits_2_with_message(tmp_path: Path) -> None:
    out = run("sql", "SELECT 1", env={"COINRAY_LOG_LEVEL": "LOUD"})
    assert out.returncode == 2 and "configuration error" in out.stderr and "log_level" in out.stderr
    assert run("ingest", "file", "x.csv", "--timeframe", "2h").returncode == 2


def test_doctor_reports_and_masks(tmp_path: Path) -> None:
    out = run("doctor", "--json", "--skip", "ray")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["ok"] is True
    assert {c["component"] for c in doc["checks"]} == {"data dir", "store", "redis", "models"}
    assert doc["config"]["data_dir"] == os.environ["COINRAY_DATA_DIR"]
    broken = run("doctor", "--json", "--skip", "ray", "--skip", "models",
                 env={"COINRAY_REDIS_URL": "redis://app:hunter2@127.0.0.1:1/0"})
    assert broken.returncode == 1
    assert "hunter2" not in broken.stdout + broken.stderr
    doc = json.loads(broken.stdout)
    redis_check = next(c for c in doc["checks"] if c["component"] == "redis")
    assert redis_check["ok"] is False and redis_check["fix"]
    assert doc["config"]["redis_url"] == "redis://app:***@127.0.0.1:1/0"


def test_doctor_data_dir_failure_has_a_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    out = run("doctor", "--json", "--skip", "ray", "--skip", "store", "--skip", "redis",
              env={"COINRAY_DATA_DIR": str(blocker / "sub")})
    doc = json.loads(out.stdout)
    check = next(c for c in doc["checks"] if c["component"] == "data dir")
    assert out.returncode == 1 and check["ok"] is False and "COINRAY_DATA_DIR" in check["fix"]


@pytest.mark.slow
def test_doctor_checks_ray() -> None:
    out = run("doctor", "--json", "--skip", "store", "--skip", "redis", "--skip", "models", timeout=300)
    doc = json.loads(out.stdout)
    ray_check = next(c for c in doc["checks"] if c["component"] == "ray")
    assert ray_check["ok"] is True and "task round-trip ok" in ray_check["detail"]


def test_help_lists_what_exists() -> None:
    out = run("--help")
    for command in ("demo", "doctor", "sql", "ingest"):
        assert command in out.stdout
