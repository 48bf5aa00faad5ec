"""``OpaqueIdStreamCore``: the stream core for venues whose trade ids are opaque strings or absent.

Pure (no Ray, no I/O). Used with the generic ccxt venue: de-duplication by a bounded per-symbol set of
recently seen trade keys (the id, or ``(ts, price, amount, side)`` without one), gaps detected by
disconnects and the staleness watchdog (never by id jumps), repairs paged by time and de-duplicated
against what was seen. The integer-id path of :class:`ExchangeStreamCore` is untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from types import ModuleType
from typing import Any

from actors.exchange_stream_config import Clock, StreamConfig
from actors.exchange_stream_core import ExchangeStreamCore
from actors.exchange_stream_state import MINUTE_MS, Checkpoint, GapRecord, IngestResult, OpenCandle, SymbolState
from actors.exchanges._types import OpaqueTrade

logger = logging.getLogger(__name__)

#: Seen trade keys are kept this long behind the close horizon, so a late duplicate counts as a duplicate.
SEEN_RETAIN_MS = 5 * MINUTE_MS
TradeKey = tuple[str | int | float, ...]


@dataclass
class OpaqueCandle(OpenCandle):
    """An :class:`OpenCandle` whose open/close trades are chosen by :meth:`OpaqueTrade.order_key`.

    ``first_id``/``last_id`` hold the open/close trade times (ms).
    """

    first_key: tuple[int, int, str] = (0, 0, "")
    last_key: tuple[int, int, str] = (0, 0, "")


class OpaqueIdStreamCore(ExchangeStreamCore):
    """Builds 1m candles exactly once per trade *key* for venues without consecutive integer trade ids.

    Parameters
    ----------
    cfg, venue, clock:
        As for :class:`ExchangeStreamCore` (``venue`` is a :class:`actors.exchanges.generic.GenericVenue`).
    checkpoints:
        Persisted checkpoints; only ``closed_until`` is used: a restart repairs by time from there.

    Notes
    -----
    Within one candle the open and close follow trade time, then the id (:meth:`OpaqueTrade.order_key`),
    never arrival order, so reordered frames and a rebuild from REST give the same candle. Two trades
    without ids and with equal (ts, price, amount, side) are indistinguishable and count once.
    """

    #: no id jumps reveal lost trades: the ccxt transport repairs after the first batch of a new subscription
    #: (not before it, which would lose trades published in between) and after any ccxt.pro connection closed
    ID_GAPS_DETECTED = False

    def __init__(self, cfg: StreamConfig, venue: ModuleType | Any, clock: Clock,
                 checkpoints: Mapping[str, Checkpoint] | None = None) -> None:
        super().__init__(cfg, venue, clock, None)
        self._seen: dict[str, dict[TradeKey, int]] = {s: {} for s in cfg.symbols}
        self._resume_from: dict[str, int] = {}
        self._lost_since_ms: dict[str, int] = {}
        for symbol, cp in (checkpoints or {}).items():
            if symbol in self.state:
                st = self.state[symbol]
                st.closed_until = st.watermark = cp.closed_until
                st.needs_repair = True
                self._resume_from[symbol] = cp.closed_until

    # -- input ----------------------------------------------------------------------------------------
    def ingest(self, symbol: str, trades: Sequence[Any], recv_ts_ms: int) -> IngestResult:
        """Add :class:`OpaqueTrade`\\ s of ``symbol``; keys seen before are dropped as duplicates."""
        st = self.state[symbol]
        seen = self._seen[symbol]
        st.connected = True
        st.last_recv_ms = recv_ts_ms
        result = IngestResult(touched={symbol})
        touched: OpenCandle | None = None
        for trade in trades:
            st.msgs += 1
            self.msgs_total += 1
            key = trade.key()
            if key in seen:
                st.duplicates += 1
                result.duplicates += 1
                continue
            if trade.ts < st.closed_until:
                st.late += 1
                logger.error("%s %s: trade %s at %d arrived after its candle closed", self.exchange, symbol,
                             trade.trade_id, trade.ts)
                continue
            seen[key] = trade.ts
            if st.last_ts is None:
                self._first_trade(symbol, st, trade)
            elif trade.ts > st.last_ts:
                st.last_ts = trade.ts
            touched = self._add_by_time(st, trade)
            st.accepted += 1
            result.accepted += 1
            result.max_trade_ts = max(result.max_trade_ts, trade.ts)
            result.trade_ts.append(trade.ts)
        if len(seen) > self.cfg.max_seen_keys:
            for old in list(islice(seen, len(seen) - self.cfg.max_seen_keys)):
                del seen[old]
        result.closed = self._close_ready(symbol, st)
        if touched is not None and touched.ts in st.candles:
            result.live[symbol] = touched.row(self.exchange, symbol)
        return result

    def _first_trade(self, symbol: str, st: SymbolState, trade: OpaqueTrade) -> None:
        st.last_ts = trade.ts
        if st.closed_until > 0 or symbol in self._resume_from:
            return
        # a fresh start: persisted at once (HSETNX), so a crash before the first closed candle resumes
        # from this trade's time instead of losing the head; its first minute is partial (no kline check)
        self._initial_checkpoints[symbol] = Checkpoint(None, trade.ts)
        st.check_from = trade.ts - trade.ts % MINUTE_MS + MINUTE_MS

    @staticmethod
    def _add_by_time(st: SymbolState, trade: OpaqueTrade) -> OpenCandle:
        bucket = trade.ts - trade.ts % MINUTE_MS
        candle = st.candles.get(bucket)
        price, ts = trade.price, trade.ts
        order = trade.order_key()
        if not isinstance(candle, OpaqueCandle):
            candle = OpaqueCandle(bucket, price, price, price, price, trade.amount, 1, ts, ts, order, order)
            st.candles[bucket] = candle
        else:
            candle.high = max(candle.high, price)
            candle.low = min(candle.low, price)
            candle.volume += trade.amount
            candle.trades += 1
            if order > candle.last_key:  # open/close follow time, then the id (never arrival order)
                candle.close = price
                candle.last_key = order
                candle.last_id = ts
            elif order < candle.first_key:
                candle.open = price
                candle.first_key = order
                candle.first_id = ts
        if ts > st.watermark:
            st.watermark = ts
        return candle

    def _close_until(self, symbol: str, st: SymbolState, horizon: int) -> list[dict[str, Any]]:
        closed = super()._close_until(symbol, st, horizon)
        st.checkpoint_id = None  # no id to resume from: checkpoints carry the close horizon only
        if closed:
            cutoff = st.closed_until - SEEN_RETAIN_MS
            seen = self._seen[symbol]
            self._seen[symbol] = {k: ts for k, ts in seen.items() if ts >= cutoff}
        return closed

    # -- connection health and repair -----------------------------------------------------------------
    def on_disconnect(self, symbol: str, reason: str) -> None:
        """Mark ``symbol`` disconnected (the gap starts now); see :meth:`ExchangeStreamCore.on_disconnect`."""
        self._lost_since_ms.setdefault(symbol, self.clock.now_ms())
        super().on_disconnect(symbol, reason)

    def on_connection_lost(self, symbols: Sequence[str], reason: str) -> None:
        """One shared connection dropped; see :meth:`ExchangeStreamCore.on_connection_lost`."""
        now = self.clock.now_ms()
        for symbol in symbols:
            self._lost_since_ms.setdefault(symbol, now)
        super().on_connection_lost(symbols, reason)

    def repair_cursor(self, symbol: str) -> int | None:
        """Not used by this core (repairs page by time): see :meth:`repair_since`."""
        since = self.repair_since(symbol)
        return None if since is None else since[0]

    def repair_since(self, symbol: str) -> tuple[int, bool] | None:
        """Where a time-paged REST repair starts, and whether a trade at exactly that time was already seen.

        The oldest trade of the open candles (so a trade lost anywhere in a still-open minute is
        found), else the newest trade, else the restored close horizon; None on a fresh start.
        """
        st = self.state[symbol]
        if symbol in self._resume_from:  # a restart: everything after the restored close horizon
            return st.closed_until, False
        if st.candles:
            return min(c.first_id for c in st.candles.values()), True
        if st.last_ts is not None:
            return st.last_ts, True
        return None

    def apply_repair(self, symbol: str, trades: Sequence[Any], recv_ts_ms: int, *,
                     known_through: int | None = None, complete: bool = True) -> IngestResult:
        """Merge REST trades not seen before, record the gap they filled and reopen closing.

        Parameters
        ----------
        trades:
            :class:`OpaqueTrade`\\ s from the time-paged REST fetch (overlap with what was seen is expected).
        known_through:
            Unused (an integer-id notion); accepted for interface compatibility.
        complete:
            False when REST could not reach back to the repair's start (an exchange that ignores
            ``since`` and answered a full page of newer trades): the gap is recorded ``unrepaired``.
        """
        st = self.state[symbol]
        now = self.clock.now_ms()
        seen = self._seen[symbol]
        had_state = st.last_ts is not None or self._resume_from.pop(symbol, None) is not None
        detected = self._lost_since_ms.pop(symbol, now)
        fresh: list[OpaqueTrade] = []
        keys: set[TradeKey] = set()
        for trade in trades:
            key = trade.key()
            if key not in seen and key not in keys:
                keys.add(key)
                fresh.append(trade)
        st.needs_repair = False
        result = self.ingest(symbol, fresh, recv_ts_ms)
        if not had_state or (complete and not fresh):
            return result
        self.gaps_detected += 1
        from_ts = min((t.ts for t in fresh), default=st.last_ts or 0)
        to_ts = max((t.ts for t in fresh), default=from_ts)
        if complete:
            self.gaps_repaired += 1
            result.gaps.append(GapRecord(self.exchange, symbol, from_ts, to_ts, detected, now, "rest_trades"))
        else:
            logger.error("%s %s: REST could not reach back to the repair start; trades before %d may be lost",
                         self.exchange, symbol, from_ts)
            result.gaps.append(GapRecord(self.exchange, symbol, from_ts, to_ts, detected, None, "unrepaired"))
        return result

    def checkpoints(self) -> dict[str, Checkpoint]:
        """Per-symbol close horizons (``last_id`` None): a restart repairs by time from there."""
        return {s: Checkpoint(None, st.closed_until) for s, st in self.state.items() if st.closed_until > 0}
