"""Storage: the ``Store`` protocol, chdb and ClickHouse-server backends, schema and migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cluster.store.base import Store, StoreOps, quote
from cluster.store.chdb_store import ChdbStore
from cluster.store.connect_store import ConnectStore

if TYPE_CHECKING:  # settings compose every component's config; the store needs only their types
    from cluster.settings import CoinraySettings

__all__ = ["ChdbStore", "ConnectStore", "Store", "StoreOps", "open_store", "quote"]


def open_store(settings: CoinraySettings, *, migrate: bool = True) -> StoreOps:
    """Open the configured store (server when ``clickhouse_url`` is set, chdb otherwise).

    Parameters
    ----------
    settings:
        The resolved settings.
    migrate:
        Apply pending schema migrations after opening (idempotent).
    """
    store: Store
    if settings.clickhouse_url is not None:
        store = ConnectStore(settings.clickhouse_url.get_secret_value(), database=settings.store.database)
    else:
        store = ChdbStore(settings.store_dir, database=settings.store.database)
    ops = StoreOps(store)
    if migrate:
        try:
            ops.migrate()
            store.use_database()
        except BaseException:
            store.close()
            raise
    return ops
