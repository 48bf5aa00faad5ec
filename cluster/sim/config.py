"""Typed settings of the local exchange simulator and its fault plan."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FaultConfig(BaseModel):
    """Deterministic fault plan: each ``*_every`` fires on every N-th WS frame or REST request (None = off).

    WebSocket counters count trade frames across the venue; REST counters count requests.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    disconnect_every: int | None = Field(None, ge=1, description="Close the connection after every N-th frame.")
    outage_msgs: int = Field(5, ge=0, description="Trades published to nobody after a disconnect (the gap).")
    malformed_every: int | None = Field(None, ge=1, description="Send a malformed frame before every N-th frame.")
    truncated_every: int | None = Field(None, ge=1, description="Send truncated JSON before every N-th frame.")
    unknown_every: int | None = Field(None, ge=1, description="Send an unknown event type before every N-th frame.")
    duplicate_every: int | None = Field(None, ge=1, description="Send every N-th frame twice.")
    reorder_every: int | None = Field(None, ge=1, description="Swap every N-th frame with the next one.")
    stall_every: int | None = Field(None, ge=1, description="Pause before every N-th frame.")
    stall_s: float = Field(0.0, ge=0, description="Length of each stall, s.")
    http_429_every: int | None = Field(None, ge=1, description="Answer every N-th REST request with 429.")
    http_418_every: int | None = Field(None, ge=1, description="Answer every N-th REST request with 418 (ban).")
    http_5xx_every: int | None = Field(None, ge=1, description="Answer every N-th REST request with 503.")
    retry_after_s: int = Field(0, ge=0, description="Retry-After header value on 429/418, s.")


class SimConfig(BaseModel):
    """What one simulator instance serves and how fast it replays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: Literal["binance", "coinbase"] = "binance"
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="0 = any free port.")
    speed: float = Field(10.0, ge=0, description="Replay speed-up; 0 = as fast as the client reads.")
    max_idle_s: float = Field(1.0, ge=0, description="Longest pause between two replayed trades, s.")
    trades_file: Path | None = Field(None, description="freqtrade trades feather to replay; None = bundled.")
    trades_symbol: str | None = Field(None, description="Symbol of ``trades_file`` (``XRP/ETH``).")
    klines_dir: Path | None = Field(None, description="freqtrade OHLCV feather dir; None = bundled sample.")
    laps: int = Field(1, ge=1, description="Replay the recording this many times back to back (ids and times "
                                           "shifted per lap), for load tests.")
    rate_per_s: float | None = Field(None, gt=0, description="Publish at this fixed rate instead of the recorded "
                                                             "spacing.")
    live_timestamps: bool = Field(False, description="Stamp each trade with the wall-clock time it is published "
                                                     "(latency measurements).")
    start_after_symbols: int = Field(1, ge=1, description="Symbols that must be subscribed before the replay "
                                                          "starts.")
    faults: FaultConfig = FaultConfig()
