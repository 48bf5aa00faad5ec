"""The mapper's universe from the exchange simulator's markets (unmodified ccxt) and from the stored candles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from actors.sources.universe import UniverseSource, exchange_markets, resolve_universe
from cluster.commands.sentiment import _mapper
from cluster.errors import ConfigError
from cluster.settings import load_settings
from cluster.sim import ExchangeSimulator, SimConfig
from cluster.sim.dataset import bundled_klines_dir
from cluster.store import StoreOps, open_store
from tests.integration.ingest.conftest import SimThread

pytestmark = pytest.mark.integration
# the binance simulator serves the bundled klines' symbols plus its recorded trades' NKN/USDT, LRC/BTC, OMG/BUSD
SIM_USDT = ["AVAX/USDT", "BTC/USDT", "DOGE/USDT", "ETH/USDT", "LINK/USDT", "LTC/USDT", "NKN/USDT", "SOL/USDT",
            "TRX/USDT", "XRP/USDT"]


@pytest.fixture(scope="module")
def sim() -> Iterator[ExchangeSimulator]:
    thread = SimThread(ExchangeSimulator(SimConfig(exchange="binance", speed=0, klines_dir=bundled_klines_dir())))
    yield thread.sim
    thread.stop()


@pytest.fixture
def ops() -> Iterator[StoreOps]:
    store = open_store(load_settings())
    yield store
    store.store.close()


def test_universe_from_the_simulators_markets(sim: ExchangeSimulator, ops: StoreOps) -> None:
    files = sorted(p.name.split("-")[0].replace("_", "/") for p in Path(bundled_klines_dir()).glob("*-1h.feather"))
    markets = exchange_markets("binance", rest_url=sim.rest_url)
    assert markets == SIM_USDT and set(files) <= set(markets)
    assert "LRC/BTC" in exchange_markets("binance", rest_url=sim.rest_url, quote=None)

    mapper = _mapper(ops, "exchange", "binance", sim.rest_url)
    hits = [m.symbol for m in mapper.map_text("NKN jumps 40% while Cardano and $BTC slide; Litecoin flat")]
    assert hits == ["BTC/USDT", "LTC/USDT", "NKN/USDT"]  # ADA is not listed on this exchange
    with pytest.raises(ConfigError, match="--universe must be one of"):
        _mapper(ops, "everything", "binance", None)


def test_universe_from_stored_candles_with_default_fallback(ops: StoreOps) -> None:
    markets, origin = resolve_universe(UniverseSource.AUTO, ops=ops)
    assert origin.startswith("default list") and "BTC/USDT" in markets and len(markets) == 48
    with pytest.raises(ConfigError, match="no candles in the store"):
        resolve_universe(UniverseSource.STORE, ops=ops)
    ops.insert_candles(pa.table({
        "exchange": ["binance", "binance", "coinbase"], "symbol": ["SOL/USDT", "NEAR/USDT", "SOL/USDT"],
        "timeframe": ["1h"] * 3, "ts": [0, 0, 0], "open": [1.0] * 3, "high": [1.0] * 3, "low": [1.0] * 3,
        "close": [1.0] * 3, "volume": [1.0] * 3, "trades": pa.array([None] * 3, pa.int64()),
        "source": ["rest"] * 3, "ingested_at": pa.array([0] * 3, pa.timestamp("ms", tz="UTC"))}))
    assert resolve_universe(UniverseSource.AUTO, ops=ops) == (["NEAR/USDT", "SOL/USDT"], "stored candles")
    mapper = _mapper(ops, "auto", "binance", None)
    assert [m.symbol for m in mapper.map_text("Bitcoin slips as $SOL and NEAR Protocol rally")] == [
        "NEAR/USDT", "SOL/USDT"]
