"""Where the dashboard reads and writes: the store directly (one process) or through the ``store`` actor.

chdb allows one process per data directory, so inside Ray the dashboard goes through the
``StoreWriter`` actor (:class:`ActorSource`); tests and single-process tools pass the
:class:`~cluster.store.StoreOps` they opened (:class:`OpsSource`).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa

from cluster.store import StoreOps, quote


class UiSource(Protocol):
    """What the dashboard needs from storage."""

    db: str

    def query(self, sql: str) -> pa.Table:
        """Run a read query (``{db}`` already expanded)."""
        ...

    def read_candles(self, **kwargs: Any) -> pa.Table:
        """See :meth:`cluster.store.StoreOps.read_candles`."""
        ...

    def insert(self, table_name: str, table: pa.Table) -> int:
        """Insert an Arrow table into ``table_name``; return the rows inserted."""
        ...


class OpsSource:
    """A :class:`UiSource` over an open :class:`StoreOps` (serialised: chdb sessions are not thread-safe)."""

    def __init__(self, ops: StoreOps) -> None:
        self.ops = ops
        self.db = ops.db
        self._lock = threading.Lock()

    def query(self, sql: str) -> pa.Table:
        """Run a read query."""
        with self._lock:
            return self.ops.store.query_arrow(sql)

    def read_candles(self, **kwargs: Any) -> pa.Table:
        """Candles through :meth:`StoreOps.read_candles`."""
        with self._lock:
            return self.ops.read_candles(**kwargs)

    def insert(self, table_name: str, table: pa.Table) -> int:
        """Insert through the backend's Arrow insert."""
        with self._lock:
            return self.ops.store.insert_arrow(table_name, table)


class ActorSource:
    """A :class:`UiSource` over the ``store`` actor handle (``actors.store_writer.StoreWriter``).

    Inserts use the actor's ``insert_arrow`` when it has one, else an ``INSERT ... FORMAT
    JSONEachRow`` statement sent through ``query_arrow`` (see :func:`json_insert_sql`).
    """

    def __init__(self, handle: Any, *, database: str) -> None:
        self._h = handle
        self.db = database

    def query(self, sql: str) -> pa.Table:
        """Run a read query in the actor."""
        import ray

        table: pa.Table = ray.get(self._h.query_arrow.remote(sql))
        return table

    def read_candles(self, **kwargs: Any) -> pa.Table:
        """Candles read by the actor."""
        import ray

        table: pa.Table = ray.get(self._h.read_candles.remote(**kwargs))
        return table

    def insert(self, table_name: str, table: pa.Table) -> int:
        """Insert rows through the actor."""
        import ray

        if table.num_rows == 0:
            return 0
        if hasattr(self._h, "insert_arrow"):
            return int(ray.get(self._h.insert_arrow.remote(table_name, table)))
        ray.get(self._h.query_arrow.remote(json_insert_sql(self.db, table_name, table)))
        return int(table.num_rows)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, list) and value and isinstance(value[0], tuple):  # Arrow map -> JSON object
        return {str(k): v for k, v in value}
    return value


def json_insert_sql(db: str, table_name: str, table: pa.Table) -> str:
    """An ``INSERT INTO db.table FORMAT JSONEachRow`` statement carrying ``table``'s rows.

    Timestamps become ``YYYY-MM-DD HH:MM:SS.mmm`` (UTC) and maps JSON objects.
    """
    lines = [json.dumps({k: _json_value(v) for k, v in row.items()}) for row in table.to_pylist()]
    cols = ", ".join(f"`{c}`" for c in table.column_names)
    return f"INSERT INTO {db}.{table_name} ({cols}) FORMAT JSONEachRow\n" + "\n".join(lines)


def has_table(source: UiSource, name: str) -> bool:
    """Whether ``name`` exists in the source's database (other areas' tables may be absent)."""
    rows = source.query(
        f"SELECT count() AS n FROM system.tables WHERE database = {quote(source.db)} AND name = {quote(name)}")
    return bool(rows.num_rows and rows.column("n")[0].as_py())
