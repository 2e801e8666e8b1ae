from __future__ import annotations

import configparser
import dataclasses
from pathlib import Path

import pytest

from sensor.config import SECTIONS, Settings, load_settings
from sensor.errors import ConfigError

ROOT = Path(__file__).parent.parent


def test_config_ini_documents_every_option_with_its_default() -> None:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    parser.read(ROOT / "config.ini")
    defaults = Settings()
    for name in SECTIONS:
        section = getattr(defaults, name)
        documented = dict(parser.items(name))
        assert set(documented) == {f.name for f in dataclasses.fields(section)}, name
    assert load_settings(ROOT / "config.ini") == defaults


def test_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "c.ini"
    path.write_text("[capture]\nports = 2525\n[output]\nformat = table\n")
    s = load_settings(path, {("output", "format"): "jsonl"})
    assert s.capture.ports == (2525,) and s.output.format == "jsonl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nope]\nx = 1\n", "unknown section"),
        ("[capture]\nport = 25\n", "unknown option 'port'"),
        ("[reassembly]\nmax_flows = many\n", "invalid value"),
        ("[reassembly]\nmax_flows = -5\n", "invalid value"),
        ("[output]\nformat = xml\n", "expected one of"),
        ("[capture]\nports = 0\n", "ports"),
        ("not an ini file", "cannot parse"),
    ],
)
def test_bad_config_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.ini"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.ini")
