"""Source pollers against a local HTTP server serving real-format payloads built from real staged news and tweets."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import SecretStr

from actors.sources.config import CryptoPanicConfig, RedditConfig, RssConfig, SourcesConfig, XConfig
from actors.sources.http_client import UrllibClient
from actors.sources.poller_core import PollerCore, build_sources
from actors.sources.sources import CryptoPanicSource, RedditSource, RssSource, XSource
from tests.integration.sentiment.conftest import FakeApi
from tests.integration.sentiment.source_payloads import (
    cryptopanic_posts,
    read_cryptonews,
    read_eth_tweets,
    reddit_listing,
    rss_feed,
    x_search,
)

pytestmark = pytest.mark.integration
NOW_MS = 1_700_000_000_000


def _client() -> UrllibClient:
    return UrllibClient(timeout_s=5)


def test_rss_cursor_dedup_and_restart(fake_api: FakeApi, shared_data: Path, tmp_path: Path) -> None:
    articles = read_cryptonews(shared_data, 40)
    older, newer = articles[10:40], articles[:10]
    retweeted = "RT @cryptonews: " + newer[0]["title"].upper() + "!!"
    copy = dict(newer[0], url="https://mirror.example/copy", title=retweeted)
    fake_api.add("/feed.xml", rss_feed(older))
    fake_api.add("/feed.xml", rss_feed([*newer, copy, *older]))
    source = RssSource(RssConfig(feeds=(f"{fake_api.base_url}/feed.xml",)))

    first = PollerCore([source], _client(), state_dir=tmp_path).poll_once(NOW_MS)
    assert first.texts.num_rows == 30
    assert first.texts.column("title").to_pylist()[0] == older[0]["title"].strip()
    assert "<p>" not in "".join(first.texts.column("body").to_pylist())
    assert set(first.texts.column("source").to_pylist()) == {"rss"}
    assert first.texts.column("ts").to_pylist()[0] == int(older[0]["ts_ms"])

    restarted = PollerCore([source], _client(), state_dir=tmp_path)  # crash-only: resumes from the state file
    second = restarted.poll_once(NOW_MS + 60_000)
    assert second.texts.num_rows == 10  # only the newer articles; the re-titled copy is a near duplicate
    assert second.duplicates == 1
    assert sorted(second.texts.column("title").to_pylist()) == sorted(a["title"].strip() for a in newer)
    assert restarted.state("rss").cursor["newest_ms"][f"{fake_api.base_url}/feed.xml"] == max(
        int(a["ts_ms"]) for a in newer)


def test_cryptopanic_pages_token_and_rate_limit(fake_api: FakeApi, shared_data: Path, tmp_path: Path) -> None:
    articles = read_cryptonews(shared_data, 12)
    fake_api.add("/api/v1/posts/", cryptopanic_posts(articles[:6], next_url=f"{fake_api.base_url}/api/v1/page2/"))
    fake_api.add("/api/v1/page2/", cryptopanic_posts(articles[6:], next_url=None, first_id=2_000_000))
    fake_api.add("/api/v1/posts/", b'{"detail": "slow down"}', status=429, headers={"Retry-After": "120"})
    cfg = CryptoPanicConfig(base_url=f"{fake_api.base_url}/api/v1", token=SecretStr("tok-123"))
    core = PollerCore([CryptoPanicSource(cfg)], _client(), state_dir=tmp_path)

    result = core.poll_once(NOW_MS)
    assert result.texts.num_rows == 12
    assert fake_api.paths()[0].startswith("/api/v1/posts/?") and "auth_token=tok-123" in fake_api.paths()[0]
    assert result.texts.column("engagement").to_pylist()[1] == 3.0  # votes summed: 1 neg + 1 pos + 1 important
    assert result.texts.column("author").to_pylist()[0] == articles[0]["source"]

    limited = core.poll_once(NOW_MS + 1_000)
    assert "cryptopanic" in limited.skipped and limited.texts.num_rows == 0
    assert core.state("cryptopanic").paused_until_ms == NOW_MS + 1_000 + 120_000
    calls = len(fake_api.requests)
    paused = core.poll_once(NOW_MS + 60_000)
    assert len(fake_api.requests) == calls and "rate limited until" in paused.skipped["cryptopanic"]


def test_reddit_oauth_listing_and_before_cursor(fake_api: FakeApi, shared_data: Path, tmp_path: Path) -> None:
    tweets = read_eth_tweets(shared_data, 20)
    fake_api.add("/api/v1/access_token", b'{"access_token": "abc", "token_type": "bearer", "expires_in": 86400}')
    fake_api.add("/r/ethereum/new", reddit_listing(tweets, "ethereum"))
    fake_api.add("/r/ethereum/new", reddit_listing([], "ethereum"))
    cfg = RedditConfig(auth_url=f"{fake_api.base_url}/api/v1/access_token", api_url=fake_api.base_url,
                       client_id=SecretStr("cid"), client_secret=SecretStr("secret"), subreddits=("ethereum",))
    core = PollerCore([RedditSource(cfg)], _client(), state_dir=tmp_path)

    first = core.poll_once(NOW_MS)
    method, _path, headers, body = fake_api.requests[0]
    assert method == "POST" and body == b"grant_type=client_credentials"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"cid:secret").decode()
    assert fake_api.requests[1][2]["Authorization"] == "bearer abc"
    assert first.texts.num_rows == len({t["Tweet"].lower() for t in tweets})  # real duplicates are dropped
    newest = max(tweets, key=lambda t: int(t["ts_ms"]))
    assert core.state("reddit").cursor["before"]["ethereum"] == f"t3_p{int(newest['']):05d}"

    second = core.poll_once(NOW_MS + 60_000)
    assert second.texts.num_rows == 0
    assert f"before=t3_p{int(newest['']):05d}" in fake_api.paths()[-1]
    assert sum(1 for r in fake_api.requests if r[0] == "POST") == 1  # token reused until it expires


def test_x_recent_search_since_id(fake_api: FakeApi, shared_data: Path, tmp_path: Path) -> None:
    tweets = read_eth_tweets(shared_data, 15)
    fake_api.add("/2/tweets/search/recent", x_search(tweets))
    fake_api.add("/2/tweets/search/recent", x_search([]))
    cfg = XConfig(api_url=f"{fake_api.base_url}/2", bearer_token=SecretStr("bear"))
    core = PollerCore([XSource(cfg)], _client(), state_dir=tmp_path)
    first = core.poll_once(NOW_MS)
    assert fake_api.requests[0][2]["Authorization"] == "Bearer bear"
    assert first.texts.num_rows == len({t["Tweet"].lower() for t in tweets})
    assert all(i.startswith("x:") for i in first.texts.column("id").to_pylist())
    core.poll_once(NOW_MS + 1)
    assert f"since_id={core.state('x').cursor['since_id']}" in fake_api.paths()[-1]


def test_missing_credentials_disable_sources_and_bad_tokens_are_reported(fake_api: FakeApi, tmp_path: Path) -> None:
    sources, disabled = build_sources(SourcesConfig.from_env({}))
    assert [s.name for s in sources] == ["rss"]
    assert any("CRYPTOPANIC_API_TOKEN" in m for m in disabled) and any("X_BEARER_TOKEN" in m for m in disabled)
    enabled, none = build_sources(SourcesConfig.from_env({"X_BEARER_TOKEN": "t", "CRYPTOPANIC_API_TOKEN": "c",
                                                          "REDDIT_CLIENT_ID": "i", "REDDIT_CLIENT_SECRET": "s"}))
    assert [s.name for s in enabled] == ["rss", "cryptopanic", "reddit", "x"] and none == []
    assert "sekrit-token" not in repr(SourcesConfig.from_env({"X_BEARER_TOKEN": "sekrit-token"}))
    fake_api.add("/2/tweets/search/recent", b'{"title": "Unauthorized"}', status=401)
    core = PollerCore([XSource(XConfig(api_url=f"{fake_api.base_url}/2", bearer_token=SecretStr("bad")))],
                      _client(), state_dir=tmp_path)
    assert "credentials rejected" in core.poll_once(NOW_MS).skipped["x"]
