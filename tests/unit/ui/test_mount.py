"""``mount_dashboard`` on the real ingress app (``serve.app.create_api``) without Ray: direct store, no bus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


class _NoRanker:
    """A ``RankerBackend`` stand-in: the dashboard routes never call the ranker."""

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "exchanges": [], "timeframes": []}


def test_mount_dashboard_on_the_ingress_app(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from cluster.settings import load_settings
    from serve.app import create_api
    from serve.ui.mount import bus_url, mount_dashboard
    from tests.unit.ui.dataset import fill_store

    # Arrange
    settings = load_settings(data_dir=tmp_path / "data")
    api = create_api(_NoRanker())  # type: ignore[arg-type]
    router = mount_dashboard(api, settings=settings)
    ops = router.source.ops
    try:
        fill_store(ops, symbols=("LTC_USDT",), backtest=False)
        client = TestClient(api)
        # Act
        series = client.get("/ui/api/series").json()
        page = client.get("/ui/")
        bad = client.post("/ui/api/jobs", json={"strategy": "nope", "symbols": ["LTC/USDT"]})
        js = client.get("/ui/static/plotly.min.js")
        # Assert
        assert {(s["symbol"], s["timeframe"]) for s in series} == {("LTC/USDT", "1d"), ("LTC/USDT", "1h")}
        assert page.status_code == 200 and "coinray" in page.text and "/ui/static/plotly.min.js" in page.text
        assert bad.status_code == 422 and "nope" in bad.json()["detail"]
        assert js.status_code == 200 and len(js.content) > 1_000_000
        assert client.get("/ui/static/../router.py").status_code == 404
        assert bus_url(settings) is None  # no managed server running for this data dir
    finally:
        ops.store.close()
