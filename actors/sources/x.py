"""X/Twitter API v2: recent-search pages and filtered-stream lines -> :class:`TextRecord`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from actors.sources.records import TextRecord
from cluster.errors import ParseError

SOURCE = "x"
TWEET_FIELDS = "created_at,public_metrics,author_id,lang"


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

    Sample: ``{"data": {"id": "1578...", "text": "...", "created_at": "..."}, "matching_rules": [...]}``
    """
    if not line.strip():
        return None
    try:
        return _record(json.loads(line)["data"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"x: unexpected stream line ({exc})", channel="stream",
                         excerpt=line[:200].decode("utf-8", "replace")) from exc


def _record(tweet: dict[str, Any]) -> TextRecord:
    metrics = tweet.get("public_metrics") or {}
    created = datetime.fromisoformat(str(tweet["created_at"]).replace("Z", "+00:00"))
    return TextRecord(
        id=f"{SOURCE}:{tweet['id']}", source=SOURCE, ts=int(created.timestamp() * 1000),
        author=str(tweet.get("author_id") or ""), title=str(tweet["text"]), body="",
        url=f"https://x.com/i/web/status/{tweet['id']}",
        engagement=float(sum(v for v in metrics.values() if isinstance(v, int | float))),
    )
