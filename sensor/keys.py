"""CURVE key pairs for the alert stream, in pyzmq's (czmq's) certificate format.

``generate(directory, name)`` writes ``NAME.key`` (public, mode 0644) and
``NAME.key_secret`` (public and secret, mode 0600, created with that mode so the
secret is never readable by others, not even for an instant). ``load_public`` and
``load_secret`` read them back as the Z85 bytes pyzmq's socket options take, and raise
``KeyFileError`` (an operator error) for a missing, unreadable or malformed file, or a
secret file that others can read.

The sensor binds as the CURVE server with its secret; subscribers pin its public key
(DESIGN s4). Nothing here logs a key.
"""

from __future__ import annotations

import datetime
import os
import re
import stat
from pathlib import Path

import zmq

from .errors import SensorError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY = re.compile(rb'^\s*(public|secret)-key\s*=\s*"([0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40})"\s*$', re.M)

_BANNER = """#   ****  Generated on {now} by babel-sensor keys generate  ****
#   ZeroMQ CURVE {kind} Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

metadata
    name = "{name}"
curve
"""


class KeyFileError(SensorError):
    """A key file is missing, malformed or too open."""


def generate(directory: Path | str, name: str, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new key pair; return ``(public_path, secret_path)``."""
    if not _NAME.match(name):
        raise KeyFileError(f"{name!r}: a key name is letters, digits, '.', '_' and '-'")
    base = Path(directory)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"{base}: cannot create directory: {exc.strerror}") from None
    public_path = base / f"{name}.key"
    secret_path = base / f"{name}.key_secret"
    if not overwrite:
        for p in (public_path, secret_path):
            if p.exists():
                raise KeyFileError(f"{p}: exists; refusing to overwrite a key")
    public, secret = zmq.curve_keypair()
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    pub_text = _BANNER.format(now=now, kind="Public", name=name) + f'    public-key = "{public.decode()}"\n'
    sec_text = (
        _BANNER.format(now=now, kind="**Secret**", name=name)
        + f'    public-key = "{public.decode()}"\n    secret-key = "{secret.decode()}"\n'
    )
    _write(secret_path, sec_text, 0o600)
    _write(public_path, pub_text, 0o644)
    return public_path, secret_path


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)  # the umask may have taken bits away from public files
        os.replace(tmp, path)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write: {exc.strerror}") from None


def _read(path: Path | str) -> dict[str, bytes]:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{p}: no such key file") from None
    except OSError as exc:
        raise KeyFileError(f"{p}: cannot read key file: {exc.strerror}") from None
    keys = {m.group(1).decode(): m.group(2) for m in _KEY.finditer(data)}
    if "public" not in keys:
        raise KeyFileError(f"{p}: not a CURVE certificate (no public-key line)")
    return keys


def load_public(path: Path | str) -> bytes:
    """The Z85 public key of a ``.key`` (or ``.key_secret``) file."""
    return _read(path)["public"]


def load_secret(path: Path | str) -> tuple[bytes, bytes]:
    """``(public, secret)`` Z85 keys of a ``.key_secret`` file (must not be readable by others)."""
    keys = _read(path)
    if "secret" not in keys:
        raise KeyFileError(f"{path}: no secret-key line (a public .key file was given?)")
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: secret key file is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    return keys["public"], keys["secret"]


def load_public_dir(directory: Path | str) -> list[bytes]:
    """Every public key (``*.key``) in a directory, for ``--allow-subscribers``."""
    d = Path(directory)
    if not d.is_dir():
        raise KeyFileError(f"{d}: not a directory of public keys")
    return [load_public(p) for p in sorted(d.glob("*.key"))]
