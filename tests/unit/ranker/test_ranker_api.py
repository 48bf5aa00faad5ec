"""The HTTP API over an in-process ranker core: routes, problem details, token, reports, and a schemathesis run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr

from pipelines.recommend import RankerConfig
from serve.app import LocalBackend, create_api
from serve.ranker_core import RankerCore, RankerServiceConfig

TOKEN = "test-token-123"
SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "serve" / "report_schema.json").read_text())


@pytest.fixture(scope="module")
def core(features_1d: pl.DataFrame, fast_ranker: RankerConfig, tmp_path_factory: pytest.TempPathFactory) -> RankerCore:
    return RankerCore(features_1d, RankerServiceConfig(timeframes=("1d",), ranker=fast_ranker),
                      reports_dir=tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def client(core: RankerCore) -> Iterator[TestClient]:
    with TestClient(create_api(LocalBackend(core), api_token=SecretStr(TOKEN))) as c:
        yield c


def test_rankings_top_n(client: TestClient) -> None:
    r = client.get("/v1/rankings", params={"timeframe": "1d", "top": 3})
    assert r.status_code == 200
    body = r.json()
    assert [t["rank"] for t in body["top"]] == [1, 2, 3]
    assert body["sentiment_used"] is False and any("no sentiment" in n for n in body["notes"])
    for rec in body["recommendations"]:
        assert rec["stop"] < rec["entry"] < rec["target"] and rec["reasons"] and rec["invalidation"]


@pytest.mark.parametrize(("params", "status"), [({"top": 0}, 422), ({"top": 51}, 422), ({"timeframe": "2h"}, 422),
                                                ({"timeframe": "1h"}, 404), ({"exchange": "kraken"}, 404)])
def test_bad_ranking_queries_are_problem_details(client: TestClient, params: dict[str, Any], status: int) -> None:
    r = client.get("/v1/rankings", params=params)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"]
    if status == 404:
        assert body["allowed"]  # the valid values are listed


def test_symbol_score_accepts_dash_form_and_404s_unknown(client: TestClient) -> None:
    ok = client.get("/v1/symbols/BTC-USDT/score")
    assert ok.status_code == 200 and ok.json()["item"]["symbol"] == "BTC/USDT"
    assert client.get("/v1/symbols/BTC/USDT/score").json()["symbol"] == "BTC/USDT"
    missing = client.get("/v1/symbols/NOPE-USDT/score")
    assert missing.status_code == 404
    assert "BTC/USDT" in missing.json()["allowed"]


def test_report_requires_the_token_and_names_symbols_without_data(client: TestClient) -> None:
    assert client.post("/v1/reports", json={"top": 3}).status_code == 401
    bad = client.post("/v1/reports", json={"top": 3, "symbols": ["BTC/USDT", "FOO/USDT", "BAR/USDT"]},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 422
    assert bad.json()["missing"] == ["FOO/USDT", "BAR/USDT"]


def test_report_round_trip_in_three_formats(client: TestClient) -> None:
    made = client.post("/v1/reports", json={"top": 3, "symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "TRX/USDT"]},
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert made.status_code == 201, made.text
    assert sorted(made.json()["formats"]) == ["html", "json", "md"]
    report = client.get("/v1/reports/latest", params={"format": "json"}).json()
    jsonschema.validate(report, SCHEMA)
    assert report["schema_version"] == "1.1" and report["run_id"] == made.json()["run_id"]
    assert sorted(report["data"]["symbols"]) == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "TRX/USDT"]
    md = client.get("/v1/reports/latest", params={"format": "md"})
    assert md.headers["content-type"].startswith("text/markdown") and "## Buy recommendations" in md.text
    page = client.get("/v1/reports/latest", params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html") and "<svg" in page.text
    assert client.get("/v1/reports/latest", params={"format": "pdf"}).status_code == 422


def test_health_metrics_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "exchanges": ["binance"], "timeframes": ["1d"],
                                             "symbols": 9}
    assert "coinray_http_requests" in client.get("/metrics").text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/rankings", "/v1/symbols/{symbol}/score", "/v1/reports/latest", "/v1/reports", "/healthz"} <= set(paths)


def test_openapi_fuzz_finds_no_5xx_or_schema_violation(core: RankerCore) -> None:
    """Schemathesis: generated requests for every operation; default checks (no 5xx, responses match the schema)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_api(LocalBackend(core), api_token=SecretStr(TOKEN)))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate()

        check()
