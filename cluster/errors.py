"""coinray's exception hierarchy, grouped by what the caller should do about each error."""

from __future__ import annotations


class CoinrayError(Exception):
    """Base class of every error coinray raises on purpose."""


class ConfigError(CoinrayError):
    """The configuration is wrong. Fatal: fix the configuration; never retry."""


class TransientError(CoinrayError):
    """A temporary failure (network, busy server). Retry with backoff."""


class ExchangeUnavailable(TransientError):
    """An exchange could not be reached or answered with a 5xx status."""


class RateLimited(TransientError):
    """An exchange or service asked us to slow down.

    Parameters
    ----------
    retry_after_s:
        Seconds the server asked us to wait, when it said so.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DataError(CoinrayError):
    """Data failed validation or parsing. Resync or reject the data; do not retry as is."""


class ParseError(DataError):
    """A message or file could not be parsed."""

    def __init__(self, message: str, *, exchange: str = "", channel: str = "", excerpt: str = "") -> None:
        super().__init__(message)
        self.exchange = exchange
        self.channel = channel
        self.excerpt = excerpt[:200]


class SequenceGap(DataError):
    """A sequence number or trade id jumped: data is missing between ``expected`` and ``got``."""

    def __init__(self, message: str, *, exchange: str, symbol: str, expected: int, got: int) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.symbol = symbol
        self.expected = expected
        self.got = got


class SchemaError(DataError):
    """A frame or file lacks required columns."""

    def __init__(self, message: str, *, missing_columns: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.missing_columns = missing_columns


class StoreLockedError(CoinrayError):
    """The embedded store's data directory is owned by another process.

    chdb is in-process: exactly one process may open a data directory. Stop the owner, let the
    owner answer the query (for example through the Ray store actor), or point coinray at a
    ClickHouse server with ``COINRAY_CLICKHOUSE_URL``.
    """

    def __init__(self, message: str, *, path: str, owner: str) -> None:
        super().__init__(message)
        self.path = path
        self.owner = owner


class StoreError(CoinrayError):
    """A query or statement failed in the store (bad SQL, missing table, server error)."""


class BusError(CoinrayError):
    """The Redis bus could not be started or reached."""


class RetriesExhausted(CoinrayError):
    """Retries ran out; a supervisor decides what happens next."""
