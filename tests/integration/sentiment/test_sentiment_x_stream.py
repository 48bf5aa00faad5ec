"""The X filtered stream against a local server speaking X's formats: rule sync, keep-alives, faults, dedup.

The streamed posts are real tweets (fixtures/x_stream_posts.jsonl, from the staged
ethereum_tweets_2014-2022.csv), so this runs in a fresh clone without ../shared/data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from actors.sources.config import XConfig, XStreamRule
from actors.sources.http_client import UrllibClient
from actors.sources.pipeline import SentimentStore, StreamSink
from actors.sources.poller_core import PollerCore
from actors.sources.x_rules import build_stream_rules, sync_rules
from actors.sources.x_stream import XStreamCore
from cluster.errors import ConfigError
from cluster.settings import load_settings
from cluster.store import StoreOps, open_store
from pipelines.sentiment.symbols import DEFAULT_BASES, SymbolMapper
from tests.integration.sentiment.x_server import KEEP_ALIVE, FakeX, Reset, Status, Stream, serve_fake_x, stream_posts

pytestmark = pytest.mark.integration
TOKEN = "AAAA-test-bearer"


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    yield from serve_fake_x(FakeX(token=TOKEN))


@pytest.fixture
def ops() -> Iterator[StoreOps]:
    store = open_store(load_settings())
    yield store
    store.store.close()


def _cfg(api: FakeX, **kw: object) -> XConfig:
    return XConfig(api_url=f"{api.base_url}/2", bearer_token=SecretStr(TOKEN), **kw)  # type: ignore[arg-type]


def test_rule_sync_makes_exactly_the_wanted_rules_active_and_is_idempotent(fake_x: FakeX) -> None:
    wanted = build_stream_rules(["BTC", "ETH", "SOL", "DOGE"], max_chars=96)
    assert [r.tag for r in wanted] == ["coinray-1", "coinray-2"]
    kept_id = fake_x.add_rule(wanted[0].value, wanted[0].tag)            # already right: stays
    stale_id = fake_x.add_rule("dogecoin lang:en", None)                 # someone else's: goes
    retagged_id = fake_x.add_rule(wanted[1].value, "old-tag")            # right value, wrong tag: replaced
    client, cfg = UrllibClient(timeout_s=5), _cfg(fake_x)

    plan = sync_rules(client, cfg, wanted)
    assert fake_x.active() == {(r.value, r.tag) for r in wanted}
    assert kept_id in fake_x.rules and stale_id not in fake_x.rules and retagged_id not in fake_x.rules
    assert set(plan.delete_ids) == {stale_id, retagged_id} and [r.tag for r in plan.add] == ["coinray-2"]
    methods = [(m, json.loads(b) if b else None) for m, _p, _a, b in fake_x.requests]
    assert methods == [("GET", None), ("POST", {"delete": {"ids": [stale_id, retagged_id]}}),
                       ("POST", {"add": [{"value": wanted[1].value, "tag": "coinray-2"}]})]
    assert all(auth == f"Bearer {TOKEN}" for _m, _p, auth, _b in fake_x.requests)

    calls = len(fake_x.requests)
    assert sync_rules(client, cfg, wanted).empty
    assert [m for m, *_ in fake_x.requests[calls:]] == ["GET"]  # nothing to change: one GET only
    with pytest.raises(ConfigError, match="credentials rejected"):
        sync_rules(client, cfg.model_copy(update={"bearer_token": SecretStr("wrong")}), wanted)


def test_stream_survives_drops_429_resets_and_5xx_and_stores_each_post_once(
        fake_x: FakeX, ops: StoreOps, tmp_path: Path) -> None:
    posts = stream_posts()
    assert len(posts) == 12
    first = json.loads(posts[0])["data"]
    retweet = json.dumps({"data": {**first, "id": "1500000000000009999",
                                   "text": f"RT @{first['author_id']}: {first['text']}"}}).encode() + b"\r\n"
    disconnect = json.dumps({"errors": [{
        "title": "operational-disconnect", "disconnect_type": "UpstreamOperationalDisconnect",
        "detail": "This stream has been disconnected upstream for operational reasons.",
        "type": "https://api.twitter.com/2/problems/operational-disconnect"}]}).encode() + b"\r\n"
    fake_x.scripts = [
        Stream((KEEP_ALIVE, posts[0], posts[1], KEEP_ALIVE, posts[2]), end="abort", partial=posts[3][:50]),
        Status(429, {"title": "ConnectionException", "connection_issue": "TooManyConnections",
                     "detail": "This stream is currently at the maximum allowed connection limit.",
                     "type": "https://api.twitter.com/2/problems/streaming-connection"}),
        Reset(),
        Status(503, {"title": "Service Unavailable", "detail": "Service Unavailable", "status": 503}),
        Stream((posts[3], posts[2], retweet, KEEP_ALIVE, *posts[4:8], b"{not json\r\n", KEEP_ALIVE, disconnect)),
        Stream((KEEP_ALIVE, *posts[8:12]), end="stall"),
    ]
    rules = (XStreamRule(value="($ETH OR ethereum) lang:en", tag="coinray-1"),)
    cfg = _cfg(fake_x, stream_rules=rules, stream_stall_s=0.5, stream_flush_every=3)
    sync_rules(UrllibClient(timeout_s=5), cfg, cfg.stream_rules or ())
    store = SentimentStore(ops)
    sink = StreamSink(PollerCore([], UrllibClient(timeout_s=5), state_dir=tmp_path), store, SymbolMapper(), None)
    waits: list[float] = []

    stats = XStreamCore(cfg, sink, sleep=waits.append).run(max_connections=6)

    assert fake_x.active() == {("($ETH OR ethereum) lang:en", "coinray-1")}
    assert waits == [0.0, 60.0, 0.25, 5.0, 0.0]  # drop: at once; 429: 1 min; network: 250 ms; HTTP: 5 s
    assert stats.failures == {"dropped": 3, "rate_limit": 1, "network": 1, "http": 1, "malformed": 1}
    assert stats.posts == 14 and stats.keep_alives == 5
    assert sink.texts == 12 and sink.duplicates == 2  # post 2 sent twice; the retweet is a near duplicate
    ids = [json.loads(p)["data"]["id"] for p in posts]
    stored = ops.store.query_arrow("SELECT id, ts, engagement FROM texts ORDER BY id").to_pylist()  # no FINAL
    assert [r["id"] for r in stored] == sorted(f"x:{i}" for i in ids)  # every post exactly once
    assert stored[0]["ts"] == 1_664_829_872_000 and stored[0]["engagement"] == 1 + 0 + 1868 % 9  # impressions excluded
    assert store.count("text_symbols") > 0
    stream_requests = [r for r in fake_x.requests if r[1].startswith("/2/tweets/search/stream?")]
    assert len(stream_requests) == 6
    assert "tweet.fields=created_at%2Cpublic_metrics%2Cauthor_id%2Clang" in stream_requests[0][1]


def test_stream_gives_up_on_rejected_token(fake_x: FakeX) -> None:
    cfg = _cfg(fake_x).model_copy(update={"bearer_token": SecretStr("revoked")})
    with pytest.raises(ConfigError, match="credentials rejected"):
        XStreamCore(cfg, lambda _: None, sleep=lambda _: None).run(max_connections=3)
    assert len(fake_x.requests) == 1


def test_cli_stream_syncs_rules_from_the_universe_and_stores_posts(fake_x: FakeX, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[3]
    posts = stream_posts()
    fake_x.add_rule("old rule", None)
    fake_x.scripts = [Stream((KEEP_ALIVE, *posts[:4], KEEP_ALIVE, posts[0]))]
    base = {k: v for k, v in os.environ.items() if k != "X_BEARER_TOKEN"}
    args = [sys.executable, "-m", "cluster.cli", "sentiment", "stream", "--no-score", "--universe", "default",
            "--max-connections", "1", "--x-api-url", f"{fake_x.base_url}/2"]
    env = {**base, "PYTHONPATH": str(repo)}

    missing = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode == 1 and "x disabled: set X_BEARER_TOKEN" in missing.stderr
    done = subprocess.run(args, capture_output=True, text=True, env={**env, "X_BEARER_TOKEN": TOKEN}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "texts": 4, "duplicates": 1, "posts": 5, "connections": 1, "failures": {"dropped": 1}}
    assert fake_x.active() == {(r.value, r.tag) for r in build_stream_rules(DEFAULT_BASES)}
    assert "48 symbols from default list" in done.stderr
    ops = open_store(load_settings())
    try:
        assert SentimentStore(ops).count("texts") == 4
    finally:
        ops.store.close()
