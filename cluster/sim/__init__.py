"""The local exchange simulator: Binance and Coinbase REST/WS formats over recorded data, with faults."""

from __future__ import annotations

from cluster.sim.config import FaultConfig, SimConfig
from cluster.sim.dataset import SimDataset, SimTrade, build_dataset
from cluster.sim.server import ExchangeSimulator, serve_forever

__all__ = ["ExchangeSimulator", "FaultConfig", "SimConfig", "SimDataset", "SimTrade", "build_dataset",
           "serve_forever"]
