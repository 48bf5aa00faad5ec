"""``StreamMetrics``: Prometheus counters and gauges of one exchange stream, fed from runner snapshots."""

from __future__ import annotations

import time
from typing import Any


class StreamMetrics:
    """Prometheus metrics (through Ray's metrics agent) fed from runner snapshots (every write and every
    ``flush_interval_s``).

    Counters are cumulative per actor life; deltas between snapshots are added, so a restarted
    actor keeps counting up.
    """

    def __init__(self, exchange: str) -> None:
        from ray.util import metrics

        tags = ("exchange", "symbol")
        self.exchange = exchange
        self.messages = metrics.Counter("coinray_ingest_messages", "Trades received", tags)
        self.duplicates = metrics.Counter("coinray_ingest_duplicates", "Duplicate trades dropped", tags)
        self.candles = metrics.Counter("coinray_ingest_candles_closed", "1m candles closed", ("exchange",))
        self.reconnects = metrics.Counter("coinray_ingest_reconnects", "Reconnects", ("exchange",))
        self.gaps_detected = metrics.Counter("coinray_ingest_gaps_detected", "Gaps detected", ("exchange",))
        self.gaps_repaired = metrics.Counter("coinray_ingest_gaps_repaired", "Gaps repaired", ("exchange",))
        self.parse_errors = metrics.Counter("coinray_ingest_parse_errors", "Malformed frames", ("exchange",))
        self.kline_mismatches = metrics.Counter("coinray_ingest_kline_mismatches",
                                                "Exchange 1m klines that differ from the trade-built candle",
                                                ("exchange",))
        self.lag = metrics.Gauge("coinray_ingest_lag_ms", "Age of the newest trade at the last snapshot, ms", tags)
        self._last: dict[str, float] = {}

    def update(self, snap: dict[str, Any]) -> None:
        """Add the increments since the previous snapshot."""
        ex = {"exchange": self.exchange}
        for key, counter in (("published_final", self.candles), ("reconnects", self.reconnects),
                             ("gaps_detected", self.gaps_detected), ("gaps_repaired", self.gaps_repaired),
                             ("parse_errors", self.parse_errors), ("kline_mismatches", self.kline_mismatches)):
            self._add(key, float(snap[key]), counter, ex)
        now = time.time() * 1000
        for symbol, st in snap["symbols"].items():
            tags = {"exchange": self.exchange, "symbol": symbol}
            self._add(f"msgs:{symbol}", float(st["msgs"]), self.messages, tags)
            self._add(f"dups:{symbol}", float(st["duplicates"]), self.duplicates, tags)
            if st["last_ts"]:
                self.lag.set(now - st["last_ts"], tags)

    def _add(self, key: str, value: float, counter: Any, tags: dict[str, str]) -> None:
        delta = value - self._last.get(key, 0.0)
        if delta > 0:
            counter.inc(delta, tags)
        self._last[key] = value
