"""``ExchangeStreamCore``: per-symbol stream state, trade de-duplication, gap detection and 1m candles.

Pure Python (no Ray, no I/O): the :mod:`actors.exchange_stream` shell feeds it trades (from ccxt.pro
or raw venue frames), runs the REST repairs it asks for, and publishes what it returns.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal, Protocol

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from actors.exchanges._types import Channel, Event, Kline, Ticker, Trade
from cluster.errors import ConfigError, ParseError
from cluster.schemas import CANDLES, DATA_GAPS, conform

logger = logging.getLogger(__name__)

MINUTE_MS = 60_000
#: Closed candles remembered per symbol for the exchange-kline cross-check (a kline may arrive after its candle).
RECENT_CLOSED = 16


class Clock(Protocol):
    """Wall-clock source (injected so tests control time)."""

    def now_ms(self) -> int:
        """UTC epoch milliseconds."""
        ...


class StreamConfig(BaseModel):
    """Settings for one exchange stream actor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field(description="coinray exchange name (``binance``, ``coinbase``).")
    symbols: tuple[str, ...] = Field(min_length=1, description="ccxt unified symbols (``BTC/USDT``).")
    channels: frozenset[Channel] = Field(frozenset({Channel.TRADES}), description="Channels to subscribe.")
    grace_ms: int = Field(2_000, ge=0, description="Late-trade grace after a minute ends before it closes, ms.")
    reorder_window_msgs: int = Field(50, ge=1, description="Messages to wait for out-of-order trades "
                                                           "before a REST repair of an id gap.")
    stale_after_s: float = Field(30.0, gt=0, description="Reconnect when a symbol is silent this long, s.")
    max_retries: int | None = Field(10, description="Consecutive reconnect failures allowed; None = forever.")
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    backoff_jitter: float = Field(0.2, ge=0, le=1)
    rest_page_limit: int = Field(1000, ge=1, le=1000, description="Trades per REST repair page.")
    max_tracked_gap_ids: int = Field(100_000, ge=1, description="Larger id jumps are recorded as unrepairable "
                                                                  "instead of tracked id by id.")
    flush_rows: int = Field(500, ge=1, description="Closed candles buffered before a store insert.")
    flush_interval_s: float = Field(1.0, gt=0, description="Longest time closed candles wait for a flush, s.")
    publish_live: bool = Field(True, description="Publish in-progress candles (final=0) to Redis.")
    rest_url: str | None = Field(None, description="REST base URL override (a simulator); None = the venue.")
    ws_url: str | None = Field(None, description="WebSocket base URL override; None = the venue.")
    transport: Literal["auto", "native", "ccxt"] = Field(
        "auto", description="``native``: the runner's own aiohttp WebSocket + the venue's raw-frame parsers; "
                            "``ccxt``: ccxt.pro ``watch_*``; ``auto``: native when the venue module has raw "
                            "parsers.")
    max_batch_frames: int = Field(2_000, ge=1, description="Native transport: most frames decoded per batch.")
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None


def resolve_transport(cfg: StreamConfig, venue: ModuleType) -> Literal["native", "ccxt"]:
    """The transport a stream uses: ``native`` needs a venue module with raw-frame parsers and ``ws_connections``.

    Raises
    ------
    ConfigError
        When ``native`` is asked for a venue without raw parsers.
    """
    has_native = all(hasattr(venue, name) for name in ("ws_connections", "decode_frame", "parser_for"))
    if cfg.transport == "native" and not has_native:
        raise ConfigError(f"{cfg.exchange}: no raw-frame parsers for the native transport; use transport='ccxt'")
    if cfg.transport == "ccxt" or not has_native:
        return "ccxt"
    return "native"


@dataclass
class OpenCandle:
    """A 1m candle being built from trades."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int
    first_id: int
    last_id: int

    def row(self, exchange: str, symbol: str) -> dict[str, Any]:
        """The candle as a ``CANDLES`` row (source ``trades``)."""
        return {"exchange": exchange, "symbol": symbol, "timeframe": "1m", "ts": self.ts, "open": self.open,
                "high": self.high, "low": self.low, "close": self.close, "volume": self.volume,
                "trades": self.trades, "source": "trades"}


@dataclass(frozen=True)
class Checkpoint:
    """What survives an actor restart: the newest trade id inside a closed candle and the close horizon."""

    last_id: int
    closed_until: int


@dataclass(frozen=True)
class GapRecord:
    """One ``data_gaps`` row."""

    exchange: str
    symbol: str
    from_ts: int
    to_ts: int
    detected_at_ms: int
    repaired_at_ms: int | None
    method: str
    timeframe: str = "1m"


@dataclass
class SymbolState:
    """Stream state of one symbol."""

    last_id: int | None = None
    last_ts: int | None = None
    watermark: int = 0
    missing: set[int] = field(default_factory=set)
    floor_id: int | None = None
    below_floor: set[int] = field(default_factory=set)
    missing_since_msg: int = 0
    gap_from_ts: int | None = None
    gap_detected_ms: int = 0
    candles: dict[int, OpenCandle] = field(default_factory=dict)
    closed_until: int = 0
    checkpoint_id: int | None = None
    connected: bool = False
    needs_repair: bool = False
    last_recv_ms: int = 0
    msgs: int = 0
    accepted: int = 0
    duplicates: int = 0
    reordered: int = 0
    late: int = 0
    check_from: int = 0
    recent_closed: dict[int, tuple[float, float, float, float, float]] = field(default_factory=dict)
    pending_klines: dict[int, Kline] = field(default_factory=dict)


@dataclass
class IngestResult:
    """What one batch of trades produced."""

    closed: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    gaps: list[GapRecord] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    max_trade_ts: int = 0
    trade_ts: list[int] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)

    def merge(self, other: IngestResult) -> None:
        """Add ``other`` (a later result) to this one."""
        self.closed.extend(other.closed)
        self.live.update(other.live)
        self.gaps.extend(other.gaps)
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.max_trade_ts = max(self.max_trade_ts, other.max_trade_ts)
        self.trade_ts.extend(other.trade_ts)
        self.touched |= other.touched


class ExchangeStreamCore:
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

    def __init__(self, cfg: StreamConfig, venue: ModuleType, clock: Clock,
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
        self.klines: dict[tuple[str, str], Kline] = {}
        self.tickers: dict[str, Ticker] = {}
        self._dirty_tickers: set[str] = set()
        self.kline_checked = 0
        self.kline_mismatches = 0
        self.kline_unchecked = 0
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

    # -- klines and tickers -------------------------------------------------------------------------
    def on_kline(self, kline: Kline) -> None:
        """Keep the newest exchange kline; cross-check a closed 1m kline against the trade-built candle.

        The candle of the same minute is compared once both are final (whichever comes second
        triggers the check); a mismatch is counted and logged, never applied.
        """
        self.klines[(kline.symbol, kline.timeframe)] = kline
        st = self.state.get(kline.symbol)
        if st is None or not kline.closed or kline.timeframe != "1m":
            return
        done = st.recent_closed.get(kline.ts)
        if kline.ts < st.check_from:
            self.kline_unchecked += 1
        elif done is not None:
            self._check_kline(kline, done)
        elif kline.ts >= st.closed_until:
            st.pending_klines[kline.ts] = kline
        else:
            self.kline_unchecked += 1  # its candle closed before this actor life (or long ago)

    def on_ticker(self, ticker: Ticker) -> None:
        """Keep the newest ticker of a symbol (published by the runner with :meth:`take_tickers`)."""
        self.tickers[ticker.symbol] = ticker
        self._dirty_tickers.add(ticker.symbol)

    def take_tickers(self) -> dict[str, Ticker]:
        """Tickers updated since the previous call."""
        if not self._dirty_tickers:
            return {}
        out = {s: self.tickers[s] for s in self._dirty_tickers}
        self._dirty_tickers.clear()
        return out

    def _check_kline(self, kline: Kline, ohlcv: tuple[float, float, float, float, float]) -> None:
        self.kline_checked += 1
        want = (kline.open, kline.high, kline.low, kline.close)
        same = all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(want, ohlcv[:4], strict=True)) \
            and math.isclose(kline.volume, ohlcv[4], rel_tol=1e-6, abs_tol=1e-9)
        if not same:
            self.kline_mismatches += 1
            logger.warning("%s %s: exchange kline %d differs from the trade-built candle (#%d): exchange "
                           "o/h/l/c/v=%s, trades=%s", self.exchange, kline.symbol, kline.ts, self.kline_mismatches,
                           (*want, kline.volume), ohlcv)

    def _settle_klines(self, st: SymbolState) -> None:
        """Check pending klines whose minute has closed (a minute without trades must have zero volume)."""
        for ts in [ts for ts in st.pending_klines if ts < st.closed_until]:
            kline = st.pending_klines.pop(ts)
            done = st.recent_closed.get(ts)
            if ts < st.check_from:
                self.kline_unchecked += 1
                continue
            self._check_kline(kline, done if done is not None else (kline.open, kline.high, kline.low,
                                                                    kline.close, 0.0))

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


GAPS_SCHEMA = DATA_GAPS  # the ``data_gaps`` contract (cluster.schemas)


def gaps_table(records: Sequence[GapRecord]) -> pa.Table:
    """``data_gaps`` rows as an Arrow table (:data:`GAPS_SCHEMA`)."""
    return pa.Table.from_pylist([
        {"exchange": r.exchange, "symbol": r.symbol, "timeframe": r.timeframe, "from_ts": r.from_ts,
         "to_ts": r.to_ts, "detected_at": r.detected_at_ms, "repaired_at": r.repaired_at_ms, "method": r.method}
        for r in records], schema=GAPS_SCHEMA)


def candles_table(rows: Sequence[Mapping[str, Any]], ingested_at_ms: int) -> pa.Table:
    """Closed-candle rows as a ``CANDLES`` table stamped with ``ingested_at_ms``."""
    return conform(pa.Table.from_pylist([{**r, "ingested_at": ingested_at_ms} for r in rows]), CANDLES)
