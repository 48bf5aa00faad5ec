"""X/Twitter API v2 wire formats: recent-search pages, filtered-stream lines and stream-rule responses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from actors.sources.records import TextRecord
from cluster.errors import ConfigError, ParseError, TransientError

SOURCE = "x"
TWEET_FIELDS = "created_at,public_metrics,author_id,lang"
_ENGAGEMENT_METRICS = frozenset({"retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count"})
"""``public_metrics`` that count as engagement (``impression_count`` is reach, not engagement)."""


class StreamDisconnect(TransientError):
    """The stream sent an error message instead of a post (``operational-disconnect`` and the like); reconnect.

    Parameters
    ----------
    titles:
        The ``title`` of each error in the message.
    """

    def __init__(self, message: str, *, titles: tuple[str, ...]) -> None:
        super().__init__(message)
        self.titles = titles


@dataclass(frozen=True)
class ActiveRule:
    """A filtered-stream rule as X stores it (``id`` is X's)."""

    id: str
    value: str
    tag: str | None


def parse_search(body: bytes) -> tuple[list[TextRecord], str | None]:
    """Parse a ``/2/tweets/search/recent`` page; return the records and ``meta.newest_id``.

    Sample::

        {"data": [{"id": "1578381009041674240", "text": "So whos stacking ethereum ...",
                   "created_at": "2022-10-07T16:46:58.000Z", "author_id": "2244994945",
                   "public_metrics": {"retweet_count": 2, "reply_count": 1, "like_count": 10,
                                      "quote_count": 0}}],
         "meta": {"newest_id": "1578381009041674240", "oldest_id": "...", "result_count": 1}}

    A page with no new tweets has ``meta.result_count = 0`` and no ``data``.
    """
    try:
        doc: dict[str, Any] = json.loads(body)
        meta = doc.get("meta") or {}
        return [_record(t) for t in doc.get("data") or []], meta.get("newest_id")
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"x: unexpected search payload ({exc})", channel="search",
                         excerpt=body[:200].decode("utf-8", "replace")) from exc


def parse_stream_line(line: bytes) -> TextRecord | None:
    """Parse one line of ``/2/tweets/search/stream``; keep-alive blank lines give ``None``.

    Sample::

        {"data": {"id": "1578...", "text": "...", "created_at": "2022-10-07T16:46:58.000Z"},
         "matching_rules": [{"id": "1579...", "tag": "coinray-1"}]}

    Raises
    ------
    StreamDisconnect
        For an error message without a post, e.g. ``{"errors": [{"title": "operational-disconnect",
        "disconnect_type": "UpstreamOperationalDisconnect", ...}]}``.
    ParseError
        For anything else that is not a post.
    """
    if not line.strip():
        return None
    try:
        doc: dict[str, Any] = json.loads(line)
        if "data" not in doc and doc.get("errors"):
            titles = tuple(str(e.get("title") or e.get("disconnect_type") or "error") for e in doc["errors"])
            raise StreamDisconnect(f"x stream: {', '.join(titles)}", titles=titles)
        return _record(doc["data"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ParseError(f"x: unexpected stream line ({exc})", channel="stream",
                         excerpt=line[:200].decode("utf-8", "replace")) from exc


def parse_rules(body: bytes) -> list[ActiveRule]:
    """Parse ``GET /2/tweets/search/stream/rules``.

    Sample::

        {"data": [{"id": "1579004427004923904", "value": "($BTC OR bitcoin) lang:en", "tag": "coinray-1"}],
         "meta": {"sent": "2022-10-08T10:00:00.000Z", "result_count": 1}}

    With no rules X sends ``{"meta": {"sent": "...", "result_count": 0}}``.
    """
    try:
        doc: dict[str, Any] = json.loads(body)
        return [ActiveRule(str(r["id"]), str(r["value"]), r.get("tag")) for r in doc.get("data") or []]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ParseError(f"x: unexpected rules payload ({exc})", channel="rules",
                         excerpt=body[:200].decode("utf-8", "replace")) from exc


def parse_rules_update(body: bytes) -> dict[str, int]:
    """Check a ``POST /2/tweets/search/stream/rules`` answer and return ``meta.summary``.

    Samples::

        {"data": [{"value": "$BTC lang:en", "tag": "coinray-1", "id": "1579..."}],
         "meta": {"sent": "...", "summary": {"created": 1, "not_created": 0, "valid": 1, "invalid": 0}}}
        {"meta": {"sent": "...", "summary": {"deleted": 1, "not_deleted": 0}}}

    Raises
    ------
    ConfigError
        When X rejected a rule (``errors``: invalid syntax, too long, rule limit), naming the rule and why;
        a ``DuplicateRule`` alone is not an error (the rule is active already).
    """
    try:
        doc: dict[str, Any] = json.loads(body)
        summary = {str(k): int(v) for k, v in ((doc.get("meta") or {}).get("summary") or {}).items()}
        errors = [e for e in doc.get("errors") or [] if e.get("title") != "DuplicateRule"]
    except (ValueError, TypeError, AttributeError) as exc:
        raise ParseError(f"x: unexpected rules update payload ({exc})", channel="rules",
                         excerpt=body[:200].decode("utf-8", "replace")) from exc
    if errors:
        detail = "; ".join(f"{e.get('value', '?')!r}: {e.get('title', 'error')} "
                           f"{' '.join(map(str, e.get('details') or []))}".strip() for e in errors)
        raise ConfigError(f"x stream rules rejected: {detail}")
    return summary


def _record(tweet: dict[str, Any]) -> TextRecord:
    metrics = tweet.get("public_metrics") or {}
    created = datetime.fromisoformat(str(tweet["created_at"]).replace("Z", "+00:00"))
    return TextRecord(
        id=f"{SOURCE}:{tweet['id']}", source=SOURCE, ts=int(created.timestamp() * 1000),
        author=str(tweet.get("author_id") or ""), title=str(tweet["text"]), body="",
        url=f"https://x.com/i/web/status/{tweet['id']}",
        engagement=float(sum(v for k, v in metrics.items() if k in _ENGAGEMENT_METRICS and isinstance(v, int | float))),
    )
