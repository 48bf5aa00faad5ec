"""Logging set-up for the CLI, job entrypoints and Ray workers (configured once per process)."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

_FORMAT = "%(name)s: %(message)s"


def configure_logging(level: str = "INFO", *, rich: bool = True) -> None:
    """Configure the root logger once; later calls only change the level.

    Parameters
    ----------
    level:
        A standard level name (``DEBUG``, ``INFO``, ``WARNING``...).
    rich:
        Use rich's console handler (for terminals); plain stderr lines otherwise.
    """
    root = logging.getLogger()
    root.setLevel(level.upper())
    if any(getattr(h, "_coinray", False) for h in root.handlers):
        return
    handler: logging.Handler
    if rich:
        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False, markup=False)
        handler.setFormatter(logging.Formatter(_FORMAT))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s " + _FORMAT))
    from cluster.redact import RedactingFilter

    handler.addFilter(RedactingFilter())
    handler._coinray = True  # type: ignore[union-attr]  # marker attribute set on purpose
    root.addHandler(handler)
    for noisy in ("urllib3", "filelock", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
