"""CryptoPanic posts API (``GET /api/v1/posts/?auth_token=...&public=true``): JSON -> :class:`TextRecord`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from actors.sources.records import TextRecord
from cluster.errors import ParseError

SOURCE = "cryptopanic"


def parse_posts(body: bytes) -> tuple[list[TextRecord], str | None]:
    """Parse one page of posts; return the records and the ``next`` page URL.

    Sample::

        {"count": 200, "next": "https://cryptopanic.com/api/v1/posts/?auth_token=..&page=2", "previous": null,
         "results": [{"kind": "news", "domain": "cointelegraph.com", "title": "Bitcoin ...",
                      "published_at": "2022-07-05T04:00:00Z", "id": 15893201, "url": "https://...",
                      "source": {"title": "CoinTelegraph", "domain": "cointelegraph.com"},
                      "votes": {"positive": 3, "negative": 1, "important": 2, "liked": 1, ...},
                      "currencies": [{"code": "BTC", "title": "Bitcoin"}]}]}

    Raises
    ------
    ParseError
        When the body is not the posts format.
    """
    try:
        doc: dict[str, Any] = json.loads(body)
        results = doc["results"]
        out = [_record(post) for post in results]
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"cryptopanic: unexpected posts payload ({exc})", channel="posts",
                         excerpt=body[:200].decode("utf-8", "replace")) from exc
    return out, doc.get("next")


def _record(post: dict[str, Any]) -> TextRecord:
    votes = post.get("votes") or {}
    engagement = float(sum(v for v in votes.values() if isinstance(v, int | float)))
    published = datetime.fromisoformat(str(post["published_at"]).replace("Z", "+00:00"))
    return TextRecord(
        id=f"{SOURCE}:{post['id']}", source=SOURCE, ts=int(published.timestamp() * 1000),
        author=str((post.get("source") or {}).get("title") or post.get("domain") or ""),
        title=str(post.get("title", "")), body=str(post.get("body") or ""), url=str(post.get("url", "")),
        engagement=engagement,
    )
