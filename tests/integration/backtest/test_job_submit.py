"""``ray job submit``: a local head, a backtest job via JobSubmissionClient, and its stored result."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.settings import load_settings
from cluster.store import open_store
from cluster.store.schema_backtest import read_backtest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[str]:
    """A local Ray head started with ``ray start --head --block``; yields the job server URL.

    The head runs in its own process group, and only that group is stopped afterwards, so
    other Ray instances on the machine are left alone (no ``ray stop``).
    """
    gcs, dash = _free_port(), _free_port()
    # Every fixed default port moved too, so other Ray instances on this machine cannot collide.
    ports = [f"--{name}={_free_port()}" for name in (
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port",
        "ray-client-server-port", "node-manager-port", "object-manager-port")]
    temp_dir = tempfile.mkdtemp(prefix="crj-", dir="/tmp")  # own session dir (short: socket paths)
    # Loopback-only test head: no token auth (Ray turns it on when ~/.ray/auth_token exists).
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", f"--port={gcs}", "--num-cpus=1", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--disable-usage-stats",
         f"--temp-dir={temp_dir}", *ports],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{dash}"
    try:
        _wait_for_job_server(url, head, timeout_s=120)
        yield url
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for_job_server(url: str, head: subprocess.Popen[bytes], *, timeout_s: float) -> None:
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + timeout_s
    while True:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}")
        try:
            JobSubmissionClient(url).list_jobs()
            return
        except (ConnectionError, RuntimeError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # the job server has no readiness signal to block on before it listens


def _submit(client: object, entrypoint: str, runtime_env: dict[str, object], *, timeout_s: float) -> str:
    """Submit once the head's job agent has registered (the server answers 'No available agent' before)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return str(client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env))  # type: ignore[attr-defined]
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


async def _follow(client: object, job_id: str) -> str:
    lines = []
    async for chunk in client.tail_job_logs(job_id):  # type: ignore[attr-defined]
        lines.append(chunk)
    return "".join(lines)


def test_backtest_job_stores_its_result(ray_head: str, tmp_path: Path) -> None:
    from ray.job_submission import JobStatus, JobSubmissionClient

    # Arrange
    data_dir = os.environ["COINRAY_DATA_DIR"]
    client = JobSubmissionClient(ray_head)
    entrypoint = (f"{sys.executable} -m cluster.cli backtest --candles "
                  "cluster/sample_data/binance_spot_2024/BTC_USDT-1d.feather --timeframe 1d --strategy sma_cross "
                  "--param fast=5 --param slow=20 --json --run-id bt-job-1")
    # Act
    runtime_env = {
        "working_dir": str(REPO), "excludes": [".venv", ".git", "tests", "*.egg-info", "__pycache__"],
        "env_vars": {"COINRAY_DATA_DIR": data_dir, "RAY_USAGE_STATS_ENABLED": "0"},
    }
    job_id = _submit(client, entrypoint, runtime_env, timeout_s=300)
    logs = asyncio.run(_follow(client, job_id))
    # Assert
    assert client.get_job_status(job_id) == JobStatus.SUCCEEDED, logs
    assert '"final_equity"' in logs
    ops = open_store(load_settings())
    try:
        row = read_backtest(ops.store, "bt-job-1")
    finally:
        ops.store.close()
    assert row is not None and row["status"] == "complete" and row["strategy"] == "sma_cross"
    assert row["metrics"]["n_trades"] > 0
