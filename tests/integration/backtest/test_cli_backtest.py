"""``coinray backtest``/``sweep`` end to end: stored candles, JSON/HTML output, the backtests table, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from cluster.errors import CoinrayError
from cluster.settings import load_settings
from cluster.store import open_store
from cluster.store.schema_backtest import read_backtest
from pipelines.backtest import BacktestConfig, VectorStrategy
from pipelines.backtest.strategies import SmaCrossParams
from tests.unit.backtest.conftest import SAMPLE_DIR, load_sample

pytestmark = pytest.mark.integration
COINRAY = [sys.executable, "-m", "cluster.cli"]


def run(*args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COINRAY, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "400"})


def _err(out: subprocess.CompletedProcess[str]) -> str:
    return " ".join(out.stderr.split())  # rich wraps long messages


def test_backtest_from_the_store_prints_json_writes_html_and_records_the_run(tmp_path: Path) -> None:
    # Arrange
    files = [str(SAMPLE_DIR / f"{s}_USDT-1h.feather") for s in ("BTC", "ETH")]
    assert run("ingest", "file", *files, "--json").returncode == 0
    report = tmp_path / "report.html"
    # Act
    out = run("backtest", "--symbols", "BTC/USDT,ETH/USDT", "--timeframe", "1h", "--start", "2024-02-01",
              "--end", "2024-06-01", "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=40",
              "--cash", "100000", "--commission", "0.001", "--slippage-bps", "5", "--json", "--html", str(report),
              "--run-id", "bt-cli-1")
    # Assert
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert {"final_equity", "return_pct", "sharpe", "sortino", "max_drawdown_pct", "win_rate", "n_trades", "fees",
            "trades"} <= set(summary)
    assert summary["n_trades"] == len(summary["trades"]) > 0
    first = summary["trades"][0]
    assert set(first) >= {"symbol", "entry_time", "exit_time", "entry_price", "exit_price", "size", "pnl"}
    assert first["entry_time"].startswith("2024-") and first["entry_time"].endswith("Z")
    assert summary["start"] == "2024-02-01T00:00:00Z" and summary["symbols"] == ["BTC/USDT", "ETH/USDT"]
    page = report.read_text()
    assert "<svg" in page and "Equity" in page and "BTC/USDT candles" in page
    stored = run("sql", "SELECT status, strategy, metrics['n_trades'] AS n, length(result) > 0 AS has_result "
                 "FROM backtests FINAL WHERE run_id = 'bt-cli-1'", "--format", "json")
    assert stored.returncode == 0, stored.stderr
    (row,) = json.loads(stored.stdout)
    assert row["status"] == "complete" and row["strategy"] == "sma_cross"
    assert int(row["n"]) == summary["n_trades"] and row["has_result"] in (1, True)


def test_bad_input_is_named() -> None:
    outside = run("backtest", "--candles", str(SAMPLE_DIR / "BTC_USDT-1d.feather"), "--timeframe", "1d",
                  "--start", "2030-01-01", "--no-store")
    assert outside.returncode == 1
    assert "available 2024-01-01T00:00:00Z .. 2024-09-05T00:00:00Z" in _err(outside)
    unknown = run("backtest", "--candles", str(SAMPLE_DIR / "BTC_USDT-1d.feather"), "--timeframe", "1d",
                  "--strategy", "magic", "--no-store")
    assert unknown.returncode == 2 or unknown.returncode == 1
    assert "valid: rsi_reversion, sma_cross, sma_cross_events, topn" in _err(unknown)
    bad_param = run("backtest", "--candles", str(SAMPLE_DIR / "BTC_USDT-1d.feather"), "--timeframe", "1d",
                    "--param", "speed=3", "--no-store")
    assert bad_param.returncode != 0 and "valid: fast" in _err(bad_param)
    empty = run("sweep", "--candles", str(SAMPLE_DIR / "BTC_USDT-1d.feather"), "--timeframe", "1d")
    assert empty.returncode == 2 and "--grid" in _err(empty)


class _Exploding(VectorStrategy):
    name: ClassVar[str] = "exploding"
    Params: ClassVar[type[SmaCrossParams]] = SmaCrossParams

    def signals(self, frame: pl.DataFrame, params: Any) -> pl.DataFrame:
        raise ZeroDivisionError("strategy bug on purpose")


def test_a_strategy_that_raises_fails_the_run_with_its_traceback() -> None:
    from cluster.commands.backtest import execute_backtest

    ops = open_store(load_settings())
    try:
        with pytest.raises(CoinrayError, match=r"ZeroDivisionError: strategy bug on purpose"):
            execute_backtest(ops, load_sample("BTC_USDT", "1d"), strategy=_Exploding(), raw_params={},
                             cfg=BacktestConfig(), timeframe="1d", run_id="bt-boom")
        row = read_backtest(ops.store, "bt-boom")
    finally:
        ops.store.close()
    assert row is not None
    assert row["status"] == "failed"
    assert "Traceback" in row["error"] and "in signals" in row["error"]
    assert row["result"] == ""
