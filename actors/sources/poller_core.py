"""``PollerCore``: poll sources, de-duplicate (id and near-duplicate hash), persist cursors, respect rate limits.

Crash-only: the state files are the recovery path; a restarted poller resumes from them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from actors.sources.config import SourcesConfig
from actors.sources.http_client import HttpClient
from actors.sources.records import TEXTS_SCHEMA, TextRecord, near_duplicate_hash, records_to_table
from actors.sources.sources import CryptoPanicSource, RedditSource, RssSource, Source, XSource
from cluster.errors import ConfigError, DataError, RateLimited, TransientError

logger = logging.getLogger(__name__)

DEFAULT_BACKOFF_S = 60.0


def build_sources(cfg: SourcesConfig) -> tuple[list[Source], list[str]]:
    """The enabled sources and one message per source disabled for missing credentials."""
    sources: list[Source] = []
    disabled: list[str] = []
    if cfg.rss.enabled and cfg.rss.feeds:
        sources.append(RssSource(cfg.rss))
    if cfg.cryptopanic.token is not None:
        sources.append(CryptoPanicSource(cfg.cryptopanic))
    else:
        disabled.append("cryptopanic disabled: set CRYPTOPANIC_API_TOKEN")
    if cfg.reddit.client_id is not None and cfg.reddit.client_secret is not None:
        sources.append(RedditSource(cfg.reddit))
    else:
        disabled.append("reddit disabled: set REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET")
    if cfg.x.bearer_token is not None:
        sources.append(XSource(cfg.x))
    else:
        disabled.append("x disabled: set X_BEARER_TOKEN")
    return sources, disabled


@dataclass
class SourceState:
    """Persisted per-source state: cursor, remembered ids and text hashes, rate-limit pause."""

    cursor: dict[str, Any] = field(default_factory=dict)
    seen_ids: list[str] = field(default_factory=list)
    seen_hashes: list[int] = field(default_factory=list)
    paused_until_ms: int = 0

    @classmethod
    def load(cls, path: Path) -> SourceState:
        """Read ``path``; a missing file is a fresh state."""
        if not path.is_file():
            return cls()
        raw = json.loads(path.read_text())
        return cls(cursor=raw.get("cursor", {}), seen_ids=list(raw.get("seen_ids", [])),
                   seen_hashes=[int(h) for h in raw.get("seen_hashes", [])],
                   paused_until_ms=int(raw.get("paused_until_ms", 0)))

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"cursor": self.cursor, "seen_ids": self.seen_ids,
                                   "seen_hashes": self.seen_hashes, "paused_until_ms": self.paused_until_ms}))
        os.replace(tmp, path)


@dataclass(frozen=True)
class PollResult:
    """What one poll of all sources produced."""

    texts: pa.Table
    fetched: dict[str, int]
    duplicates: int
    skipped: dict[str, str]


class PollerCore:
    """Polls a set of sources once per call; no Ray, no clock (``now_ms`` is passed in).

    Parameters
    ----------
    sources:
        From :func:`build_sources`.
    client:
        The HTTP client.
    state_dir:
        One ``<source>.json`` state file per source lives here.
    dedup_memory:
        How many ids and hashes each source remembers.
    """

    def __init__(self, sources: Sequence[Source], client: HttpClient, *, state_dir: Path,
                 dedup_memory: int = 20_000) -> None:
        self._sources = list(sources)
        self._client = client
        self._state_dir = state_dir
        self._memory = dedup_memory
        self._states = {s.name: SourceState.load(state_dir / f"{s.name}.json") for s in self._sources}

    def state(self, name: str) -> SourceState:
        """The current state of source ``name``."""
        return self._states[name]

    def poll_once(self, now_ms: int) -> PollResult:
        """Fetch every source that is not paused; return the new, de-duplicated texts."""
        kept: list[TextRecord] = []
        fetched: dict[str, int] = {}
        skipped: dict[str, str] = {}
        duplicates = 0
        batch_hashes: set[int] = set()
        all_hashes = self._all_hashes()
        for source in self._sources:
            state = self._states[source.name]
            if now_ms < state.paused_until_ms:
                skipped[source.name] = f"rate limited until {state.paused_until_ms}"
                continue
            try:
                records, cursor = source.fetch(self._client, state.cursor, now_ms)
            except RateLimited as exc:
                wait_s = exc.retry_after_s if exc.retry_after_s is not None else DEFAULT_BACKOFF_S
                state.paused_until_ms = now_ms + int(wait_s * 1000)
                skipped[source.name] = str(exc)
                logger.warning("sources: %s rate limited; pausing %.0f s", source.name, wait_s)
                state.save(self._state_dir / f"{source.name}.json")
                continue
            except (TransientError, DataError, ConfigError) as exc:
                skipped[source.name] = str(exc)
                logger.warning("sources: %s poll failed: %s", source.name, exc)
                continue
            fetched[source.name] = len(records)
            duplicates += self._keep_new(source.name, records, cursor, all_hashes, batch_hashes, kept)
        table = records_to_table(kept) if kept else TEXTS_SCHEMA.empty_table()
        return PollResult(table, fetched, duplicates, skipped)

    def ingest(self, name: str, records: Sequence[TextRecord], cursor: dict[str, Any] | None = None) -> PollResult:
        """De-duplicate records that arrived outside a poll (a stream) against everything remembered.

        ``name`` owns a state file like a polled source (created on first use); ``cursor``
        replaces its cursor when given.
        """
        kept: list[TextRecord] = []
        duplicates = self._keep_new(name, records, cursor, self._all_hashes(), set(), kept)
        table = records_to_table(kept) if kept else TEXTS_SCHEMA.empty_table()
        return PollResult(table, {name: len(records)}, duplicates, {})

    def _all_hashes(self) -> set[int]:
        return {h for st in self._states.values() for h in st.seen_hashes}

    def _keep_new(self, name: str, records: Sequence[TextRecord], cursor: dict[str, Any] | None,
                  all_hashes: set[int], batch_hashes: set[int], kept: list[TextRecord]) -> int:
        """Append unseen records to ``kept``, remember them, persist the state; return the duplicates."""
        state = self._states.get(name)
        if state is None:
            state = self._states[name] = SourceState.load(self._state_dir / f"{name}.json")
        duplicates = 0
        seen = set(state.seen_ids)
        for record in records:
            digest = near_duplicate_hash(record.text)
            if record.id in seen or digest in all_hashes or digest in batch_hashes:
                duplicates += 1
                continue
            seen.add(record.id)
            batch_hashes.add(digest)
            state.seen_ids.append(record.id)
            state.seen_hashes.append(digest)
            kept.append(record)
        state.seen_ids = state.seen_ids[-self._memory:]
        state.seen_hashes = state.seen_hashes[-self._memory:]
        if cursor is not None:
            state.cursor = cursor
        state.save(self._state_dir / f"{name}.json")
        return duplicates
