"""``coinray demo`` end to end (real local Ray, chdb, managed Redis), checked against the raw files."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
COINRAY = [sys.executable, "-m", "cluster.cli"]


def raw_daily(sample_dir: Path, symbol: str) -> pl.DataFrame:
    base = symbol.split("/")[0]
    return pl.read_ipc(sample_dir / f"{base}_USDT-1d.feather").with_columns(ts=pl.col("date").dt.epoch("ms"))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINRAY_")}
    env.update(COINRAY_DATA_DIR=str(data_dir), COINRAY_RAY__NUM_CPUS="2", COINRAY_RAY__OBJECT_STORE_MEMORY_MB="300",
               RAY_USAGE_STATS_ENABLED="0")
    out = subprocess.run([*COINRAY, "demo", "--json"], capture_output=True, text=True, timeout=600, env=env,
                         cwd=data_dir.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    report = json.loads(Path(summary["report_json"]).read_text())
    return {"summary": summary, "report": report, "env": env, "data_dir": data_dir}


def test_reports_written_with_contract(demo_run: dict[str, object]) -> None:
    summary, report = demo_run["summary"], demo_run["report"]
    assert isinstance(summary, dict) and isinstance(report, dict)
    run_dir = Path(str(demo_run["data_dir"])) / "reports" / report["run_id"]
    assert (run_dir / "report.json").is_file() and (run_dir / "report.md").is_file()
    for key in ("schema_version", "run_id", "generated_at", "timeframe", "data", "top"):
        assert key in report
    assert set(report["data"]) >= {"start", "end", "symbols", "candles"}
    assert report["timeframe"] == "1d" and len(report["top"]) == 5
    for item in report["top"]:
        assert set(item) >= {"symbol", "rank", "score", "factors", "rationale"}
    md = (run_dir / "report.md").read_text()
    assert report["top"][0]["symbol"] in md and report["top"][0]["rationale"] in md


def test_figures_match_raw_files(demo_run: dict[str, object], sample_dir: Path) -> None:
    report = demo_run["report"]
    assert isinstance(report, dict)
    as_of_ms = int(np.datetime64(report["as_of"].rstrip("Z"), "ms").astype(np.int64))
    assert report["data"]["symbols"] == sorted(f"{s}/USDT" for s in
                                              ("BTC", "ETH", "XRP", "LTC", "SOL", "DOGE", "LINK", "AVAX", "TRX"))
    total_daily = sum(raw_daily(sample_dir, s).height for s in report["data"]["symbols"])
    assert report["data"]["candles"] == total_daily
    for item in report["top"]:
        raw = raw_daily(sample_dir, item["symbol"]).filter(pl.col("ts") <= as_of_ms)
        close = raw.get_column("close").to_numpy()
        ret_30d = close[-1] / close[-31] - 1
        assert item["factors"]["momentum"] == pytest.approx(ret_30d, rel=1e-9)
        assert f"{ret_30d * 100:+.2f}%" in item["rationale"]  # the stated 30-day return
        vol = np.std(np.diff(np.log(close))[-30:], ddof=1) * math.sqrt(365)
        assert item["factors"]["volatility"] == pytest.approx(vol, rel=1e-9)
        assert item["close"] == close[-1]
    scores = [t["score"] for t in report["top"]]
    assert scores == sorted(scores, reverse=True)


def test_store_and_bus_received_everything(demo_run: dict[str, object], sample_dir: Path) -> None:
    summary, report, env = demo_run["summary"], demo_run["report"], demo_run["env"]
    assert isinstance(summary, dict) and isinstance(report, dict) and isinstance(env, dict)
    raw_rows = sum(pl.read_ipc(p).height for p in sample_dir.glob("*.feather"))
    assert summary["import"]["rows_ingested"] == raw_rows and summary["published"] == raw_rows
    sql = (f"SELECT (SELECT count() FROM candles FINAL) AS candles, "
           f"(SELECT count() FROM rankings WHERE run_id = '{report['run_id']}') AS ranked")
    out = subprocess.run([*COINRAY, "sql", sql, "--format", "json"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)[0]
    assert int(row["candles"]) == raw_rows and int(row["ranked"]) == 9
    # a second demo run on the same data dir re-imports without duplicating anything
    again = subprocess.run([*COINRAY, "demo", "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    out = subprocess.run([*COINRAY, "sql", "SELECT count() AS n FROM candles FINAL", "--format", "json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert int(json.loads(out.stdout)[0]["n"]) == raw_rows


def test_report_uses_the_confidence_matrix(demo_run: dict[str, object]) -> None:
    report = demo_run["report"]
    assert isinstance(report, dict)
    section = report["confidence_matrix"]
    top = [item["symbol"] for item in report["top"]]
    assert section["timeframe"] == "1d" and set(section["symbols"]) == set(top)
    weight = report["method"]["weights"]["confidence_matrix"]
    for item in report["top"]:
        row = section["symbols"][item["symbol"]]
        assert set(row["factors"]) >= {"trend", "momentum", "mean_reversion", "volatility_regime"}
        for cell in (row["composite"], *row["factors"].values()):
            assert -1.0 <= cell["signal"] <= 1.0 and 0.0 <= cell["confidence"] <= 1.0
        # the score's confidence-matrix term is built from exactly this composite
        expected = weight * 2 * row["composite"]["signal"] * row["composite"]["confidence"]
        assert item["contributions"]["confidence_matrix"] == pytest.approx(expected, abs=1e-5)
    md = (Path(str(demo_run["data_dir"])) / "reports" / report["run_id"] / "report.md").read_text()
    assert "## Confidence matrix (1d, as-of bar)" in md
