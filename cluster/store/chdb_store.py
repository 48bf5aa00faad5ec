"""Embedded ClickHouse (chdb) backend: a session directory under the data dir, one owner process."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa

from cluster.errors import StoreError
from cluster.store.lock import DirectoryLock

logger = logging.getLogger(__name__)

# chdb runs one embedded server per process. This records which directory this process has open,
# so a second open in the same process fails clearly instead of inside chdb.
_OPEN_IN_PROCESS: dict[str, Path] = {}


class ChdbStore:
    """A :class:`~cluster.store.base.Store` over a chdb session directory.

    Parameters
    ----------
    path:
        The session directory (created if missing).
    database:
        Database name inside it.

    Raises
    ------
    StoreLockedError
        When another process has the directory open.
    StoreError
        When this process already has a different chdb directory open.
    """

    backend = "chdb"

    def __init__(self, path: Path, *, database: str = "coinray") -> None:
        from chdb import session

        self.path = Path(path)
        self.database = database
        if "open" in _OPEN_IN_PROCESS:
            raise StoreError(
                f"this process already has the chdb store at {_OPEN_IN_PROCESS['open']} open; "
                "close it before opening another (chdb runs one embedded server per process)"
            )
        self._lock = DirectoryLock(self.path)
        self._lock.acquire()
        try:
            self._session = session.Session(str(self.path))
        except Exception as exc:  # chdb raises RuntimeError/ChdbError with engine text
            self._lock.release()
            raise StoreError(f"could not open chdb at {self.path}: {exc}") from exc
        _OPEN_IN_PROCESS["open"] = self.path
        logger.debug("chdb store opened at %s", self.path)

    def command(self, sql: str) -> None:
        """Run a statement."""
        self._run(sql, "CSV")

    def query_arrow(self, sql: str) -> pa.Table:
        """Run a query; the result as an Arrow table."""
        result = self._run(sql, "ArrowTable")
        if not isinstance(result, pa.Table):  # empty results come back as an empty buffer
            return pa.table({})
        return result

    def insert_arrow(self, table_name: str, table: pa.Table) -> int:
        """Insert an Arrow table into ``<database>.<table_name>`` through chdb's Python() table function."""
        if table.num_rows == 0:
            return 0
        cols = ", ".join(f"`{c}`" for c in table.column_names)
        arrow_batch = table  # referenced by name in the SQL below
        self._run(
            f"INSERT INTO {self.database}.{table_name} ({cols}) SELECT {cols} FROM Python(arrow_batch)",
            "CSV",
            arrow_batch=arrow_batch,
        )
        return table.num_rows

    def use_database(self) -> None:
        """Default unqualified table names to ``database`` for this session."""
        self.command(f"USE {self.database}")

    def close(self) -> None:
        """Close the session and release the directory (idempotent)."""
        if self._lock.held:
            try:
                self._session.close()
            finally:
                _OPEN_IN_PROCESS.pop("open", None)
                self._lock.release()

    def _run(self, sql: str, fmt: str, **_frame_locals: object) -> object:
        if not self._lock.held:
            raise StoreError(f"the chdb store at {self.path} is closed")
        try:
            return self._session.query(sql, fmt)
        except Exception as exc:  # chdb surfaces engine errors as RuntimeError/ChdbError
            first = " ".join(sql.split())[:160]
            raise StoreError(f"chdb query failed: {exc} -- in: {first}") from exc
