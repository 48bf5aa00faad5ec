"""Live updates for the dashboard: read the Redis candle streams, evaluate alert rules, fan out over SSE.

One :class:`LiveHub` per ingress process. Its loop ``XREAD``s ``coinray:candles:<exchange>``
(closed candles), keeps streaming indicators and signals (``pipelines.sliding_state``,
``pipelines.realtime_signals``), checks the alert rules (``pipelines.alerts``), stores fired
alerts, POSTs them to the rule's webhook, and pushes candles, signals and alerts to every open
page as server-sent events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pyarrow as pa

from cluster.bus import candle_stream
from cluster.store.schema_ui import ALERT_EVENTS, ALERT_RULES
from pipelines.alerts import AlertEngine, AlertRule, CandleEvent, FiredAlert, SentimentEvent, SignalEvent
from pipelines.realtime_signals import SignalEngine
from pipelines.sliding_state import StreamingFeatures
from serve.ui.source import UiSource, has_table

logger = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = 1000
SENTIMENT_POLL_S = 5.0


# -- rule storage ---------------------------------------------------------------------------------
def load_rules(source: UiSource) -> list[AlertRule]:
    """The current (not deleted) rules in ``alert_rules``."""
    rows = source.query(f"SELECT rule_id, rule, deleted FROM {source.db}.alert_rules FINAL ORDER BY rule_id")
    return [AlertRule.model_validate_json(r["rule"]) for r in rows.to_pylist() if not r["deleted"]]


def save_rule(source: UiSource, rule: AlertRule, *, deleted: bool = False) -> None:
    """Store a rule version (or its tombstone); the newest version wins."""
    source.insert("alert_rules", pa.Table.from_pylist([{
        "rule_id": rule.rule_id, "rule": rule.model_dump_json(), "deleted": int(deleted),
        "updated_at": int(time.time() * 1000)}], schema=ALERT_RULES))


def alert_history(source: UiSource, *, limit: int = 100) -> list[dict[str, Any]]:
    """Fired alerts, newest first."""
    rows = source.query(
        f"SELECT rule_id, rule_name, kind, exchange, symbol, timeframe, ts, value, message, webhook_status, "
        f"toUnixTimestamp64Milli(fired_at) AS fired_ms FROM {source.db}.alert_events FINAL "
        f"ORDER BY fired_at DESC, ts DESC LIMIT {int(limit)}")
    return rows.to_pylist() if rows.num_rows else []


def store_alerts(source: UiSource, alerts: list[FiredAlert], statuses: list[str]) -> None:
    """Append fired alerts (with their webhook delivery status) to ``alert_events``."""
    now = int(time.time() * 1000)
    rows = [{**a.as_dict(), "webhook_status": s, "fired_at": now} for a, s in zip(alerts, statuses, strict=True)]
    source.insert("alert_events", pa.Table.from_pylist(rows, schema=ALERT_EVENTS))


# -- candle stream -> events ---------------------------------------------------------------------
class StreamEvaluator:
    """Turns closed candles from the bus into alert events and evaluates the rules (no I/O)."""

    def __init__(self, rules: list[AlertRule]) -> None:
        self.engine = AlertEngine(rules)
        self.signals = SignalEngine()
        self._features: dict[str, StreamingFeatures] = {}
        self._last_ts: dict[tuple[str, str, str], int] = {}

    def on_candle(self, candle: dict[str, Any]) -> tuple[list[dict[str, Any]], list[FiredAlert]]:
        """Apply one closed candle; return the signals it produced and the alerts that fired."""
        key = (str(candle["exchange"]), str(candle["symbol"]), str(candle["timeframe"]))
        ts = int(candle["ts"])
        if ts <= self._last_ts.get(key, -1):
            return [], []
        self._last_ts[key] = ts
        feats = self._features.setdefault(key[2], StreamingFeatures())
        out = feats.update([f"{key[0]}|{key[1]}"], ts=np.array([ts], dtype=np.int64),
                           open_=np.array([candle["open"]]), high=np.array([candle["high"]]),
                           low=np.array([candle["low"]]), close=np.array([candle["close"]]),
                           volume=np.array([candle["volume"]]))
        indicators = {name: float(values[0]) for name, values in out.items()}
        sigs = self.signals.on_candles([candle])
        events: list[Any] = [CandleEvent(key[0], key[1], key[2], ts, float(candle["close"]), indicators)]
        events += [SignalEvent(s.exchange, s.symbol, s.timeframe, s.ts, s.kind, s.value, s.detail) for s in sigs]
        fired = self.engine.on_events(events)
        return [s.fields() for s in sigs], fired

    def on_sentiment(self, rows: list[dict[str, Any]]) -> list[FiredAlert]:
        """Evaluate sentiment-swing rules on new ``sentiment_agg`` buckets (ts order)."""
        return self.engine.on_events(SentimentEvent(r["symbol"], r["timeframe"], int(r["ts"]), float(r["score"]))
                                     for r in rows if r["score"] is not None)


def parse_candle_entry(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """A bus entry (``RedisBus.publish_candles`` / ``ExchangeStream`` fields) as a candle dict.

    ``final`` is False for a still-forming candle (shown live, never evaluated by the rules).
    """
    f = {k.decode(): v.decode() for k, v in fields.items()}
    return {"exchange": f["exchange"], "symbol": f["symbol"], "timeframe": f["timeframe"], "ts": int(f["ts"]),
            **{k: float(f[k]) for k in ("open", "high", "low", "close", "volume")},
            "final": f.get("final", "1") in ("1", "True", "true")}


class LiveHub:
    """The per-process live loop and its SSE subscribers.

    Parameters
    ----------
    source:
        Store access (rules, alert history, sentiment buckets).
    redis_url:
        The bus; None disables the stream (pages still work, without live updates).
    exchanges:
        Exchanges whose candle streams are read; None = those with stored candles.
    """

    def __init__(self, source: UiSource, *, redis_url: str | None, exchanges: list[str] | None = None) -> None:
        self._source = source
        self._url = redis_url
        self._exchanges = exchanges
        self._subs: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.evaluator = StreamEvaluator(load_rules(source))
        self.stats: dict[str, Any] = {"candles": 0, "alerts": 0, "last_entry": None, "running": False}

    def reload_rules(self) -> None:
        """Re-read the rules after an edit."""
        self.evaluator.engine.set_rules(load_rules(self._source))

    def ensure_started(self) -> None:
        """Start the loop in the running event loop (idempotent; call from an async route)."""
        if self._url is None or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="coinray-ui-live")

    async def stop(self) -> None:
        """Cancel the loop (tests, shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def subscribe(self) -> AsyncIterator[str]:
        """SSE frames for one client until it disconnects."""
        queue: asyncio.Queue[str] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subs.add(queue)
        try:
            yield f"event: hello\ndata: {json.dumps(self.stats)}\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=15.0)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self._subs.discard(queue)

    def _publish(self, kind: str, payload: Any) -> None:
        frame = f"event: {kind}\ndata: {json.dumps(payload)}\n\n"
        for q in list(self._subs):
            if q.full():
                q.get_nowait()  # drop the oldest frame of a slow client
            q.put_nowait(frame)

    async def _run(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(str(self._url), socket_timeout=10)
        try:
            exchanges = self._exchanges if self._exchanges else await asyncio.to_thread(self._stored_exchanges)
            cursors: dict[Any, Any] = {}
            for exchange in exchanges:  # start after the newest entry: only candles that arrive from now on
                newest = await client.xrevrange(candle_stream(exchange), count=1)
                cursors[candle_stream(exchange)] = newest[0][0] if newest else "0-0"
            self.stats["streams"] = sorted(cursors)
            sent_ts = await asyncio.to_thread(self._latest_sentiment_ts)
            next_poll = time.monotonic() + SENTIMENT_POLL_S
            logger.info("ui live: reading %s", ", ".join(cursors))
            self.stats["running"] = True
            while True:
                reply: Any = await client.xread(cursors, count=500, block=1000)
                for stream, entries in reply or []:
                    for entry_id, fields in entries:
                        cursors[stream.decode() if isinstance(stream, bytes) else stream] = entry_id
                        await self._on_entry(fields)
                if time.monotonic() >= next_poll:
                    sent_ts = await self._poll_sentiment(sent_ts)
                    next_poll = time.monotonic() + SENTIMENT_POLL_S
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop's boundary (STYLE 2.7): log with traceback and stop; the next request restarts it
            logger.error("ui live loop failed", exc_info=True)
        finally:
            self.stats["running"] = False
            await client.aclose()

    async def _on_entry(self, fields: dict[bytes, bytes]) -> None:
        candle = parse_candle_entry(fields)
        if not candle["final"]:
            self._publish("candle", candle)
            return
        signals, fired = self.evaluator.on_candle(candle)
        self.stats["candles"] += 1
        self.stats["last_entry"] = candle["ts"]
        self._publish("candle", candle)
        for s in signals:
            self._publish("signal", s)
        if fired:
            await self._deliver(fired)

    async def _deliver(self, fired: list[FiredAlert]) -> None:
        rules = {r.rule_id: r for r in self.evaluator.engine.rules}
        statuses = [await post_webhook(rules[a.rule_id].webhook_url, a.as_dict()) for a in fired]
        await asyncio.to_thread(store_alerts, self._source, fired, statuses)
        self.stats["alerts"] += len(fired)
        for a, s in zip(fired, statuses, strict=True):
            self._publish("alert", {**a.as_dict(), "webhook_status": s})

    def _stored_exchanges(self) -> list[str]:
        rows = self._source.query(f"SELECT DISTINCT exchange FROM {self._source.db}.candles")
        return sorted(rows.column("exchange").to_pylist()) if rows.num_rows else []

    def _latest_sentiment_ts(self) -> int:
        if not has_table(self._source, "sentiment_agg"):
            return 0
        rows = self._source.query(f"SELECT max(ts) AS ts FROM {self._source.db}.sentiment_agg")
        return int(rows.column("ts")[0].as_py() or 0) if rows.num_rows else 0

    async def _poll_sentiment(self, since: int) -> int:
        if not has_table(self._source, "sentiment_agg"):
            return since
        sql = (f"SELECT symbol, timeframe, ts, engagement_score AS score FROM {self._source.db}.sentiment_agg "
               f"WHERE ts > {int(since)} ORDER BY ts")
        rows = (await asyncio.to_thread(self._source.query, sql)).to_pylist()
        fired = self.evaluator.on_sentiment(rows)
        if fired:
            await self._deliver(fired)
        return max([since, *(int(r["ts"]) for r in rows)])


async def post_webhook(url: str, body: dict[str, Any]) -> str:
    """POST ``body`` as JSON to ``url``; the HTTP status, the error text, or ``""`` when no URL."""
    if not url:
        return ""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.post(url, json=body)
        return str(response.status_code)
    except httpx.HTTPError as exc:
        logger.warning("ui alerts: webhook %s failed: %s", url, exc)
        return f"error: {type(exc).__name__}"

