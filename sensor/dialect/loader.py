"""Dialect files: ``parse`` (dict -> Dialect, validated), ``dump`` (deterministic JSON)
and ``load_dir`` (the only file reads of the dialect stage).

A file that is not JSON, lacks a field, has a field of the wrong type or a
``schema_version`` this code does not know raises ``DialectFileError`` with one line
naming the file and the problem, when the sensor starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DialectFileError
from .model import CLASSES, KINDS, SCHEMA_VERSION, Dialect


def parse(obj: Any, source: str = "<dict>") -> Dialect:
    def fail(problem: str) -> DialectFileError:
        return DialectFileError(f"{source}: {problem}")

    if not isinstance(obj, dict):
        raise fail("not a JSON object")
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise fail(f"schema_version {version!r} is not supported (this sensor reads {SCHEMA_VERSION})")
    for key, typ in (("name", str), ("class", str), ("family", str), ("kind", str), ("transitions", list)):
        if not isinstance(obj.get(key), typ):
            raise fail(f"field {key!r} missing or not a {typ.__name__}")
    if obj["class"] not in CLASSES:
        raise fail(f"class {obj['class']!r} is not one of {', '.join(CLASSES)}")
    if obj["kind"] not in KINDS:
        raise fail(f"kind {obj['kind']!r} is not one of {', '.join(KINDS)}")
    transitions = []
    for i, item in enumerate(obj["transitions"]):
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(x, str) for x in item)):
            raise fail(f"transitions[{i}] is not [previous, after, next] strings")
        transitions.append((item[0], item[1], item[2]))
    ends = []
    for i, item in enumerate(obj.get("ends", [])):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise fail(f"ends[{i}] is not [state, end] strings")
        ends.append((item[0], item[1]))
    provenance = obj.get("provenance", {})
    if not isinstance(provenance, dict):
        raise fail("provenance is not an object")
    return Dialect(
        name=obj["name"], cls=obj["class"], family=obj["family"], kind=obj["kind"],
        transitions=frozenset(transitions), ends=frozenset(ends), provenance=provenance,
    )


def dump(dialect: Dialect) -> str:
    """The file text: stable key order, sorted transitions, one per line (diffable)."""
    head = {
        "schema_version": SCHEMA_VERSION,
        "name": dialect.name,
        "class": dialect.cls,
        "family": dialect.family,
        "kind": dialect.kind,
        "provenance": dialect.provenance,
    }
    lines = ["{"]
    for key, value in head.items():
        text = json.dumps(value, sort_keys=True, ensure_ascii=True, indent=2 if isinstance(value, dict) else None)
        lines.append(f"  {json.dumps(key)}: {text.replace(chr(10), chr(10) + '  ')},")
    lines.append('  "transitions": [')
    items = sorted(dialect.transitions)
    lines += [f"    {json.dumps(list(t))}{',' if i < len(items) - 1 else ''}" for i, t in enumerate(items)]
    lines.append("  ],")
    lines.append('  "ends": [')
    ends = sorted(dialect.ends)
    lines += [f"    {json.dumps(list(e))}{',' if i < len(ends) - 1 else ''}" for i, e in enumerate(ends)]
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def load_dir(path: Path | str) -> list[Dialect]:
    """Every ``*.json`` dialect in ``path`` (sorted by file name); errors name the file."""
    directory = Path(path)
    if not directory.is_dir():
        raise DialectFileError(f"{directory}: dialect directory not found")
    dialects = []
    names: dict[str, Path] = {}
    for file in sorted(directory.glob("*.json")):
        try:
            obj = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DialectFileError(f"{file}: cannot read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise DialectFileError(f"{file}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
        dialect = parse(obj, str(file))
        if dialect.name in names:
            raise DialectFileError(f"{file}: dialect {dialect.name!r} already defined in {names[dialect.name]}")
        names[dialect.name] = file
        dialects.append(dialect)
    return dialects
