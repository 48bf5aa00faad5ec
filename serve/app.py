"""The HTTP API (FastAPI) and the Serve application: an ingress deployment composed with the ranker.

``create_api(backend, ...)`` builds the FastAPI app over any :class:`RankerBackend`: in Serve the
backend awaits the ``Ranker`` deployment's handle; the benchmark baseline and the schemathesis
tests use the same app over an in-process :class:`~serve.ranker_core.RankerCore`. Routes validate
and delegate; domain errors become RFC 9457 problem details in one exception handler.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from fastapi import FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from cluster.errors import CoinrayError
from serve.ranker_core import MissingData, RankerServiceConfig, UnknownValue
from serve.scheduler import ReportSchedule
from serve.schemas import (
    PROBLEM,
    HealthResponse,
    ProblemDetails,
    RankingsResponse,
    ReportRequest,
    ReportResponse,
    SymbolScoreResponse,
    problem_response,
    require_token,
)

logger = logging.getLogger(__name__)
MAX_TOP = 50
Timeframe = Literal["1m", "5m", "15m", "1h", "4h", "1d"]


class RankerBackend(Protocol):
    """What the routes need from the ranker (a deployment handle adapter or an in-process core)."""

    async def health(self) -> dict[str, Any]: ...
    async def rankings(self, *, timeframe: str, top: int, exchange: str | None) -> dict[str, Any]: ...
    async def symbol_score(self, symbol: str, *, timeframe: str, exchange: str | None) -> dict[str, Any]: ...
    async def build_report(self, request: ReportRequest) -> dict[str, Any]: ...
    async def latest_report(self, fmt: str) -> str: ...


class AppArgs(BaseModel):
    """Typed arguments of :func:`build_app` (also the ``args`` of ``serve/config/coinray.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    candles: list[str] = Field(default_factory=list, description="OHLCV files/directories; empty = the store.")
    exchange: str = Field("binance", description="Exchange label of the candle files.")
    service: RankerServiceConfig = RankerServiceConfig()
    api_token: SecretStr | None = Field(None, description="Bearer token of POST /v1/reports; None disables it.")
    reports_dir: str | None = Field(None, description="Report directory; None = settings.reports_dir.")
    store_namespace: str = Field("coinray", description="Ray namespace of the ``store`` actor.")
    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(2, ge=1)
    schedules: list[ReportSchedule] = Field(
        default_factory=list, description="Report schedules; the ingress starts their scheduler actor.")


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem-details errors (``application/problem+json``)."""
    schema = ProblemDetails.model_json_schema()
    return {c: {"description": "Problem details (RFC 9457)", "content": {PROBLEM: {"schema": schema}}} for c in codes}


def _normalise_symbol(symbol: str) -> str:
    """``BTC-USDT``, ``BTC_USDT`` and ``btc/usdt`` all mean ``BTC/USDT``."""
    return symbol.strip().upper().replace("-", "/").replace("_", "/")


def create_api(backend: RankerBackend, *, api_token: SecretStr | None = None, dashboard: bool = False,
               orders: Any | None = None) -> FastAPI:
    """The FastAPI app over ``backend``: routes, problem-details errors, metrics, ``/ui`` when ``dashboard``,
    and the token-protected ``/v1/orders`` routes over ``orders`` (a :class:`serve.orders.OrdersBackend`)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

    api = FastAPI(title="coinray", version="1.1",
                  description="Ensemble crypto rankings, buy recommendations with rationale, and reports.")
    registry = CollectorRegistry()
    requests_total = Counter("coinray_http_requests", "HTTP requests", ["route", "status"], registry=registry)
    latency = Histogram("coinray_http_request_seconds", "HTTP request latency", ["route"], registry=registry)
    errors_total = Counter("coinray_http_unhandled_errors", "Unhandled errors", registry=registry)

    @api.middleware("http")
    async def _metrics(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        route = request.scope.get("route")
        response: Response = await call_next(request)
        name = getattr(request.scope.get("route", route), "path", "unmatched")
        latency.labels(name).observe(time.perf_counter() - start)
        requests_total.labels(name, str(response.status_code)).inc()
        return response

    @api.exception_handler(UnknownValue)
    async def _unknown(request: Request, exc: UnknownValue) -> JSONResponse:
        status = 422 if exc.kind == "format" else 404
        return problem_response(status, f"Unknown {exc.kind}", str(exc), request, allowed=exc.allowed)

    @api.exception_handler(MissingData)
    async def _missing(request: Request, exc: MissingData) -> JSONResponse:
        return problem_response(422, "Symbols without data", str(exc), request, missing=exc.symbols)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(422, "Invalid request", detail, request, errors=errors)

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, "HTTP error", str(exc.detail), request)

    @api.exception_handler(CoinrayError)
    async def _domain(request: Request, exc: CoinrayError) -> JSONResponse:
        return problem_response(422, type(exc).__name__, str(exc), request)

    @api.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:  # the named Serve boundary (STYLE 2.7)
        logger.error("unhandled error on %s", request.url.path, exc_info=exc)
        errors_total.inc()
        return problem_response(500, "Internal error", f"{type(exc).__name__}: see the server log", request)

    @api.get("/healthz", response_model=HealthResponse, tags=["ops"])
    async def healthz() -> dict[str, Any]:
        """Liveness, with the exchanges and timeframes the ranker can answer."""
        return await backend.health()

    @api.get("/metrics", response_class=PlainTextResponse, tags=["ops"])
    async def metrics() -> Response:
        """Prometheus metrics of this API process."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @api.get("/v1/rankings", response_model=RankingsResponse, responses=_responses(404, 422), tags=["rankings"])
    async def rankings(
        timeframe: Annotated[Timeframe, Query(description="Timeframe; 404 lists the ones ranked.")] = "1d",
        top: Annotated[int, Query(ge=1, le=MAX_TOP, description="How many ranked symbols to return.")] = 5,
        exchange: Annotated[str | None, Query(description="Exchange; default the first.", max_length=32)] = None,
    ) -> dict[str, Any]:
        """The Top-N of the ensemble ranking, with buy recommendations among them."""
        return await backend.rankings(timeframe=timeframe, top=top, exchange=exchange)

    @api.get("/v1/symbols/{symbol:path}/score", response_model=SymbolScoreResponse,
             responses=_responses(404, 422), tags=["rankings"])
    async def symbol_score(
        symbol: Annotated[str, PathParam(description="Symbol: BTC/USDT, BTC-USDT or BTC_USDT.", max_length=40)],
        timeframe: Annotated[Timeframe, Query(description="Timeframe; 404 lists the ones ranked.")] = "1d",
        exchange: Annotated[str | None, Query(max_length=32)] = None,
    ) -> dict[str, Any]:
        """One symbol's score, factors, contributions, rationale and (if a buy) its recommendation."""
        return await backend.symbol_score(_normalise_symbol(symbol), timeframe=timeframe, exchange=exchange)

    @api.get("/v1/reports/latest", responses={
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}},
                          "application/json": {"schema": {"type": "object"}}},
              "description": "The newest report"}, **_responses(404, 422)}, tags=["reports"])
    async def latest_report(
        fmt: Annotated[Literal["md", "json", "html"], Query(alias="format")] = "json",
    ) -> Response:
        """The newest stored report in Markdown, JSON (schema ``serve/report_schema.json``) or HTML."""
        text = await backend.latest_report(fmt)
        if fmt == "html":
            return HTMLResponse(text)
        if fmt == "md":
            return PlainTextResponse(text, media_type="text/markdown")
        return Response(text, media_type="application/json")

    @api.post("/v1/reports", response_model=ReportResponse, status_code=201,
              responses=_responses(401, 403, 404, 422), tags=["reports"])
    async def create_report(
        body: ReportRequest,
        authorization: Annotated[str | None, Header(description="Bearer <api token>")] = None,
    ) -> Any:
        """Build and store a report now (requires the API token)."""
        require_token(api_token, authorization, action="report creation")
        return await backend.build_report(body)

    if orders is not None:
        from serve.orders import build_orders_router

        api.include_router(build_orders_router(orders, api_token=api_token))
    if dashboard:
        from serve.ui.mount import mount_dashboard

        mount_dashboard(api, api_token=api_token)
    return api


class LocalBackend:
    """A :class:`RankerBackend` over an in-process core (benchmark baseline, tests)."""

    def __init__(self, core: Any) -> None:
        self._core = core

    async def health(self) -> dict[str, Any]:
        return dict(self._core.health())

    async def rankings(self, *, timeframe: str, top: int, exchange: str | None) -> dict[str, Any]:
        return dict(self._core.rankings(timeframe=timeframe, top=top, exchange=exchange))

    async def symbol_score(self, symbol: str, *, timeframe: str, exchange: str | None) -> dict[str, Any]:
        return dict(self._core.symbol_score(symbol, timeframe=timeframe, exchange=exchange))

    async def build_report(self, request: ReportRequest) -> dict[str, Any]:
        from serve.scheduler import run_report

        return run_report(self._core, request, sink=None)

    async def latest_report(self, fmt: str) -> str:
        return str(self._core.latest_report(fmt))


def reports_dir_of(args: AppArgs) -> Path:
    """The report directory: ``args.reports_dir`` or the settings' one."""
    if args.reports_dir:
        return Path(args.reports_dir)
    from cluster.settings import load_settings

    return load_settings().reports_dir


def build_app(args: AppArgs) -> Any:
    """The Serve application: ``Ingress`` (FastAPI) composed with ``Ranker`` via ``.bind()``."""
    from serve.ranker import Ingress, Ranker

    ranker = Ranker.options(autoscaling_config={  # type: ignore[attr-defined]
        "min_replicas": args.min_replicas, "max_replicas": max(args.max_replicas, args.min_replicas),
        "target_ongoing_requests": 8,
    }).bind(args)
    return Ingress.bind(ranker, args)  # type: ignore[attr-defined]
