"""Ray bootstrap: the only place coinray calls ``ray.init``."""

from __future__ import annotations

import logging
import os

from cluster.settings import RayConfig

logger = logging.getLogger(__name__)


def start_ray(cfg: RayConfig) -> bool:
    """Connect to the configured Ray cluster, or start a local one.

    Returns True when this call started (or connected) Ray, False when it was already up, so
    the caller knows whether to shut it down.
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    kwargs: dict[str, object] = {
        "namespace": cfg.namespace,
        "include_dashboard": cfg.include_dashboard,
        "configure_logging": True,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
    }
    if cfg.address:
        kwargs["address"] = cfg.address
        logger.info("ray: connecting to %s", cfg.address)
    else:
        if cfg.num_cpus:
            kwargs["num_cpus"] = cfg.num_cpus
        if cfg.object_store_memory_mb:
            kwargs["object_store_memory"] = cfg.object_store_memory_mb * 1024 * 1024
        kwargs["address"] = "local"  # always a new local instance, never a stray `ray start` cluster
        logger.info("ray: starting a local instance")
    ray.init(**kwargs)  # type: ignore[arg-type]
    _quiet_ray_data()
    return True


def _quiet_ray_data() -> None:
    """Keep Ray Data's per-dataset INFO lines and progress bars off the user's terminal."""
    import ray.data

    for name in ("ray.data", "ray.data._internal.execution.streaming_executor", "ray.data._internal.logging"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False


def stop_ray() -> None:
    """Shut Ray down if it is running."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
