"""A small blocking HTTP client for the pollers, mapping statuses onto coinray's error types."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Protocol

from cluster.errors import ConfigError, RateLimited, TransientError


@dataclass(frozen=True)
class Response:
    """Status, headers (lower-case names) and body of an HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes


class HttpClient(Protocol):
    """What the pollers need from HTTP (a Protocol, so tests can use a real local server)."""

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                params: dict[str, str] | None = None, data: bytes | None = None) -> Response:
        """Send a request; raise on failure statuses (see :func:`check_status`)."""
        ...


def check_status(status: int, headers: dict[str, str], url: str) -> None:
    """Raise for non-2xx statuses.

    Raises
    ------
    RateLimited
        On 429 (and 420, X's old code), with ``Retry-After`` or ``x-rate-limit-reset`` when sent.
    ConfigError
        On 401/403: bad or missing credentials; retrying will not help.
    TransientError
        On other 4xx/5xx statuses.
    """
    if 200 <= status < 300:
        return
    safe_url = url.split("?", 1)[0]
    if status in (420, 429):
        raise RateLimited(f"{safe_url}: rate limited (HTTP {status})", retry_after_s=_retry_after(headers))
    if status in (401, 403):
        raise ConfigError(f"{safe_url}: HTTP {status}: credentials rejected")
    raise TransientError(f"{safe_url}: HTTP {status}")


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


class UrllibClient:
    """:class:`HttpClient` on the standard library."""

    def __init__(self, *, timeout_s: float, user_agent: str = "coinray/0.1") -> None:
        self._timeout_s = timeout_s
        self._user_agent = user_agent

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                params: dict[str, str] | None = None, data: bytes | None = None) -> Response:
        """Send the request and return the response, raising through :func:`check_status`."""
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"User-Agent": self._user_agent, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout_s) as resp:
                response = Response(resp.status or 200, _lower(resp.headers), resp.read())  # file:// has no status
        except urllib.error.HTTPError as exc:
            response = Response(exc.code, _lower(exc.headers), exc.read() if exc.fp else b"")
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientError(f"{url.split('?', 1)[0]}: {exc}") from exc
        check_status(response.status, response.headers, url)
        return response


def _lower(headers: Message) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
