"""Execution monitoring (pure): per-order slippage, latencies and fill ratio; summaries, reports, Prometheus text."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class _Timing(Protocol):
    decision_ms: int
    arrival_price: Any
    submit_ms: int | None
    ack_ms: int | None
    first_fill_ms: int | None
    last_fill_ms: int | None
    reject_rule: str


def slippage_bps(side: str, arrival_price: float, fill_price: float) -> float:
    """Slippage of a fill against the arrival price in basis points; positive = worse for us.

    >>> slippage_bps("buy", 100.0, 100.5)
    50.0
    >>> slippage_bps("sell", 100.0, 100.5)
    -50.0
    """
    sign = 1.0 if side == "buy" else -1.0
    return sign * (fill_price - arrival_price) / arrival_price * 1e4


def order_metrics(order: Any, timing: _Timing | None) -> dict[str, Any]:
    """One ``execution_metrics`` row for an order (an :class:`actors.brokers.models.Order`).

    Columns: venue, client_order_id, symbol, side, status, reject_rule, decision_ms, arrival_price,
    avg_fill_price, slippage_bps, submit_ack_ms, ack_fill_ms, fill_ratio.
    """
    req = order.request
    arrival = float(timing.arrival_price) if timing is not None and timing.arrival_price is not None else None
    avg = float(order.avg_price) if order.avg_price is not None and order.filled_qty > 0 else None
    slip = slippage_bps(str(req.side), arrival, avg) if arrival and avg is not None else None
    submit_ack = ack_fill = None
    if timing is not None and timing.submit_ms is not None and timing.ack_ms is not None:
        submit_ack = float(timing.ack_ms - timing.submit_ms)
    if timing is not None and timing.ack_ms is not None and timing.last_fill_ms is not None:
        ack_fill = float(max(0, timing.last_fill_ms - timing.ack_ms))
    rule = timing.reject_rule if timing is not None else ""
    if not rule and str(order.status) == "rejected":
        rule = order.reason.removeprefix("risk:") if order.reason.startswith("risk:") else "venue"
    return {"venue": order.venue, "client_order_id": req.client_order_id, "symbol": req.symbol,
            "side": str(req.side), "status": str(order.status), "reject_rule": rule,
            "decision_ms": timing.decision_ms if timing is not None else order.created_ms,
            "arrival_price": arrival, "avg_fill_price": avg, "slippage_bps": slip, "submit_ack_ms": submit_ack,
            "ack_fill_ms": ack_fill, "fill_ratio": float(order.filled_qty / req.qty)}


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Totals and distributions over execution-metrics rows.

    >>> summarize([{"status": "filled", "reject_rule": "", "slippage_bps": 2.0, "submit_ack_ms": 5.0,
    ...             "ack_fill_ms": 1.0, "fill_ratio": 1.0, "venue": "paper"}])["orders"]
    1
    """
    rows = list(rows)
    slips = [r["slippage_bps"] for r in rows if r.get("slippage_bps") is not None]
    acks = [r["submit_ack_ms"] for r in rows if r.get("submit_ack_ms") is not None]
    fills = [r["ack_fill_ms"] for r in rows if r.get("ack_fill_ms") is not None]
    sent = [r for r in rows if r["status"] != "rejected" or r.get("reject_rule") == "venue"]
    return {
        "orders": len(rows),
        "by_status": dict(Counter(r["status"] for r in rows)),
        "rejects_by_rule": dict(Counter(r["reject_rule"] for r in rows if r["status"] == "rejected")),
        "by_venue": dict(Counter(r.get("venue", "") for r in rows)),
        "fill_ratio_mean": sum(r["fill_ratio"] for r in sent) / len(sent) if sent else None,
        "slippage_bps_mean": sum(slips) / len(slips) if slips else None,
        "slippage_bps_p50": _percentile(slips, 0.5),
        "slippage_bps_p95": _percentile(slips, 0.95),
        "submit_ack_ms_p50": _percentile(acks, 0.5),
        "submit_ack_ms_p99": _percentile(acks, 0.99),
        "ack_fill_ms_p50": _percentile(fills, 0.5),
    }


def build_daily_report(rows: Iterable[dict[str, Any]], *, day: str) -> tuple[str, str]:
    """(Markdown, JSON) daily execution report for ``day`` (``YYYY-MM-DD``) from metrics rows."""
    rows = list(rows)
    summary = summarize(rows)
    doc = {"day": day, "summary": summary, "orders": rows}
    lines = [f"# Execution report {day}", "", "| measure | value |", "|---|---|"]
    for key in ("orders", "fill_ratio_mean", "slippage_bps_mean", "slippage_bps_p50", "slippage_bps_p95",
                "submit_ack_ms_p50", "submit_ack_ms_p99", "ack_fill_ms_p50"):
        value = summary[key]
        shown = "n/a" if value is None else round(value, 4) if isinstance(value, float) else value
        lines.append(f"| {key} | {shown} |")
    lines += ["", "## Orders by status", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(summary["by_status"].items())]
    lines += ["", "## Rejects by rule", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(summary["rejects_by_rule"].items())] or ["- none"]
    lines += ["", "## Orders", "", "| client id | symbol | side | status | fill ratio | slippage bps | ack ms |",
              "|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        slip = "" if r["slippage_bps"] is None else f"{r['slippage_bps']:.2f}"
        ack = "" if r["submit_ack_ms"] is None else f"{r['submit_ack_ms']:.1f}"
        lines.append(f"| {r['client_order_id']} | {r['symbol']} | {r['side']} | {r['status']} | "
                     f"{r['fill_ratio']:.3f} | {slip} | {ack} |")
    return "\n".join(lines) + "\n", json.dumps(doc, indent=2, default=str)


def to_prometheus(rows: Iterable[dict[str, Any]], *, account: str = "paper") -> str:
    """Prometheus text exposition of execution metrics (counters by status/rule, summaries of the rest)."""
    rows = list(rows)
    out = ["# HELP coinray_orders_total Orders by venue and final or current status.",
           "# TYPE coinray_orders_total counter"]
    for (venue, status), n in sorted(Counter((r.get("venue", ""), r["status"]) for r in rows).items()):
        out.append(f'coinray_orders_total{{account="{account}",venue="{venue}",status="{status}"}} {n}')
    out += ["# HELP coinray_order_rejects_total Rejected orders by rule.", "# TYPE coinray_order_rejects_total counter"]
    for rule, n in sorted(Counter(r["reject_rule"] for r in rows if r["status"] == "rejected").items()):
        out.append(f'coinray_order_rejects_total{{account="{account}",rule="{rule}"}} {n}')
    for name, key, help_ in (("coinray_slippage_bps", "slippage_bps", "Slippage against arrival price, bps."),
                             ("coinray_submit_ack_ms", "submit_ack_ms", "Submit to acknowledgement latency, ms."),
                             ("coinray_ack_fill_ms", "ack_fill_ms", "Acknowledgement to last fill latency, ms."),
                             ("coinray_fill_ratio", "fill_ratio", "Filled quantity / order quantity.")):
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        out += [f"# HELP {name} {help_}", f"# TYPE {name} summary"]
        for q in (0.5, 0.99):
            v = _percentile(values, q)
            if v is not None:
                out.append(f'{name}{{account="{account}",quantile="{q}"}} {v:.6g}')
        out.append(f'{name}_sum{{account="{account}"}} {sum(values):.6g}')
        out.append(f'{name}_count{{account="{account}"}} {len(values)}')
    return "\n".join(out) + "\n"
