"""The four sources: request building and cursor handling around the pure parsers.

Each source's ``fetch(client, cursor, now_ms)`` returns the new records and the updated cursor (a
small JSON-able dict). Cursors only move forward.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.sources import cryptopanic, reddit, rss, x
from actors.sources.config import CryptoPanicConfig, RedditConfig, RssConfig, XConfig
from actors.sources.http_client import HttpClient
from actors.sources.records import TextRecord

Cursor = dict[str, Any]


class Source(Protocol):
    """One pollable source."""

    name: str

    def fetch(self, client: HttpClient, cursor: Cursor, now_ms: int) -> tuple[list[TextRecord], Cursor]:
        """New records since ``cursor`` and the advanced cursor."""
        ...


@dataclass
class RssSource:
    """Every configured feed; the cursor holds the newest entry time per feed."""

    cfg: RssConfig
    name: str = "rss"

    def fetch(self, client: HttpClient, cursor: Cursor, now_ms: int) -> tuple[list[TextRecord], Cursor]:
        """GET each feed and keep entries newer than the feed's cursor."""
        newest: dict[str, int] = dict(cursor.get("newest_ms", {}))
        out: list[TextRecord] = []
        for url in self.cfg.feeds:
            records = rss.parse_feed(client.request("GET", url).body, feed_url=url)
            since = newest.get(url, 0)
            fresh = [r for r in records if r.ts > since]
            out.extend(fresh)
            if fresh:
                newest[url] = max(r.ts for r in fresh)
        return out, {"newest_ms": newest}


@dataclass
class CryptoPanicSource:
    """CryptoPanic posts, following ``next`` pages until posts are older than the cursor."""

    cfg: CryptoPanicConfig
    max_pages: int = 5
    name: str = "cryptopanic"

    def fetch(self, client: HttpClient, cursor: Cursor, now_ms: int) -> tuple[list[TextRecord], Cursor]:
        """Page through ``/posts/`` newest first."""
        if self.cfg.token is None:
            raise ValueError("cryptopanic needs a token")
        since = int(cursor.get("newest_ms", 0))
        params = {"auth_token": self.cfg.token.get_secret_value(), "public": "true"}
        if self.cfg.filter:
            params["filter"] = self.cfg.filter
        url: str | None = f"{self.cfg.base_url}/posts/"
        out: list[TextRecord] = []
        for _ in range(self.max_pages):
            if url is None:
                break
            records, url = cryptopanic.parse_posts(client.request("GET", url, params=params).body)
            params = {}  # the ``next`` URL carries its own query
            fresh = [r for r in records if r.ts > since]
            out.extend(fresh)
            if len(fresh) < len(records):
                break
        return out, {"newest_ms": max([since, *(r.ts for r in out)])}


@dataclass
class RedditSource:
    """New posts of each subreddit through the OAuth API; the cursor holds the newest fullname per sub."""

    cfg: RedditConfig
    name: str = "reddit"
    _token: str | None = field(default=None, repr=False)
    _token_expires_ms: int = 0

    def _auth(self, client: HttpClient, now_ms: int) -> str:
        if self._token is None or now_ms >= self._token_expires_ms:
            if self.cfg.client_id is None or self.cfg.client_secret is None:
                raise ValueError("reddit needs a client id and secret")
            pair = f"{self.cfg.client_id.get_secret_value()}:{self.cfg.client_secret.get_secret_value()}"
            resp = client.request("POST", self.cfg.auth_url, data=b"grant_type=client_credentials", headers={
                "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded", "User-Agent": self.cfg.user_agent})
            token, expires_s = reddit.parse_token(resp.body)
            self._token, self._token_expires_ms = token, now_ms + int(max(expires_s - 60, 30) * 1000)
        return self._token

    def fetch(self, client: HttpClient, cursor: Cursor, now_ms: int) -> tuple[list[TextRecord], Cursor]:
        """GET ``/r/{sub}/new?before=<newest fullname>`` for every subreddit."""
        headers = {"Authorization": f"bearer {self._auth(client, now_ms)}", "User-Agent": self.cfg.user_agent}
        newest: dict[str, str] = dict(cursor.get("before", {}))
        out: list[TextRecord] = []
        for sub in self.cfg.subreddits:
            params = {"limit": str(self.cfg.limit), "raw_json": "1"}
            if sub in newest:
                params["before"] = newest[sub]
            records = reddit.parse_listing(
                client.request("GET", f"{self.cfg.api_url}/r/{sub}/new", headers=headers, params=params).body)
            if records:
                newest[sub] = max(records, key=lambda r: r.ts).id.split(":", 1)[1]
            out.extend(records)
        return out, {"before": newest}


@dataclass
class XSource:
    """Recent search with ``since_id``; the cursor holds the newest tweet id."""

    cfg: XConfig
    name: str = "x"

    def headers(self) -> dict[str, str]:
        """Bearer-token header."""
        if self.cfg.bearer_token is None:
            raise ValueError("x needs a bearer token")
        return {"Authorization": f"Bearer {self.cfg.bearer_token.get_secret_value()}"}

    def fetch(self, client: HttpClient, cursor: Cursor, now_ms: int) -> tuple[list[TextRecord], Cursor]:
        """GET ``/tweets/search/recent``."""
        params = {"query": self.cfg.query, "max_results": str(self.cfg.max_results),
                  "tweet.fields": x.TWEET_FIELDS}
        if cursor.get("since_id"):
            params["since_id"] = str(cursor["since_id"])
        records, newest = x.parse_search(client.request(
            "GET", f"{self.cfg.api_url}/tweets/search/recent", headers=self.headers(), params=params).body)
        return records, {"since_id": newest or cursor.get("since_id")}
