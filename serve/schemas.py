"""Pydantic request and response models of the HTTP API (what ``/docs`` shows)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

ReportFormat = Literal["md", "json", "html"]
TimeframeName = Literal["1m", "5m", "15m", "1h", "4h", "1d"]
ALL_FORMATS: tuple[ReportFormat, ...] = ("json", "md", "html")


class ProblemDetails(BaseModel):
    """An error as RFC 9457 problem details, plus the allowed values when a value was unknown."""

    type: str = Field("about:blank", description="URI of the problem type.")
    title: str
    status: int
    detail: str
    instance: str | None = None
    allowed: list[str] | None = Field(None, description="Valid values, when the problem is an unknown value.")
    missing: list[str] | None = Field(None, description="Symbols without data, when data was missing.")
    errors: list[dict[str, object]] | None = Field(None, description="Validation errors (field, message).")
    rule: str | None = Field(None, description="The risk rule that rejected an order.")
    numbers: dict[str, str] | None = Field(None, description="The values that broke the risk rule.")
    reason: str | None = Field(None, description="The venue's reason for rejecting an order.")


class Reason(BaseModel):
    """One term of the ensemble log-odds behind a call."""

    factor: str
    log_odds: float
    text: str


class RecommendationModel(BaseModel):
    """A buy call: levels, probability, reasons and what would invalidate it."""

    symbol: str
    rank: int
    entry: float
    stop: float
    target: float
    atr: float
    p_up: float = Field(description="Calibrated P(take-profit before stop within the horizon).")
    confidence: float = Field(description="Confidence-matrix composite confidence in [0, 1].")
    horizon_bars: int
    expires_at: str
    reasons: list[Reason]
    invalidation: list[str]
    anomaly: bool


class RankingItem(BaseModel):
    """One ranked symbol."""

    symbol: str
    rank: int
    score: float
    factors: dict[str, float]
    contributions: dict[str, float]
    rationale: str
    close: float


class RankingsResponse(BaseModel):
    """The Top-N of one (exchange, timeframe) ranking."""

    exchange: str
    timeframe: str
    as_of: str | None
    generated_at: str
    ranked: int
    top: list[RankingItem]
    recommendations: list[RecommendationModel]
    excluded: dict[str, str]
    notes: list[str]
    sentiment_used: bool


class SymbolScoreResponse(BaseModel):
    """One symbol's place in the ranking of a timeframe."""

    symbol: str
    exchange: str
    timeframe: str
    as_of: str | None
    of: int
    item: RankingItem
    recommendation: RecommendationModel | None


class ReportRequest(BaseModel):
    """A report to build now."""

    model_config = ConfigDict(extra="forbid")

    timeframe: TimeframeName = "1d"
    exchange: str | None = Field(None, max_length=32)
    top: int = Field(5, ge=1, le=50)
    symbols: list[str] | None = Field(None, max_length=1000, description="Universe; None = every symbol with data.")
    formats: list[ReportFormat] = Field(default_factory=lambda: list(ALL_FORMATS), min_length=1)


class ReportResponse(BaseModel):
    """Where a built report went."""

    run_id: str
    schema_version: str
    timeframe: str
    exchange: str
    formats: list[str]
    paths: dict[str, str]
    top: list[str]


class HealthResponse(BaseModel):
    """Liveness and what the ranker can answer."""

    status: Literal["ok"]
    exchanges: list[str]
    timeframes: list[str]
    symbols: int


def require_token(api_token: SecretStr | None, authorization: str | None, *, action: str) -> None:
    """Check ``Authorization: Bearer <token>`` in constant time.

    Raises a 403 when no token is configured (``action`` is then disabled) and a 401 when the
    header is missing or wrong.
    """
    import secrets

    from starlette.exceptions import HTTPException

    if api_token is None:
        raise HTTPException(403, f"{action} is disabled: no API token is configured "
                                 "(set COINRAY_API_TOKEN or AppArgs.api_token)")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(given.encode(), api_token.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong bearer token")


PROBLEM = "application/problem+json"


def problem_response(status: int, title: str, detail: str, request: Any, **extra: Any) -> Any:
    """An RFC 9457 problem-details ``JSONResponse`` (``application/problem+json``) for ``request``."""
    from fastapi.responses import JSONResponse

    body = ProblemDetails(title=title, status=status, detail=detail, instance=str(request.url.path), **extra)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM)
