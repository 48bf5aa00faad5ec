"""Shared fixtures: isolated data dirs, loopback-only network, one module-scoped Ray, sample data paths."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "cluster" / "sample_data" / "binance_spot_2024"
SHARED_DATA = REPO.parent / "shared" / "data"

_real_connect = socket.socket.connect


def _is_local(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # unix sockets


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise OSError(f"tests may only use loopback addresses, not {address!r}")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """No public network in any suite: block non-loopback connects in the test process."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data dir and no inherited coinray settings."""
    for key in list(os.environ):
        if key.startswith("COINRAY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COINRAY_DATA_DIR", str(tmp_path / "coinray-data"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """One local Ray per test module (2 CPUs, small object store)."""
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024,
             namespace="coinray-test", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def sample_dir() -> Path:
    """The bundled sample OHLCV directory (MIT, in the repository)."""
    return SAMPLE_DIR


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, skipping the test when this checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present in this checkout")
    return SHARED_DATA
