"""Side channels of the stream core: the exchange-kline cross-check of trade-built candles and newest tickers.

Pure (no Ray, no I/O). :class:`SideChannelChecks` is mixed into
:class:`actors.exchange_stream_core.ExchangeStreamCore`, which owns the per-symbol state it reads.
"""

from __future__ import annotations

import logging
import math

from actors.exchange_stream_state import SymbolState
from actors.exchanges._types import Kline, Ticker

logger = logging.getLogger(__name__)


class SideChannelChecks:
    """Klines (cross-checked against the trade-built candle of the same minute) and newest tickers per symbol.

    A mismatch is counted and logged, never applied: the trade-built candle is the one stored.
    """

    exchange: str
    state: dict[str, SymbolState]

    def _init_side_channels(self) -> None:
        self.klines: dict[tuple[str, str], Kline] = {}
        self.tickers: dict[str, Ticker] = {}
        self._dirty_tickers: set[str] = set()
        self.kline_checked = 0
        self.kline_mismatches = 0
        self.kline_unchecked = 0

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
