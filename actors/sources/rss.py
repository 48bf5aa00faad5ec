"""RSS/Atom feeds (feedparser): entries -> :class:`TextRecord`, newest-first cursor per feed."""

from __future__ import annotations

import calendar
import hashlib
from typing import Any

from actors.sources.records import TextRecord
from cluster.errors import ParseError

SOURCE = "rss"


def parse_feed(body: bytes, *, feed_url: str) -> list[TextRecord]:
    """Parse an RSS 2.0 or Atom document.

    Sample (RSS 2.0 item)::

        <item><title>Bitcoin Returns Above USD 20K</title><link>https://cryptonews.com/news/x.htm</link>
        <guid>https://cryptonews.com/news/x.htm</guid><pubDate>Tue, 05 Jul 2022 04:24:00 +0000</pubDate>
        <description>Bitcoin price climbed above ...</description></item>

    Entries without a publication date are skipped (they cannot be placed in time).

    Raises
    ------
    ParseError
        When the document is not a feed at all.
    """
    import feedparser

    parsed: Any = feedparser.parse(body)
    if parsed.bozo and not parsed.entries:
        raise ParseError(f"{feed_url}: not an RSS/Atom feed ({parsed.get('bozo_exception')})",
                         channel="rss", excerpt=body[:200].decode("utf-8", "replace"))
    feed_title = str(parsed.feed.get("title", "")) if parsed.get("feed") else ""
    out: list[TextRecord] = []
    for entry in parsed.entries:
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        if stamp is None:
            continue
        native = str(entry.get("id") or entry.get("link") or entry.get("title", ""))
        out.append(TextRecord(
            id=f"{SOURCE}:{hashlib.sha1(native.encode()).hexdigest()[:20]}",
            source=SOURCE, ts=calendar.timegm(stamp) * 1000,
            author=str(entry.get("author") or feed_title), title=str(entry.get("title", "")),
            body=str(entry.get("summary", "")), url=str(entry.get("link", "")), engagement=0.0,
        ))
    return out
