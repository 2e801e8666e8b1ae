"""Labelled captures (DESIGN s4 labels file) and the conversations they hold.

``read_labels(path)`` reads a labels TSV (header line; columns ``pcap`` relative to the
file, ``dialect``, ``class`` and optionally ``flow``, ``family``, ``kind`` and any
others, kept as the row's origin). ``labelled_conversations(rows)`` replays each
capture once and returns, per row, the conversation records it selects. Used by
``learn`` and ``eval``; an edge module (it reads files and runs the pipeline).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .alert import Alert
from .capture import open_captures
from .config import Settings, load_settings
from .dialect.learn import Conversation
from .errors import SensorError

REQUIRED = ("pcap", "dialect", "class")
CLASSES = ("legit", "bot", "unknown")
# Variants of one engine: the family is the name without these endings.
_FAMILY_SUFFIX = re.compile(r"(-force-tls|-starttls-send-message|-starttls-sendmail|-send-message|-sendmail|-\d{4})$")
_FAMILY_ALIASES = {"exim4": "exim"}
_KINDS = {
    "postfix": "mta", "exim4": "mta", "exim": "mta", "sendmail": "mta", "opensmtpd": "mta",
    "dma": "mta", "nullmailer": "mta", "zmailer": "mta", "exchange": "mta",
}


@dataclass(frozen=True)
class LabelRow:
    pcap: Path
    name: str  # as written in the file
    dialect: str
    cls: str
    flow: str
    family: str
    kind: str
    origin: dict[str, str] = field(default_factory=dict)
    source: str = ""


def family_of(dialect: str) -> str:
    family = _FAMILY_SUFFIX.sub("", dialect)
    return _FAMILY_ALIASES.get(family, family)


def read_labels(path: Path | str) -> list[LabelRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SensorError(f"{path}: labels file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SensorError(f"{path}: cannot read: {exc}") from None
    reader = csv.DictReader(text.splitlines(), delimiter="\t")
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise SensorError(f"{path}: header lacks column(s) {', '.join(missing)}")
    manifest = _manifest(path.parent)
    rows = []
    for number, row in enumerate(reader, 2):
        cls = (row.get("class") or "").strip()
        if cls not in CLASSES:
            raise SensorError(f"{path}: line {number}: class {cls!r} is not one of {', '.join(CLASSES)}")
        name = (row.get("dialect") or "").strip()
        if not name or not row.get("pcap"):
            raise SensorError(f"{path}: line {number}: empty pcap or dialect")
        family = (row.get("family") or "").strip() or family_of(name)
        kind = (row.get("kind") or "").strip() or ("bot" if cls == "bot" else _KINDS.get(family, "unknown"))
        origin = {k: v for k, v in row.items() if k not in (*REQUIRED, "flow", "family", "kind") and k and v}
        origin.update(manifest.get(row["pcap"], {}))
        rows.append(LabelRow(
            pcap=path.parent / row["pcap"], name=row["pcap"], dialect=name, cls=cls,
            flow=(row.get("flow") or "").strip(), family=family, kind=kind, origin=origin,
            source=str(path),
        ))
    return rows


def _manifest(folder: Path) -> dict[str, dict[str, str]]:
    """Origins from a MANIFEST.tsv beside the labels (public captures), by relative path."""
    file = folder / "MANIFEST.tsv"
    if not file.is_file():
        return {}
    out = {}
    for row in csv.DictReader(file.read_text(encoding="utf-8").splitlines(), delimiter="\t"):
        rel = row.get("file", "").split("public/", 1)[-1]
        out[rel] = {k: row[k] for k in ("source_repo", "source_path", "source_commit") if row.get(k)}
    return out


class _Collect:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def close(self) -> None:
        pass


def replay_file(pcap: Path, settings: Settings | None = None) -> list[Alert]:
    from .pipeline import Pipeline

    out = _Collect()
    pipeline = Pipeline(settings or load_settings(), [out])
    _files, packets = open_captures([str(pcap)], pipeline.bypass)
    pipeline.run(packets)
    pipeline.finish()
    return out.alerts


def labelled_conversations(
    rows: list[LabelRow], settings: Settings | None = None
) -> list[tuple[LabelRow, Alert]]:
    """Each row with every conversation record it selects (its flow, or all)."""
    by_pcap: dict[Path, list[Alert]] = {}
    out = []
    for row in rows:
        if row.pcap not in by_pcap:
            if not row.pcap.is_file():
                raise SensorError(f"{row.source}: {row.name}: capture not found")
            by_pcap[row.pcap] = replay_file(row.pcap, settings)
        for alert in by_pcap[row.pcap]:
            endpoint = f"{alert.client}:{alert.client_port}"
            if not row.flow or row.flow in (endpoint, f"[{alert.client}]:{alert.client_port}"):
                out.append((row, alert))
    return out


def to_conversation(row: LabelRow, alert: Alert) -> Conversation:
    steps = tuple(zip(alert.after, alert.client_lines, strict=False))
    return Conversation(
        dialect=row.dialect, cls=row.cls, family=row.family, kind=row.kind,
        capture=row.name, steps=steps, end=alert.end, origin=dict(row.origin),
    )


def group_by_capture(pairs: list[tuple[LabelRow, Alert]]) -> dict[str, list[tuple[LabelRow, Alert]]]:
    groups: dict[str, list[tuple[LabelRow, Alert]]] = defaultdict(list)
    for row, alert in pairs:
        groups[row.name].append((row, alert))
    return groups


def as_dict(row: LabelRow) -> dict[str, Any]:
    return {"pcap": row.name, "dialect": row.dialect, "class": row.cls, "flow": row.flow}
