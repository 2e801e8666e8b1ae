"""Learning: generalisation rules, determinism, and the bundled models re-learned."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PUBLIC

from sensor.dialect.learn import Conversation, learn
from sensor.dialect.loader import dump

ROOT = Path(__file__).parent.parent


def conv(capture: str, greeting: bytes, cls: str = "legit", name: str = "lib") -> Conversation:
    lines = (("220", greeting), ("250", b"MAIL FROM:<a@b.example>\r\n"), ("250", b"QUIT\r\n"))
    return Conversation(name, cls, name, "library", capture, lines, "quit")


def test_host_shape_generalised_when_seen_varying() -> None:
    [d] = learn([conv("1", b"EHLO a.example\r\n"), conv("2", b"EHLO single\r\n")])
    assert ("", "220", "EHLO {host}\r\n") in d.transitions
    [one] = learn([conv("1", b"EHLO a.example\r\n"), conv("2", b"EHLO b.example\r\n")])
    assert ("", "220", "EHLO {domain}\r\n") in one.transitions


def test_constant_value_kept_literal_only_across_enough_captures() -> None:
    same = [conv(str(i), b"HELO localhost\r\n", "bot", "b") for i in range(3)]
    [d] = learn(same)
    assert ("", "220", "HELO localhost\r\n") in d.transitions
    [few] = learn(same[:2])
    assert ("", "220", "HELO {label}\r\n") in few.transitions


def test_learning_is_deterministic() -> None:
    convs = [conv("1", b"EHLO a.example\r\n"), conv("2", b"EHLO single\r\n"), conv("3", b"HELO x.y\r\n", "bot", "b")]
    assert [dump(d) for d in learn(convs)] == [dump(d) for d in learn(list(reversed(convs)))]


@pytest.mark.skipif(not PUBLIC.is_dir(), reason="the public captures are needed to re-learn the bundled models")
def test_bundled_dialects_are_what_learn_gives(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sensor.cli import cli

    result = CliRunner().invoke(cli, ["learn", "--labels", str(ROOT / "dialects" / "corpus" / "labels.tsv"),
                                      "--labels", str(PUBLIC / "labels.tsv"), "-o", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    ours = sorted(p.name for p in (ROOT / "dialects").glob("*.json"))
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ours
    for name in ours:
        assert (tmp_path / name).read_text() == (ROOT / "dialects" / name).read_text(), name
