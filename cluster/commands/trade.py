"""``coinray trade``: rankings -> target positions -> orders through the OMS and risk guard (paper by default).

Live trading needs ``--live``, API keys (environment or ``--secrets-file``) and a confirmation
(typed interactively, or ``--yes-i-understand``); anything less is refused, naming what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict, SecretStr

logger = logging.getLogger(__name__)

VENUES = ("binance", "coinbase", "robinhood")
KEY_ENV: dict[str, tuple[str, str]] = {
    "binance": ("BINANCE_API_KEY", "BINANCE_API_SECRET"),
    "coinbase": ("COINBASE_API_KEY", "COINBASE_API_SECRET"),
    "robinhood": ("ROBINHOOD_API_KEY", "ROBINHOOD_PRIVATE_KEY"),
}


class VenueKeys(BaseModel):
    """API credentials of one venue; never printed (``SecretStr``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    api_secret: SecretStr


def resolve_live(*, venue: str, live: bool, yes: bool, secrets_file: Path | None, env: dict[str, str],
                 confirmed: bool) -> VenueKeys:
    """Everything live trading needs, or :class:`LiveTradingRefused` listing all that is missing.

    Parameters
    ----------
    venue:
        ``binance``, ``coinbase`` or ``robinhood``.
    live:
        ``--live`` was given.
    yes:
        ``--yes-i-understand`` was given.
    secrets_file:
        A TOML file with ``<VENUE>_API_KEY`` / ``..._SECRET`` (or ``..._PRIVATE_KEY``) entries.
    env:
        The environment to read keys from.
    confirmed:
        The user typed the confirmation interactively.
    """
    from actors.brokers.errors import LiveTradingRefused
    from cluster.redact import register_secrets

    missing: list[str] = []
    if not live:
        missing.append("--live")
    if venue not in VENUES:
        missing.append(f"--venue (one of {', '.join(VENUES)})")
        raise LiveTradingRefused(missing)
    key_name, secret_name = KEY_ENV[venue]
    values = {k: env.get(k, "") for k in (key_name, secret_name)}
    if secrets_file is not None:
        import tomllib

        try:
            data = tomllib.loads(secrets_file.read_text())
        except (OSError, ValueError) as exc:
            missing.append(f"a readable secrets file ({secrets_file}: {type(exc).__name__})")
            data = {}
        for k in values:
            values[k] = values[k] or str(data.get(k, ""))
    register_secrets(values.values())
    absent = [k for k, v in values.items() if not v]
    if absent:
        missing.append("API keys " + ", ".join(absent) + " (environment or --secrets-file)")
    if not (yes or confirmed):
        missing.append("confirmation (type the venue name when asked, or pass --yes-i-understand)")
    if missing:
        raise LiveTradingRefused(missing)
    return VenueKeys(api_key=SecretStr(values[key_name]), api_secret=SecretStr(values[secret_name]))


def load_replay_candles(candles_dir: Path, timeframe: str) -> Any:
    """Candles of every ``*-<timeframe>.feather`` file in ``candles_dir`` as one Polars frame."""
    import polars as pl

    from cluster.errors import ConfigError
    from cluster.ohlcv_files import load_ohlcv_file

    files = sorted(candles_dir.glob(f"*-{timeframe}.feather"))
    if not files:
        raise ConfigError(f"no *-{timeframe}.feather files in {candles_dir}")
    frames = []
    for path in files:
        res = load_ohlcv_file(path, exchange="binance", run_id="trade", now_ms=0, timeframe=timeframe)
        if res.error is None and res.candles.num_rows:
            frame = pl.DataFrame(pl.from_arrow(res.candles))
            frames.append(frame.select("symbol", "ts", "open", "high", "low", "close", "volume"))
    return pl.concat(frames)


def run_paper(settings: Any, *, candles_dir: Path | None, timeframe: str, top_n: int, rebalances: int,
              capital: float, commission: float, slippage_bps: float, store: bool) -> dict[str, Any]:
    """The paper session of ``coinray trade``; returns the JSON summary (and writes the report)."""
    from decimal import Decimal

    from actors.brokers.journal import MemoryJournal, StoreJournal
    from actors.brokers.paper import PaperConfig
    from actors.brokers.replay import run_paper_replay
    from actors.risk_guard import RiskLimits
    from cluster.demo import new_run_id, sample_data_dir
    from pipelines.backtest.config import SlippageConfig
    from pipelines.execution_metrics import build_daily_report, summarize

    candles = load_replay_candles(candles_dir or sample_data_dir(), timeframe)
    cash = Decimal(str(capital))
    paper = PaperConfig(cash=cash, commission=commission, latency_ms=1,
                        slippage=SlippageConfig(model="fixed_bps", bps=slippage_bps) if slippage_bps else
                        SlippageConfig())
    limits = RiskLimits(max_position_notional=cash * Decimal("0.6"), max_gross_exposure=cash * Decimal("1.2"),
                        max_daily_loss=cash * Decimal("0.25"), max_orders=200, rate_window_s=60.0,
                        price_band_bps=Decimal(1000))
    run_id = new_run_id(int(time.time() * 1000))
    ops = None
    journal: Any = MemoryJournal()
    if store:
        from cluster.store import open_store

        ops = open_store(settings)
        journal = StoreJournal(ops.store, account=f"paper-{run_id}")
    try:
        result = run_paper_replay(candles, timeframe=timeframe, top_n=top_n, rebalances=rebalances, paper=paper,
                                  limits=limits, journal=journal, ranking=settings.ranking,
                                  account=f"paper-{run_id}")
    finally:
        if ops is not None:
            ops.store.close()
    out_dir = settings.reports_dir / "execution"
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, report_json = build_daily_report(result.metrics, day=run_id[:8])
    (out_dir / f"{run_id}.md").write_text(markdown)
    (out_dir / f"{run_id}.json").write_text(report_json)
    summary = result.as_dict()
    summary.update(mode="paper", run_id=run_id, stored=store, execution=summarize(result.metrics),
                   report=str(out_dir / f"{run_id}.md"))
    return summary


def register(app: typer.Typer) -> None:
    """Add ``coinray trade``."""

    @app.command()
    def trade(
        strategy: Annotated[str, typer.Option(help="Signal source: topn (hold the best N ranked symbols).")] = "topn",
        paper: Annotated[bool, typer.Option("--paper/--no-paper", help="Paper trading (the default).")] = True,
        live: Annotated[bool, typer.Option("--live", help="Trade real money on --venue.")] = False,
        venue: Annotated[str, typer.Option(help="Live venue: binance, coinbase, robinhood.")] = "binance",
        testnet: Annotated[bool, typer.Option(help="Use the venue's testnet/sandbox (live mode).")] = False,
        secrets_file: Annotated[Path | None, typer.Option(help="TOML file with API keys.")] = None,
        yes_i_understand: Annotated[bool, typer.Option("--yes-i-understand", help="Skip the typed confirmation.")]
        = False,
        top_n: Annotated[int, typer.Option(min=1, help="Symbols to hold.")] = 3,
        timeframe: Annotated[str, typer.Option(help="Bar timeframe of the replay.")] = "1d",
        candles: Annotated[Path | None, typer.Option(help="Directory of OHLCV feather files to replay.")] = None,
        rebalances: Annotated[int, typer.Option(min=1, help="Bars to trade (the newest ones).")] = 10,
        capital: Annotated[float, typer.Option(help="Paper starting cash, USDT.")] = 10_000.0,
        commission: Annotated[float, typer.Option(help="Taker fee fraction.")] = 0.001,
        slippage_bps: Annotated[float, typer.Option("--slippage-bps", help="Fixed slippage, bps.")] = 5.0,
        store: Annotated[bool, typer.Option(help="Write orders/fills/positions to the store.")] = True,
    ) -> None:
        """Turn the latest rankings into orders through the risk guard (paper unless --live)."""
        from cluster.errors import ConfigError
        from cluster.logging import configure_logging
        from cluster.redact import install
        from cluster.settings import load_settings

        settings = load_settings()
        configure_logging(settings.log_level)
        install()
        if strategy != "topn":
            raise ConfigError(f"unknown strategy {strategy!r}; available: topn")
        if live or not paper:
            confirmed = False
            if live and not yes_i_understand and os.isatty(0):
                answer = typer.prompt(f"LIVE trading on {venue} with real money. Type the venue name to go on")
                confirmed = answer.strip().lower() == venue
            keys = resolve_live(venue=venue, live=live, yes=yes_i_understand, secrets_file=secrets_file,
                                env=dict(os.environ), confirmed=confirmed)
            print(json.dumps(run_live(settings, venue=venue, keys=keys, testnet=testnet, top_n=top_n)))
            return
        print(json.dumps(run_paper(settings, candles_dir=candles, timeframe=timeframe, top_n=top_n,
                                   rebalances=rebalances, capital=capital, commission=commission,
                                   slippage_bps=slippage_bps, store=store)))


def run_live(settings: Any, *, venue: str, keys: VenueKeys, testnet: bool, top_n: int) -> dict[str, Any]:
    """One live rebalance from the newest stored ranking run (after every live check has passed)."""
    from decimal import Decimal

    from actors.brokers.clock import SystemClock
    from actors.brokers.journal import StoreJournal
    from actors.brokers.models import ZERO, round_step
    from actors.brokers.replay import topn_targets
    from actors.oms_core import OmsConfig, OmsCore
    from actors.risk_guard import RiskGuardCore, RiskLimits
    from cluster.errors import ConfigError
    from cluster.store import open_store

    broker = build_live_broker(venue, keys, testnet=testnet)
    ops = open_store(settings)
    try:
        rows = ops.store.query_arrow(
            f"SELECT symbol, rank FROM {ops.db}.rankings WHERE run_id = (SELECT argMax(run_id, created_at) "
            f"FROM {ops.db}.rankings) ORDER BY rank").to_pylist()
        if not rows:
            raise ConfigError("no rankings stored; run `coinray demo` or `coinray rank` first")
        ranked = [r["symbol"] for r in rows]
        clock = SystemClock()
        guard = RiskGuardCore(RiskLimits(), clock)
        oms = OmsCore(broker, guard, StoreJournal(ops.store, account=f"{venue}-live"), clock,
                      OmsConfig(account=f"{venue}-live"))
        quote = ranked[0].split("/")[1]
        balances = broker.balances()
        prices = {}
        for s in ranked[:top_n]:
            price = broker.last_price(s)
            prices[s] = price
            guard.mark(s, price)
        equity = balances[quote].free if quote in balances else ZERO
        targets = topn_targets(ranked[:top_n], top_n=top_n, equity=equity, prices=prices,
                               lot_size=Decimal("0.00000001"))
        sent = []
        for s, qty in targets.items():
            market = broker.market(s)
            delta = qty - oms.positions().get(s, ZERO)
            delta = round_step(abs(delta), market.lot_size) * (1 if delta > 0 else -1)
            order = oms.target(s, delta)
            if order is not None:
                sent.append({"client_order_id": order.client_order_id, "status": str(order.status)})
        return {"mode": "live", "venue": venue, "testnet": testnet, "orders": sent,
                "reconcile": oms.report.as_dict()}
    finally:
        ops.store.close()


def build_live_broker(venue: str, keys: VenueKeys, *, testnet: bool) -> Any:
    """The venue adapter for live (or testnet) trading."""
    if venue == "robinhood":
        from actors.brokers.robinhood import RobinhoodBroker, RobinhoodConfig

        return RobinhoodBroker(RobinhoodConfig(api_key=keys.api_key, private_key_b64=keys.api_secret))
    from actors.brokers.ccxt_broker import CcxtBroker, CcxtBrokerConfig

    return CcxtBroker(CcxtBrokerConfig(exchange=venue, api_key=keys.api_key, api_secret=keys.api_secret,
                                       testnet=testnet))
