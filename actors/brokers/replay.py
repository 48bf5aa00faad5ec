"""Paper trading on replayed candles: rankings -> top-N targets -> orders through the OMS and guard -> fills.

At each rebalance bar the baseline ranker scores symbols with data up to that bar's close; the
top N are held equally weighted. Orders are sent at the bar's close and fill on the next bar (the
paper broker with ``latency_ms=1``), with the backtester's fee and slippage models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from actors.brokers.clock import ManualClock
from actors.brokers.errors import OrderRejected, RiskRejected
from actors.brokers.journal import Journal
from actors.brokers.models import ZERO, round_step, to_decimal
from actors.brokers.paper import PaperBroker, PaperConfig
from actors.oms_core import OmsConfig, OmsCore
from actors.risk_guard import RiskGuardCore, RiskLimits
from cluster.schemas import TIMEFRAME_MS
from cluster.settings import RankingConfig

logger = logging.getLogger(__name__)
EMA_SLOW = 50


def add_ranking_features(candles: pl.DataFrame) -> pl.DataFrame:
    """Append ``log_ret_1`` and ``ema_50`` per symbol (what the baseline ranker reads).

    Requires columns: symbol, ts, close.
    """
    return candles.sort("symbol", "ts").with_columns(
        (pl.col("close").log() - pl.col("close").log().shift(1)).over("symbol").alias("log_ret_1"),
        pl.col("close").ewm_mean(span=EMA_SLOW, adjust=False).over("symbol").alias(f"ema_{EMA_SLOW}"),
    )


def topn_targets(ranked: list[str], *, top_n: int, equity: Decimal, prices: dict[str, Decimal],
                 lot_size: Decimal, invest_fraction: Decimal = Decimal("0.95")) -> dict[str, Decimal]:
    """Equal-weight target quantities of the best ``top_n`` symbols (others 0), rounded down to the lot.

    >>> topn_targets(["A/USDT", "B/USDT", "C/USDT"], top_n=2, equity=Decimal(1000),
    ...              prices={"A/USDT": Decimal(10), "B/USDT": Decimal(100), "C/USDT": Decimal(5)},
    ...              lot_size=Decimal("0.01"))
    {'A/USDT': Decimal('47.50'), 'B/USDT': Decimal('4.75'), 'C/USDT': Decimal('0')}
    """
    chosen = ranked[:top_n]
    per = equity * invest_fraction / Decimal(max(len(chosen), 1))
    return {s: (round_step(per / prices[s], lot_size) if s in chosen and prices.get(s) else ZERO) for s in ranked}


@dataclass
class ReplayResult:
    """What a paper session did."""

    rebalances: int
    orders: int
    fills: int
    rejects: dict[str, int]
    start_equity: Decimal
    end_equity: Decimal
    positions: dict[str, Decimal]
    decisions: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    reconcile: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {"rebalances": self.rebalances, "orders": self.orders, "fills": self.fills, "rejects": self.rejects,
                "start_equity": str(self.start_equity), "end_equity": str(self.end_equity.quantize(Decimal("0.01"))),
                "return_pct": float((self.end_equity / self.start_equity - 1) * 100),
                "positions": {k: str(v) for k, v in self.positions.items()}, "decisions": self.decisions,
                "reconcile": self.reconcile}


def run_paper_replay(candles: pl.DataFrame, *, timeframe: str, top_n: int, rebalances: int, paper: PaperConfig,
                     limits: RiskLimits, journal: Journal, ranking: RankingConfig | None = None,
                     account: str = "paper-topn") -> ReplayResult:
    """Replay the last ``rebalances`` bars of ``candles`` (one timeframe, several symbols) through the OMS.

    Requires columns: symbol, ts, open, high, low, close, volume.
    """
    from pipelines.ranking import rank_symbols

    rcfg = ranking or RankingConfig()
    frame = add_ranking_features(candles).with_columns(pl.lit(timeframe).alias("timeframe"))
    times = sorted(set(frame.get_column("ts").to_list()))
    if len(times) < rebalances + 2:
        raise ValueError(f"need at least {rebalances + 2} bars, have {len(times)}")
    tf_ms = TIMEFRAME_MS[timeframe]
    bars = {(r["symbol"], r["ts"]): r for r in frame.select("symbol", "ts", "open", "high", "low", "close", "volume")
            .iter_rows(named=True)}
    symbols = sorted(set(frame.get_column("symbol").to_list()))
    first = times[-rebalances - 1]
    clock = ManualClock(first)
    broker = PaperBroker(paper.model_copy(update={"latency_ms": max(paper.latency_ms, 1)}), clock)
    guard = RiskGuardCore(limits, clock)
    oms = OmsCore(broker, guard, journal, clock, OmsConfig(account=account))
    prices: dict[str, Decimal] = {}
    decisions: list[dict[str, Any]] = []
    start_equity = paper.cash

    def close_bar(ts: int) -> None:
        """Move the clock to the bar's close, show the bar to the broker and the OMS, collect fills."""
        clock.set(ts + tf_ms - 1)
        for s in symbols:
            row = bars.get((s, ts))
            if row is not None:
                prices[s] = to_decimal(row["close"])
                broker.on_bar(s, *_ohlcv(row), ts)
                oms.on_price(s, prices[s])
        oms.poll()

    for i, ts in enumerate(times[-rebalances - 1:-1]):
        close_bar(ts)
        ranking_now = rank_symbols(frame.filter(pl.col("ts") <= ts), timeframe=timeframe, cfg=rcfg)
        ranked = [r.symbol for r in ranking_now.ranked]
        equity = _equity(broker, prices, paper.quote)
        targets = topn_targets(ranked, top_n=top_n, equity=equity, prices=prices, lot_size=paper.lot_size)
        held = oms.positions()
        for s in held:
            targets.setdefault(s, ZERO)
        deltas = {s: q - held.get(s, ZERO) for s, q in targets.items()}
        sent = []
        for s, delta in sorted(deltas.items(), key=lambda kv: kv[1]):  # sells first, then buys
            if delta == 0 or abs(delta) * prices.get(s, ZERO) < paper.min_notional:
                continue
            try:
                order = oms.target(s, delta)
                if order is not None:
                    sent.append(order.client_order_id)
            except (RiskRejected, OrderRejected) as exc:
                logger.info("paper %s: %s order refused: %s", account, s, exc)
        decisions.append({"bar": i, "ts": ts, "top": ranked[:top_n], "equity": str(equity.quantize(Decimal("0.01"))),
                          "orders": sent})
    close_bar(times[-1])
    rows = oms.metrics_rows()
    rejects: dict[str, int] = {}
    for r in rows:
        if r["status"] == "rejected":
            rejects[r["reject_rule"]] = rejects.get(r["reject_rule"], 0) + 1
    return ReplayResult(rebalances, len(oms.orders), len(broker.fills()), rejects, start_equity,
                        _equity(broker, prices, paper.quote), oms.positions(), decisions, rows,
                        oms.report.as_dict())


def _ohlcv(row: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    return (to_decimal(row["open"]), to_decimal(row["high"]), to_decimal(row["low"]), to_decimal(row["close"]),
            to_decimal(row["volume"]))


def _equity(broker: PaperBroker, prices: dict[str, Decimal], quote: str) -> Decimal:
    total = ZERO
    for asset, bal in broker.balances().items():
        total += bal.total if asset == quote else bal.total * prices.get(f"{asset}/{quote}", ZERO)
    return total
