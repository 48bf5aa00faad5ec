"""``coinray trade --strategy topn`` in paper mode, end to end on replayed bundled candles, into the store."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.settings import load_settings
from cluster.store import open_store

pytestmark = pytest.mark.integration


def test_paper_trading_end_to_end() -> None:
    from cluster.cli import app

    result = CliRunner().invoke(app, ["trade", "--strategy", "topn", "--paper", "--rebalances", "4", "--top-n", "2",
                                      "--timeframe", "1d", "--capital", "20000"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["mode"] == "paper" and out["rebalances"] == 4 and out["stored"] is True
    assert out["orders"] >= 2 and out["fills"] >= 2 and out["reconcile"]["clean"]
    assert all(len(d["top"]) == 2 for d in out["decisions"])
    assert out["execution"]["orders"] == out["orders"] and out["execution"]["slippage_bps_mean"] > 0
    report = Path(out["report"])
    assert report.is_file() and "# Execution report" in report.read_text()
    assert json.loads(report.with_suffix(".json").read_text())["summary"]["orders"] == out["orders"]
    ops = open_store(load_settings())
    try:
        acct = f"paper-{out['run_id']}"
        fills = ops.store.query_arrow(f"SELECT symbol, side, qty FROM {ops.db}.fills FINAL WHERE account = '{acct}'")
        orders = ops.store.query_arrow(f"SELECT status FROM {ops.db}.orders FINAL WHERE account = '{acct}'")
        positions = ops.store.query_arrow(
            f"SELECT symbol, qty FROM {ops.db}.positions FINAL WHERE account = '{acct}'").to_pylist()
    finally:
        ops.store.close()
    assert fills.num_rows == out["fills"] and orders.num_rows == out["orders"]
    net: dict[str, Decimal] = {}
    for row in fills.to_pylist():
        net[row["symbol"]] = net.get(row["symbol"], Decimal(0)) + (row["qty"] if row["side"] == "buy" else -row["qty"])
    assert {k: v for k, v in net.items() if v} == {k: Decimal(v) for k, v in out["positions"].items()}
    assert {r["symbol"]: r["qty"] for r in positions if r["qty"]} == {k: v for k, v in net.items() if v}
