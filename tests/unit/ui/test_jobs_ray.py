"""The dashboard inside Ray (the ingress path): store access through the ``store`` actor, jobs as Ray tasks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_dashboard_over_the_store_actor_with_ray_jobs(tmp_path: Path, ray_local: None) -> None:
    import ray
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from actors.store_writer import start_store_writer
    from cluster.ohlcv_files import load_ohlcv_file
    from cluster.settings import load_settings
    from pipelines.alerts import AlertRule, RuleKind
    from serve.ui import ActorSource, build_ui_router
    from serve.ui.jobs import JobRequest, _config, _load, compute_backtest
    from serve.ui.live import load_rules, save_rule
    from tests.unit.ui.dataset import SAMPLE_DIR

    # Arrange: the store actor owns the chdb directory; the dashboard only holds its handle
    settings = load_settings(data_dir=tmp_path / "data")
    handle = start_store_writer(settings)
    try:
        loaded = load_ohlcv_file(SAMPLE_DIR / "XRP_USDT-1d.feather", exchange="binance", run_id="t",
                                 now_ms=int(time.time() * 1000))
        ray.get(handle.insert_candles.remote(loaded.candles))
        source = ActorSource(handle, database=settings.store.database)
        # Act + Assert: rule storage through the actor
        rule = AlertRule(rule_id="a1", kind=RuleKind.PRICE_CROSS, symbol="XRP/USDT", level=0.5, timeframe="1d")
        save_rule(source, rule)
        assert load_rules(source) == [rule]
        # pages' data through the actor
        router = build_ui_router(source, use_ray=True)
        app = FastAPI()
        app.include_router(router, prefix="/ui")
        client = TestClient(app)
        chart = client.get("/ui/api/chart", params={"symbol": "XRP/USDT", "timeframe": "1d", "bars": 50}).json()
        assert chart["close"][-1] == loaded.candles.column("close")[-1].as_py() and len(chart["ts"]) == 50
        # a backtest from the Strategy endpoint runs as a Ray task and is recorded through the actor
        req = JobRequest(strategy="rsi_reversion", params={"period": 10}, symbols=["XRP/USDT"], timeframe="1d")
        job_id = client.post("/ui/api/jobs", json=req.model_dump()).json()["job_id"]
        job = router.jobs.wait(job_id, timeout_s=180)
        assert job.runner == "ray" and job.state == "complete", job.error
        stored = client.get(f"/ui/api/backtests/{job.run_id}").json()
        direct = compute_backtest(_load(source, req), req.strategy, req.params, _config(req), req.timeframe)
        assert stored["metrics"]["return_pct"] == pytest.approx(direct["metrics"]["return_pct"])
        assert len(stored["result"]["trades"]) == len(direct["summary"]["trades"])
    finally:
        ray.get(handle.close.remote())
        ray.kill(handle)
