"""``coinray backtest`` and ``coinray sweep``: load candles, run the engine or a Tune sweep, store, print."""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import polars as pl

    from cluster.settings import CoinraySettings
    from cluster.store import StoreOps
    from pipelines.backtest import BacktestConfig, Strategy

logger = logging.getLogger(__name__)

CandlesOpt = Annotated[list[Path] | None, typer.Option("--candles", help="OHLCV file(s) to replay.")]
SymbolsOpt = Annotated[list[str] | None, typer.Option("--symbols", help="Stored symbols (BTC/USDT); repeat or a,b.")]
TimeframeOpt = Annotated[str, typer.Option(help="Bar timeframe: 1m 5m 15m 1h 4h 1d.")]
StartOpt = Annotated[str | None, typer.Option(help="First bar (ISO date/time, UTC), inclusive.")]
EndOpt = Annotated[str | None, typer.Option(help="End (ISO date/time, UTC), exclusive.")]
ExchangeOpt = Annotated[str, typer.Option(help="Exchange the candles are stored under.")]
StrategyOpt = Annotated[str, typer.Option(help="Strategy name: sma_cross, sma_cross_events, rsi_reversion, topn.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", help="Strategy parameter k=v (repeat).")]
CashOpt = Annotated[float, typer.Option(help="Starting cash, quote currency.")]
CommissionOpt = Annotated[float, typer.Option(help="Taker fee as a fraction (0.001 = 0.1%).")]
MakerOpt = Annotated[float | None, typer.Option(help="Maker fee for limit fills; default = --commission.")]
SlipBpsOpt = Annotated[float, typer.Option("--slippage-bps", help="Fixed slippage in basis points.")]
SlipModelOpt = Annotated[str | None, typer.Option("--slippage-model", help="none|fixed_bps|spread|volume_share.")]
SpreadOpt = Annotated[float, typer.Option("--spread-bps", help="Quoted spread, bps (spread model).")]
ImpactOpt = Annotated[float, typer.Option("--impact-bps", help="Impact per 100% of bar volume, bps (volume_share).")]
PartOpt = Annotated[float, typer.Option("--max-participation", help="Max fill / bar volume (volume_share).")]
LatencyOpt = Annotated[int, typer.Option("--latency-bars", help="Extra bars before an order is active.")]
ShortOpt = Annotated[bool, typer.Option("--allow-short", help="Allow short positions.")]
CompatOpt = Annotated[str, typer.Option("--compat", help="native | backtestingpy (whole units, one symbol).")]


def parse_time_ms(text: str | None) -> int | None:
    """UTC epoch ms of an ISO date or date-time (naive means UTC); None passes through.

    >>> parse_time_ms("2024-01-02")
    1704153600000
    """
    from cluster.errors import ConfigError

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"not an ISO date/time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def build_config(*, cash: float, commission: float, maker: float | None, slippage_bps: float,
                 slippage_model: str | None, spread_bps: float, impact_bps: float, max_participation: float,
                 latency_bars: int, allow_short: bool, compat: str) -> BacktestConfig:
    """The :class:`BacktestConfig` of the command-line options (``ConfigError`` when invalid)."""
    from pydantic import ValidationError

    from cluster.errors import ConfigError
    from pipelines.backtest import BacktestConfig, SlippageConfig

    model = slippage_model or ("fixed_bps" if slippage_bps else "spread" if spread_bps else
                               "volume_share" if impact_bps or max_participation < 1 else "none")
    try:
        return BacktestConfig(
            cash=cash, commission=commission, maker_commission=maker, latency_bars=latency_bars,
            allow_short=allow_short, compat=compat,  # type: ignore[arg-type]
            slippage=SlippageConfig(model=model, bps=slippage_bps, spread_bps=spread_bps,  # type: ignore[arg-type]
                                    impact_bps=impact_bps, max_participation=max_participation),
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid backtest options: {problems}") from exc


def parse_kv(items: list[str] | None) -> dict[str, Any]:
    """``k=v`` options to a dict with typed values."""
    from cluster.errors import ConfigError
    from pipelines.backtest.strategy import parse_param_value

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param needs k=v, not {item!r}")
        out[key.strip()] = parse_param_value(value.strip())
    return out


def load_candles(settings: CoinraySettings, ops: StoreOps | None, *, files: list[Path] | None,
                 symbols: list[str] | None, exchange: str, timeframe: str, start: str | None,
                 end: str | None) -> pl.DataFrame:
    """Candles of one timeframe and range from files or the store (``DataError`` names the available range)."""
    import polars as pl
    import pyarrow as pa

    from cluster.errors import ConfigError, DataError
    from cluster.ohlcv_files import load_ohlcv_file
    from pipelines.backtest import prepare_candles

    wanted = [s.strip() for item in symbols or [] for s in item.split(",") if s.strip()]
    if files:
        now_ms = int(time.time() * 1000)
        tables = []
        for path in files:
            res = load_ohlcv_file(path, exchange=exchange, run_id="backtest", now_ms=now_ms)
            if res.error:
                raise DataError(f"{path}: {res.error}")
            tables.append(res.candles)
        table = pa.concat_tables(tables)
    elif wanted:
        if ops is None:
            raise ConfigError("--symbols reads the store; drop --no-store or pass --candles")
        table = ops.read_candles(timeframe=timeframe, exchange=exchange, symbols=wanted)
        missing = sorted(set(wanted) - set(table.column("symbol").to_pylist()))
        if missing:
            raise DataError(f"no {timeframe} candles stored for {', '.join(missing)} on {exchange}")
    else:
        raise ConfigError("pass --candles FILE... or --symbols SYMBOL... (with --timeframe)")
    frame = pl.DataFrame(table)
    if wanted and files:
        frame = frame.filter(pl.col("symbol").is_in(wanted))
    return prepare_candles(frame, timeframe=timeframe, start_ms=parse_time_ms(start), end_ms=parse_time_ms(end))


def _now_ms() -> int:
    return int(time.time() * 1000)


def execute_backtest(ops: StoreOps | None, candles: pl.DataFrame, *, strategy: str | Strategy,
                     raw_params: dict[str, Any], cfg: BacktestConfig, timeframe: str,
                     run_id: str) -> tuple[Any, dict[str, Any]]:
    """Run one backtest and record it: ``running`` first, then ``complete`` or ``failed`` (traceback).

    Returns the :class:`~pipelines.backtest.BacktestResult` and its JSON summary. A strategy
    that raises is re-raised as :class:`~cluster.errors.CoinrayError` carrying its traceback.
    """
    from dataclasses import replace

    from cluster.errors import CoinrayError
    from cluster.store.schema_backtest import BacktestRecord, write_backtest
    from pipelines.backtest import get_strategy, parse_params, run_backtest

    strategy = get_strategy(strategy) if isinstance(strategy, str) else strategy
    strategy_name = strategy.name
    params = parse_params(strategy, raw_params)
    symbols = tuple(sorted(set(candles.get_column("symbol").to_list())))
    created = _now_ms()
    ts = candles.get_column("ts")
    running = BacktestRecord(run_id=run_id, status="running", strategy=strategy_name, params=params.model_dump(),
                             config=cfg.model_dump(mode="json"), timeframe=timeframe, symbols=symbols,
                             created_ms=created, updated_ms=created, start_ts=int(ts.min()),  # type: ignore[arg-type]
                             end_ts=int(ts.max()))  # type: ignore[arg-type]
    if ops is not None:
        write_backtest(ops.store, running)
    try:
        result = run_backtest(candles, strategy, params, cfg, timeframe=timeframe)
    except Exception as exc:  # the CLI/job boundary: record the strategy's traceback, then fail the run
        tb = traceback.format_exc()
        logger.error("backtest %s: strategy %s failed", run_id, strategy_name, exc_info=True)
        if ops is not None:
            write_backtest(ops.store, replace(running, status="failed", updated_ms=_now_ms(), error=tb))
        raise CoinrayError(f"strategy {strategy_name!r} raised during the backtest (run {run_id}):\n{tb}") from exc
    summary = {"run_id": run_id, **result.summary()}
    if ops is not None:
        metrics = {k: float(v) for k, v in result.metrics.model_dump().items() if v is not None}
        payload = json.dumps({**summary, "curves": result.curves()})
        write_backtest(ops.store, replace(running, status="complete", updated_ms=_now_ms(), metrics=metrics,
                                          result=payload))
    return result, summary


def register(app: typer.Typer) -> None:
    """Add ``coinray backtest`` and ``coinray sweep``."""

    @app.command()
    def backtest(
        candles: CandlesOpt = None, symbols: SymbolsOpt = None, timeframe: TimeframeOpt = "1h",
        start: StartOpt = None, end: EndOpt = None, exchange: ExchangeOpt = "binance",
        strategy: StrategyOpt = "sma_cross", param: ParamOpt = None, cash: CashOpt = 100_000.0,
        commission: CommissionOpt = 0.001, maker_commission: MakerOpt = None, slippage_bps: SlipBpsOpt = 0.0,
        slippage_model: SlipModelOpt = None, spread_bps: SpreadOpt = 0.0, impact_bps: ImpactOpt = 0.0,
        max_participation: PartOpt = 1.0, latency_bars: LatencyOpt = 0, allow_short: ShortOpt = False,
        compat: CompatOpt = "native",
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
        html_out: Annotated[Path | None, typer.Option("--html", help="Write an HTML report here.")] = None,
        no_store: Annotated[bool, typer.Option("--no-store", help="Do not record the run in the store.")] = False,
        run_id: Annotated[str | None, typer.Option(help="Run id (default: generated).")] = None,
    ) -> None:
        """Backtest a strategy on stored or file candles; record it in the ``backtests`` table."""
        from cluster.logging import configure_logging
        from cluster.settings import load_settings
        from cluster.store import open_store

        settings = load_settings()
        configure_logging("WARNING" if as_json else settings.log_level)
        cfg = build_config(cash=cash, commission=commission, maker=maker_commission, slippage_bps=slippage_bps,
                           slippage_model=slippage_model, spread_bps=spread_bps, impact_bps=impact_bps,
                           max_participation=max_participation, latency_bars=latency_bars,
                           allow_short=allow_short, compat=compat)
        raw_params = parse_kv(param)
        ops = None if no_store else open_store(settings)
        try:
            frame = load_candles(settings, ops, files=candles, symbols=symbols, exchange=exchange,
                                 timeframe=timeframe, start=start, end=end)
            rid = run_id or f"bt-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
            result, summary = execute_backtest(ops, frame, strategy=strategy, raw_params=raw_params,
                                               cfg=cfg, timeframe=timeframe, run_id=rid)
        finally:
            if ops is not None:
                ops.store.close()
        if html_out is not None:
            from serve.backtest_report import render_backtest_html

            html_out.parent.mkdir(parents=True, exist_ok=True)
            html_out.write_text(render_backtest_html(result, frame, run_id=rid), encoding="utf-8")
        if as_json:
            sys.stdout.write(json.dumps(summary) + "\n")
            return
        _print_summary(summary, html_out)

    @app.command()
    def sweep(
        strategy: StrategyOpt = "sma_cross",
        grid: Annotated[list[str] | None, typer.Option("--grid", help="name=start:stop:step or name=v1,v2.")] = None,
        param: ParamOpt = None,
        search: Annotated[str, typer.Option(help="grid | random | optuna.")] = "grid",
        num_samples: Annotated[int, typer.Option(help="Trials for random/optuna.")] = 20,
        metric: Annotated[str, typer.Option(help="Metric to optimise (sharpe, return_pct, calmar...).")] = "sharpe",
        mode: Annotated[str, typer.Option(help="max | min.")] = "max",
        walk_forward: Annotated[bool, typer.Option("--walk-forward", help="Walk-forward optimisation.")] = False,
        train_bars: Annotated[int, typer.Option(help="Walk-forward train window, bars.")] = 1500,
        test_bars: Annotated[int, typer.Option(help="Walk-forward test window, bars.")] = 500,
        step_bars: Annotated[int | None, typer.Option(help="Walk-forward step, bars (default test window).")] = None,
        candles: CandlesOpt = None, symbols: SymbolsOpt = None, timeframe: TimeframeOpt = "1h",
        start: StartOpt = None, end: EndOpt = None, exchange: ExchangeOpt = "binance",
        cash: CashOpt = 100_000.0, commission: CommissionOpt = 0.001, slippage_bps: SlipBpsOpt = 0.0,
        compat: CompatOpt = "native", seed: Annotated[int, typer.Option(help="Search seed.")] = 0,
        top: Annotated[int, typer.Option(help="Rows of the result table to print.")] = 10,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Sweep strategy parameters on Ray Tune (parallel trials), optionally walk-forward."""
        from cluster.errors import ConfigError
        from cluster.logging import configure_logging
        from cluster.runtime import start_ray, stop_ray
        from cluster.settings import load_settings
        from cluster.store import open_store
        from tune.sweep import SweepConfig, parse_grid

        if not grid:
            raise typer.BadParameter("give at least one --grid name=start:stop:step", param_hint="--grid")
        settings = load_settings()
        configure_logging("WARNING" if as_json else settings.log_level)
        try:
            spec = SweepConfig(strategy=strategy, grid=dict(parse_grid(g) for g in grid), fixed=parse_kv(param),
                               search=search, num_samples=num_samples, metric=metric, mode=mode, seed=seed)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"invalid sweep: {exc}") from exc
        cfg = build_config(cash=cash, commission=commission, maker=None, slippage_bps=slippage_bps,
                           slippage_model=None, spread_bps=0.0, impact_bps=0.0, max_participation=1.0,
                           latency_bars=0, allow_short=False, compat=compat)
        ops = open_store(settings) if symbols else None
        try:
            frame = load_candles(settings, ops, files=candles, symbols=symbols, exchange=exchange,
                                 timeframe=timeframe, start=start, end=end)
        finally:
            if ops is not None:
                ops.store.close()
        started = start_ray(settings.ray)
        try:
            out = _run_sweep(frame, spec, cfg, timeframe=timeframe, storage=settings.data_dir / "tune",
                             walk_forward=walk_forward, train_bars=train_bars, test_bars=test_bars,
                             step_bars=step_bars)
        finally:
            if started:
                stop_ray()
        if as_json:
            sys.stdout.write(json.dumps(out, default=str) + "\n")
            return
        _print_sweep(out, top)


def _run_sweep(frame: pl.DataFrame, spec: Any, cfg: BacktestConfig, *, timeframe: str, storage: Path,
               walk_forward: bool, train_bars: int, test_bars: int, step_bars: int | None) -> dict[str, Any]:
    import numpy as np

    from cluster.errors import ConfigError
    from tune.sweep import run_sweep
    from tune.trainables import evaluate
    from tune.walk_forward import run_walk_forward, walk_forward_splits

    if not walk_forward:
        return run_sweep(frame, spec, cfg, timeframe=timeframe, storage_dir=storage)
    n_bars = int(np.unique(frame.get_column("ts").to_numpy()).shape[0])
    try:
        splits = walk_forward_splits(n_bars, train_bars=train_bars, test_bars=test_bars, step_bars=step_bars)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc

    def optimise(train: pl.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
        res = run_sweep(train, spec, cfg, timeframe=timeframe, storage_dir=storage)
        return res["best_params"], res["best"]

    def oos(window: pl.DataFrame, params: dict[str, Any], trade_from_ms: int) -> dict[str, Any]:
        return evaluate(params, candles=window, strategy_name=spec.strategy, fixed=spec.fixed, cfg=cfg,
                        timeframe=timeframe, trade_from_ms=trade_from_ms)

    report = run_walk_forward(frame, splits, optimise=optimise, evaluate=oos, metric=spec.metric)
    return {"strategy": spec.strategy, "walk_forward": True, **report}


def _print_summary(summary: dict[str, Any], html_out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"backtest {summary['run_id']} · {summary['strategy']} {summary['params']} · "
                        f"{summary['timeframe']} · {', '.join(summary['symbols'])}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary["metrics"].items():
        table.add_row(key, "-" if value is None else f"{value:,.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"{summary['start']} .. {summary['end']} · {summary['bars']} bars · "
                  f"{len(summary['open_trades'])} trade(s) still open")
    if html_out is not None:
        console.print(f"report: {html_out}")


def _print_sweep(out: dict[str, Any], top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if out.get("walk_forward"):
        m = out["metric"]
        table = Table(title=f"walk-forward · {out['strategy']} · in-sample vs out-of-sample {m}")
        for col in ("split", "test window", "params", f"IS {m}", f"OOS {m}", "IS ret %", "OOS ret %"):
            table.add_column(col)
        for r in out["splits"]:
            table.add_row(str(r["split"]), f"{r['test_start']} .. {r['test_end']}", str(r["params"]),
                          _f(r[f"is_{m}"]), _f(r[f"oos_{m}"]), _f(r["is_return_pct"]), _f(r["oos_return_pct"]))
        console.print(table)
        console.print(out["summary"])
        return
    keys = list(out["best_params"])
    table = Table(title=f"sweep · {out['strategy']} · {out['trials']} trials · best by {out['metric']}")
    for col in (*keys, out["metric"], "return_pct", "max_drawdown_pct", "n_trades"):
        table.add_column(col, justify="right")
    for r in out["rows"][:top]:
        table.add_row(*(str(r[k]) for k in keys), _f(r.get(out["metric"])), _f(r.get("return_pct")),
                      _f(r.get("max_drawdown_pct")), str(r.get("n_trades")))
    console.print(table)
    console.print(f"best: {out['best_params']}")


def _f(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.3f}"
