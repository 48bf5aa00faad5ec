"""An exclusive, process-level lock on a chdb data directory (one owner per directory)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from cluster.errors import StoreLockedError

LOCK_NAME = ".coinray-owner.lock"


class DirectoryLock:
    """Hold ``<path>/.coinray-owner.lock`` with ``flock`` while the directory is open.

    The kernel drops the lock when the process dies, so a crashed owner never blocks the next
    one. The file records who holds it, for the error message the next process gets.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StoreLockedError` naming the current owner."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock_file = self.path / LOCK_NAME
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise StoreLockedError(
                f"the embedded store at {self.path} is already open by {owner}. chdb allows one process "
                "per data directory: stop that process, run the command where the store is owned "
                "(e.g. through the Ray store actor), use another COINRAY_DATA_DIR, or set "
                "COINRAY_CLICKHOUSE_URL to use a ClickHouse server",
                path=str(self.path),
                owner=owner,
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "cmd": " ".join(sys.argv)[:200],
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None


def _read_owner(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return "another process"
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')} "
            f"({info.get('cmd', '?')}, since {info.get('since', '?')})")
