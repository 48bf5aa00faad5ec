"""ClickHouse server backend over HTTP (clickhouse-connect), selected by ``COINRAY_CLICKHOUSE_URL``."""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa

from cluster.errors import StoreError, TransientError

logger = logging.getLogger(__name__)


class ConnectStore:
    """A :class:`~cluster.store.base.Store` backed by a ClickHouse server.

    Parameters
    ----------
    url:
        ``http[s]://user:password@host:8123[/database]``.
    database:
        Database coinray uses (created by the migrations when missing).
    """

    backend = "clickhouse"

    def __init__(self, url: str, *, database: str = "coinray") -> None:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import OperationalError

        self.database = database
        try:
            self._client: Any = clickhouse_connect.get_client(dsn=url, database="default")
        except OperationalError as exc:
            raise TransientError(f"cannot reach ClickHouse server: {exc}") from exc

    def command(self, sql: str) -> None:
        """Run a statement."""
        self._call(self._client.command, sql)

    def query_arrow(self, sql: str) -> pa.Table:
        """Run a query; the result as an Arrow table (strings as strings, not bytes)."""
        return self._call(self._client.query_arrow, sql, use_strings=True)  # type: ignore[no-any-return]

    def insert_arrow(self, table_name: str, table: pa.Table) -> int:
        """Insert an Arrow table."""
        if table.num_rows == 0:
            return 0
        self._call(self._client.insert_arrow, table_name, table, database=self.database)
        return table.num_rows

    def use_database(self) -> None:
        """Default unqualified table names to ``database`` for later requests."""
        self._client.database = self.database

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            raise TransientError(f"ClickHouse server unavailable: {exc}") from exc
        except DatabaseError as exc:
            raise StoreError(f"ClickHouse query failed: {exc}") from exc
