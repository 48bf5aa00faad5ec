"""The real ``coinray serve`` command on the store: the Ranker reads candles through the ``store`` actor over HTTP,
and ``kill`` (even twice) stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from cluster.settings import load_settings
from cluster.store import open_store
from serve.ranker_core import load_candle_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SAMPLE = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_serve_ranks_the_stored_candles_and_stops_on_kill() -> None:
    # Arrange: the bundled 1d candles in the store (closed again before the command opens it)
    frame = load_candle_files(sorted(SAMPLE.glob("*-1d.feather")), exchange="binance")
    as_of = int(frame.group_by("symbol").agg(pl.col("ts").max()).get_column("ts").min())  # type: ignore[arg-type]
    ops = open_store(load_settings())
    try:
        ops.insert_candles(frame.to_arrow())
    finally:
        ops.store.close()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cluster.cli", "serve", "--port", str(port), "--timeframe", "1d"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ})
    try:
        # Act: wait for the API (Ray start, store actor, Serve, ensemble fit)
        deadline = time.monotonic() + 300
        body = None
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            body = _get(f"http://127.0.0.1:{port}/v1/rankings?timeframe=1d&top=3")
            if body is None:
                time.sleep(2)
        # Assert: rankings of the stored data
        assert body is not None, f"no API (exit {proc.poll()}): {proc.stdout.read()[-3000:] if proc.poll() else ''}"
        assert len(body["top"]) == 3  # type: ignore[arg-type]
        assert body["as_of"] == datetime.fromtimestamp(as_of / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Act: two TERMs in a row (a service manager, an impatient user)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        # Assert: it shuts down cleanly and in time
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
