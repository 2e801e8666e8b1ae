"""CURVE key files: generate, modes, load, and the ``keys generate`` command."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensor.cli import cli
from sensor.keys import KeyFileError, generate, load_public, load_public_dir, load_secret


def test_generate_writes_a_pair_pyzmq_can_read(tmp_path: Path) -> None:
    import zmq.auth

    public_path, secret_path = generate(tmp_path / "keys", "sensor1")
    assert public_path.name == "sensor1.key" and secret_path.name == "sensor1.key_secret"
    assert stat.S_IMODE(os.stat(secret_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(public_path).st_mode) == 0o644
    pub, sec = zmq.auth.load_certificate(secret_path)
    assert (pub, sec) == load_secret(secret_path)
    assert zmq.auth.load_certificate(public_path) == (pub, None)
    assert load_public(public_path) == pub
    assert zmq.curve_public(sec) == pub
    assert b"secret-key" not in public_path.read_bytes()
    assert load_public_dir(tmp_path / "keys") == [pub]


def test_refuses_overwrite_and_open_secret(tmp_path: Path) -> None:
    _, secret = generate(tmp_path, "a")
    with pytest.raises(KeyFileError, match="exists"):
        generate(tmp_path, "a")
    os.chmod(secret, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_secret(secret)
    with pytest.raises(KeyFileError, match="no secret-key"):
        load_public(tmp_path / "a.key") and load_secret(tmp_path / "a.key")
    with pytest.raises(KeyFileError, match="no such key file"):
        load_public(tmp_path / "missing.key")
    with pytest.raises(KeyFileError, match="key name"):
        generate(tmp_path, "../evil")


def test_keys_generate_command(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        result = CliRunner().invoke(cli, ["keys", "generate", str(tmp_path / "k"), "--name", "mx1"],
                                    catch_exceptions=False)
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(tmp_path / "k" / "mx1.key_secret").st_mode) == 0o600
    again = CliRunner().invoke(cli, ["keys", "generate", str(tmp_path / "k"), "--name", "mx1"])
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
