"""REST backfill planning (pure): config, resume points, pagination and rate-limit pacing decisions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from cluster.errors import ConfigError
from cluster.schemas import TIMEFRAME_MS


class BackfillConfig(BaseModel):
    """What ``coinray ingest backfill`` fetches and how hard it may push the exchange."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field(description="coinray exchange name (``binance``, ``coinbase``).")
    symbols: tuple[str, ...] = Field(min_length=1, description="ccxt unified symbols.")
    timeframes: tuple[str, ...] = Field(("1m",), min_length=1, description="Timeframes to fetch.")
    since_ms: int = Field(ge=0, description="First candle open time wanted, epoch ms.")
    until_ms: int | None = Field(None, description="Stop before this open time, epoch ms; None = now.")
    page_limit: int = Field(1000, ge=1, le=1000, description="Candles per request.")
    max_retries: int | None = Field(8, description="Consecutive retries per request; None = forever.")
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)
    weight_limit_per_min: int = Field(1200, ge=1, description="Binance request-weight budget per minute.")
    weight_safety: float = Field(0.8, gt=0, le=1, description="Pause when this share of the budget is used.")
    parallelism: int = Field(4, ge=1, description="Concurrent (symbol, timeframe) tasks.")
    rest_url: str | None = Field(None, description="REST base URL override (a simulator).")
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None

    @field_validator("timeframes")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [tf for tf in value if tf not in TIMEFRAME_MS]
        if bad:
            raise ValueError(f"unsupported timeframe(s) {bad}; supported: {', '.join(TIMEFRAME_MS)}")
        return value


@dataclass(frozen=True)
class BackfillResult:
    """Outcome of one (symbol, timeframe) backfill."""

    symbol: str
    timeframe: str
    start_ms: int
    rows: int
    pages: int
    retries: int
    last_ts: int | None
    resumed: bool


def parse_date_ms(value: str) -> int:
    """``2024-01-01`` or ISO date-time (UTC unless it says otherwise) -> epoch ms.

    >>> parse_date_ms("2024-01-01")
    1704067200000
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"cannot read date {value!r}; use YYYY-MM-DD or an ISO date-time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def resume_from(since_ms: int, last_stored_ts: int | None, timeframe: str) -> tuple[int, bool]:
    """Where to start: after the newest stored candle when it is past ``since_ms``.

    >>> resume_from(0, 120_000, "1m")
    (180000, True)
    >>> resume_from(600_000, 120_000, "1m")
    (600000, False)
    """
    if last_stored_ts is not None and last_stored_ts + TIMEFRAME_MS[timeframe] > since_ms:
        return last_stored_ts + TIMEFRAME_MS[timeframe], True
    return since_ms, False


def next_page(rows: Sequence[Sequence[float]], since_ms: int, timeframe: str, until_ms: int,
              page_limit: int) -> tuple[list[Sequence[float]], int | None]:
    """Keep a page's candles inside ``[since_ms, until_ms)``; return them and the next ``since`` (None = done).

    >>> next_page([[0, 1, 1, 1, 1, 1], [60_000, 1, 1, 1, 1, 1]], 0, "1m", 10**9, 2)
    ([[0, 1, 1, 1, 1, 1], [60000, 1, 1, 1, 1, 1]], 120000)
    >>> next_page([[0, 1, 1, 1, 1, 1]], 0, "1m", 10**9, 2)[1] is None
    True
    """
    kept = [r for r in rows if since_ms <= int(r[0]) < until_ms]
    if not rows or len(rows) < page_limit:
        return kept, None
    nxt = int(rows[-1][0]) + TIMEFRAME_MS[timeframe]
    return kept, (nxt if nxt < until_ms and nxt > since_ms else None)


def weight_pause_s(used_weight: int | None, *, limit: int, safety: float, now_ms: int) -> float:
    """Seconds to wait for the next minute when the used request weight crosses ``safety * limit``.

    >>> weight_pause_s(1100, limit=1200, safety=0.8, now_ms=30_000)
    30.0
    >>> weight_pause_s(100, limit=1200, safety=0.8, now_ms=30_000)
    0.0
    """
    if used_weight is None or used_weight < limit * safety:
        return 0.0
    return (60_000 - now_ms % 60_000) / 1000


def check_timeframes(timeframes: Iterable[str], supported: Iterable[str], exchange: str) -> None:
    """Raise ``ConfigError`` listing the exchange's supported timeframes when one is not offered."""
    offered = list(supported)
    for tf in timeframes:
        if tf not in offered:
            raise ConfigError(f"{exchange} does not offer timeframe {tf!r}; supported: {', '.join(offered)}")


def close_matches(symbol: str, markets: Iterable[str]) -> list[str]:
    """Up to five market symbols that look like ``symbol``.

    >>> close_matches("BTC/USTD", ["BTC/USDT", "ETH/USDT", "DOGE/USDT"])
    ['BTC/USDT', 'ETH/USDT']
    """
    return difflib.get_close_matches(symbol, list(markets), n=5, cutoff=0.5)
