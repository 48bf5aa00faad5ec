"""Per-venue normalisation modules (pure parsing, symbol and channel tables) and their lookup."""

from __future__ import annotations

from types import ModuleType

from actors.exchanges._types import Channel, Event, Exchange, Ignored, Kline, Ticker, Trade
from cluster.errors import ConfigError

__all__ = ["Channel", "Event", "Exchange", "Ignored", "Kline", "Ticker", "Trade", "venue_for"]


def venue_for(exchange: str) -> ModuleType:
    """The venue module of ``exchange`` (``binance`` or ``coinbase``).

    Raises
    ------
    ConfigError
        For an exchange without a venue module, listing the supported ones.
    """
    from actors.exchanges import binance, coinbase

    venues = {binance.EXCHANGE: binance, coinbase.EXCHANGE: coinbase}
    try:
        return venues[exchange]
    except KeyError:
        raise ConfigError(f"no venue module for exchange {exchange!r}; supported: {', '.join(sorted(venues))}") \
            from None
