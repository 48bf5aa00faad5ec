"""Per-venue normalisation modules (pure parsing, symbol and channel tables) and their lookup."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from actors.exchanges._types import Channel, Event, Exchange, Ignored, Kline, OpaqueTrade, Ticker, Trade

__all__ = ["Channel", "Event", "Exchange", "Ignored", "Kline", "OpaqueTrade", "Ticker", "Trade", "venue_for"]


def venue_for(exchange: str, *, generic: bool = False) -> ModuleType | Any:
    """The venue of ``exchange``: coinray's module (``binance``, ``coinbase``) or the generic ccxt venue.

    Parameters
    ----------
    exchange:
        A coinray venue name, or any ccxt.pro exchange id (then served by
        :class:`actors.exchanges.generic.GenericVenue`).
    generic:
        Always use the generic venue, with ``exchange`` as the ccxt.pro id (``coinbaseexchange``, not
        ``coinbase``, for Coinbase Exchange).

    Raises
    ------
    ConfigError
        For a name that is neither a venue module nor a ccxt.pro exchange id (listing close matches).
    """
    from actors.exchanges import binance, coinbase
    from actors.exchanges.generic import GenericVenue

    venues: dict[str, ModuleType] = {binance.EXCHANGE: binance, coinbase.EXCHANGE: coinbase}
    if not generic and exchange in venues:
        return venues[exchange]
    return GenericVenue(exchange)
