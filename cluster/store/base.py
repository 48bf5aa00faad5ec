"""The ``Store`` protocol and the backend-independent store logic (schema, candles, rankings)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc

from cluster.schemas import CANDLES, DATA_GAPS, DATA_QUALITY, RANKINGS, conform
from cluster.store.migrations import MIGRATIONS, SCHEMA_MIGRATIONS, Migration

logger = logging.getLogger(__name__)


@runtime_checkable
class Store(Protocol):
    """What every storage backend offers. ClickHouse SQL; ``{db}`` is not expanded here."""

    database: str
    backend: str

    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, INSERT ... SELECT)."""
        ...

    def query_arrow(self, sql: str) -> pa.Table:
        """Run a query and return its result as an Arrow table."""
        ...

    def insert_arrow(self, table_name: str, table: pa.Table) -> int:
        """Insert ``table`` (columns named as the target's) into ``table_name``; return rows inserted."""
        ...

    def use_database(self) -> None:
        """Make ``database`` the default for unqualified table names in later queries."""
        ...

    def close(self) -> None:
        """Release the connection (and, for chdb, the data directory)."""
        ...


def quote(value: str) -> str:
    """A ClickHouse string literal for ``value``.

    >>> quote("BTC/USDT")
    "'BTC/USDT'"
    >>> quote("it's")
    "'it\\\\'s'"
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class StoreOps:
    """Schema management and typed reads/writes on top of any :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.database

    # -- schema -------------------------------------------------------------------------------
    def applied_versions(self) -> set[int]:
        """Versions recorded in ``schema_migrations`` (empty before the first migration)."""
        exists = self.store.query_arrow(
            f"SELECT count() AS n FROM system.tables WHERE database = {quote(self.db)} "
            "AND name = 'schema_migrations'"
        )
        if exists.column("n")[0].as_py() == 0:
            return set()
        rows = self.store.query_arrow(f"SELECT DISTINCT version FROM {self.db}.schema_migrations")
        return {int(v) for v in rows.column("version").to_pylist()}

    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
        """Create the database and apply pending migrations in order; return the versions applied.

        Safe to call any number of times: applied versions are skipped, and every statement is
        itself idempotent, so an interrupted migration is re-applied cleanly.
        """
        self.store.command(f"CREATE DATABASE IF NOT EXISTS {self.db}")
        self.store.command(SCHEMA_MIGRATIONS.format(db=self.db))
        done = self.applied_versions()
        applied: list[int] = []
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in done:
                continue
            logger.info("store: applying migration %d (%s)", migration.version, migration.name)
            for statement in migration.statements:
                self.store.command(statement.format(db=self.db))
            self.store.command(
                f"INSERT INTO {self.db}.schema_migrations (version, name) "
                f"VALUES ({migration.version}, {quote(migration.name)})"
            )
            applied.append(migration.version)
        return applied

    def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty store)."""
        return max(self.applied_versions(), default=0)

    # -- candles ------------------------------------------------------------------------------
    def insert_candles(self, table: pa.Table) -> int:
        """Insert candles (``CANDLES`` schema). Re-inserting the same keys never duplicates rows."""
        return self.store.insert_arrow("candles", conform(table, CANDLES))

    def count_candles(self, *, final: bool = True) -> int:
        """Number of distinct candles (after ReplacingMergeTree de-duplication when ``final``)."""
        sql = f"SELECT count() AS n FROM {self.db}.candles{' FINAL' if final else ''}"
        return int(self.store.query_arrow(sql).column("n")[0].as_py())

    def read_candles(
        self,
        *,
        timeframe: str,
        exchange: str | None = None,
        symbols: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        include_rollups: bool = True,
        complete_only: bool = True,
    ) -> pa.Table:
        """Candles of one timeframe, sorted by exchange, symbol, ts, in the ``CANDLES`` schema.

        Rows stored at ``timeframe`` win; where none is stored, bars rolled up from ``1m`` candles
        fill in (``source='rollup'``), complete bars only unless ``complete_only`` is False.
        ``end_ms`` is exclusive.
        """
        where = [f"timeframe = {quote(timeframe)}"]
        if exchange:
            where.append(f"exchange = {quote(exchange)}")
        if symbols:
            where.append(f"symbol IN ({', '.join(quote(s) for s in symbols)})")
        if start_ms is not None:
            where.append(f"ts >= {int(start_ms)}")
        if end_ms is not None:
            where.append(f"ts < {int(end_ms)}")
        cond = " AND ".join(where)
        cols = "exchange, symbol, timeframe, ts, open, high, low, close, volume"
        direct = (
            f"SELECT {cols}, trades, source, ingested_at, 0 AS prio FROM {self.db}.candles FINAL WHERE {cond}"
        )
        if include_rollups and timeframe != "1m":
            complete = " AND minutes_present = minutes_expected" if complete_only else ""
            rolled = (
                f"SELECT {cols}, CAST(NULL AS Nullable(UInt64)) AS trades, 'rollup' AS source, "
                f"now64(3) AS ingested_at, 1 AS prio FROM {self.db}.candles_rollup_v WHERE {cond}{complete}"
            )
            sql = (
                f"SELECT {cols}, trades, source, ingested_at FROM ({direct} UNION ALL {rolled}) "
                "ORDER BY exchange, symbol, ts, prio LIMIT 1 BY exchange, symbol, ts"
            )
        else:
            sql = f"SELECT {cols}, trades, source, ingested_at FROM ({direct}) ORDER BY exchange, symbol, ts"
        return conform(self.store.query_arrow(sql), CANDLES)

    def last_candle_ts(self, *, exchange: str, symbol: str, timeframe: str) -> int | None:
        """Open time of the newest stored candle, or None when there is none."""
        rows = self.store.query_arrow(
            f"SELECT max(ts) AS ts, count() AS n FROM {self.db}.candles WHERE exchange = {quote(exchange)} "
            f"AND symbol = {quote(symbol)} AND timeframe = {quote(timeframe)}"
        )
        return int(rows.column("ts")[0].as_py()) if rows.column("n")[0].as_py() else None

    # -- quality and rankings ------------------------------------------------------------------
    def insert_data_quality(self, table: pa.Table) -> int:
        """Record rejected rows (``DATA_QUALITY`` schema)."""
        return self.store.insert_arrow("data_quality", conform(table, DATA_QUALITY)) if table.num_rows else 0

    def insert_data_gaps(self, table: pa.Table) -> int:
        """Record detected (and repaired) gaps (``DATA_GAPS`` schema)."""
        return self.store.insert_arrow("data_gaps", conform(table, DATA_GAPS)) if table.num_rows else 0

    def insert_rankings(self, table: pa.Table) -> int:
        """Store one ranking run (``RANKINGS`` schema)."""
        return self.store.insert_arrow("rankings", conform(table, RANKINGS)) if table.num_rows else 0


def summarize_candles(table: pa.Table) -> dict[str, object]:
    """Symbols, timeframes, row count and time range of a candles table (for CLI output)."""
    if table.num_rows == 0:
        return {"rows": 0, "symbols": [], "timeframes": [], "start_ms": None, "end_ms": None}
    return {
        "rows": table.num_rows,
        "symbols": sorted(set(table.column("symbol").to_pylist())),
        "timeframes": sorted(set(table.column("timeframe").to_pylist())),
        "start_ms": pc.min(table.column("ts")).as_py(),
        "end_ms": pc.max(table.column("ts")).as_py(),
    }
