"""Reddit official API: OAuth client-credentials token and ``/r/{sub}/new`` listings -> :class:`TextRecord`."""

from __future__ import annotations

import json
from typing import Any

from actors.sources.records import TextRecord
from cluster.errors import ParseError

SOURCE = "reddit"


def parse_token(body: bytes) -> tuple[str, float]:
    """``(access_token, expires_in_s)`` from the token endpoint's JSON.

    Sample: ``{"access_token": "eyJ...", "token_type": "bearer", "expires_in": 86400, "scope": "*"}``
    """
    try:
        doc = json.loads(body)
        return str(doc["access_token"]), float(doc.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"reddit: unexpected token payload ({exc})", channel="oauth") from exc


def parse_listing(body: bytes) -> list[TextRecord]:
    """Parse a ``Listing`` of ``t3`` posts (newest first, as ``/new`` returns them).

    Sample::

        {"kind": "Listing", "data": {"after": "t3_vr4ab1", "before": null, "children": [
          {"kind": "t3", "data": {"id": "vr4ab1", "name": "t3_vr4ab1", "subreddit": "ethereum",
           "title": "So whos stacking ethereum at these nice price levels", "selftext": "",
           "author": "CryptoNinjaa", "created_utc": 1439120378.0, "score": 12, "num_comments": 4,
           "permalink": "/r/ethereum/comments/vr4ab1/..."}}]}}
    """
    try:
        doc: dict[str, Any] = json.loads(body)
        children = doc["data"]["children"]
        return [_record(child["data"]) for child in children if child.get("kind") == "t3"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"reddit: unexpected listing payload ({exc})", channel="listing",
                         excerpt=body[:200].decode("utf-8", "replace")) from exc


def _record(post: dict[str, Any]) -> TextRecord:
    return TextRecord(
        id=f"{SOURCE}:{post['name']}", source=SOURCE, ts=int(float(post["created_utc"]) * 1000),
        author=str(post.get("author") or ""), title=str(post.get("title", "")),
        body=str(post.get("selftext") or ""), url="https://www.reddit.com" + str(post.get("permalink", "")),
        engagement=float(max(int(post.get("score") or 0), 0) + int(post.get("num_comments") or 0)),
    )
