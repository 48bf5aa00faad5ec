"""Token-protected trading endpoints: ``/v1/orders`` (submit, list) and the kill switch.

Routes validate the request and delegate to an :class:`OrdersBackend`: the running ``oms`` actor
(:class:`actors.oms.OrderManager`) in a cluster, or an in-process :class:`actors.oms_core.OmsCore`.
Risk rejections come back as 422 problem details carrying the rule and the numbers that broke it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, Protocol

from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from actors.brokers.errors import OrderRejected, RiskRejected
from actors.brokers.models import Order, OrderRequest, OrderType, Side, TimeInForce
from serve.schemas import problem_response, require_token


class OrderSubmitRequest(BaseModel):
    """An order to send through the risk guard and the OMS (quantities and prices as decimal strings)."""

    model_config = ConfigDict(extra="forbid")

    client_order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                                 description="Idempotency key: resending the same id never creates a second order.")
    symbol: str = Field(pattern=r"^[A-Z0-9]+/[A-Z0-9]+(:[A-Z0-9]+)?$", description="ccxt unified symbol, BTC/USDT.")
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop_loss", "stop_limit", "take_profit"] = "market"
    qty: Decimal = Field(gt=0, description="Base-asset quantity.")
    limit_price: Decimal | None = Field(None, gt=0)
    stop_price: Decimal | None = Field(None, gt=0)
    time_in_force: Literal["GTC", "IOC", "FOK"] = "GTC"
    reduce_only: bool = False

    def to_request(self) -> OrderRequest:
        """The broker-layer order request."""
        return OrderRequest(
            client_order_id=self.client_order_id, symbol=self.symbol, side=Side(self.side),
            type=OrderType(self.type), qty=self.qty, limit_price=self.limit_price, stop_price=self.stop_price,
            time_in_force=TimeInForce(self.time_in_force), reduce_only=self.reduce_only,
        )


class OrderResponse(BaseModel):
    """An order's state as the OMS knows it."""

    client_order_id: str
    symbol: str
    side: str
    type: str
    qty: str
    status: str
    filled_qty: str
    avg_price: str | None
    fee: str
    venue: str
    venue_order_id: str
    reason: str


class KillRequest(BaseModel):
    """Why the kill switch is pulled (recorded with the cancellations)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200)


class KillResponse(BaseModel):
    """The orders the kill switch cancelled."""

    cancelled: list[OrderResponse]


def order_response(order: Order) -> OrderResponse:
    """The HTTP view of an :class:`Order`."""
    req = order.request
    return OrderResponse(
        client_order_id=req.client_order_id, symbol=req.symbol, side=str(req.side), type=str(req.type),
        qty=str(req.qty), status=str(order.status), filled_qty=str(order.filled_qty),
        avg_price=None if order.avg_price is None else str(order.avg_price), fee=str(order.fee),
        venue=order.venue, venue_order_id=order.venue_order_id, reason=order.reason,
    )


class OrdersBackend(Protocol):
    """What the routes need from an order manager."""

    async def submit(self, request: OrderRequest) -> Order:
        """Send an order through the guard; raises RiskRejected / OrderRejected."""
        ...

    async def open_orders(self) -> list[Order]:
        """Orders not yet terminal."""
        ...

    async def kill(self, reason: str) -> list[Order]:
        """Cancel everything and block new orders until reset."""
        ...

    async def reset_kill_switch(self) -> None:
        """Allow orders again."""
        ...

    async def metrics_text(self) -> str:
        """Prometheus text of the execution metrics."""
        ...


class LocalOrdersBackend:
    """An :class:`OrdersBackend` over an in-process :class:`actors.oms_core.OmsCore`."""

    def __init__(self, core: Any) -> None:
        self._core = core

    async def submit(self, request: OrderRequest) -> Order:
        """Delegate to the core."""
        return self._core.submit(request)  # type: ignore[no-any-return]

    async def open_orders(self) -> list[Order]:
        """Delegate to the core."""
        return list(self._core.open_orders())

    async def kill(self, reason: str) -> list[Order]:
        """Delegate to the core."""
        return list(self._core.kill(reason))

    async def reset_kill_switch(self) -> None:
        """Delegate to the core."""
        self._core.reset_kill_switch()

    async def metrics_text(self) -> str:
        """Prometheus text of the core's execution metrics."""
        from pipelines.execution_metrics import to_prometheus

        return to_prometheus(self._core.metrics_rows(), account=self._core.cfg.account)


class ActorOrdersBackend:
    """An :class:`OrdersBackend` over the named ``oms`` actor (started by ``coinray trade``)."""

    def __init__(self, namespace: str = "coinray") -> None:
        self._namespace = namespace

    def _handle(self) -> Any:
        import ray

        from actors.oms import OMS_ACTOR_NAME

        try:
            return ray.get_actor(OMS_ACTOR_NAME, namespace=self._namespace)
        except ValueError as exc:
            raise StarletteHTTPException(503, "no order manager is running in this cluster: start one with "
                                              "`coinray trade` (paper unless --live)") from exc

    async def submit(self, request: OrderRequest) -> Order:
        """Forward to the actor."""
        return await self._handle().submit.remote(request)  # type: ignore[no-any-return]

    async def open_orders(self) -> list[Order]:
        """Forward to the actor."""
        return await self._handle().open_orders.remote()  # type: ignore[no-any-return]

    async def kill(self, reason: str) -> list[Order]:
        """Forward to the actor."""
        return await self._handle().kill.remote(reason)  # type: ignore[no-any-return]

    async def reset_kill_switch(self) -> None:
        """Forward to the actor."""
        await self._handle().reset_kill_switch.remote()

    async def metrics_text(self) -> str:
        """Forward to the actor."""
        return await self._handle().metrics_text.remote()  # type: ignore[no-any-return]


def build_orders_router(backend: OrdersBackend, *, api_token: SecretStr | None) -> APIRouter:
    """``/v1/orders`` routes; every one requires ``Authorization: Bearer <api_token>``."""
    router = APIRouter(prefix="/v1/orders", tags=["orders"])

    def authorize(authorization: str | None) -> None:
        require_token(api_token, authorization, action="trading over HTTP")

    @router.post("", response_model=OrderResponse, responses={401: {}, 403: {}, 422: {}, 400: {}})
    async def submit_order(body: OrderSubmitRequest, request: Request,
                           authorization: str | None = Header(None)) -> Any:
        """Submit an order through the risk guard (idempotent on ``client_order_id``)."""
        authorize(authorization)
        try:
            order = await backend.submit(body.to_request())
        except RiskRejected as exc:
            return problem_response(422, "Risk rule rejected the order", str(exc), request, rule=exc.rule,
                            numbers={k: str(v) for k, v in exc.numbers.items()})
        except OrderRejected as exc:
            return problem_response(400, "Venue rejected the order", str(exc), request, reason=exc.reason)
        return order_response(order)

    @router.get("", response_model=list[OrderResponse], responses={401: {}, 403: {}})
    async def list_open_orders(authorization: str | None = Header(None)) -> list[OrderResponse]:
        """Open orders (not yet filled, cancelled, rejected or expired)."""
        authorize(authorization)
        return [order_response(o) for o in await backend.open_orders()]

    @router.post("/kill", response_model=KillResponse, responses={401: {}, 403: {}})
    async def kill_switch(body: KillRequest, authorization: str | None = Header(None)) -> KillResponse:
        """Cancel every open order and refuse new ones until the kill switch is reset."""
        authorize(authorization)
        return KillResponse(cancelled=[order_response(o) for o in await backend.kill(body.reason)])

    @router.post("/kill/reset", status_code=204, responses={401: {}, 403: {}})
    async def reset_kill_switch(authorization: str | None = Header(None)) -> None:
        """Allow new orders again."""
        authorize(authorization)
        await backend.reset_kill_switch()

    @router.get("/metrics", response_class=PlainTextResponse, responses={401: {}, 403: {}})
    async def execution_metrics(authorization: str | None = Header(None)) -> PlainTextResponse:
        """Execution metrics (slippage, latencies, fill ratio, rejects) in Prometheus text format."""
        authorize(authorization)
        return PlainTextResponse(await backend.metrics_text(), media_type="text/plain; version=0.0.4")

    return router
