"""The ``texts`` row a source produces, its Arrow schema, and the near-duplicate text hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from pipelines.sentiment.text import clean_text, detect_language

TEXTS_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("ts", pa.int64(), nullable=False),
    pa.field("author", pa.string(), nullable=False),
    pa.field("title", pa.string(), nullable=False),
    pa.field("body", pa.string(), nullable=False),
    pa.field("url", pa.string(), nullable=False),
    pa.field("engagement", pa.float64(), nullable=False),
    pa.field("lang", pa.string(), nullable=False),
    pa.field("text_hash", pa.uint64(), nullable=False),
])
"""Columns of the ``texts`` table that sources fill (``ingested_at`` defaults in the store)."""

_NON_WORD = re.compile(r"[^a-z0-9]+")
_MENTION = re.compile(r"(^|\s)(rt\s+)?@\w+:?", re.IGNORECASE)


@dataclass(frozen=True)
class TextRecord:
    """One text from a source. ``id`` is ``<source>:<native id>``; ``ts`` is UTC epoch ms."""

    id: str
    source: str
    ts: int
    author: str
    title: str
    body: str
    url: str
    engagement: float

    @property
    def text(self) -> str:
        """Title and body joined (what is scored)."""
        return f"{self.title}\n{self.body}".strip()


def near_duplicate_hash(text: str) -> int:
    """64-bit hash of the normalised text: markup, links, mentions, case and punctuation ignored.

    Re-posts and copies that differ only in those collide on purpose.

    >>> near_duplicate_hash("RT @bob: Bitcoin hits $70k! https://t.co/x") == near_duplicate_hash("bitcoin hits 70K")
    True
    """
    norm = _NON_WORD.sub(" ", _MENTION.sub(" ", clean_text(text)).lower()).strip()
    return int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "big")


def records_to_table(records: Sequence[TextRecord]) -> pa.Table:
    """Records as a ``texts`` table (:data:`TEXTS_SCHEMA`), with cleaned body, language and hash."""
    title = [clean_text(r.title) for r in records]
    body = [clean_text(r.body) for r in records]
    return pa.table({
        "id": [r.id for r in records], "source": [r.source for r in records], "ts": [r.ts for r in records],
        "author": [r.author for r in records], "title": title, "body": body, "url": [r.url for r in records],
        "engagement": [float(max(r.engagement, 0.0)) for r in records],
        "lang": [detect_language(f"{t} {b}") for t, b in zip(title, body, strict=True)],
        "text_hash": pa.array([near_duplicate_hash(r.text) for r in records], pa.uint64()),
    }, schema=TEXTS_SCHEMA)
