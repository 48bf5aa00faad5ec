"""The Serve application: the Ranker deployment in local testing mode, then one real HTTP round trip."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pipelines.models.ensemble import EnsembleConfig
from pipelines.models.xgb import XGBConfig
from pipelines.recommend import RankerConfig
from serve.app import AppArgs, build_app, create_api
from serve.ranker_core import RankerServiceConfig

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"


@pytest.fixture(scope="module")
def args(tmp_path_factory: pytest.TempPathFactory) -> AppArgs:
    ranker = RankerConfig(top_n=3, ensemble=EnsembleConfig(horizon_bars=5, xgb=XGBConfig(n_estimators=40, n_jobs=1)))
    return AppArgs(candles=[str(p) for p in sorted(SAMPLE.glob("*-1d.feather"))],
                   service=RankerServiceConfig(timeframes=("1d",), ranker=ranker), api_token=SecretStr("tok"),
                   reports_dir=str(tmp_path_factory.mktemp("reports")), min_replicas=1, max_replicas=2)


def test_ranker_deployment_in_local_testing_mode(args: AppArgs) -> None:
    from ray import serve

    from serve.ranker import HandleBackend, Ranker

    handle = serve.run(Ranker.bind(args), _local_testing_mode=True)  # type: ignore[attr-defined]
    ranking = handle.rankings.remote("1d", 3, None).result()
    assert [t["rank"] for t in ranking["top"]] == [1, 2, 3]
    # the ingress routes over the handle: domain errors unwrap into problem details
    with TestClient(create_api(HandleBackend(handle), api_token=args.api_token)) as client:
        assert client.get("/v1/symbols/ETH-USDT/score").json()["symbol"] == "ETH/USDT"
        missing = client.get("/v1/symbols/NOPE/score")
        assert missing.status_code == 404 and "BTC/USDT" in missing.json()["allowed"]


@pytest.fixture(scope="module")
def served(ray_local: None, args: AppArgs) -> Iterator[str]:
    from ray import serve

    serve.start(http_options={"host": "127.0.0.1", "port": 18765})
    serve.run(build_app(args), name="coinray-test", route_prefix="/")
    yield "http://127.0.0.1:18765"
    serve.shutdown()


def test_one_real_http_round_trip(served: str) -> None:
    with urllib.request.urlopen(f"{served}/v1/rankings?timeframe=1d&top=2", timeout=60) as resp:
        assert resp.status == 200
        body = json.loads(resp.read())
    assert len(body["top"]) == 2 and body["timeframe"] == "1d"


def test_batch_scoring_on_ray_data_matches_in_process(ray_local: None) -> None:
    import numpy as np
    import polars as pl

    from cluster.schemas import TIMEFRAME_MS
    from pipelines.features import build_features
    from pipelines.models.batch_scoring import score_universe
    from pipelines.models.ensemble import fit_ensemble, prepare_frame
    from serve.ranker_core import load_candle_files

    cfg = EnsembleConfig(horizon_bars=5, xgb=XGBConfig(n_estimators=20, n_jobs=1))
    features = build_features(load_candle_files(sorted(SAMPLE.glob("*-1d.feather")), exchange="binance"))
    prepared, names, used = prepare_frame(features, cfg)
    model = fit_ensemble(prepared, names, cfg, sentiment_used=used, bar_ms=TIMEFRAME_MS["1d"])
    on_ray = score_universe(prepared, model, concurrency=1)
    local = model.predict(prepared).sort("symbol", "ts")
    assert on_ray.height == prepared.height == local.height
    assert on_ray.get_column("symbol").to_list() == local.get_column("symbol").to_list()
    np.testing.assert_allclose(on_ray.get_column("p_up").to_numpy(), local.get_column("p_up").to_numpy())
    assert set(on_ray.get_column("symbol").unique().to_list()) == set(pl.Series(prepared["symbol"]).unique())
