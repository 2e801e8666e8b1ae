"""Build the compiled package (what ``pip install .`` installs) into a directory.

    python3 bench/build_compiled.py DIR

Builds a wheel of this checkout with mypyc (setup.py) and unpacks it into DIR, to be
used with ``PYTHONPATH=DIR`` next to the development (pure-Python, editable) install.
Uses the current environment's setuptools, wheel and mypy (no build isolation, so no
download). Fails if the result is not compiled, rather than measuring the wrong thing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(target: Path) -> Path:
    """The compiled package in ``target`` (replaced); raises if it cannot be built."""
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp) / "wheels"
        # A copy of the sources: the build writes build/ and *.egg-info beside them.
        src = Path(tmp) / "src"
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
            ".git", "build", "*.egg-info", "out", "__pycache__", ".mypy_cache", "corpus", "zoo", "data"))
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
             "-w", str(wheels), str(src)],
            check=True, env={**_env(), "BABEL_SENSOR_COMPILE": "1"},
        )
        wheel = next(wheels.glob("babel_sensor-*.whl"))
        if wheel.name.endswith("-none-any.whl"):
            raise RuntimeError(f"{wheel.name}: built without the compiled modules (see the build log)")
        if target.exists():
            shutil.rmtree(target)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
            check=True, env=_env(),
        )
    return target


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1])))
