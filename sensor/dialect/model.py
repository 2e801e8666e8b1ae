"""Dialects as data: the frozen objects the loader builds and the matcher compiles.

A ``Dialect`` is a state machine over client templates (``templates.py``): its states
are labelled with templates (``START`` before the first line), and a transition
``(previous template, after, next template)`` says the engine sends ``next`` after
``previous`` when the reply it waited for had code ``after`` (``"250"``), or without
waiting (``"-"``: pipelining, pregreeting), or ``"?"`` when the training capture did not
show the reply (a wildcard). ``ends`` record how conversations of the engine ended
from each state (``data`` is good; ``quit``, ``close``, ``reset`` are bad).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
START = ""  # the state before the first client line (no template is empty)
NO_WAIT = "-"
UNKNOWN_REPLY = "?"
CLASSES = ("legit", "bot")
KINDS = ("mta", "mua", "library", "tool", "bot", "unknown")
GOOD_ENDS = frozenset({"data", "bdat"})


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    cls: str  # "legit" | "bot"
    family: str
    kind: str
    transitions: frozenset[tuple[str, str, str]]
    ends: frozenset[tuple[str, str]] = frozenset()
    provenance: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def states(self) -> frozenset[str]:
        return frozenset(t for _p, _a, t in self.transitions) | {START}

    def successors(self, state: str) -> list[tuple[str, str]]:
        """``(after, next template)`` pairs allowed from ``state``, sorted."""
        return sorted((a, t) for p, a, t in self.transitions if p == state)
