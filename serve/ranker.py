"""Ray shells of the ranker: the ``Ranker`` deployment, the ``Ingress`` deployment and the report scheduler actor.

Each only loads data or models and delegates to :class:`serve.ranker_core.RankerCore`,
:func:`serve.app.create_api` and :class:`serve.scheduler.SchedulerCore`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, cast

import polars as pl
import ray
from ray import serve

from cluster.errors import CoinrayError, DataError
from serve.app import AppArgs, create_api, reports_dir_of
from serve.ranker_core import RankerCore, load_candle_files
from serve.scheduler import ReportSchedule, SchedulerCore, run_report
from serve.schemas import ReportRequest

logger = logging.getLogger(__name__)


def load_features(args: AppArgs) -> pl.DataFrame:
    """Features of every configured timeframe, from ``args.candles`` files or the ``store`` actor."""
    from pipelines.features import build_features

    timeframes = args.service.timeframes
    if args.candles:
        candles = load_candle_files([Path(p) for p in args.candles], exchange=args.exchange)
        candles = candles.filter(pl.col("timeframe").is_in(list(timeframes)))
    else:
        store = _store(args.store_namespace)
        tables: list[Any] = ray.get(
            [store.read_candles.remote(timeframe=tf, exchange=args.exchange) for tf in timeframes]
        )
        candles = pl.concat([cast(pl.DataFrame, pl.from_arrow(t)) for t in tables if t.num_rows], how="vertical")
    return build_features(candles)


def load_sentiment_agg(args: AppArgs) -> pl.DataFrame | None:
    """The store's ``sentiment_agg`` buckets (None when ranking candle files, or when there are none)."""
    from pipelines.sentiment.aggregation import agg_query

    if args.candles:
        return None
    store = _store(args.store_namespace)
    table: Any = ray.get(store.query_arrow.remote(agg_query(ray.get(store.database.remote()))))
    return pl.DataFrame(pl.from_arrow(table)) if table.num_rows else None


def _store(namespace: str) -> Any:
    """The ``store`` actor, or a ``DataError`` naming the namespace and the named actors Ray has."""
    from actors.store_writer import STORE_ACTOR_NAME

    store = _store_or_none(namespace)
    if store is None:
        found = sorted(f"{a['namespace']}/{a['name']}" for a in ray.util.list_named_actors(all_namespaces=True))
        raise DataError(f"no {STORE_ACTOR_NAME!r} actor in Ray namespace {namespace!r} (named actors: "
                        f"{', '.join(found) or 'none'}); start one with actors.store_writer.start_store_writer "
                        "or rank --candles files")
    return store


def _store_or_none(namespace: str) -> Any:
    from actors.store_writer import STORE_ACTOR_NAME

    try:
        return ray.get_actor(STORE_ACTOR_NAME, namespace=namespace)
    except ValueError:
        return None


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
class Ranker:
    """Fits the ensemble per (exchange, timeframe) at start-up (crash-only), then answers look-ups."""

    def __init__(self, args: AppArgs) -> None:
        self._core = RankerCore(load_features(args), args.service, reports_dir=reports_dir_of(args),
                                sentiment_agg=load_sentiment_agg(args))
        self._namespace = args.store_namespace

    def health(self) -> dict[str, Any]:
        return self._core.health()

    def rankings(self, timeframe: str, top: int, exchange: str | None) -> dict[str, Any]:
        return self._core.rankings(timeframe=timeframe, top=top, exchange=exchange)

    def symbol_score(self, symbol: str, timeframe: str, exchange: str | None) -> dict[str, Any]:
        return self._core.symbol_score(symbol, timeframe=timeframe, exchange=exchange)

    def build_report(self, request: ReportRequest, name: str = "api") -> dict[str, Any]:
        store = _store_or_none(self._namespace)
        sink = (lambda table: int(ray.get(store.insert_rankings.remote(table)))) if store is not None else None
        return run_report(self._core, request, sink=sink, name=name)

    def latest_report(self, fmt: str) -> str:
        return self._core.latest_report(fmt)


class HandleBackend:
    """A :class:`serve.app.RankerBackend` over the ``Ranker`` deployment handle; unwraps domain errors."""

    def __init__(self, handle: Any) -> None:
        self._h = handle

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self._h, method).remote(*args)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, CoinrayError):
                raise exc.cause from None
            raise

    async def health(self) -> dict[str, Any]:
        return await self._call("health")  # type: ignore[no-any-return]

    async def rankings(self, *, timeframe: str, top: int, exchange: str | None) -> dict[str, Any]:
        return await self._call("rankings", timeframe, top, exchange)  # type: ignore[no-any-return]

    async def symbol_score(self, symbol: str, *, timeframe: str, exchange: str | None) -> dict[str, Any]:
        return await self._call("symbol_score", symbol, timeframe, exchange)  # type: ignore[no-any-return]

    async def build_report(self, request: ReportRequest) -> dict[str, Any]:
        return await self._call("build_report", request)  # type: ignore[no-any-return]

    async def latest_report(self, fmt: str) -> str:
        return await self._call("latest_report", fmt)  # type: ignore[no-any-return]


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256)
@serve.ingress()
class Ingress:
    """The HTTP ingress: the FastAPI app of :func:`serve.app.create_api` over the ranker handle."""

    def __init__(self, ranker: Any, args: AppArgs) -> None:
        self._backend = HandleBackend(ranker)
        self._token = args.api_token
        if args.schedules:
            start_scheduler(list(args.schedules), app_name=serve.get_replica_context().app_name)

    def __serve_build_asgi_app__(self) -> Any:
        from serve.orders import ActorOrdersBackend

        return create_api(self._backend, api_token=self._token, dashboard=True, orders=ActorOrdersBackend())


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class ReportScheduler:
    """Runs the report schedules inside the cluster; crash-only (a restart re-arms every schedule)."""

    def __init__(self, schedules: list[ReportSchedule], app_name: str) -> None:
        self._core = SchedulerCore(schedules, started_ms=int(time.time() * 1000))
        self._app = app_name
        self._running = False

    async def run(self) -> None:
        if self._running:  # one loop per actor, however many ingress replicas ask
            return
        self._running = True
        handle = serve.get_deployment_handle("Ranker", app_name=self._app)
        while True:
            for s in self._core.due(int(time.time() * 1000)):
                await handle.build_report.remote(s.request(), s.name)
            await asyncio.sleep(self._core.seconds_to_next(int(time.time() * 1000)))


def start_scheduler(schedules: list[ReportSchedule], *, app_name: str) -> Any:
    """Start (or find) the ``report-scheduler`` actor and its loop; returns the handle."""
    actor = ReportScheduler.options(name="report-scheduler", get_if_exists=True).remote(  # type: ignore[attr-defined]
        schedules, app_name)
    actor.run.remote()
    return actor
