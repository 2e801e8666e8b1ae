"""The Zeek package parses (zeekscript, the Zeek project's own parser) and is laid out
where zkg expects it. The btests themselves need real Zeek: zeek-scripts/testing."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SCRIPTS = sorted((ROOT / "zeek-scripts" / "scripts").glob("*.zeek"))


def test_zkg_meta_points_at_the_scripts() -> None:
    meta = configparser.ConfigParser()
    meta.read(ROOT / "zkg.meta")
    script_dir = meta["package"]["script_dir"]
    assert (ROOT / script_dir / "__load__.zeek").is_file()


@pytest.mark.skipif(shutil.which("zeek-script") is None, reason="zeekscript (PyPI) not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_scripts_parse(script: Path) -> None:
    parsed = subprocess.run(["zeek-script", "parse", "-q", str(script)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    formatted = subprocess.run(["zeek-format", str(script)], capture_output=True, text=True, check=True)
    assert formatted.stdout == script.read_text(), f"{script.name} is not zeek-format clean"
