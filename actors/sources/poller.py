"""``SourcePoller``: the Ray actor shell around :class:`~actors.sources.poller_core.PollerCore`."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import ray

from actors.sources.config import SourcesConfig
from actors.sources.http_client import UrllibClient
from actors.sources.poller_core import PollerCore, build_sources


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class SourcePoller:
    """Crash-only: ``__init__`` rebuilds the sources and reloads their persisted cursors."""

    def __init__(self, cfg: SourcesConfig, state_dir: str) -> None:
        sources, self._disabled = build_sources(cfg)
        self._core = PollerCore(sources, UrllibClient(timeout_s=cfg.timeout_s), state_dir=Path(state_dir),
                                dedup_memory=cfg.dedup_memory)

    def disabled(self) -> list[str]:
        """Messages for sources disabled by missing credentials."""
        return self._disabled

    def poll_once(self) -> pa.Table:
        """New texts from every source (``texts`` columns)."""
        return self._core.poll_once(int(time.time() * 1000)).texts
