"""Repository rules CI enforces: import layers (import-linter), ruff and mypy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed in the test environment (install the dev extra)")
    return found


def test_import_layers_hold() -> None:
    out = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_ruff_clean() -> None:
    out = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-5000:]


MYPY_TARGETS = ("cluster", "actors", "pipelines", "serve", "tune", "bench")


def test_mypy_clean() -> None:
    """mypy (with the pydantic plugin, configured in pyproject.toml) reports no errors on the packages."""
    out = subprocess.run([sys.executable, "-m", "mypy", *MYPY_TARGETS], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]
