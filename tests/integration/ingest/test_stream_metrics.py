"""The ExchangeStream actor's Prometheus metrics, read as text from Ray's metrics export endpoint."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import ray
from prometheus_client.parser import text_string_to_metric_families

from actors.exchange_stream import ExchangeStream
from actors.exchange_stream_core import StreamConfig
from actors.exchanges import Channel
from actors.store_writer import start_store_writer
from cluster.settings import load_settings
from cluster.sim import ExchangeSimulator, SimConfig
from tests.integration.ingest.conftest import SimThread

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def metrics_port() -> Iterator[int]:
    """A private local Ray whose metrics agent exports Prometheus text on a free port, reporting every 0.5 s."""
    port = _free_port()
    old = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = "local"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024,
             namespace="coinray-test", log_to_driver=False, _metrics_export_port=port,
             _system_config={"metrics_report_interval_ms": 500})
    yield port
    ray.shutdown()
    if old is None:
        os.environ.pop("RAY_ADDRESS", None)
    else:
        os.environ["RAY_ADDRESS"] = old


def _scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """``{sample name: [(labels, value)]}`` for the coinray samples of one scrape."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if "coinray_ingest" in sample.name:
                out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def _by_symbol(samples: list[tuple[dict[str, str], float]]) -> dict[str, float]:
    return {labels["symbol"]: value for labels, value in samples if labels.get("exchange") == "coinbase"}


def test_stream_actor_exports_messages_candles_and_lag_per_symbol(metrics_port: int, redis_url: str) -> None:
    # Arrange: the bundled Coinbase recording through a real ExchangeStream actor
    sim = SimThread(ExchangeSimulator(SimConfig(exchange="coinbase", speed=0, start_after_symbols=10)))
    store = start_store_writer(load_settings())
    symbols = tuple(sim.sim.state.dataset.symbols())
    cfg = StreamConfig(exchange="coinbase", symbols=symbols, rest_url=sim.sim.rest_url, ws_url=sim.sim.ws_url,
                       channels=frozenset({Channel.TRADES, Channel.TICKER}), flush_interval_s=0.05)
    try:
        actor = ExchangeStream.remote(cfg, redis_url, store)  # type: ignore[attr-defined]
        sim.wait_finished(120)
        ray.get(actor.flush.remote())
        # Act: scrape until the agent has the actor's current values (it exports every 0.5 s)
        deadline = time.monotonic() + 60
        while True:
            snap: dict[str, Any] = ray.get(actor.snapshot.remote())
            scraped = _scrape(metrics_port)
            scraped_ms = time.time() * 1000
            msgs = _by_symbol(scraped.get("ray_coinray_ingest_messages_total", []))
            candles = [v for labels, v in scraped.get("ray_coinray_ingest_candles_closed_total", [])
                       if labels.get("exchange") == "coinbase"]
            if msgs == {s: float(st["msgs"]) for s, st in snap["symbols"].items()} and \
                    candles == [float(snap["published_final"])]:
                break
            assert time.monotonic() < deadline, (scraped, snap)
            time.sleep(0.25)
        ray.get(actor.stop.remote())
    finally:
        sim.stop()
    # Assert: every symbol has its message count, the exchange its closed candles, and the lag gauge is the
    # age of the newest trade at the last snapshot (the recording is from 2021-04-17, so about that old)
    trades = sim.sim.state.dataset.trades
    assert sum(msgs.values()) >= len(trades) and set(msgs) == set(symbols)  # duplicates count as messages
    assert candles == [float(snap["published_final"])] and snap["published_final"] > 0
    lag = _by_symbol(scraped["ray_coinray_ingest_lag_ms"])
    assert set(lag) == set(symbols)
    for symbol, value in lag.items():
        newest = max(t.ts for t in trades if t.symbol == symbol)
        assert 0 <= scraped_ms - newest - value < 120_000  # set at a snapshot before the scrape
    assert "ray_coinray_ingest_kline_mismatches_total" not in scraped or \
        all(v == 0 for _, v in scraped["ray_coinray_ingest_kline_mismatches_total"])
