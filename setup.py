"""Build: the per-packet path compiled with mypyc, when it can be.

Everything else (metadata, the command, data files) is in pyproject.toml. ``pip install .``
compiles the modules in ``COMPILED`` to C extensions with mypyc (the same source, type
checked; about 1.4x the replay rate of the pure-Python modules, see README "Performance")
and installs the pure-Python package if it cannot: no mypyc, no C compiler, or
``BABEL_SENSOR_COMPILE=0``. Editable installs (``pip install -e``, the development
setup) are never compiled, so that an edited module is the module that runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The stages every packet or line goes through. Compiled classes cannot be patched at run
# time and their attributes and arguments are type checked when they run.
COMPILED = [
    "sensor/capture/decode.py",
    "sensor/capture/pcapfile.py",
    "sensor/reassembly/segments.py",
    "sensor/reassembly/connection.py",
    "sensor/reassembly/table.py",
    "sensor/smtp/lines.py",
    "sensor/smtp/conversation.py",
    "sensor/dialect/matcher.py",
    "sensor/alert.py",
    "sensor/pipeline.py",
]


def say(message: str) -> None:
    print(f"babel-sensor build: {message}", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """A failed compile leaves the pure-Python package, never a half-compiled one."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back
            say(f"compiling failed ({exc}); installing pure Python")
            for ext in self.extensions:
                for path in (self.get_ext_fullpath(ext.name),):
                    Path(path).unlink(missing_ok=True)
            self.extensions = []


def extensions() -> list[object]:
    if os.environ.get("BABEL_SENSOR_COMPILE", "1") == "0":
        say("BABEL_SENSOR_COMPILE=0: pure Python")
        return []
    if "editable_wheel" in sys.argv:
        return []  # development install: run the sources as they are edited
    if {"dist_info", "egg_info"} & set(sys.argv):
        return []  # metadata only: nothing is built
    try:
        from mypyc.build import mypycify
    except ImportError:
        say("mypyc not available: pure Python")
        return []
    try:
        return list(mypycify(COMPILED, opt_level="3", debug_level="0"))
    except BaseException as exc:  # noqa: BLE001 - mypyc exits on type errors
        say(f"mypyc failed ({exc}); pure Python")
        return []


if __name__ == "__main__":  # as setuptools runs it (tests import COMPILED)
    setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
