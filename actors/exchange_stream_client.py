"""ccxt.pro client helpers of the stream runner: building the client, checking symbols, reading Retry-After."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from actors.exchange_stream_config import StreamConfig
from actors.exchanges import venue_for
from cluster.errors import ConfigError


def make_client(cfg: StreamConfig) -> Any:
    """A ccxt.pro client for ``cfg.exchange`` (its venue's ccxt id and options plus ``cfg.ccxt_options``).

    Pointed at ``cfg.rest_url``/``ws_url`` when set (a simulator), with rate limiting off.
    """
    import ccxt.pro as ccxtpro

    venue = venue_for(cfg.exchange, generic=cfg.venue == "generic")
    params: dict[str, Any] = {"options": {**venue.CCXT_OPTIONS, **cfg.ccxt_options}, "enableRateLimit": True}
    if cfg.api_key is not None:
        params["apiKey"] = cfg.api_key.get_secret_value()
    if cfg.api_secret is not None:
        params["secret"] = cfg.api_secret.get_secret_value()
    client = getattr(ccxtpro, venue.CCXT_ID)(params)
    if cfg.rest_url or cfg.ws_url:
        client.urls["api"].update(venue.ccxt_urls(cfg.rest_url or "", cfg.ws_url or ""))
        client.rateLimit = 0
        client.enableRateLimit = False  # a local simulator: the token bucket built at init would still pace calls
    return client


def check_symbols(markets: dict[str, Any], symbols: Sequence[str], exchange: str) -> None:
    """Raise ``ConfigError`` for an unknown symbol, listing close matches from the exchange's markets."""
    for symbol in symbols:
        if symbol not in markets:
            close = difflib.get_close_matches(symbol, list(markets), n=5, cutoff=0.5)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise ConfigError(f"{exchange} has no market {symbol!r}{hint}")


def retry_after_from(client: Any) -> Callable[[BaseException], float | None]:
    """Read ``Retry-After`` from the client's last response headers (seconds)."""

    def hint(exc: BaseException) -> float | None:
        headers = getattr(client, "last_response_headers", None) or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    return hint
