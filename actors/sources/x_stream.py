"""The X filtered stream (``GET /2/tweets/search/stream``): one long-lived connection, reconnected X's way.

X's documented reconnect strategy: reconnect at once when an established stream drops; back off
linearly (+250 ms a try, up to 16 s) on network errors, exponentially (5 s doubling, up to 320 s)
on HTTP errors, and exponentially from 1 minute on HTTP 429. The stream sends a blank keep-alive
line every 20 seconds, so a read that waits longer than ``stream_stall_s`` means a dead connection.
"""

from __future__ import annotations

import enum
import http.client
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from actors.sources import x
from actors.sources.config import XConfig
from actors.sources.http_client import check_status
from actors.sources.records import TextRecord
from cluster.errors import ParseError, RateLimited, RetriesExhausted, TransientError

logger = logging.getLogger(__name__)


class Failure(enum.StrEnum):
    """What went wrong, which decides the wait before the next connect."""

    DROPPED = "dropped"        # an established stream ended or stalled: reconnect at once
    NETWORK = "network"        # TCP/TLS/HTTP-protocol failure while connecting
    HTTP = "http"              # an HTTP error status (not 429)
    RATE_LIMIT = "rate_limit"  # HTTP 429


class StreamHttpError(TransientError):
    """The stream endpoint answered with an HTTP error status other than 429, 401 or 403."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ReconnectPolicy:
    """X's reconnect delays; each kind counts its own attempts, and a successful connect resets all.

    Examples
    --------
    >>> policy = ReconnectPolicy()
    >>> [policy.delay_s(Failure.NETWORK) for _ in range(3)], policy.delay_s(Failure.HTTP)
    ([0.25, 0.5, 0.75], 5.0)
    >>> policy.reset(); policy.delay_s(Failure.RATE_LIMIT), policy.delay_s(Failure.RATE_LIMIT)
    (60.0, 120.0)
    """

    network_step_s: float = 0.25
    network_max_s: float = 16.0
    http_initial_s: float = 5.0
    http_max_s: float = 320.0
    rate_limit_initial_s: float = 60.0
    rate_limit_max_s: float = 960.0
    _attempts: dict[Failure, int] = field(default_factory=dict, repr=False)

    def delay_s(self, failure: Failure) -> float:
        """The wait before the next connect after ``failure`` (and count the attempt)."""
        n = self._attempts.get(failure, 0) + 1
        self._attempts[failure] = n
        if failure is Failure.DROPPED:
            return 0.0
        if failure is Failure.NETWORK:
            return min(self.network_step_s * n, self.network_max_s)
        if failure is Failure.HTTP:
            return min(self.http_initial_s * 2.0 ** (n - 1), self.http_max_s)
        return min(self.rate_limit_initial_s * 2.0 ** (n - 1), self.rate_limit_max_s)

    def failures(self) -> int:
        """Failed connects since the last success (drops of established streams excluded)."""
        return sum(n for kind, n in self._attempts.items() if kind is not Failure.DROPPED)

    def reset(self) -> None:
        """Forget past failures (called once a connect succeeds)."""
        self._attempts.clear()


class StreamOpener(Protocol):
    """Opens the stream; the context yields its lines (keep-alives included) until it ends."""

    def __call__(self, url: str, headers: dict[str, str], timeout_s: float) -> AbstractContextManager[Iterator[bytes]]:
        """Connect; raise ``RateLimited``/``ConfigError``/``StreamHttpError``/``TransientError`` on failure."""
        ...


class _UrllibStream:
    """:class:`StreamOpener` on urllib: chunked lines, with the socket timeout as the stall watchdog."""

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        self._url, self._headers, self._timeout_s = url, headers, timeout_s
        self._resp: http.client.HTTPResponse | None = None

    def __enter__(self) -> Iterator[bytes]:
        req = urllib.request.Request(self._url, headers={"User-Agent": "coinray/0.1", **self._headers})
        try:
            self._resp = urllib.request.urlopen(req, timeout=self._timeout_s)
        except urllib.error.HTTPError as exc:
            headers = {k.lower(): v for k, v in exc.headers.items()}
            body = exc.read() if exc.fp else b""
            exc.close()
            safe = self._url.split("?", 1)[0]
            if exc.code in (401, 403, 420, 429):
                check_status(exc.code, headers, self._url)  # 429 -> RateLimited, 401/403 -> ConfigError
            raise StreamHttpError(f"{safe}: HTTP {exc.code} {body[:200]!r}", status=exc.code) from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise TransientError(f"{self._url.split('?', 1)[0]}: {exc}") from exc
        return self._lines()

    def _lines(self) -> Iterator[bytes]:
        resp = self._resp
        if resp is None:
            raise RuntimeError("the stream is not open")
        while True:
            try:
                line = resp.readline()
            except (http.client.HTTPException, OSError) as exc:  # IncompleteRead, reset, read timeout
                raise _Dropped(str(exc) or type(exc).__name__) from exc
            if not line:
                return
            yield line

    def __exit__(self, *exc: object) -> None:
        if self._resp is not None:
            self._resp.close()


def urllib_stream(url: str, headers: dict[str, str], timeout_s: float) -> AbstractContextManager[Iterator[bytes]]:
    """The default :class:`StreamOpener`."""
    return _UrllibStream(url, headers, timeout_s)


class _Dropped(TransientError):
    """An established stream broke (reset, truncated chunk, or no keep-alive within the stall timeout)."""


@dataclass
class StreamStats:
    """Counters of one :meth:`XStreamCore.run`."""

    connections: int = 0
    posts: int = 0
    keep_alives: int = 0
    delays_s: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


class XStreamCore:
    """Reads the filtered stream and hands posts on in batches; no Ray, sleep injected.

    Parameters
    ----------
    cfg:
        The X config (bearer token, API URL, stall timeout, backoff caps, batch size).
    on_posts:
        Called with each batch of parsed posts: every ``stream_flush_every`` posts, at a
        keep-alive when posts are waiting, and when a connection ends.
    sleep:
        Waits the reconnect delay (``time.sleep`` in production, a recorder in tests).
    opener:
        Opens the HTTP stream (default: urllib).
    """

    def __init__(self, cfg: XConfig, on_posts: Callable[[list[TextRecord]], None], *,
                 sleep: Callable[[float], None], opener: StreamOpener = urllib_stream) -> None:
        if cfg.bearer_token is None:
            raise ValueError("x needs a bearer token")
        self._cfg = cfg
        self._on_posts = on_posts
        self._sleep = sleep
        self._opener = opener
        self.policy = ReconnectPolicy(rate_limit_max_s=cfg.stream_rate_limit_max_s)
        self._buffer: list[TextRecord] = []

    def url(self) -> str:
        """The stream URL with the post fields coinray stores."""
        return f"{self._cfg.api_url}/tweets/search/stream?" + urllib.parse.urlencode({"tweet.fields": x.TWEET_FIELDS})

    def run(self, *, should_stop: Callable[[], bool] = lambda: False,
            max_connections: int | None = None) -> StreamStats:
        """Connect, read and reconnect until ``should_stop()`` or ``max_connections`` attempts.

        Raises
        ------
        ConfigError
            When X rejects the token (401/403): retrying cannot help.
        RetriesExhausted
            After ``stream_max_retries`` failed connects in a row.
        """
        stats = StreamStats()
        headers = {"Authorization": f"Bearer {self._cfg.bearer_token.get_secret_value()}"}  # type: ignore[union-attr]
        while not should_stop() and (max_connections is None or stats.connections < max_connections):
            stats.connections += 1
            failure = self._connect_once(headers, stats, should_stop)
            if failure is None:
                break
            stats.failures[failure.value] = stats.failures.get(failure.value, 0) + 1
            limit = self._cfg.stream_max_retries
            if limit is not None and self.policy.failures() >= limit and failure is not Failure.DROPPED:
                raise RetriesExhausted(f"x stream: {self.policy.failures()} failed connects in a row")
            if max_connections is not None and stats.connections >= max_connections:
                break
            delay = self.policy.delay_s(failure)
            if failure is not Failure.DROPPED:
                logger.warning("x stream: %s failure; reconnecting in %.2f s", failure.value, delay)
            stats.delays_s.append(delay)
            self._sleep(delay)
        self._flush()
        return stats

    def _connect_once(self, headers: dict[str, str], stats: StreamStats,
                      should_stop: Callable[[], bool]) -> Failure | None:
        """One connection; the failure kind, or None when asked to stop."""
        try:
            with self._opener(self.url(), headers, self._cfg.stream_stall_s) as lines:
                self.policy.reset()
                logger.info("x stream: connected")
                for line in lines:
                    self._on_line(line, stats)
                    if should_stop():
                        return None
        except RateLimited as exc:
            logger.warning("x stream: %s", exc)
            return Failure.RATE_LIMIT
        except StreamHttpError as exc:
            logger.warning("x stream: %s", exc)
            return Failure.HTTP
        except (_Dropped, x.StreamDisconnect) as exc:
            logger.warning("x stream: connection dropped (%s)", exc)
            return Failure.DROPPED
        except TransientError as exc:
            logger.warning("x stream: %s", exc)
            return Failure.NETWORK
        finally:
            self._flush()
        logger.info("x stream: server closed the stream")
        return Failure.DROPPED

    def _on_line(self, line: bytes, stats: StreamStats) -> None:
        try:
            record = x.parse_stream_line(line)
        except ParseError as exc:
            stats.failures["malformed"] = stats.failures.get("malformed", 0) + 1
            logger.warning("x stream: skipping a malformed line: %s (%s)", exc, exc.excerpt)
            return
        if record is None:
            stats.keep_alives += 1
            self._flush()
            return
        stats.posts += 1
        self._buffer.append(record)
        if len(self._buffer) >= self._cfg.stream_flush_every:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._on_posts(batch)
