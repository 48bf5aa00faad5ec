"""The managed Redis-protocol server: a real process that coinray starts, reuses and stops."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest
import redis

from cluster.bus import ManagedRedis, candle_stream, connect_bus, find_server_binary
from cluster.errors import BusError
from cluster.schemas import CANDLES
from cluster.settings import BusConfig, load_settings

pytestmark = pytest.mark.integration


def rows(n: int) -> pa.Table:
    return pa.table(
        {
            "exchange": ["binance"] * n, "symbol": ["ETH/USDT"] * n, "timeframe": ["1m"] * n,
            "ts": pa.array([i * 60_000 for i in range(n)], pa.int64()), "open": [1.0] * n, "high": [2.0] * n,
            "low": [0.5] * n, "close": [float(i) for i in range(n)], "volume": [3.0] * n,
            "trades": pa.nulls(n, pa.uint64()), "source": ["file"] * n,
            "ingested_at": pa.array([0] * n, pa.timestamp("ms", tz="UTC")),
        },
        schema=CANDLES,
    )


def test_binary_is_a_real_server() -> None:
    binary = find_server_binary()
    assert binary is not None and os.access(binary, os.X_OK)


def test_publish_read_bounded_and_stopped() -> None:
    settings = load_settings(bus=BusConfig(stream_maxlen=100))
    with connect_bus(settings) as bus:
        pid_file = settings.bus_dir / "server.json"
        assert pid_file.exists()
        url = bus.client.connection_pool.connection_kwargs
        assert bus.publish_candles("binance", rows(1000)) == 1000
        length = bus.stream_length("binance")
        assert 100 <= length < 1000  # approximate MAXLEN trims whole nodes
        newest = bus.read_candles("binance", count=3)
        assert [float(e["close"]) for e in newest] == [997.0, 998.0, 999.0]
        assert newest[-1]["symbol"] == "ETH/USDT" and newest[-1]["final"] == "1"
        assert bus.client.type(candle_stream("binance")) == b"stream"
    # stopped on exit: nothing answers on that port any more
    client = redis.Redis(host=url["host"], port=url["port"], socket_connect_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert not pid_file.exists()


def test_running_server_is_reused_not_restarted() -> None:
    settings = load_settings()
    first = ManagedRedis(settings.bus_dir, settings.bus)
    url = first.start()
    try:
        with connect_bus(settings) as bus:
            bus.client.set("k", "v")
        second = ManagedRedis(settings.bus_dir, settings.bus)
        assert second.start() == url and second.process is None
        assert redis.Redis.from_url(url).get("k") == b"v"  # same server, still up
    finally:
        first.stop()


def test_unreachable_url_is_a_clear_error() -> None:
    settings = load_settings(redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(BusError, match="cannot reach Redis"), connect_bus(settings):
        pass


def test_missing_binary_is_a_clear_error(tmp_path) -> None:
    managed = ManagedRedis(tmp_path, BusConfig(server_binary=str(tmp_path / "nope")))
    with pytest.raises(BusError, match="no Redis-protocol server binary"):
        managed.start()
