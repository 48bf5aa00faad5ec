"""Read models of the dashboard pages: rankings, sentiment, anomalies, ingestion health, backtests.

Each function runs one or two queries on a :class:`~serve.ui.source.UiSource` and returns
JSON-ready values. Tables owned by other areas may not exist yet; then the result is empty.
"""

from __future__ import annotations

import json
import math
from typing import Any

from cluster.store import quote
from serve.ui.source import UiSource, has_table


def _rows(source: UiSource, sql: str) -> list[dict[str, Any]]:
    table = source.query(sql)
    return table.to_pylist() if table.num_rows else []


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _clean_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in rows]


def series_catalog(source: UiSource) -> list[dict[str, Any]]:
    """Stored candle series: exchange, symbol, timeframe, bars, first and last bar (ms), last ingest."""
    return _clean_rows(_rows(source, (
        f"SELECT exchange, symbol, timeframe, count() AS bars, min(ts) AS first_ts, max(ts) AS last_ts, "
        f"toUnixTimestamp64Milli(max(ingested_at)) AS ingested_ms FROM {source.db}.candles FINAL "
        "GROUP BY exchange, symbol, timeframe ORDER BY exchange, symbol, timeframe")))


def ingestion_health(source: UiSource, *, now_ms: int) -> list[dict[str, Any]]:
    """Per series: last bar, lag behind ``now_ms`` in bars, and open (unrepaired) gaps."""
    from cluster.schemas import TIMEFRAME_MS

    gaps: dict[tuple[str, str, str], int] = {}
    if has_table(source, "data_gaps"):
        for row in _rows(source, f"SELECT exchange, symbol, timeframe, count() AS n FROM {source.db}.data_gaps "
                                 "FINAL WHERE repaired_at IS NULL GROUP BY exchange, symbol, timeframe"):
            gaps[(row["exchange"], row["symbol"], row["timeframe"])] = int(row["n"])
    out = []
    for s in series_catalog(source):
        step = TIMEFRAME_MS.get(s["timeframe"], 60_000)
        lag = max(0, (now_ms - int(s["last_ts"])) // step - 1)
        key = (s["exchange"], s["symbol"], s["timeframe"])
        out.append({**s, "lag_bars": int(lag), "open_gaps": gaps.get(key, 0)})
    return out


def latest_ranking(source: UiSource, *, timeframe: str | None = None) -> dict[str, Any]:
    """The newest ranking run (optionally of one timeframe): run id, as-of ts and ranked rows."""
    where = f"WHERE timeframe = {quote(timeframe)}" if timeframe else ""
    head = _rows(source, f"SELECT run_id, ts, timeframe, exchange FROM {source.db}.rankings {where} "
                         "ORDER BY created_at DESC, run_id DESC LIMIT 1")
    if not head:
        return {"run_id": None, "ts": None, "timeframe": timeframe, "rows": []}
    run = head[0]
    cond = f"run_id = {quote(run['run_id'])} AND timeframe = {quote(run['timeframe'])}"
    rows = _rows(source, f"SELECT rank, symbol, score, rationale, contributions FROM {source.db}.rankings FINAL "
                         f"WHERE {cond} ORDER BY rank")
    for row in rows:
        row["contributions"] = {k: _clean(v) for k, v in (row["contributions"] or [])}
    return {**run, "rows": _clean_rows(rows)}


def sentiment_heatmap(source: UiSource) -> dict[str, Any]:
    """Latest engagement-weighted sentiment per symbol x timeframe (``sentiment_agg``), with counts."""
    if not has_table(source, "sentiment_agg"):
        return {"symbols": [], "timeframes": [], "z": [], "n": []}
    rows = _rows(source, (
        f"SELECT symbol, timeframe, argMax(engagement_score, ts) AS score, argMax(n, ts) AS n, max(ts) AS last_ts "
        f"FROM {source.db}.sentiment_agg GROUP BY symbol, timeframe"))
    from cluster.settings import TIMEFRAMES

    symbols = sorted({r["symbol"] for r in rows})
    tfs = [tf for tf in TIMEFRAMES if any(r["timeframe"] == tf for r in rows)]
    cell = {(r["symbol"], r["timeframe"]): r for r in rows}
    z = [[_clean(cell[(s, tf)]["score"]) if (s, tf) in cell else None for tf in tfs] for s in symbols]
    n = [[int(cell[(s, tf)]["n"]) if (s, tf) in cell else 0 for tf in tfs] for s in symbols]
    return {"symbols": symbols, "timeframes": tfs, "z": z, "n": n}


def sentiment_timeline(source: UiSource, *, symbol: str, timeframe: str, start_ms: int | None = None,
                       end_ms: int | None = None) -> list[dict[str, Any]]:
    """Sentiment buckets of one symbol: ts, n, mean and engagement-weighted score."""
    if not has_table(source, "sentiment_agg"):
        return []
    cond = [f"symbol = {quote(symbol)}", f"timeframe = {quote(timeframe)}"]
    if start_ms is not None:
        cond.append(f"ts >= {int(start_ms)}")
    if end_ms is not None:
        cond.append(f"ts < {int(end_ms)}")
    return _clean_rows(_rows(source, (
        f"SELECT ts, n, mean_score, engagement_score FROM {source.db}.sentiment_agg "
        f"WHERE {' AND '.join(cond)} ORDER BY ts")))


def latest_anomalies(source: UiSource, *, limit: int = 20, symbol: str | None = None) -> list[dict[str, Any]]:
    """The newest stored anomalies (``anomalies`` table of the analytics pipeline)."""
    if not has_table(source, "anomalies"):
        return []
    where = f"WHERE symbol = {quote(symbol)}" if symbol else ""
    return _clean_rows(_rows(source, (
        f"SELECT exchange, symbol, timeframe, ts, kind, score, explanation FROM {source.db}.anomalies FINAL "
        f"{where} ORDER BY ts DESC, symbol LIMIT {int(limit)}")))


def backtest_runs(source: UiSource, *, limit: int = 100) -> list[dict[str, Any]]:
    """Backtest runs, newest first: id, status, strategy, params, timeframe, symbols, key metrics."""
    if not has_table(source, "backtests"):
        return []
    rows = _rows(source, (
        f"SELECT run_id, status, strategy, params, timeframe, symbols, metrics, "
        f"toUnixTimestamp64Milli(created_at) AS created_ms FROM {source.db}.backtests FINAL "
        f"ORDER BY created_at DESC, run_id LIMIT {int(limit)}"))
    for row in rows:
        row["metrics"] = {k: _clean(v) for k, v in (row["metrics"] or [])}
        row["params"] = json.loads(row["params"] or "{}")
    return rows


def backtest_detail(source: UiSource, run_id: str) -> dict[str, Any] | None:
    """One run: the stored row plus its parsed result (summary, trades, equity and drawdown curves)."""
    if not has_table(source, "backtests"):
        return None
    rows = _rows(source, f"SELECT * FROM {source.db}.backtests FINAL WHERE run_id = {quote(run_id)}")
    if not rows:
        return None
    row = rows[0]
    result = json.loads(row["result"]) if row["result"] else {}
    return {
        "run_id": row["run_id"], "status": row["status"], "strategy": row["strategy"],
        "params": json.loads(row["params"] or "{}"), "timeframe": row["timeframe"], "symbols": row["symbols"],
        "start_ts": row["start_ts"], "end_ts": row["end_ts"], "error": row["error"],
        "metrics": {k: _clean(v) for k, v in (row["metrics"] or [])}, "result": result,
    }


def fills(source: UiSource, *, symbol: str, start_ms: int | None = None) -> list[dict[str, Any]]:
    """Paper/live fills of a symbol (``fills`` table of the execution area): ts, side, price, qty, account."""
    if not has_table(source, "fills"):
        return []
    cond = f"symbol = {quote(symbol)}" + (f" AND ts >= {int(start_ms)}" if start_ms is not None else "")
    return _clean_rows(_rows(source, (
        f"SELECT account, venue, ts, side, toFloat64(price) AS price, toFloat64(qty) AS qty "
        f"FROM {source.db}.fills FINAL WHERE {cond} ORDER BY ts")))


def models(source: UiSource) -> dict[str, Any]:
    """The model registry (``models`` table of the learning area) when it exists."""
    if not has_table(source, "models"):
        return {"available": False, "rows": []}
    return {"available": True, "rows": _clean_rows(_rows(source, f"SELECT * FROM {source.db}.models FINAL LIMIT 200"))}
