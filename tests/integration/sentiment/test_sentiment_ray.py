"""Scoring on Ray Data, the ``coinray sentiment`` CLI, and one full sources -> scores -> sentiment_agg pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from actors.sources.config import RssConfig
from actors.sources.http_client import UrllibClient
from actors.sources.pipeline import SentimentStore, run_pass
from actors.sources.poller_core import PollerCore
from actors.sources.sources import RssSource
from cluster.settings import load_settings
from cluster.store import open_store
from pipelines.sentiment.batch import BatchScoreConfig, score_table
from pipelines.sentiment.scorer import ScorerConfig, SentimentScorer
from pipelines.sentiment.symbols import SymbolMapper
from tests.integration.sentiment.conftest import FakeApi
from tests.integration.sentiment.source_payloads import read_cryptonews, rss_feed

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
OFFLINE = ScorerConfig(model="coinray/minilm-finsent", batch_size=16)
TEXTS = [
    "Bitcoin Returns Above USD 20K, Ethereum Rallies, CEL Keeps Outperforming",
    "Three Arrows Capital has failed to meet margin calls: Report",
    "Crypto Listing and Delisting Announcements: Week 27",
    "<p>Solana price 'bear flag' paints $50 target as Wormhole hack exposes security hole</p>",
    "", "Whales Bought the Dip as Bitcoin Reclaims $40K: Analyst",
    "Over $200 Million Liquidated as Bitcoin Gets Rejected at $32K", "word " * 3000,
] * 6


def test_ray_data_scores_match_the_direct_scorer_in_input_order(ray_local: None) -> None:
    table = pa.table({"id": [f"t{i}" for i in range(len(TEXTS))], "text": TEXTS})
    cfg = BatchScoreConfig(scorer=OFFLINE, rows_per_batch=10, concurrency=2)
    scored = score_table(table, cfg, text_column="text")
    assert scored.column("id").to_pylist() == table.column("id").to_pylist()
    direct = SentimentScorer.load(OFFLINE).score(TEXTS)
    assert np.allclose(scored.column("p_pos").to_numpy(), direct.column("p_pos").to_numpy(), atol=1e-4)
    assert scored.column("label").to_pylist() == direct.column("label").to_pylist()
    assert set(scored.column("model_version").to_pylist()) == {"coinray/minilm-finsent@1"}
    labels = dict(zip(TEXTS[:8], scored.column("label").to_pylist()[:8], strict=True))
    assert labels[TEXTS[0]] == "positive" and labels[TEXTS[6]] == "negative" and labels[""] == "neutral"


def test_one_pipeline_pass_fills_texts_symbols_scores_and_agg(
        ray_local: None, fake_api: FakeApi, shared_data: Path, tmp_path: Path) -> None:
    articles = read_cryptonews(shared_data, 60)
    fake_api.add("/feed.xml", rss_feed(articles))
    poller = PollerCore([RssSource(RssConfig(feeds=(f"{fake_api.base_url}/feed.xml",)))], UrllibClient(timeout_s=5),
                        state_dir=tmp_path / "state")
    ops = open_store(load_settings())
    try:
        store = SentimentStore(ops)
        result = run_pass(poller, store, SymbolMapper(), BatchScoreConfig(scorer=OFFLINE), now_ms=1_700_000_000_000)
        again = run_pass(poller, store, SymbolMapper(), BatchScoreConfig(scorer=OFFLINE), now_ms=1_700_000_060_000)
        assert result.texts == 60 and result.scored == 60 and result.symbols > 20
        assert again.texts == 0 and again.scored == 0
        assert store.count("texts") == 60 and store.count("sentiment") == 60
        daily = store.read_agg(timeframe="1d", symbols=["BTC/USDT"]).to_pylist()
        assert daily and all(-1 <= r["mean_score"] <= 1 for r in daily)
        btc_links = ops.store.query_arrow(
            "SELECT count() AS n FROM text_symbols FINAL WHERE symbol = 'BTC/USDT'").column("n")[0].as_py()
        assert sum(r["n"] for r in daily) == btc_links
    finally:
        ops.store.close()


def test_source_poller_actor_polls_local_feeds_into_the_store_and_resumes_after_a_crash(
        ray_local: None, fake_api: FakeApi, shared_data: Path, tmp_path: Path) -> None:
    import ray

    from actors.sources.config import SourcesConfig
    from actors.sources.poller import SourcePoller

    articles = read_cryptonews(shared_data, 25)
    fake_api.add("/a.xml", rss_feed(articles[5:25]))
    fake_api.add("/a.xml", rss_feed(articles))  # second poll: 5 newer articles on top
    fake_api.add("/b.xml", rss_feed(articles[:5]))  # the same 5 through another feed: duplicates
    cfg = SourcesConfig.from_env({}, rss=RssConfig(feeds=(f"{fake_api.base_url}/a.xml", f"{fake_api.base_url}/b.xml")))
    poller = SourcePoller.remote(cfg, str(tmp_path / "state"))  # type: ignore[attr-defined]
    disabled = ray.get(poller.disabled.remote(), timeout=60)
    assert any("X_BEARER_TOKEN" in m for m in disabled) and any("REDDIT_CLIENT_ID" in m for m in disabled)

    first = ray.get(poller.poll_once.remote(), timeout=60)
    assert first.num_rows == 25 and set(first.column("source").to_pylist()) == {"rss"}
    ray.kill(poller, no_restart=True)  # crash; a new actor on the same state dir is what a restart runs
    poller = SourcePoller.remote(cfg, str(tmp_path / "state"))  # type: ignore[attr-defined]
    second = ray.get(poller.poll_once.remote(), timeout=60)
    assert second.num_rows == 0  # a's new articles were already seen through b
    ops = open_store(load_settings())
    try:
        store = SentimentStore(ops)
        assert store.insert_texts(first) == 25 and store.count("texts") == 25
        assert sorted(ops.store.query_arrow("SELECT title FROM texts").column("title").to_pylist()) == sorted(
            a["title"].strip() for a in articles)
    finally:
        ops.store.close()
    ray.kill(poller, no_restart=True)


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "COINRAY_RAY__NUM_CPUS": "2",
           "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cluster.cli", "sentiment", *args], capture_output=True,
                          text=True, timeout=400, env=env, cwd=tmp_path)


def test_cli_score_falls_back_offline_and_writes_the_contract_columns(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pacsv.write_csv(pa.table({"id": [str(i) for i in range(len(TEXTS[:8]))], "text": TEXTS[:8]}), src)
    out = tmp_path / "out.parquet"
    proc = _cli("score", "--input", str(src), "--text-column", "text", "--id-column", "id", "--out", str(out),
                tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    flat = " ".join(proc.stderr.split())  # the log line may be wrapped by the console handler
    assert "fuchenru/Trading-Hero-LLM" in flat and "using the shipped offline model" in flat
    assert flat.count("using the shipped offline model") == 1  # one clear line, not one per actor
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 8 and summary["model_version"] == "coinray/minilm-finsent@1"
    table = pq.read_table(out)
    assert {"id", "text", "label", "p_neg", "p_neu", "p_pos", "score"} <= set(table.column_names)
    assert table.column("id").to_pylist() == [str(i) for i in range(8)]


def test_cli_score_names_the_corrupt_row_and_unknown_models(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,ok\n2,\"unterminated\n3,x,y\n", encoding="utf-8")
    proc = _cli("score", "--input", str(bad), "--out", str(tmp_path / "o.parquet"), tmp_path=tmp_path)
    assert proc.returncode == 1 and "row 2" in " ".join(proc.stderr.split())
    good = tmp_path / "good.csv"
    good.write_text("id,text\n1,Bitcoin up\n", encoding="utf-8")
    proc = _cli("score", "--input", str(good), "--out", str(tmp_path / "o.parquet"), "--model", "nobody/none",
                "--no-fallback", tmp_path=tmp_path)
    flat = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "nobody/none" in flat and "tried" in flat
