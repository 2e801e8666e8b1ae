"""Learning dialects from labelled conversations (pure: conversations in, Dialects out).

Each conversation is its client lines, each with what it was sent after (``"250"``,
``"-"``, ``"?"``), and how it ended. For one dialect name, every pair of consecutive
lines adds a transition ``(previous form, after, form)`` (``model.py``). Two
generalisations, both from evidence across the training conversations:

* **host form**: if the engine was seen announcing more than one shape of host name
  in its greeting (a dotted name in one run, a single label or an address literal in
  another), its greeting is learned as ``EHLO {host}``: the shape is configuration;
* **error reactions**: an engine seen sending QUIT or RSET after an error reply (4xx,
  5xx) is taken to send it after an error from any state: it is the generic error
  handler of a mail library, and no training set shows every error at every step;
* **literal**: a line whose slots carry the very same value in every conversation (at
  least ``LITERAL_MIN_CONVERSATIONS`` of them, from two captures or more, whose other
  values vary) is learned as literal text (a bot that always says ``HELO localhost``).

The output is deterministic: the same conversations give the same dialects.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .model import START, Dialect
from .templates import host_form, literal, template

LITERAL_MIN_CONVERSATIONS = 3
_SLOT = re.compile(r"(?<!\{)\{[a-z0-9]+\}(?!\})")


@dataclass(frozen=True)
class Conversation:
    dialect: str
    cls: str
    family: str
    kind: str
    capture: str  # where it came from (for provenance and for "two captures or more")
    steps: tuple[tuple[str, bytes], ...]  # (after, raw line)
    end: str
    origin: dict[str, str] = field(default_factory=dict, compare=False)


def _has_slots(tmpl: str) -> bool:
    return bool(_SLOT.search(tmpl))


def learn(conversations: list[Conversation], source: str = "") -> list[Dialect]:
    groups: dict[str, list[Conversation]] = defaultdict(list)
    for conv in conversations:
        if conv.cls in ("legit", "bot") and conv.steps:
            groups[conv.dialect].append(conv)
    return [_learn_one(name, convs, source) for name, convs in sorted(groups.items())]


def _learn_one(name: str, convs: list[Conversation], source: str) -> Dialect:
    first = convs[0]
    # Host-form generalisation: several greeting shapes seen for one host form.
    shapes: dict[str, set[str]] = defaultdict(set)
    for conv in convs:
        for _after, raw in conv.steps:
            tmpl = template(raw)
            host = host_form(tmpl)
            if host is not None:
                shapes[host].add(tmpl)
    # The shape is configuration: seen varying for one greeting verb, it varies for all.
    varied = len({t.partition(" ")[2] for ts in shapes.values() for t in ts}) > 1
    generalised = {t for ts in shapes.values() for t in ts} if varied else set()
    # Literal values: one raw line for a template with slots, across enough runs.
    raws: dict[str, set[bytes]] = defaultdict(set)
    seen_in: dict[str, set[int]] = defaultdict(set)
    captures_of: dict[str, set[str]] = defaultdict(set)
    for i, conv in enumerate(convs):
        for _after, raw in conv.steps:
            tmpl = template(raw)
            raws[tmpl].add(raw)
            seen_in[tmpl].add(i)
            captures_of[tmpl].add(conv.capture)
    literal_kept = {
        t for t, values in raws.items()
        if len(values) == 1 and _has_slots(t) and t not in generalised
        and len(seen_in[t]) >= LITERAL_MIN_CONVERSATIONS and len(captures_of[t]) >= 2
    }

    def form(raw: bytes) -> str:
        tmpl = template(raw)
        if tmpl in literal_kept:
            return literal(raw)
        if tmpl in generalised:
            host = host_form(tmpl)
            assert host is not None
            return host
        return tmpl

    transitions: set[tuple[str, str, str]] = set()
    ends: set[tuple[str, str]] = set()
    for conv in convs:
        prev = START
        for after, raw in conv.steps:
            nxt = form(raw)
            transitions.add((prev, after, nxt))
            prev = nxt
        ends.add((prev, conv.end))
    reactions = {
        (after, nxt) for _p, after, nxt in transitions
        if after[:1] in ("4", "5") and nxt.split(" ", 1)[0].rstrip("\r\n").upper() in ("QUIT", "RSET")
    }
    for state in {p for p, _a, _n in transitions} | {n for _p, _a, n in transitions}:
        if state != START:
            transitions.update((state, after, nxt) for after, nxt in reactions)
    captures: dict[str, dict[str, str]] = {}
    for conv in convs:
        captures.setdefault(conv.capture, dict(sorted(conv.origin.items())))
    provenance: dict[str, Any] = {
        "learned_by": "babel-sensor learn",
        "labels": source,
        "conversations": len(convs),
        "captures": [{"pcap": pcap, **origin} for pcap, origin in sorted(captures.items())],
    }
    return Dialect(
        name=name, cls=first.cls, family=first.family, kind=first.kind,
        transitions=frozenset(transitions), ends=frozenset(ends), provenance=provenance,
    )
