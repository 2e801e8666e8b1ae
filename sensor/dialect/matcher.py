"""The decision state machine: every dialect at once, one step per client line.

Input: per client line, what it was sent after (``"250"``, ``"-"``, ``"?"``) and its
exact bytes. Output: the candidate dialects still possible, and a verdict.

All dialects are compiled into one index, ``(previous form, after, form) -> dialects``,
where a line's *forms* are its template, its greeting host form and its literal text
(``templates.py``). A state of the decision machine is the set of still-possible
dialects together with the forms of the last line; states are interned and every
``(state, after, forms)`` step is computed once and cached, so a step costs one dict
lookup however many dialects are loaded (the first visit costs an intersection).

Reply codes are matched exactly, except errors: any 4xx or 5xx matches any other
(``label``). A dialect learned from a 550 to RCPT then meets a 452 there; engines
differ in *whether* they give up, retry or go on after an error far more than in how
they tell one error code from another, and no training set shows every code.

Verdict: the class of the dialects still possible after the last line (``bot`` or
``legit``), ``unknown`` when none is left, ``ambiguous`` when both classes are; decided
at the first line from which it held to the end. ``dialects`` names the candidates left
(or, for an unknown conversation, those that went furthest).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .model import NO_WAIT, START, UNKNOWN_REPLY, Dialect
from .templates import host_form, literal, template

Forms = tuple[str, ...]


def label(after: str) -> str:
    """The reply class a transition is matched on: the code, or "E" for any error."""
    return "E" if after[:1] in ("4", "5") else after


# Lines repeat (QUIT, DATA, the greetings of returning clients): the forms of lines up
# to this long are kept, for this many distinct lines (a few MB at most).
FORMS_CACHE = 16384
FORMS_CACHED_LINE = 512


def forms(raw: bytes) -> Forms:
    """The forms a dialect may have learned a line under (most specific first)."""
    if len(raw) <= FORMS_CACHED_LINE:
        return _cached_forms(raw)
    return _forms(raw)


@lru_cache(maxsize=FORMS_CACHE)
def _cached_forms(raw: bytes) -> Forms:
    return _forms(raw)


def _forms(raw: bytes) -> Forms:
    tmpl = template(raw)
    host = host_form(tmpl)
    lit = literal(raw)
    out = [tmpl]
    if host is not None:
        out.append(host)
    if lit != tmpl:
        out.append(lit)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: str  # bot | legit | unknown | ambiguous
    dialects: tuple[str, ...]  # still possible at the end (or at the last line any was)
    family: str | None
    decided_line: int | None  # 1-based client line at which the verdict was decided
    decided_command: str | None
    decided_ts: float | None
    matched_to_end: bool  # some dialect accepted every line


class DecisionMachine:
    def __init__(self, dialects: list[Dialect]) -> None:
        self.dialects = dialects
        self.by_name = {d.name: d for d in dialects}
        self._index: dict[tuple[str, str, str], set[int]] = {}
        self._any_after: dict[tuple[str, str], set[int]] = {}  # dialect learned "?"
        self._by_pair: dict[tuple[str, str], set[int]] = {}  # any after (observed "?")
        for i, dialect in enumerate(dialects):
            for prev, after, nxt in dialect.transitions:
                if after == UNKNOWN_REPLY:
                    self._any_after.setdefault((prev, nxt), set()).add(i)
                else:
                    self._index.setdefault((prev, label(after), nxt), set()).add(i)
                self._by_pair.setdefault((prev, nxt), set()).add(i)
        # Every form some dialect has a transition from or to. A line's other forms can
        # match nothing, so they are dropped before the lookup: the states and the step
        # cache are then bounded by the dialects, not by the distinct lines seen (a
        # literal form is the line itself).
        self._known = frozenset(
            {START} | {f for d in dialects for prev, _after, nxt in d.transitions for f in (prev, nxt)}
        )
        everyone = frozenset(range(len(dialects)))
        self._states: list[tuple[frozenset[int], Forms]] = [(everyone, (START,))]
        self._state_ids: dict[tuple[frozenset[int], Forms], int] = {self._states[0]: 0}
        self._steps: dict[tuple[int, str, Forms], int] = {}
        self.classes = [d.cls for d in dialects]
        # per state: the verdict its candidates support
        self.verdicts: list[str] = [self._verdict(everyone)]

    def _verdict(self, alive: frozenset[int]) -> str:
        if not alive:
            return "unknown"
        classes = {self.classes[i] for i in alive}
        return classes.pop() if len(classes) == 1 else "ambiguous"

    def candidates(self, state: int) -> frozenset[int]:
        return self._states[state][0]

    def step(self, state: int, after: str, line_forms: Forms) -> int:
        after = label(after)
        known = self._known
        line_forms = tuple([f for f in line_forms if f in known])
        key = (state, after, line_forms)
        nxt = self._steps.get(key)
        if nxt is None:
            nxt = self._compute(state, after, line_forms)
            self._steps[key] = nxt
        return nxt

    def _compute(self, state: int, after: str, line_forms: Forms) -> int:
        alive, prev_forms = self._states[state]
        allowed: set[int] = set()
        if alive:
            for prev in prev_forms:
                for form in line_forms:
                    if after == UNKNOWN_REPLY:
                        allowed |= self._by_pair.get((prev, form), set())
                    else:
                        allowed |= self._index.get((prev, after, form), set())
                        allowed |= self._any_after.get((prev, form), set())
        new = (alive & frozenset(allowed), line_forms)
        sid = self._state_ids.get(new)
        if sid is None:
            sid = len(self._states)
            self._states.append(new)
            self._state_ids[new] = sid
            self.verdicts.append(self._verdict(new[0]))
        return sid

    @property
    def cached_states(self) -> int:
        return len(self._states)


class MatchRun:
    """One conversation walking the decision machine, line by line.

    ``current`` is the verdict the lines so far support (for a consumer that must act
    before the end, such as the policy service at RCPT time). The final verdict is the
    class of the dialects left at the end; it was *decided* at the first line from
    which every later line supported it.
    """

    __slots__ = ("machine", "state", "lines", "history", "last_alive")

    def __init__(self, machine: DecisionMachine) -> None:
        self.machine = machine
        self.state = 0
        self.lines = 0
        # per line: (verdict the candidates support, command, ts)
        self.history: list[tuple[str, str, float]] = []
        self.last_alive: frozenset[int] = machine.candidates(0)

    @property
    def current(self) -> str:
        return self.history[-1][0] if self.history else "unknown"

    def step(self, after: str, raw: bytes, command: str, ts: float) -> None:
        machine = self.machine
        state = self.state = machine.step(self.state, after, forms(raw))
        self.lines += 1
        alive = machine.candidates(state)
        if alive:
            self.last_alive = alive
        self.history.append((machine.verdicts[state], command, ts))

    def finish(self) -> Decision:
        machine = self.machine
        alive = machine.candidates(self.state)
        verdict = self.current
        decided: tuple[int, str, float] | None = None
        if self.history and verdict != "ambiguous":
            k = len(self.history)
            while k > 1 and self.history[k - 2][0] == verdict:
                k -= 1
            decided = (k, self.history[k - 1][1], self.history[k - 1][2])
        names = sorted(machine.dialects[i].name for i in (alive or self.last_alive)) if self.lines else []
        families = {machine.by_name[n].family for n in names}
        return Decision(
            verdict=verdict,
            dialects=tuple(names),
            family=families.pop() if len(families) == 1 else None,
            decided_line=decided[0] if decided else None,
            decided_command=decided[1] if decided else None,
            decided_ts=decided[2] if decided else None,
            matched_to_end=bool(alive) and self.lines > 0,
        )


def explain(dialect: Dialect, steps: list[tuple[str, bytes]]) -> str:
    """Why ``dialect`` accepts or rejects a conversation (its ``(after, raw)`` lines)."""
    prev: Forms = (START,)
    labelled = {(p, label(a), n) for p, a, n in dialect.transitions}
    for number, (after, raw) in enumerate(steps, 1):
        line_forms = forms(raw)
        ok = any(
            (p, label(after), f) in labelled
            or (p, UNKNOWN_REPLY, f) in dialect.transitions
            or (after == UNKNOWN_REPLY and any((p, a, f) in dialect.transitions for a, _t in dialect.successors(p)))
            for p in prev
            for f in line_forms
        )
        if not ok:
            expected = [
                (a, t) for p in prev for a, t in dialect.successors(p)
            ]
            shown = "; ".join(f"{t!r} after {_after(a)}" for a, t in expected[:4]) or "nothing (it never got here)"
            more = f" (+{len(expected) - 4} more)" if len(expected) > 4 else ""
            return (
                f"left {dialect.name} at line {number}: expected {shown}{more}; "
                f"saw {line_forms[0]!r} after {_after(after)}"
            )
        prev = line_forms
    return f"{dialect.name} accepts all {len(steps)} lines"


def _after(after: str) -> str:
    if after == NO_WAIT:
        return "no wait"
    if after == UNKNOWN_REPLY:
        return "an unseen reply"
    return after
