"""``StreamConfig``: the typed settings of one exchange stream, and the transport choice derived from it.

Pure (no Ray, no I/O). :class:`Clock` is the injected wall-clock protocol; :class:`SystemClock` the real one.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from actors.backoff import RetryBudget
from actors.exchanges._types import Channel
from cluster.errors import ConfigError


class Clock(Protocol):
    """Wall-clock source (injected so tests control time)."""

    def now_ms(self) -> int:
        """UTC epoch milliseconds."""
        ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        """UTC epoch ms."""
        return int(time.time() * 1000)


class StreamConfig(BaseModel):
    """Settings for one exchange stream actor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field(description="coinray exchange name (``binance``, ``coinbase``) or any ccxt.pro id "
                                      "(``kraken``, ``coinbaseexchange``), streamed through the generic venue.")
    symbols: tuple[str, ...] = Field(min_length=1, description="ccxt unified symbols (``BTC/USDT``).")
    channels: frozenset[Channel] = Field(frozenset({Channel.TRADES}), description="Channels to subscribe.")
    grace_ms: int = Field(2_000, ge=0, description="Late-trade grace after a minute ends before it closes, ms.")
    reorder_window_msgs: int = Field(50, ge=1, description="Messages to wait for out-of-order trades "
                                                           "before a REST repair of an id gap.")
    stale_after_s: float = Field(30.0, gt=0, description="Reconnect when a symbol is silent this long, s.")
    max_retries: int | None = Field(10, description="Consecutive reconnect failures allowed; None = forever.")
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    backoff_jitter: float = Field(0.2, ge=0, le=1)
    rest_page_limit: int = Field(1000, ge=1, le=1000, description="Trades per REST repair page.")
    max_tracked_gap_ids: int = Field(100_000, ge=1, description="Larger id jumps are recorded as unrepairable "
                                                                  "instead of tracked id by id.")
    flush_rows: int = Field(500, ge=1, description="Closed candles buffered before a store insert.")
    flush_interval_s: float = Field(1.0, gt=0, description="Longest time closed candles wait for a flush, s.")
    publish_live: bool = Field(True, description="Publish in-progress candles (final=0) to Redis.")
    rest_url: str | None = Field(None, description="REST base URL override (a simulator); None = the venue.")
    ws_url: str | None = Field(None, description="WebSocket base URL override; None = the venue.")
    transport: Literal["auto", "native", "ccxt"] = Field(
        "auto", description="``native``: the runner's own aiohttp WebSocket + the venue's raw-frame parsers; "
                            "``ccxt``: ccxt.pro ``watch_*``; ``auto``: native when the venue module has raw "
                            "parsers.")
    venue: Literal["auto", "generic"] = Field(
        "auto", description="``auto``: coinray's venue module when ``exchange`` has one (``binance``, "
                            "``coinbase``), else the generic ccxt venue with ``exchange`` as the ccxt.pro id; "
                            "``generic``: always the generic venue (``exchange`` is then the ccxt.pro id; trade "
                            "ids are opaque, gaps come from disconnects and repairs page by time).")
    ccxt_options: dict[str, Any] = Field(default_factory=dict, description="Extra ccxt ``options`` for the "
                                                                          "client, over the venue's own.")
    max_seen_keys: int = Field(200_000, ge=1_000, description="Generic venue: most trade keys remembered per "
                                                               "symbol for de-duplication.")
    max_batch_frames: int = Field(2_000, ge=1, description="Native transport: most frames decoded per batch.")
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None

    def retry_budget(self, *, forever: bool = False) -> RetryBudget:
        """A reconnect/retry budget from the backoff settings (``forever``: no limit on consecutive failures)."""
        return RetryBudget(self.backoff_initial_s, 2.0, self.backoff_max_s, self.backoff_jitter,
                           None if forever else self.max_retries)


def resolve_transport(cfg: StreamConfig, venue: ModuleType | Any) -> Literal["native", "ccxt"]:
    """The transport a stream uses: ``native`` needs a venue module with raw-frame parsers and ``ws_connections``.

    Raises
    ------
    ConfigError
        When ``native`` is asked for a venue without raw parsers.
    """
    has_native = all(hasattr(venue, name) for name in ("ws_connections", "decode_frame", "parser_for"))
    if cfg.transport == "native" and not has_native:
        raise ConfigError(f"{cfg.exchange}: no raw-frame parsers for the native transport; use transport='ccxt'")
    if cfg.transport == "ccxt" or not has_native:
        return "ccxt"
    return "native"
