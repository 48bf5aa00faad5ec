"""``ExchangeSimulator``: an aiohttp server that replays recorded trades in a venue's REST and WS formats.

REST routes come from the venue module's ``ROUTES`` table; faults come from a :class:`FaultInjector`.
Replay model: one timeline per simulator. A trade is *published* (visible to REST) when its turn
comes and is pushed to every connection subscribed to its symbol. While nobody is subscribed to a
symbol the replay waits, except for ``outage_msgs`` trades after each disconnect, which are
published to nobody: that is the gap a client must repair from REST. The replay starts once
``start_after_symbols`` symbols have been subscribed; trades of never-subscribed symbols go to nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from types import ModuleType
from typing import Any, cast

from aiohttp import WSMsgType, web

from cluster.sim import binance, coinbase
from cluster.sim.config import FaultConfig, SimConfig
from cluster.sim.dataset import SimDataset, SimTrade, build_dataset, repeat_laps
from cluster.sim.faults import FaultInjector
from cluster.sim.orders import SimOrderBook, add_order_routes
from cluster.sim.state import ReplayState

logger = logging.getLogger(__name__)

VENUES: dict[str, ModuleType] = {"binance": binance, "coinbase": coinbase}
Sleep = Callable[[float], Awaitable[None]]


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    subs: dict[str, set[str]] = field(default_factory=dict)
    held: str | None = None

    async def send(self, frame: str) -> None:
        await self.ws.send_str(frame)
        if self.held is not None:
            held, self.held = self.held, None
            await self.ws.send_str(held)


class ExchangeSimulator:
    """A local exchange replaying recorded data.

    Parameters
    ----------
    cfg:
        Venue, address, speed and fault plan.
    dataset:
        What to replay; None = built from ``cfg`` (bundled recording unless a trades file is given).
    sleep:
        Replay pacing sleep (tests pass a no-op with ``speed=0``).
    """

    def __init__(self, cfg: SimConfig, dataset: SimDataset | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self.cfg = cfg
        self.venue = VENUES[cfg.exchange]
        data = dataset or build_dataset(cfg.exchange, trades_file=cfg.trades_file,
                                        trades_symbol=cfg.trades_symbol, klines_dir=cfg.klines_dir)
        data.trades = repeat_laps(data.trades, cfg.laps)
        self.faults = FaultInjector(cfg.faults)
        self.state = ReplayState(data, self.faults)
        # Orders fill against the replayed trades (docs/execution.md, "Simulator order endpoints").
        self.book = SimOrderBook(lambda s: (v[-1].price if (v := self.state.visible(s)) else None),
                                 now_ms=self.state.now_ms)
        self._sleep = sleep
        self._conns: list[_Conn] = []
        self._outage: dict[str, int] = {}
        self._ever: set[str] = set()
        self._subscribed = asyncio.Event()
        self.finished = asyncio.Event()
        self._klines: dict[str, list[Any]] = {}
        self._runner: web.AppRunner | None = None
        self._producer: asyncio.Task[None] | None = None
        self.port = cfg.port
        self.ws_connections = 0

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the server and start the replay task."""
        app = web.Application(middlewares=[self._fault_middleware])
        for route in self.venue.ROUTES:
            app.router.add_route(route.method, route.path, self._bind(route.handler))
        for path in self.venue.WS_PATHS:
            app.router.add_get(path, self._ws_handler)
        add_order_routes(app, self.book, exchange=self.cfg.exchange, symbols=self.state.dataset.symbols)
        app.router.add_get("/_sim/stats", self._stats_handler)
        app.router.add_post("/_sim/faults", self._faults_handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port)
        await site.start()
        # aiohttp types ``_server`` as ``AbstractServer``; on TCPSite it is an ``asyncio.Server``
        server = cast("asyncio.Server | None", site._server)
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        self._producer = asyncio.create_task(self._replay())
        logger.info("sim %s: listening on %s (speed %s)", self.cfg.exchange, self.rest_url, self.cfg.speed)

    async def stop(self) -> None:
        """Stop the replay and close every connection."""
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        for conn in list(self._conns):
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def rest_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.cfg.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port``."""
        return f"ws://{self.cfg.host}:{self.port}"

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault plan (counters keep running)."""
        self.faults.config = faults

    def stats(self) -> dict[str, Any]:
        """Replay progress and injected faults."""
        total = sum(len(v) for v in self.state.by_symbol.values())
        return {"exchange": self.cfg.exchange, "done": self.state.done, "trades_total": total,
                "published": sum(self.state.published.values()), "ws_frames": self.faults.ws_frames,
                "http_requests": self.faults.http_requests, "ws_connections": self.ws_connections,
                "faults": dict(self.faults.injected), "faults_total": self.faults.total()}

    # -- REST -----------------------------------------------------------------------------------
    def _bind(self, handler: Any) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            return await handler(self.state, request)  # type: ignore[no-any-return]

        return route

    @web.middleware
    async def _fault_middleware(self, request: web.Request,
                                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path.startswith("/_sim") or request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        fault = self.faults.http_fault()
        if fault is not None:
            status, reason = fault
            headers = {"Retry-After": str(self.faults.config.retry_after_s)}
            body = {"code": -1003, "msg": f"simulated {reason}"} if self.cfg.exchange == "binance" else \
                {"message": f"simulated {reason}"}
            return web.json_response(body, status=status, headers=headers)
        return await handler(request)

    async def _stats_handler(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.stats())

    async def _faults_handler(self, request: web.Request) -> web.StreamResponse:
        self.set_faults(FaultConfig.model_validate(await request.json()))
        return web.json_response(self.faults.config.model_dump())

    # -- WebSocket ------------------------------------------------------------------------------
    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.append(conn)
        self.ws_connections += 1
        table = {self.venue.venue_symbol(s): s for s in self.state.dataset.symbols()}
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    continue
                parsed = self.venue.parse_subscribe(payload, table) if isinstance(payload, dict) else None
                if parsed is None:
                    continue
                subs, ack = parsed
                await ws.send_str(ack)
                for symbol, channel in subs:
                    conn.subs.setdefault(symbol, set()).add(channel)
                    self._ever.add(symbol)
                self._subscribed.set()
        finally:
            self._drop(conn)
        return ws

    def _drop(self, conn: _Conn) -> None:
        if conn in self._conns:
            self._conns.remove(conn)
            for symbol in conn.subs:
                self._outage[symbol] = self.faults.config.outage_msgs

    # -- replay ---------------------------------------------------------------------------------
    async def _replay(self) -> None:
        while len(self._ever) < self.cfg.start_after_symbols:
            self._subscribed.clear()
            await self._subscribed.wait()
        prev_ts: int | None = None
        index = dict.fromkeys(self.state.by_symbol, 0)
        started = time.monotonic()
        for n, trade in enumerate(self.state.dataset.trades):
            conns = await self._wait_for_audience(trade.symbol)
            if self.cfg.rate_per_s is not None:
                ahead = started + n / self.cfg.rate_per_s - time.monotonic()
                if ahead > 0:
                    await self._sleep(ahead)
            elif self.cfg.speed > 0 and prev_ts is not None and trade.ts > prev_ts:
                await self._sleep(min((trade.ts - prev_ts) / 1000 / self.cfg.speed, self.cfg.max_idle_s))
            prev_ts = trade.ts
            if self.cfg.live_timestamps:
                trade = trade._replace(ts=int(time.time() * 1000))
                self.state.by_symbol[trade.symbol][index[trade.symbol]] = trade
            index[trade.symbol] += 1
            self.state.published[trade.symbol] += 1
            self.state.replay_ts = trade.ts
            self.book.on_trade(trade.symbol, Decimal(str(trade.price)), Decimal(str(trade.amount)))
            for conn in conns:
                await self._send_trade(conn, trade)
        self.state.done = True
        self.finished.set()
        for conn in list(self._conns):
            if conn.held is not None:
                held, conn.held = conn.held, None
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.send_str(held)

    async def _wait_for_audience(self, symbol: str) -> list[_Conn]:
        while True:
            conns = [c for c in self._conns if symbol in c.subs and not c.ws.closed]
            if conns or symbol not in self._ever:
                return conns
            if self._outage.get(symbol, 0) > 0:
                self._outage[symbol] -= 1
                return []
            self._subscribed.clear()
            await self._subscribed.wait()

    async def _send_trade(self, conn: _Conn, trade: SimTrade) -> None:
        plan = self.faults.plan_frame()
        channels = conn.subs[trade.symbol]
        try:
            if plan.stall_s:
                self.faults.record("stall")
                await asyncio.sleep(plan.stall_s)
            for kind in plan.extra_before:
                self.faults.record(kind)
                await conn.send(self._extra_frame(kind, trade))
            frames = self.venue.trade_frames(trade, channels, self.state.now_ms())
            frames.extend(self._kline_frames(trade, channels))
            for frame in frames:
                if plan.reorder and conn.held is None:
                    self.faults.record("reorder")
                    conn.held = frame
                    plan.reorder = False
                    continue
                await conn.send(frame)
                if plan.duplicate:
                    self.faults.record("duplicate")
                    plan.duplicate = False
                    await conn.ws.send_str(frame)
            if plan.disconnect_after:
                self.faults.record("disconnect")
                self._drop(conn)
                await conn.ws.close()
        except (ConnectionError, RuntimeError):
            self._drop(conn)

    def _extra_frame(self, kind: str, trade: SimTrade) -> str:
        if kind == "malformed":
            return str(self.venue.malformed_frame(trade))
        if kind == "unknown":
            return str(self.venue.unknown_frame(trade))
        frame = self.venue.trade_frames(trade, {"aggTrade", "matches"}, trade.ts)[0]
        return str(frame[: len(frame) // 2])

    def _kline_frames(self, trade: SimTrade, channels: set[str]) -> list[str]:
        if "kline_1m" not in channels or not hasattr(self.venue, "kline_frame"):
            return []
        bucket = trade.ts - trade.ts % 60_000
        cur = self._klines.get(trade.symbol)
        out = []
        if cur is not None and cur[0] != bucket:
            out.append(self.venue.kline_frame(trade.symbol, tuple(cur), True, trade.ts))
            cur = None
        if cur is None:
            cur = [bucket, trade.price, trade.price, trade.price, trade.price, 0.0, 0]
        cur[2] = max(cur[2], trade.price)
        cur[3] = min(cur[3], trade.price)
        cur[4] = trade.price
        cur[5] += trade.amount
        cur[6] += 1
        self._klines[trade.symbol] = cur
        out.append(self.venue.kline_frame(trade.symbol, tuple(cur), False, trade.ts))
        return out


async def serve_forever(cfg: SimConfig) -> None:
    """Run a simulator until cancelled (``coinray sim``)."""
    sim = ExchangeSimulator(cfg)
    await sim.start()
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
