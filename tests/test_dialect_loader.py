from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensor.dialect.loader import dump, load_dir, parse
from sensor.dialect.model import Dialect
from sensor.errors import DialectFileError

ROOT = Path(__file__).parent.parent


def sample() -> Dialect:
    return Dialect("demo", "legit", "demo", "library",
                   frozenset({("", "220", "EHLO {host}\r\n"), ("EHLO {host}\r\n", "250", "QUIT\r\n")}),
                   frozenset({("QUIT\r\n", "quit")}), {"note": "test"})


def test_dump_parse_round_trip_is_exact() -> None:
    text = dump(sample())
    again = parse(json.loads(text), "x")
    assert again == sample() and dump(again) == text


def test_bundled_dialects_load() -> None:
    dialects = load_dir(ROOT / "dialects")
    assert len(dialects) >= 20
    assert {"bot", "legit"} == {d.cls for d in dialects}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"schema_version": 99}', "schema_version 99 is not supported"),
        ('{"schema_version": 1, "name": "x"}', "field 'class' missing"),
        ('{"schema_version": 1, "name": "x", "class": "evil", "family": "f", "kind": "mta", "transitions": []}', "class 'evil'"),
        ('{"schema_version": 1, "name": "x", "class": "bot", "family": "f", "kind": "mta", "transitions": [["a"]]}', "transitions[0]"),
    ],
)
def test_bad_files_fail_with_one_line_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(DialectFileError) as info:
        load_dir(tmp_path)
    message = str(info.value)
    assert problem in message and str(tmp_path / "bad.json") in message and "\n" not in message


def test_duplicate_names_and_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(dump(sample()))
    (tmp_path / "b.json").write_text(dump(sample()))
    with pytest.raises(DialectFileError, match="already defined"):
        load_dir(tmp_path)
    with pytest.raises(DialectFileError, match="not found"):
        load_dir(tmp_path / "nope")
