"""``OrderManager``: the thin Ray actor over :class:`actors.oms_core.OmsCore` (crash-only: ``__init__`` recovers)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import ray
from pydantic import BaseModel, ConfigDict

from actors.brokers.clock import SystemClock
from actors.brokers.factory import BrokerConfig, build_broker
from actors.brokers.journal import Journal, MemoryJournal, StoreJournal
from actors.brokers.models import Fill, Order, OrderRequest
from actors.oms_core import OmsConfig, OmsCore
from actors.risk_guard import RiskGuardCore, RiskLimits

OMS_ACTOR_NAME = "oms"


class OrderManagerConfig(BaseModel):
    """Everything an OMS actor is rebuilt from after a crash.

    ``journal``: ``store_actor`` writes through the ``store`` actor (production), ``store`` opens the
    configured store in this process (only when no other process owns it), ``memory`` keeps nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    oms: OmsConfig = OmsConfig()
    broker: BrokerConfig = BrokerConfig()
    limits: RiskLimits = RiskLimits()
    journal: Literal["store_actor", "store", "memory"] = "store_actor"
    log_level: str = "INFO"


class _ActorStore:
    """The ``Store`` methods a journal needs, answered by the ``StoreWriter`` actor."""

    def __init__(self, handle: Any, database: str) -> None:
        self._handle = handle
        self.database = database

    def insert_arrow(self, table_name: str, table: Any) -> int:
        return int(ray.get(self._handle.insert_arrow.remote(table_name, table)))

    def query_arrow(self, sql: str) -> Any:
        return ray.get(self._handle.query_arrow.remote(sql))


def _journal(cfg: OrderManagerConfig, settings: Any) -> Journal:
    if cfg.journal == "memory":
        return MemoryJournal()
    if cfg.journal == "store":
        from cluster.store import open_store

        return StoreJournal(open_store(settings).store, account=cfg.oms.account)
    from actors.store_writer import STORE_ACTOR_NAME

    handle = ray.get_actor(STORE_ACTOR_NAME)
    return StoreJournal(_ActorStore(handle, settings.store.database), account=cfg.oms.account)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class OrderManager:
    """Owns order lifecycles for one account; every method delegates to :class:`OmsCore`."""

    def __init__(self, cfg: OrderManagerConfig, settings: Any = None) -> None:
        from cluster.logging import configure_logging
        from cluster.redact import install

        configure_logging(cfg.log_level, rich=False)
        install()
        clock = SystemClock()
        self._core = OmsCore(build_broker(cfg.broker, clock), RiskGuardCore(cfg.limits, clock),
                             _journal(cfg, settings), clock, cfg.oms)

    def report(self) -> dict[str, Any]:
        """The reconciliation report of the last start."""
        return self._core.report.as_dict()

    def submit(self, request: OrderRequest) -> Order:
        """See :meth:`OmsCore.submit`."""
        return self._core.submit(request)

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        """See :meth:`OmsCore.cancel`."""
        return self._core.cancel(symbol, client_order_id)

    def kill(self, reason: str) -> list[Order]:
        """Kill switch: cancel all, block new orders."""
        return self._core.kill(reason)

    def reset_kill_switch(self) -> None:
        """Allow new orders again."""
        self._core.reset_kill_switch()

    def on_price(self, symbol: str, price: Decimal) -> list[Order]:
        """A last-trade price (marks, emulated stops)."""
        return self._core.on_price(symbol, price)

    def on_trade(self, symbol: str, price: Decimal, qty: Decimal, ts_ms: int) -> list[Fill]:
        """Feed a market trade to a paper broker, then mark the OMS."""
        fills = self._core.broker.on_trade(symbol, price, qty, ts_ms)  # type: ignore[attr-defined]
        self._core.on_price(symbol, price)
        return list(fills)

    def poll(self) -> list[Fill]:
        """Book new fills."""
        return self._core.poll()

    def positions(self) -> dict[str, Decimal]:
        """Net positions from fills."""
        return self._core.positions()

    def open_orders(self) -> list[Order]:
        """Orders not terminal."""
        return self._core.open_orders()

    def metrics_text(self) -> str:
        """Prometheus text of this account's execution metrics."""
        from pipelines.execution_metrics import to_prometheus

        return to_prometheus(self._core.metrics_rows(), account=self._core.cfg.account)
