"""coinray's log handler never prints secrets (URL passwords, registered keys)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging
from cluster.logging import configure_logging
from cluster.redact import register_secret
configure_logging("INFO", rich={rich})
register_secret("AKIA-very-secret-key")
log = logging.getLogger("coinray.test")
log.info("bus at %s", "redis://app:hunter2@127.0.0.1:6379/0")
log.warning("signing with AKIA-very-secret-key failed")
try:
    raise RuntimeError("token=abcdef123456 rejected")
except RuntimeError:
    log.exception("order failed")
"""


def test_secrets_are_masked_in_both_handlers() -> None:
    for rich in (True, False):
        out = subprocess.run([sys.executable, "-c", SCRIPT.format(rich=rich)], capture_output=True, text=True,
                             timeout=60)
        text = out.stdout + out.stderr
        assert out.returncode == 0, text
        assert "redis://app:***@127.0.0.1" in text.replace("\n", "")
        assert "hunter2" not in text and "AKIA-very-secret-key" not in text and "abcdef123456" not in text
        assert "order failed" in text
