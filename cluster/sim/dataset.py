"""Recorded data the simulator replays: trades timeline, klines per symbol and timeframe, markets."""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import polars as pl

from cluster.schemas import TIMEFRAME_MS

RECORDED_PACKAGE = "cluster.sim.recorded"


class SimTrade(NamedTuple):
    """One recorded trade (venue-neutral)."""

    symbol: str
    trade_id: int
    ts: int
    price: float
    amount: float
    side: str  # taker side


@dataclass
class SimDataset:
    """Trades in replay order plus candles, indexed for the REST handlers."""

    trades: list[SimTrade] = field(default_factory=list)
    klines: dict[tuple[str, str], list[tuple[int, float, float, float, float, float]]] = field(default_factory=dict)

    def symbols(self) -> list[str]:
        """Every symbol with trades or candles."""
        return sorted({t.symbol for t in self.trades} | {s for s, _ in self.klines})

    def by_symbol(self) -> dict[str, list[SimTrade]]:
        """Trades grouped per symbol in id order."""
        out: dict[str, list[SimTrade]] = {}
        for t in self.trades:
            out.setdefault(t.symbol, []).append(t)
        for rows in out.values():
            rows.sort(key=lambda t: t.trade_id)
        return out

    def candles(self, symbol: str, timeframe: str, start_ms: int | None, end_ms: int | None,
                limit: int) -> list[tuple[int, float, float, float, float, float]]:
        """Stored candles of ``symbol`` with ``start_ms <= ts <= end_ms``, oldest first, at most ``limit``."""
        rows = self.klines.get((symbol, timeframe), [])
        lo = bisect_left(rows, (start_ms,)) if start_ms is not None else 0
        out = []
        for row in rows[lo:]:
            if end_ms is not None and row[0] > end_ms:
                break
            out.append(row)
            if len(out) >= limit:
                break
        return out


def load_trades_feather(path: Path, symbol: str) -> list[SimTrade]:
    """Read a freqtrade trades feather (``timestamp, id, side, price, amount``)."""
    frame = pl.read_ipc(path).with_columns(pl.col("id").cast(pl.Int64)).sort("timestamp", "id")
    return [SimTrade(symbol, int(i), int(ts), float(p), float(a), str(s))
            for ts, i, s, p, a in frame.select("timestamp", "id", "side", "price", "amount").iter_rows()]


def load_recorded_trades(exchange: str) -> list[SimTrade]:
    """The bundled recorded trades of ``exchange`` (cryptofeed captures, see ``recorded/README.md``)."""
    text = resources.files(RECORDED_PACKAGE).joinpath(f"{exchange}_trades.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [SimTrade(r["symbol"], int(r["id"]), int(r["ts"]), float(r["price"]), float(r["amount"]), r["side"])
            for r in rows]


def load_klines_dir(path: Path) -> dict[tuple[str, str], list[tuple[int, float, float, float, float, float]]]:
    """Candles from freqtrade feather files named ``<BASE>_<QUOTE>-<tf>.feather`` in ``path``."""
    out: dict[tuple[str, str], list[tuple[int, float, float, float, float, float]]] = {}
    for file in sorted(path.glob("*-*.feather")):
        pair, _, tf = file.stem.rpartition("-")
        if tf not in TIMEFRAME_MS or "_" not in pair:
            continue
        frame = pl.read_ipc(file)
        ts = frame["date"].dt.epoch("ms")
        rows = list(zip(ts.to_list(), *(frame[c].to_list() for c in ("open", "high", "low", "close", "volume")),
                        strict=True))
        out[(pair.replace("_", "/"), tf)] = sorted(rows)
    return out


def bundled_klines_dir() -> Path:
    """The MIT-licensed 2024 Binance sample shipped in ``cluster/sample_data``."""
    return Path(str(resources.files("cluster").joinpath("sample_data", "binance_spot_2024")))


def build_dataset(exchange: str, *, trades_file: Path | None = None, trades_symbol: str | None = None,
                  klines_dir: Path | None = None) -> SimDataset:
    """Assemble what a simulator instance serves.

    Parameters
    ----------
    exchange:
        ``binance`` or ``coinbase`` (selects the bundled recorded trades).
    trades_file, trades_symbol:
        A freqtrade trades feather and its symbol, replayed instead of the bundled recording.
    klines_dir:
        freqtrade OHLCV files; None = the bundled 2024 sample (binance) or none (coinbase).
    """
    if trades_file is not None:
        if not trades_symbol:
            raise ValueError("trades_symbol is required with trades_file")
        trades = load_trades_feather(trades_file, trades_symbol)
    else:
        trades = load_recorded_trades(exchange)
    trades.sort(key=lambda t: (t.ts, t.symbol, t.trade_id))
    if klines_dir is None and exchange == "binance":
        klines_dir = bundled_klines_dir()
    klines = load_klines_dir(klines_dir) if klines_dir is not None else {}
    return SimDataset(trades=trades, klines=klines)


def repeat_laps(trades: list[SimTrade], laps: int) -> list[SimTrade]:
    """The recording played ``laps`` times: lap k shifts each symbol's ids by k * its id span and all times
    by k * (duration + 1 s), so per-symbol ids stay consecutive where the recording's are.

    >>> t = [SimTrade("A/B", 5, 1_000, 1.0, 1.0, "buy"), SimTrade("A/B", 6, 2_000, 2.0, 1.0, "sell")]
    >>> [(x.trade_id, x.ts) for x in repeat_laps(t, 2)]
    [(5, 1000), (6, 2000), (7, 3000), (8, 4000)]
    """
    if laps <= 1 or not trades:
        return trades
    spans: dict[str, int] = {}
    for symbol in {t.symbol for t in trades}:
        ids = [t.trade_id for t in trades if t.symbol == symbol]
        spans[symbol] = max(ids) - min(ids) + 1
    ts_span = max(t.ts for t in trades) - min(t.ts for t in trades) + 1_000
    return [t._replace(trade_id=t.trade_id + k * spans[t.symbol], ts=t.ts + k * ts_span)
            for k in range(laps) for t in trades]
