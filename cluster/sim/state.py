"""Shared replay state of one simulator: the dataset, what has been published so far, and the route type."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from aiohttp import web

from cluster.sim.dataset import SimDataset, SimTrade
from cluster.sim.faults import FaultInjector


@dataclass
class ReplayState:
    """The replay cursor: trades published so far per symbol, visible to REST."""

    dataset: SimDataset
    faults: FaultInjector
    by_symbol: dict[str, list[SimTrade]] = field(default_factory=dict)
    published: dict[str, int] = field(default_factory=dict)
    replay_ts: int = 0
    done: bool = False

    def __post_init__(self) -> None:
        self.by_symbol = self.dataset.by_symbol()
        self.published = dict.fromkeys(self.by_symbol, 0)

    def visible(self, symbol: str) -> list[SimTrade]:
        """Trades of ``symbol`` published so far (REST never shows the future)."""
        return self.by_symbol.get(symbol, [])[: self.published.get(symbol, 0)]

    def trades_from_id(self, symbol: str, from_id: int, limit: int) -> list[SimTrade]:
        """Published trades with ``trade_id >= from_id``, oldest first."""
        rows = self.visible(symbol)
        ids = [t.trade_id for t in rows]
        lo = bisect_right(ids, from_id - 1)
        return rows[lo: lo + limit]

    def now_ms(self) -> int:
        """Exchange time: the newest replayed trade's time (wall time before the replay starts)."""
        return self.replay_ts or int(time.time() * 1000)


Handler = Callable[[ReplayState, web.Request], Awaitable[web.StreamResponse]]


class Route(NamedTuple):
    """One REST route: method, path (aiohttp pattern), handler and request weight."""

    method: str
    path: str
    handler: Handler
    weight: int = 1
