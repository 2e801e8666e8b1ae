"""Settings: one frozen dataclass per ``config.ini`` section, loaded and validated once.

``load_settings(path, overrides)`` reads an INI file (or none: built-in defaults),
applies command-line overrides (flags win), checks every value and returns a frozen
``Settings``. Unknown sections or keys, unparsable values and out-of-range caps raise
``ConfigError`` with a one-line message naming the file and the key, so a typo in a
config file fails at start instead of being silently ignored.

The defaults here are the documented defaults in ``config.ini``; a test keeps the two in
step.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    ports: tuple[int, ...] = (25, 587)
    bpf: str = "tcp port 25 or tcp port 587"
    snaplen: int = 65535
    tcpdump: str = "tcpdump"


@dataclass(frozen=True, slots=True)
class ReassemblySettings:
    max_flows: int = 65536
    idle_timeout: float = 330.0
    handshake_timeout: float = 30.0
    expire_interval: float = 10.0
    max_stream_bytes: int = 1048576
    max_hole_bytes: int = 262144
    retransmit_window: int = 16384


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    max_line_length: int = 16384
    max_held_bytes: int = 65536


@dataclass(frozen=True, slots=True)
class VerdictSettings:
    # Anomalies strong enough to call a conversation that matches no dialect "bot".
    strong_evidence: tuple[str, ...] = ("smtp_pregreet", "smtp_non_smtp_command", "smtp_header_as_command")


@dataclass(frozen=True, slots=True)
class OutputSettings:
    format: str = "jsonl"
    file: str = "-"


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "info"


@dataclass(frozen=True, slots=True)
class LiveSettings:
    engine: str = "tcpdump"
    tshark: str = "tshark"
    buffer_size: int = 4096
    restart_backoff: float = 1.0
    restart_backoff_max: float = 60.0
    stats_interval: float = 60.0


@dataclass(frozen=True, slots=True)
class ZmqSettings:
    publish: str = ""
    curve_secret: str = ""
    allow_subscribers: str = ""
    sensor_id: str = ""
    ttl: int = 600
    heartbeat: float = 5.0
    sndhwm: int = 10000
    linger: float = 2.0
    wait_subscribers: float = 30.0


@dataclass(frozen=True, slots=True)
class AgentSettings:
    connect: tuple[str, ...] = ()
    sensor_key: tuple[str, ...] = ()
    curve_secret: str = ""
    backend: str = "nftables"
    nft: str = "nft"
    family: str = "inet"
    table: str = "babel_sensor"
    set4: str = "blocked4"
    set6: str = "blocked6"
    hooks: tuple[str, ...] = ("input",)
    priority: str = "-10"
    ports: tuple[int, ...] = (25, 465, 587)
    action: str = "drop"
    allowlist: str = ""
    journal: str = "/var/lib/babel-sensor/agent.sqlite"
    default_ttl: int = 600
    max_ttl: int = 604800
    escalation: tuple[int, ...] = (600, 3600, 86400, 604800)
    offense_window: float = 2592000.0
    rate: float = 10.0
    burst: int = 100
    max_elements: int = 65536
    silence_warning: float = 30.0
    check_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    sensor: str = ""
    agent: str = ""
    policy: str = ""


@dataclass(frozen=True, slots=True)
class PolicySettings:
    listen: tuple[str, ...] = ("127.0.0.1:9998",)
    connect: tuple[str, ...] = ()
    sensor_key: tuple[str, ...] = ()
    curve_secret: str = ""
    mode: str = "poison"
    wait: float = 1.0
    silence: float = 15.0
    cache_ttl: float = 600.0
    max_entries: int = 100000
    max_line: int = 8192
    max_attributes: int = 256
    max_connections: int = 1000
    idle_timeout: float = 600.0
    journal: str = "/var/lib/babel-sensor/policy.sqlite"
    allowlist: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    reassembly: ReassemblySettings = field(default_factory=ReassemblySettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    verdict: VerdictSettings = field(default_factory=VerdictSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    log: LogSettings = field(default_factory=LogSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    zmq: ZmqSettings = field(default_factory=ZmqSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)


SECTIONS: dict[str, type[Any]] = typing.get_type_hints(Settings)

CHOICES: dict[tuple[str, str], frozenset[str]] = {
    ("output", "format"): frozenset({"jsonl", "table"}),
    ("log", "level"): frozenset({"debug", "info", "warning", "error"}),
    ("live", "engine"): frozenset({"tcpdump", "pyshark"}),
    ("agent", "backend"): frozenset({"nftables", "dry-run", "set-only"}),
    ("agent", "family"): frozenset({"inet", "ip", "ip6"}),
    ("agent", "action"): frozenset({"drop", "reject"}),
    ("policy", "mode"): frozenset({"poison", "reject", "defer", "prepend", "dunno"}),
}

CONFIG_ENV = "BABEL_SENSOR_CONFIG"
SEARCH_PATH = (Path("config.ini"), Path("/etc/babel-sensor/config.ini"))


def find_config() -> Path | None:
    """The config file to use when ``--config`` is not given, or None for defaults."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for candidate in SEARCH_PATH:
        if candidate.is_file():
            return candidate
    return None


def _section_types(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _convert(where: str, key: str, text: str, typ: Any) -> Any:
    text = text.strip()
    try:
        if typ is int:
            value: Any = int(text, 0)
            if value < 0:
                raise ValueError("must not be negative")
            return value
        if typ is float:
            value = float(text)
            if value < 0 or value != value:
                raise ValueError("must be a non-negative number")
            return value
        if typ is bool:
            lowered = text.lower()
            if lowered in ("1", "yes", "true", "on"):
                return True
            if lowered in ("0", "no", "false", "off"):
                return False
            raise ValueError("must be yes or no")
        if typ is str:
            return text
        origin = typing.get_origin(typ)
        if origin is tuple:
            (item,) = {a for a in typing.get_args(typ) if a is not Ellipsis}
            parts = [p for p in text.replace(",", " ").split() if p]
            return tuple(_convert(where, key, p, item) for p in parts)
        if origin in (types.UnionType, typing.Union):
            if text.lower() in ("", "none"):
                return None
            (inner,) = [a for a in typing.get_args(typ) if a is not type(None)]
            return _convert(where, key, text, inner)
    except ValueError as exc:
        raise ConfigError(f"{where}: [{key}]: invalid value {text!r}: {exc}") from None
    raise ConfigError(f"{where}: [{key}]: unsupported option type {typ!r}")


def load_settings(
    path: Path | str | None = None,
    overrides: dict[tuple[str, str], Any] | None = None,
) -> Settings:
    """Read ``path`` (None: defaults only), apply ``overrides`` and validate.

    ``overrides`` maps ``(section, key)`` to an already typed value or a string.
    """
    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    where = str(path) if path is not None else "<defaults>"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
        try:
            with p.open(encoding="utf-8") as fh:
                parser.read_file(fh)
        except (configparser.Error, UnicodeDecodeError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"{p}: cannot parse: {first}") from None
        for section in parser.sections():
            if section not in SECTIONS:
                raise ConfigError(f"{p}: unknown section [{section}]")
            known = _section_types(SECTIONS[section])
            for key, text in parser.items(section):
                if key not in known:
                    raise ConfigError(f"{p}: [{section}] unknown option {key!r}")
                values[section][key] = _convert(str(p), f"{section}.{key}", text, known[key])
    for (section, key), value in (overrides or {}).items():
        if value is None:
            continue
        known = _section_types(SECTIONS[section])
        if isinstance(value, str) and known[key] is not str:
            value = _convert("command line", f"{section}.{key}", value, known[key])
        values[section][key] = value
    for (section, key), allowed in CHOICES.items():
        chosen = values[section].get(key)
        if chosen is not None and chosen not in allowed:
            raise ConfigError(
                f"{where}: [{section}] {key} = {chosen!r}: expected one of {', '.join(sorted(allowed))}"
            )
    from .anomalies import ANOMALIES

    for name in values["verdict"].get("strong_evidence", ()):
        if name not in ANOMALIES:
            raise ConfigError(f"{where}: [verdict] strong_evidence: unknown anomaly {name!r}")
    ports = values["capture"].get("ports")
    if ports is not None and (not ports or any(not 0 < p < 65536 for p in ports)):
        raise ConfigError(f"{where}: [capture] ports must list TCP ports 1-65535")
    return Settings(**{name: SECTIONS[name](**vals) for name, vals in values.items()})
