"""Execution monitoring: per-order metrics, summary, daily report and Prometheus text."""

from __future__ import annotations

import json
from decimal import Decimal

from actors.brokers.models import Order, OrderRequest, OrderStatus, OrderType, Side
from actors.oms_core import OrderTiming
from pipelines.execution_metrics import build_daily_report, order_metrics, slippage_bps, summarize, to_prometheus


def _order(status: OrderStatus, filled: str, avg: str | None, side: Side = Side.BUY, reason: str = "") -> Order:
    req = OrderRequest("c1", "BTC/USDT", side, OrderType.MARKET, Decimal(2))
    return Order(req, status, "v1", Decimal(filled), Decimal(avg) if avg else None, Decimal(0), 1000, 1200, reason,
                 "paper")


def test_order_metrics_slippage_latencies_fill_ratio() -> None:
    timing = OrderTiming(decision_ms=1000, arrival_price=Decimal(100), submit_ms=1002, ack_ms=1010,
                         first_fill_ms=1015, last_fill_ms=1030)
    row = order_metrics(_order(OrderStatus.PARTIALLY_FILLED, "1.5", "100.25"), timing)
    assert row["slippage_bps"] == 25.0 and row["submit_ack_ms"] == 8.0 and row["ack_fill_ms"] == 20.0
    assert row["fill_ratio"] == 0.75 and row["reject_rule"] == ""
    sell = order_metrics(_order(OrderStatus.FILLED, "2", "99.5", Side.SELL), timing)
    assert sell["slippage_bps"] == 50.0  # sold below arrival: worse
    assert slippage_bps("sell", 100.0, 101.0) == -100.0
    rejected = order_metrics(_order(OrderStatus.REJECTED, "0", None, reason="risk:price_band"), None)
    assert rejected["reject_rule"] == "price_band" and rejected["slippage_bps"] is None


def test_summary_report_and_prometheus() -> None:
    rows = [
        {"venue": "paper", "client_order_id": "a", "symbol": "BTC/USDT", "side": "buy", "status": "filled",
         "reject_rule": "", "decision_ms": 1, "arrival_price": 100.0, "avg_fill_price": 100.1, "slippage_bps": 10.0,
         "submit_ack_ms": 4.0, "ack_fill_ms": 1.0, "fill_ratio": 1.0},
        {"venue": "paper", "client_order_id": "b", "symbol": "ETH/USDT", "side": "sell", "status": "filled",
         "reject_rule": "", "decision_ms": 2, "arrival_price": 10.0, "avg_fill_price": 9.98, "slippage_bps": 20.0,
         "submit_ack_ms": 6.0, "ack_fill_ms": 3.0, "fill_ratio": 0.5},
        {"venue": "paper", "client_order_id": "c", "symbol": "ETH/USDT", "side": "buy", "status": "rejected",
         "reject_rule": "max_position", "decision_ms": 3, "arrival_price": 10.0, "avg_fill_price": None,
         "slippage_bps": None, "submit_ack_ms": None, "ack_fill_ms": None, "fill_ratio": 0.0},
    ]
    s = summarize(rows)
    assert s["orders"] == 3 and s["by_status"] == {"filled": 2, "rejected": 1}
    assert s["rejects_by_rule"] == {"max_position": 1} and s["slippage_bps_mean"] == 15.0
    assert s["fill_ratio_mean"] == 0.75 and s["submit_ack_ms_p50"] == 5.0
    md, js = build_daily_report(rows, day="2024-09-06")
    assert md.startswith("# Execution report 2024-09-06") and "| b | ETH/USDT | sell | filled | 0.500 | 20.00 |" in md
    assert "- max_position: 1" in md and json.loads(js)["summary"]["orders"] == 3
    text = to_prometheus(rows, account="acct")
    assert 'coinray_orders_total{account="acct",venue="paper",status="filled"} 2' in text
    assert 'coinray_order_rejects_total{account="acct",rule="max_position"} 1' in text
    assert 'coinray_slippage_bps_count{account="acct"} 2' in text
    assert 'coinray_submit_ack_ms{account="acct",quantile="0.5"} 5' in text
    from prometheus_client.parser import text_string_to_metric_families

    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"coinray_orders", "coinray_order_rejects", "coinray_slippage_bps", "coinray_fill_ratio"} <= names
