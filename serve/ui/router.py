"""The dashboard's routes: HTML pages, their JSON data endpoints and the SSE stream, as one ``APIRouter``.

Routes validate input and delegate to :mod:`serve.ui.queries`, :mod:`serve.ui.charts`,
:mod:`serve.ui.jobs` and :mod:`serve.ui.live`; domain errors (``CoinrayError``) are mapped to
problem details by the ingress app's exception handler.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from cluster.errors import CoinrayError
from cluster.schemas import TIMEFRAME_MS
from pipelines.alerts import AlertRule, Direction, RuleKind
from serve.ui import charts, queries
from serve.ui.jobs import JobManager, JobRequest, strategy_forms
from serve.ui.live import LiveHub, alert_history, save_rule
from serve.ui.source import UiSource

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGES = ("overview", "symbol", "backtests", "strategy", "alerts", "models")
MAX_BARS = 5000
WARMUP_BARS = 200


class RuleForm(BaseModel):
    """An alert rule as the Alerts form sends it (``rule_id`` empty = a new rule)."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field("", max_length=64)
    name: str = Field("", max_length=120)
    kind: RuleKind
    symbol: str = Field(min_length=1, max_length=40)
    timeframe: str = "1h"
    level: float = 0.0
    direction: Direction = Direction.ABOVE
    indicator: str = ""
    min_score: float = 0.0
    pattern: str = ""
    webhook_url: str = ""
    enabled: bool = True

    def to_rule(self) -> AlertRule:
        """The validated :class:`AlertRule` (a new id when none was given)."""
        data = self.model_dump()
        data["rule_id"] = self.rule_id or uuid.uuid4().hex[:10]
        return AlertRule.model_validate(data)


def plotly_js_path() -> Path:
    """plotly.js as shipped inside the ``plotly`` Python package (served locally, never from a CDN)."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def build_ui_router(source: UiSource, *, redis_url: str | None = None, api_token: SecretStr | None = None,
                    exchanges: list[str] | None = None, use_ray: bool | None = None) -> APIRouter:
    """The dashboard as an ``APIRouter``; include it with ``app.include_router(router, prefix="/ui")``.

    Parameters
    ----------
    source:
        Store access (:class:`~serve.ui.source.OpsSource` or :class:`~serve.ui.source.ActorSource`).
    redis_url:
        The Redis bus for live updates and alert evaluation; None = no live stream.
    api_token:
        The API token; the Models page says whether model actions are enabled.
    exchanges:
        Candle streams to follow; None = every exchange with stored candles.
    use_ray:
        Run Strategy-page jobs as Ray tasks; None = when Ray is initialised.
    """
    router = APIRouter(tags=["dashboard"])
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    hub = LiveHub(source, redis_url=redis_url, exchanges=exchanges)
    jobs = JobManager(source, use_ray=use_ray)
    router.hub = hub  # type: ignore[attr-defined]  # reachable for shutdown and tests
    router.jobs = jobs  # type: ignore[attr-defined]
    router.source = source  # type: ignore[attr-defined]

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        hub.ensure_started()
        base = str(request.url_for("ui_overview")).rstrip("/")
        return templates.TemplateResponse(request, f"{name}.html", {
            "page": name, "pages": PAGES, "base": base, "live": redis_url is not None, **context})

    # -- pages ------------------------------------------------------------------------------------
    @router.get("/", response_class=HTMLResponse, name="ui_overview")
    async def overview(request: Request) -> HTMLResponse:
        """Overview: ranking, sentiment heat map, anomalies and signals, ingestion health."""
        return page(request, "overview")

    @router.get("/symbol", response_class=HTMLResponse)
    async def symbol_page(request: Request, symbol: str = "BTC/USDT", timeframe: str = "1h",
                          exchange: str = "binance", run_id: str = "",
                          bars: Annotated[int, Query(ge=10, le=MAX_BARS)] = 500) -> HTMLResponse:
        """Symbol: candles, overlays, panes, markers, sentiment timeline."""
        return page(request, "symbol", symbol=symbol, timeframe=timeframe, exchange=exchange, run_id=run_id,
                    bars=bars)

    @router.get("/backtests", response_class=HTMLResponse)
    async def backtests_page(request: Request, run_id: str = "") -> HTMLResponse:
        """Backtests: runs, and one run's equity, drawdown, metrics, trades."""
        return page(request, "backtests", run_id=run_id)

    @router.get("/strategy", response_class=HTMLResponse)
    async def strategy_page(request: Request) -> HTMLResponse:
        """Strategy: parameter form, backtest/sweep launch, progress and results."""
        return page(request, "strategy")

    @router.get("/alerts", response_class=HTMLResponse)
    async def alerts_page(request: Request) -> HTMLResponse:
        """Alerts: rules and history."""
        return page(request, "alerts", kinds=[k.value for k in RuleKind], directions=[d.value for d in Direction])

    @router.get("/models", response_class=HTMLResponse)
    async def models_page(request: Request) -> HTMLResponse:
        """Models: the registry when the learning area provides one."""
        return page(request, "models", token_enabled=api_token is not None)

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        """Local static assets (plotly.js from the plotly package)."""
        path = plotly_js_path() if name == "plotly.min.js" else STATIC / name
        if path.parent not in (STATIC, plotly_js_path().parent) or not path.is_file():
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(path, headers={"Cache-Control": "max-age=3600"})

    # -- data ---------------------------------------------------------------------------------------
    @router.get("/api/overview")
    def api_overview(timeframe: Annotated[str | None, Query(max_length=4)] = None) -> dict[str, Any]:
        """Everything the Overview shows."""
        return {
            "ranking": queries.latest_ranking(source, timeframe=timeframe),
            "sentiment": queries.sentiment_heatmap(source),
            "anomalies": queries.latest_anomalies(source, limit=20),
            "health": queries.ingestion_health(source, now_ms=int(time.time() * 1000)),
            "alerts": alert_history(source, limit=10),
            "live": hub.stats,
        }

    @router.get("/api/series")
    def api_series() -> list[dict[str, Any]]:
        """Stored candle series (symbol and timeframe pickers)."""
        return queries.series_catalog(source)

    @router.get("/api/chart")
    def api_chart(symbol: Annotated[str, Query(max_length=40)], timeframe: Annotated[str, Query(max_length=4)] = "1h",
                  exchange: Annotated[str, Query(max_length=32)] = "binance",
                  bars: Annotated[int, Query(ge=10, le=MAX_BARS)] = 500, run_id: str = "") -> dict[str, Any]:
        """The Symbol page's chart: the newest ``bars`` candles with indicators, signals and trades.

        A series with nothing stored yet (a stream that has just started) gives empty lists; the
        page then fills it from the live stream.
        """
        if timeframe not in TIMEFRAME_MS:
            raise HTTPException(422, f"unknown timeframe {timeframe!r}; valid: {', '.join(TIMEFRAME_MS)}")
        frame = pl.DataFrame(source.read_candles(timeframe=timeframe, exchange=exchange, symbols=[symbol]))
        frame = frame.tail(bars + WARMUP_BARS)
        chart = charts.candle_chart(frame, warmup=max(0, frame.height - bars))
        start = chart["ts"][0] if chart["ts"] else None
        trades: list[dict[str, Any]] = []
        if run_id:
            run = queries.backtest_detail(source, run_id)
            if run is None:
                raise HTTPException(404, f"no backtest run {run_id!r}")
            trades = [m for m in charts.trade_markers(run["result"].get("trades", []), symbol=symbol)
                      if m["ts"] is not None and (start is None or m["ts"] >= start)]
        return {"symbol": symbol, "timeframe": timeframe, "exchange": exchange, **chart, "trades": trades,
                "fills": queries.fills(source, symbol=symbol, start_ms=start),
                "sentiment": queries.sentiment_timeline(source, symbol=symbol, timeframe=timeframe, start_ms=start),
                "anomalies": queries.latest_anomalies(source, limit=50, symbol=symbol),
                "runs": [r["run_id"] for r in queries.backtest_runs(source) if symbol in r["symbols"]]}

    @router.get("/api/backtests")
    def api_backtests() -> list[dict[str, Any]]:
        """Backtest runs, newest first."""
        return queries.backtest_runs(source)

    @router.get("/api/backtests/{run_id}")
    def api_backtest(run_id: Annotated[str, PathParam(max_length=80)]) -> dict[str, Any]:
        """One run with its result (curves, trades, metrics)."""
        run = queries.backtest_detail(source, run_id)
        if run is None:
            raise HTTPException(404, f"no backtest run {run_id!r}")
        return run

    @router.get("/api/strategies")
    def api_strategies() -> list[dict[str, Any]]:
        """Strategies and their parameter schemas."""
        return strategy_forms()

    @router.post("/api/jobs", status_code=202)
    def api_submit(req: JobRequest) -> dict[str, Any]:
        """Launch a backtest or a sweep; poll ``/api/jobs/{job_id}`` (422 on unknown strategy or parameters)."""
        try:
            return jobs.submit(req).view()
        except CoinrayError as exc:
            raise HTTPException(422, str(exc)) from exc

    @router.get("/api/jobs/{job_id}")
    def api_job(job_id: str) -> dict[str, Any]:
        """A job's progress and, once complete, its result."""
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.view()

    @router.get("/api/alerts/rules")
    def api_rules() -> list[dict[str, Any]]:
        """Current alert rules."""
        return [r.model_dump(mode="json") for r in hub.evaluator.engine.rules]

    @router.post("/api/alerts/rules", status_code=201)
    def api_save_rule(form: RuleForm) -> dict[str, Any]:
        """Create or replace a rule; it is evaluated on the live stream from the next candle."""
        rule = form.to_rule()
        save_rule(source, rule)
        hub.reload_rules()
        return rule.model_dump(mode="json")

    @router.delete("/api/alerts/rules/{rule_id}")
    def api_delete_rule(rule_id: str) -> dict[str, Any]:
        """Delete a rule (a tombstone version)."""
        match = [r for r in hub.evaluator.engine.rules if r.rule_id == rule_id]
        if not match:
            raise HTTPException(404, f"no alert rule {rule_id!r}")
        save_rule(source, match[0], deleted=True)
        hub.reload_rules()
        return {"deleted": rule_id}

    @router.get("/api/alerts/history")
    def api_history(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """Fired alerts, newest first."""
        return alert_history(source, limit=limit)

    @router.get("/api/models")
    def api_models() -> dict[str, Any]:
        """The model registry (``available`` is false until the learning area creates it)."""
        return {**queries.models(source), "token_enabled": api_token is not None}

    @router.get("/events")
    async def events() -> StreamingResponse:
        """Server-sent events: ``candle``, ``signal`` and ``alert`` as they arrive on the bus."""
        hub.ensure_started()
        return StreamingResponse(hub.subscribe(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router
