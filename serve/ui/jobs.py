"""Backtests and sweeps launched from the Strategy page: validated requests, progress, results.

The work itself is the backtest engine (``pipelines.backtest.run_backtest``) and the sweep
evaluator (``tune.trainables.evaluate``). It runs as Ray tasks when Ray is initialised in this
process (the Serve ingress), else on a worker thread; a finished backtest is recorded in the
``backtests`` table exactly as ``coinray backtest`` records it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.store.schema_backtest import BacktestRecord
from serve.ui.source import UiSource

logger = logging.getLogger(__name__)


class SweepSpec(BaseModel):
    """A two-parameter grid (the heat map's axes) and the metric to colour it by."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    param_x: str = Field(min_length=1)
    values_x: list[float] = Field(min_length=1, max_length=12)
    param_y: str = Field(min_length=1)
    values_y: list[float] = Field(min_length=1, max_length=12)
    metric: str = Field("sharpe", description="Metric of the heat map (a BacktestMetrics field).")


class JobRequest(BaseModel):
    """What the Strategy form submits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    symbols: list[str] = Field(min_length=1, max_length=20)
    exchange: str = "binance"
    timeframe: str = Field("1h", pattern=r"^(1m|5m|15m|1h|4h|1d)$")
    start: str | None = None
    end: str | None = None
    cash: float = Field(10_000.0, gt=0)
    commission: float = Field(0.001, ge=0, lt=0.1)
    sweep: SweepSpec | None = None


@dataclass
class Job:
    """One submitted backtest or sweep and its progress."""

    job_id: str
    request: JobRequest
    state: str = "queued"
    done: int = 0
    total: int = 1
    run_id: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    runner: str = "thread"

    def view(self) -> dict[str, Any]:
        """JSON status for the page's progress poll."""
        return {"job_id": self.job_id, "state": self.state, "done": self.done, "total": self.total,
                "run_id": self.run_id, "result": self.result, "error": self.error, "runner": self.runner,
                "kind": "sweep" if self.request.sweep else "backtest"}


def strategy_forms() -> list[dict[str, Any]]:
    """Each registered strategy with its parameter JSON schema (the form is generated from it)."""
    from pipelines.backtest import STRATEGIES

    return [{"name": name, "doc": (s.__doc__ or "").strip(), "schema": s.Params.model_json_schema()}
            for name, s in sorted(STRATEGIES.items())]


def _load(source: UiSource, req: JobRequest) -> pl.DataFrame:
    from cluster.commands.backtest import parse_time_ms
    from cluster.errors import DataError
    from pipelines.backtest import prepare_candles

    table = source.read_candles(timeframe=req.timeframe, exchange=req.exchange, symbols=req.symbols)
    missing = sorted(set(req.symbols) - set(table.column("symbol").to_pylist()))
    if missing:
        raise DataError(f"no {req.timeframe} candles stored for {', '.join(missing)} on {req.exchange}")
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):
        raise TypeError("read_candles returned no table")
    return prepare_candles(frame, timeframe=req.timeframe,
                           start_ms=parse_time_ms(req.start), end_ms=parse_time_ms(req.end))


def _config(req: JobRequest) -> Any:
    from cluster.commands.backtest import build_config

    return build_config(cash=req.cash, commission=req.commission, maker=None, slippage_bps=0.0, slippage_model=None,
                        spread_bps=0.0, impact_bps=0.0, max_participation=1.0, latency_bars=0, allow_short=False,
                        compat="native")


def compute_backtest(candles: pl.DataFrame, strategy: str, raw_params: dict[str, Any], cfg: Any,
                     timeframe: str) -> dict[str, Any]:
    """One backtest (pure): its summary, curves and metrics as JSON-ready values."""
    from pipelines.backtest import get_strategy, parse_params, run_backtest

    strat = get_strategy(strategy)
    params = parse_params(strat, raw_params)
    result = run_backtest(candles, strat, params, cfg, timeframe=timeframe)
    metrics = {k: float(v) for k, v in result.metrics.model_dump().items() if v is not None}
    return {"summary": result.summary(), "curves": result.curves(), "metrics": metrics,
            "params": params.model_dump()}


def compute_cell(candles: pl.DataFrame, strategy: str, fixed: dict[str, Any], point: dict[str, Any], cfg: Any,
                 timeframe: str) -> dict[str, Any]:
    """One sweep trial (pure): ``tune.trainables.evaluate`` of ``point`` over the fixed params."""
    from tune.trainables import evaluate

    return {**point, **evaluate(point, candles=candles, strategy_name=strategy, fixed=fixed, cfg=cfg,
                                timeframe=timeframe)}


def _ray_call(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    import ray

    task = ray.remote(num_cpus=1, max_retries=0)(fn)
    return ray.get(task.remote(*args))  # type: ignore[no-any-return]


def _as_int_if_integral(value: float, schema_type: str | None) -> Any:
    return int(value) if schema_type == "integer" else value


class JobManager:
    """Runs :class:`JobRequest` s one at a time in the background and keeps their status.

    Parameters
    ----------
    source:
        Where candles are read and finished backtests are recorded.
    use_ray:
        Run the work as Ray tasks (``None``: when ``ray.is_initialized()`` at submit time).
    """

    def __init__(self, source: UiSource, *, use_ray: bool | None = None) -> None:
        self._source = source
        self._use_ray = use_ray
        self._jobs: dict[str, Job] = {}
        self._futures: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-jobs")
        self._lock = threading.Lock()

    def submit(self, req: JobRequest) -> Job:
        """Validate the strategy and parameters now (errors are 422s), then queue the job."""
        from pipelines.backtest import get_strategy, parse_params

        strat = get_strategy(req.strategy)
        if req.sweep is None:
            parse_params(strat, req.params)
        else:
            known = set(strat.Params.model_fields)
            bad = sorted({req.sweep.param_x, req.sweep.param_y} - known)
            if bad:
                from cluster.errors import ConfigError

                raise ConfigError(f"strategy {req.strategy!r} has no parameter(s) {', '.join(bad)}; "
                                  f"valid: {', '.join(sorted(known))}")
        job = Job(job_id=uuid.uuid4().hex[:12], request=req, runner="ray" if self._ray() else "thread")
        if req.sweep is not None:
            job.total = len(req.sweep.values_x) * len(req.sweep.values_y)
        with self._lock:
            self._jobs[job.job_id] = job
        self._futures[job.job_id] = self._pool.submit(self._run, job)
        return job

    def wait(self, job_id: str, *, timeout_s: float) -> Job:
        """Block until the job has finished (``TimeoutError`` after ``timeout_s``); return it."""
        self._futures[job_id].result(timeout=timeout_s)
        return self._jobs[job_id]

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._lock:
            return self._jobs.get(job_id)

    def _ray(self) -> bool:
        if self._use_ray is not None:
            return self._use_ray
        import ray

        return bool(ray.is_initialized())

    def _call(self, job: Job, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        return _ray_call(fn, *args) if job.runner == "ray" else fn(*args)

    def _run(self, job: Job) -> None:
        job.state = "running"
        try:
            candles = _load(self._source, job.request)
            if job.request.sweep is None:
                self._backtest(job, candles)
            else:
                self._sweep(job, candles)
            job.state = "complete"
        except Exception:  # the job boundary (STYLE 2.7): log, keep the traceback on the job, never re-run
            logger.error("ui job %s failed", job.job_id, exc_info=True)
            job.error = traceback.format_exc()
            job.state = "failed"

    def _backtest(self, job: Job, candles: pl.DataFrame) -> None:
        req = job.request
        run_id = f"ui-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{job.job_id[:6]}"
        job.run_id = run_id
        created = int(time.time() * 1000)
        cfg = _config(req)
        out = self._call(job, compute_backtest, candles, req.strategy, req.params, cfg, req.timeframe)
        symbols = tuple(sorted(set(candles.get_column("symbol").to_list())))
        summary = {"run_id": run_id, **out["summary"]}
        record = BacktestRecord(
            run_id=run_id, status="complete", strategy=req.strategy, params=out["params"],
            config=cfg.model_dump(mode="json"), timeframe=req.timeframe, symbols=symbols, created_ms=created,
            updated_ms=int(time.time() * 1000), start_ts=int(candles.get_column("ts").min()),  # type: ignore[arg-type]
            end_ts=int(candles.get_column("ts").max()), metrics=out["metrics"],  # type: ignore[arg-type]
            result=json.dumps({**summary, "curves": out["curves"]}))
        self._source.insert("backtests", record.to_arrow())
        job.done = 1
        job.result = {"run_id": run_id, "metrics": out["metrics"], "n_trades": summary["n_trades"]}

    def _sweep(self, job: Job, candles: pl.DataFrame) -> None:
        from pipelines.backtest import get_strategy

        req = job.request
        sweep = req.sweep
        if sweep is None:
            raise ValueError("not a sweep job")
        props = get_strategy(req.strategy).Params.model_json_schema().get("properties", {})
        cfg = _config(req)
        fixed = {k: v for k, v in req.params.items() if k not in (sweep.param_x, sweep.param_y)}
        z: list[list[float | None]] = []
        for vy in sweep.values_y:
            row: list[float | None] = []
            for vx in sweep.values_x:
                point = {sweep.param_x: _as_int_if_integral(vx, props.get(sweep.param_x, {}).get("type")),
                         sweep.param_y: _as_int_if_integral(vy, props.get(sweep.param_y, {}).get("type"))}
                cell = self._call(job, compute_cell, candles, req.strategy, fixed, point, cfg, req.timeframe)
                value = cell.get(sweep.metric)
                row.append(float(value) if cell.get("valid") and value is not None and value == value else None)
                job.done += 1
            z.append(row)
        job.result = {"param_x": sweep.param_x, "values_x": sweep.values_x, "param_y": sweep.param_y,
                      "values_y": sweep.values_y, "metric": sweep.metric, "z": z}
