"""``StoreWriter``: the Ray actor that owns the store (and, for chdb, its data directory).

chdb is in-process, so on a Ray cluster exactly one process may open a data directory: this
actor. Every other task reads and writes through its handle. The methods only delegate to
:class:`cluster.store.StoreOps`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import ray

from cluster.settings import CoinraySettings
from cluster.store import StoreOps, open_store

STORE_ACTOR_NAME = "store"


@ray.remote(num_cpus=0, max_restarts=3, max_task_retries=0)
class StoreWriter:
    """Owns the configured store; crash-only: ``__init__`` reopens and migrates (idempotent)."""

    def __init__(self, settings: CoinraySettings) -> None:
        from cluster.logging import configure_logging

        configure_logging(settings.log_level, rich=False)
        self._ops: StoreOps = open_store(settings)

    def ready(self) -> dict[str, Any]:
        """Backend name and schema version, once the store is open and migrated."""
        return {"backend": self._ops.store.backend, "schema_version": self._ops.schema_version()}

    def database(self) -> str:
        """The store's database name (for queries built elsewhere)."""
        return self._ops.db

    def insert_candles(self, table: pa.Table) -> int:
        """Insert candles (``CANDLES`` schema)."""
        return self._ops.insert_candles(table)

    def insert_data_quality(self, table: pa.Table) -> int:
        """Record rejected rows."""
        return self._ops.insert_data_quality(table)

    def insert_data_gaps(self, table: pa.Table) -> int:
        """Record detected and repaired gaps."""
        return self._ops.insert_data_gaps(table)

    def insert_rankings(self, table: pa.Table) -> int:
        """Store a ranking run."""
        return self._ops.insert_rankings(table)

    def insert_arrow(self, table_name: str, table: pa.Table) -> int:
        """Insert an Arrow table into any coinray table (columns named as the table's)."""
        return self._ops.store.insert_arrow(table_name, table)

    def read_candles(self, **kwargs: Any) -> pa.Table:
        """See :meth:`cluster.store.StoreOps.read_candles`."""
        return self._ops.read_candles(**kwargs)

    def count_candles(self) -> int:
        """Distinct candles stored."""
        return self._ops.count_candles()

    def query_arrow(self, sql: str) -> pa.Table:
        """Run a read query."""
        return self._ops.store.query_arrow(sql)

    def close(self) -> None:
        """Close the store and release the data directory."""
        self._ops.store.close()


def start_store_writer(settings: CoinraySettings) -> Any:
    """Create the named ``store`` actor (or get the running one) and wait until it is ready."""
    handle = StoreWriter.options(name=STORE_ACTOR_NAME, get_if_exists=True).remote(settings)  # type: ignore[attr-defined]
    ray.get(handle.ready.remote())
    return handle
