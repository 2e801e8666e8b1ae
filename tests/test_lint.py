"""The layering and typing rules of STYLE.md, checked by the tools that enforce them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_including_layer_bans() -> None:
    proc = subprocess.run(["ruff", "check", "sensor", "tests", "bench", "setup.py"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict() -> None:
    pytest.importorskip("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy", "sensor"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_core_imports_only_from_its_left() -> None:
    """reassembly, smtp, dialect and alert never import the edges (capture I/O, outputs, cli)."""
    order = ["capture", "reassembly", "smtp", "dialect"]
    for path in (ROOT / "sensor").rglob("*.py"):
        rel = path.relative_to(ROOT / "sensor").parts
        if rel[0] not in order[1:]:
            continue
        text = path.read_text()
        later = order[order.index(rel[0]) + 1 :]
        for name in later + ["outputs", "pipeline", "cli", "capture.pcapfile"]:
            assert f"from ..{name}" not in text and f"from sensor.{name}" not in text, (path, name)
