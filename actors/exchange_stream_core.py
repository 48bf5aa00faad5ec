"""``ExchangeStreamCore``: per-symbol stream state, trade de-duplication, gap detection and 1m candles.

Pure Python (no Ray, no I/O): the :mod:`actors.exchange_stream` shell feeds it trades (from ccxt.pro
or raw venue frames), runs the REST repairs it asks for, and publishes what it returns. The config,
the state dataclasses and the kline/ticker side channels live in ``exchange_stream_{config,state,checks}``
and are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from actors.exchange_stream_checks import SideChannelChecks
from actors.exchange_stream_config import Clock, StreamConfig, resolve_transport
from actors.exchange_stream_state import (
    GAPS_SCHEMA,
    MINUTE_MS,
    RECENT_CLOSED,
    Checkpoint,
    GapRecord,
    IngestResult,
    OpenCandle,
    SymbolState,
    candles_table,
    gaps_table,
)
from actors.exchanges._types import Event, Kline, Ticker, Trade
from cluster.errors import ParseError

logger = logging.getLogger(__name__)

__all__ = ["GAPS_SCHEMA", "MINUTE_MS", "RECENT_CLOSED", "Checkpoint", "Clock", "ExchangeStreamCore", "GapRecord",
           "IngestResult", "OpenCandle", "StreamConfig", "SymbolState", "candles_table", "gaps_table",
           "resolve_transport"]


class ExchangeStreamCore(SideChannelChecks):
    """Builds 1m candles from one exchange's trades with exactly-once semantics per trade id.

    Parameters
    ----------
    cfg:
        The stream settings.
    venue:
        The venue module (:mod:`actors.exchanges.binance` or ``coinbase``).
    clock:
        Wall clock for detection/repair times and staleness.
    checkpoints:
        Persisted per-symbol checkpoints; crash-only recovery starts from them and asks for a
        REST repair of everything after them.
    """

    #: id jumps reveal lost trades, so the ccxt transport repairs a reconnected symbol before resubscribing
    ID_GAPS_DETECTED = True

    def __init__(self, cfg: StreamConfig, venue: ModuleType | Any, clock: Clock,
                 checkpoints: Mapping[str, Checkpoint] | None = None) -> None:
        self.cfg = cfg
        self.venue = venue
        self.clock = clock
        self.exchange = cfg.exchange
        self.state: dict[str, SymbolState] = {s: SymbolState() for s in cfg.symbols}
        venue.register_symbols(cfg.symbols)
        self.parse_errors = 0
        self.unknown_frames = 0
        self.reconnects = 0
        self.gaps_detected = 0
        self.gaps_repaired = 0
        self.msgs_total = 0
        self._initial_checkpoints: dict[str, Checkpoint] = {}
        self._init_side_channels()
        for symbol, cp in (checkpoints or {}).items():
            if symbol in self.state:
                st = self.state[symbol]
                st.last_id = st.checkpoint_id = cp.last_id
                st.closed_until = st.watermark = cp.closed_until
                st.needs_repair = True

    # -- input --------------------------------------------------------------------------------
    def on_message(self, raw: bytes | str, recv_ts_ms: int) -> tuple[list[Event], IngestResult]:
        """Decode and route one raw venue frame; malformed or unknown frames are counted, never raised."""
        event = self._parse(raw, recv_ts_ms)
        if event is None:
            return [], IngestResult()
        result = IngestResult()
        if isinstance(event, Trade):
            if event.symbol in self.state:
                result = self.ingest(event.symbol, (event,), recv_ts_ms)
        else:
            self._route_other(event)
        return [event], result

    def on_frames(self, frames: Sequence[bytes | str], recv_ts_ms: int) -> IngestResult:
        """Decode a batch of raw frames and ingest their trades once per symbol (the native transport's path).

        Equivalent to :meth:`on_message` per frame, but the per-batch work (candle closing, the live
        candle row) is done once per symbol instead of once per trade.
        """
        by_symbol: dict[str, list[Trade]] = {}
        state = self.state
        for raw in frames:
            event = self._parse(raw, recv_ts_ms)
            if event is None:
                continue
            if type(event) is Trade:
                if event.symbol in state:
                    trades = by_symbol.get(event.symbol)
                    if trades is None:
                        by_symbol[event.symbol] = [event]
                    else:
                        trades.append(event)
            else:
                self._route_other(event)
        result = IngestResult()
        for symbol, trades in by_symbol.items():
            result.merge(self.ingest(symbol, trades, recv_ts_ms))
        return result

    def _parse(self, raw: bytes | str, recv_ts_ms: int) -> Event | None:
        try:
            kind, msg = self.venue.decode_frame(raw)
            parser = self.venue.parser_for(kind)
            if parser is None:
                self._unknown(kind, raw)
                return None
            return parser(msg, recv_ts_ms)  # type: ignore[no-any-return]
        except ParseError as exc:
            self.parse_errors += 1
            if self.parse_errors <= 10 or self.parse_errors % 100 == 0:
                logger.warning("%s: dropped malformed frame #%d (%s): %.200s", self.exchange, self.parse_errors,
                               exc, exc.excerpt)
            return None

    def _route_other(self, event: Event) -> None:
        if isinstance(event, Kline):
            self.on_kline(event)
        elif isinstance(event, Ticker):
            self.on_ticker(event)

    def _unknown(self, kind: str, raw: bytes | str) -> None:
        self.unknown_frames += 1
        if self.unknown_frames <= 10 or self.unknown_frames % 1000 == 0:
            excerpt = raw[:200] if isinstance(raw, str) else raw[:200].decode(errors="replace")
            logger.warning("%s: unknown frame type %r (#%d): %s", self.exchange, kind, self.unknown_frames, excerpt)

    def ingest(self, symbol: str, trades: Sequence[Trade], recv_ts_ms: int) -> IngestResult:
        """Add trades of ``symbol``; duplicates are dropped and id jumps start a pending gap."""
        st = self.state[symbol]
        st.connected = True
        st.last_recv_ms = recv_ts_ms
        result = IngestResult(touched={symbol})
        touched: OpenCandle | None = None
        sequential = self.venue.SEQUENTIAL_TRADE_IDS
        for trade in trades:
            st.msgs += 1
            self.msgs_total += 1
            tid = trade.trade_id
            if st.last_id is not None and tid <= st.last_id:
                if tid in st.missing:
                    st.missing.discard(tid)
                    st.reordered += 1
                elif st.floor_id is not None and tid < st.floor_id and tid not in st.below_floor:
                    st.below_floor.add(tid)  # older than the first trade of a fresh start: new, not a dup
                    st.reordered += 1
                else:
                    st.duplicates += 1
                    result.duplicates += 1
                    continue
            else:
                if st.last_id is None:
                    st.floor_id = tid
                    if st.checkpoint_id is None:
                        # where a fresh stream started: persisted at once, so a crash before the first
                        # closed candle resumes from here (REST repair) instead of losing the head
                        st.checkpoint_id = tid - 1
                        self._initial_checkpoints[symbol] = Checkpoint(tid - 1, 0)
                    # a fresh start sees only part of its first minute: no kline cross-check for it
                    st.check_from = trade.ts - trade.ts % MINUTE_MS + MINUTE_MS
                if sequential and st.last_id is not None and tid > st.last_id + 1:
                    self._open_gap(symbol, st, st.last_id + 1, tid, trade.ts, result)
                st.last_id = tid
                st.last_ts = trade.ts
            if trade.ts < st.closed_until:
                st.late += 1
                logger.error("%s %s: trade %d at %d arrived after its candle closed", self.exchange, symbol,
                             tid, trade.ts)
                continue
            touched = self._add(st, trade)
            st.accepted += 1
            result.accepted += 1
            result.max_trade_ts = max(result.max_trade_ts, trade.ts)
            result.trade_ts.append(trade.ts)
        if not st.missing:
            st.gap_from_ts = None
        result.closed = self._close_ready(symbol, st)
        if touched is not None and touched.ts in st.candles:
            result.live[symbol] = touched.row(self.exchange, symbol)
        return result

    def _open_gap(self, symbol: str, st: SymbolState, first: int, got: int, got_ts: int,
                  result: IngestResult) -> None:
        if got - first > self.cfg.max_tracked_gap_ids:
            now = self.clock.now_ms()
            logger.error("%s %s: trade ids jumped by %d (> %d); recording the gap as unrepairable", self.exchange,
                         symbol, got - first, self.cfg.max_tracked_gap_ids)
            self.gaps_detected += 1
            result.gaps.append(GapRecord(self.exchange, symbol, st.last_ts or 0, got_ts, now, None, "unrepaired"))
            return
        if not st.missing:
            st.missing_since_msg = st.msgs
            st.gap_from_ts = st.last_ts
            st.gap_detected_ms = self.clock.now_ms()
        st.missing.update(range(first, got))

    def _add(self, st: SymbolState, trade: Trade) -> OpenCandle:
        bucket = trade.ts - trade.ts % MINUTE_MS
        candle = st.candles.get(bucket)
        price = trade.price
        tid = trade.trade_id
        if candle is None:
            candle = OpenCandle(bucket, price, price, price, price, trade.amount, 1, tid, tid)
            st.candles[bucket] = candle
        else:
            # trades may arrive out of id order (reordered frames, repairs): open/close follow ids
            if price > candle.high:
                candle.high = price
            if price < candle.low:
                candle.low = price
            candle.volume += trade.amount
            candle.trades += 1
            if tid > candle.last_id:
                candle.close = price
                candle.last_id = tid
            elif tid < candle.first_id:
                candle.open = price
                candle.first_id = tid
        if trade.ts > st.watermark:
            st.watermark = trade.ts
        return candle

    # -- closing ------------------------------------------------------------------------------
    def _close_ready(self, symbol: str, st: SymbolState) -> list[dict[str, Any]]:
        if st.needs_repair or not st.candles:
            return []
        horizon = st.watermark - self.cfg.grace_ms
        if st.missing and st.gap_from_ts is not None:
            horizon = min(horizon, st.gap_from_ts)
        return self._close_until(symbol, st, horizon)

    def _close_until(self, symbol: str, st: SymbolState, horizon: int) -> list[dict[str, Any]]:
        ready = sorted(ts for ts in st.candles if ts + MINUTE_MS <= horizon)
        closed = []
        for ts in ready:
            candle = st.candles.pop(ts)
            closed.append(candle.row(self.exchange, symbol))
            st.closed_until = ts + MINUTE_MS
            st.floor_id = None
            st.below_floor.clear()
            st.checkpoint_id = max(st.checkpoint_id or 0, candle.last_id)
            st.recent_closed[ts] = (candle.open, candle.high, candle.low, candle.close, candle.volume)
        if ready:
            if st.pending_klines:
                self._settle_klines(st)
            while len(st.recent_closed) > RECENT_CLOSED:
                del st.recent_closed[next(iter(st.recent_closed))]
        return closed

    def flush(self) -> list[dict[str, Any]]:
        """Close every open candle of symbols without pending gaps (end of stream or shutdown)."""
        closed: list[dict[str, Any]] = []
        for symbol, st in self.state.items():
            if not st.missing and not st.needs_repair:
                closed.extend(self._close_until(symbol, st, 2**62))
        return closed

    # -- connection health and repair -------------------------------------------------------------
    def on_disconnect(self, symbol: str, reason: str) -> None:
        """Mark ``symbol`` disconnected: its candles stay open until the REST repair after reconnect."""
        st = self.state[symbol]
        st.connected = False
        st.needs_repair = True
        self.reconnects += 1
        logger.warning("%s %s: disconnected (%s); will repair from REST after reconnect", self.exchange,
                       symbol, reason)

    def on_connection_lost(self, symbols: Sequence[str], reason: str) -> None:
        """One shared connection dropped: mark all its symbols disconnected, counting one reconnect."""
        for symbol in symbols:
            st = self.state[symbol]
            st.connected = False
            st.needs_repair = True
        self.reconnects += 1
        logger.warning("%s: connection of %d symbol(s) lost (%s); will repair from REST after reconnect",
                       self.exchange, len(symbols), reason)

    def wants_repair(self, symbol: str) -> bool:
        """True when ``symbol`` needs a REST repair now (after a reconnect, restart or a stale id gap)."""
        st = self.state[symbol]
        if st.needs_repair:
            return True
        return bool(st.missing) and st.msgs - st.missing_since_msg >= self.cfg.reorder_window_msgs

    def repair_cursor(self, symbol: str) -> int | None:
        """Trade id after which REST trades are needed; None when nothing is known yet (fresh start)."""
        st = self.state[symbol]
        if st.missing:
            return min(st.missing) - 1
        return st.last_id

    def apply_repair(self, symbol: str, trades: Sequence[Trade], recv_ts_ms: int, *,
                     known_through: int | None = None) -> IngestResult:
        """Merge REST trades (all ids above :meth:`repair_cursor`), record the gap and reopen closing.

        Ids still missing after REST is exhausted cannot be recovered: they are given up, logged at
        ERROR and recorded with ``method='unrepaired'`` so their candles can close.

        Parameters
        ----------
        known_through:
            The symbol's newest trade id when the REST fetch started (None = the fetch saw
            everything). A missing id above it and above every id REST returned may simply not
            have been published when REST answered (the stream kept running during the fetch):
            it stays missing for the next repair instead of being given up.
        """
        st = self.state[symbol]
        now = self.clock.now_ms()
        had_missing = bool(st.missing)
        from_ts = st.gap_from_ts if had_missing else st.last_ts
        detected = st.gap_detected_ms if had_missing else now
        before_last = st.last_id
        fresh = [t for t in trades if before_last is None or t.trade_id > before_last or t.trade_id in st.missing]
        st.needs_repair = False
        result = self.ingest(symbol, fresh, recv_ts_ms)
        if not (had_missing or (fresh and before_last is not None)):
            return result
        to_ts = max((t.ts for t in fresh), default=from_ts or 0)
        gone = set(st.missing)
        if known_through is not None and gone:
            through = max([known_through, *(t.trade_id for t in trades)])
            gone = {i for i in gone if i <= through}
            if not gone and st.missing:
                return result  # only ids REST could not have seen yet: the gap stays open
        self.gaps_detected += 1
        if gone:
            logger.error("%s %s: %d trade(s) missing from REST too; giving up on them", self.exchange, symbol,
                         len(gone))
            st.missing -= gone
            rec = GapRecord(self.exchange, symbol, from_ts or 0, to_ts, detected, None, "unrepaired")
        else:
            self.gaps_repaired += 1
            rec = GapRecord(self.exchange, symbol, from_ts or 0, to_ts, detected, now, "rest_trades")
        if not st.missing:
            st.gap_from_ts = None
        result.gaps.append(rec)
        result.closed.extend(self._close_ready(symbol, st))
        return result

    def checkpoints(self) -> dict[str, Checkpoint]:
        """Per-symbol checkpoints of closed candles (persist together with the published candles)."""
        return {s: Checkpoint(st.checkpoint_id, st.closed_until) for s, st in self.state.items()
                if st.checkpoint_id is not None}

    def take_initial_checkpoints(self) -> dict[str, Checkpoint]:
        """Checkpoints of symbols that just started fresh (the id before their first trade, horizon 0).

        Persist them only where no checkpoint exists yet (``HSETNX``): they are behind every later one.
        """
        out, self._initial_checkpoints = self._initial_checkpoints, {}
        return out

    def stale_symbols(self, now_ms: int) -> list[str]:
        """Connected symbols silent for longer than ``stale_after_s``."""
        limit = self.cfg.stale_after_s * 1000
        return [s for s, st in self.state.items() if st.connected and now_ms - st.last_recv_ms > limit]

    def snapshot(self) -> dict[str, Any]:
        """Counters and per-symbol state for health checks and metrics."""
        return {
            "exchange": self.exchange, "msgs": self.msgs_total, "parse_errors": self.parse_errors,
            "unknown_frames": self.unknown_frames, "reconnects": self.reconnects,
            "gaps_detected": self.gaps_detected, "gaps_repaired": self.gaps_repaired,
            "kline_checked": self.kline_checked, "kline_mismatches": self.kline_mismatches,
            "kline_unchecked": self.kline_unchecked, "tickers": len(self.tickers),
            "symbols": {s: {"last_id": st.last_id, "last_ts": st.last_ts, "open_candles": len(st.candles),
                            "missing": len(st.missing), "connected": st.connected, "msgs": st.msgs,
                            "accepted": st.accepted, "duplicates": st.duplicates, "reordered": st.reordered,
                            "late": st.late, "closed_until": st.closed_until, "checkpoint_id": st.checkpoint_id}
                        for s, st in self.state.items()},
        }
