"""Browser-test fixtures: a store with bundled real data, the dashboard served by uvicorn, headless Chromium.

The dashboard router is mounted on a FastAPI app exactly as the ingress mounts it
(``app.include_router(router, prefix="/ui")``) and served by uvicorn on a free loopback port
(the ingress's ranker fits its ensemble at start-up, about a minute here; the dashboard does
not use it). Chromium is Debian's ``/usr/bin/chromium``
driven by ``chromedriver`` through Selenium; without them the tests skip with the reason. The live hub
follows the Binance and Coinbase candle streams; the alert test fills the Coinbase one from the exchange
simulator through the ingestion stream (``tests/browser/sim_replay.py``).
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LIVE_EXCHANGES = ("binance", "coinbase")  # candle streams the live hub follows (the simulator replays coinbase)
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Dashboard:
    """The running dashboard: its base URL, the store and the store access it reads (``source``, shared with
    writers in the test so that chdb is used from one thread at a time), the router (hub, jobs) and the bus URL."""

    url: str
    ops: Any
    source: Any
    router: Any
    redis_url: str
    fixture: dict[str, Any]


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP receiver for alert webhooks: (url, bodies received)."""
    received: list[dict[str, Any]] = []
    handler = type("Webhook", (_Webhook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """Store (bundled candles, ranking, anomalies, a backtest, sentiment), bus, and the app on uvicorn."""
    import uvicorn
    from fastapi import FastAPI

    from cluster.bus import ManagedRedis
    from cluster.settings import load_settings
    from cluster.store import open_store
    from serve.ui import OpsSource, build_ui_router
    from tests.unit.ui.dataset import fill_store, seed_sentiment

    if not CHROMIUM.is_file() or shutil.which("chromedriver") is None:
        pytest.skip("Debian chromium/chromium-driver are not installed: apt-get install -y chromium chromium-driver")
    settings = load_settings(data_dir=tmp_path_factory.mktemp("coinray-ui"))
    ops = open_store(settings)
    redis = ManagedRedis(settings.bus_dir, settings.bus)
    server = None
    thread = None
    try:
        info = fill_store(ops)
        info["sentiment"] = seed_sentiment(ops)
        redis_url = redis.start()
        source = OpsSource(ops)
        router = build_ui_router(source, redis_url=redis_url, exchanges=list(LIVE_EXCHANGES), use_ray=False)
        app = FastAPI(title="coinray dashboard (test)")
        app.include_router(router, prefix="/ui")
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        _wait_listening(port)
        yield Dashboard(f"http://127.0.0.1:{port}/ui", ops, source, router, redis_url, info)
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=15)
        redis.stop()
        ops.store.close()


def _wait_listening(port: int) -> None:
    """Connect until the server accepts (bounded: 200 tries, each blocking on the connect itself)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.settimeout(0.1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        threading.Event().wait(0.05)
    raise RuntimeError(f"uvicorn did not listen on {port}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Debian Chromium through chromedriver (a fresh profile)."""
    if not CHROMIUM.is_file() or shutil.which("chromedriver") is None:
        pytest.skip("Debian chromium/chromium-driver are not installed: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """Where screenshots go (git-ignored ``tests/browser/artifacts``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
