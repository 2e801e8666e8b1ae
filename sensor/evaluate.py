"""Evaluating dialects on labelled captures: confusion, precision/recall, decision points.

Pure functions over (label row, conversation record) pairs and decisions; ``cli.py``
prints the report. ``leave_out`` learns one model set per held-out capture (or per
held-out dialect) from the remaining labelled conversations, the way the acceptance
checks of the dialect engine are defined.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .alert import Alert
from .dialect.learn import Conversation, learn
from .dialect.matcher import DecisionMachine, MatchRun, explain
from .dialect.model import Dialect
from .labels import LabelRow, to_conversation

BUCKETS = ("before MAIL", "before RCPT", "before DATA", "at end")


@dataclass
class Outcome:
    row: LabelRow
    alert: Alert
    verdict: str
    dialects: tuple[str, ...]
    families: tuple[str, ...]
    bucket: str
    explanation: list[str] = field(default_factory=list)

    @property
    def family_ok(self) -> bool:
        return self.row.family in self.families


def decide(machine: DecisionMachine, alert: Alert, strong: tuple[str, ...]) -> tuple[str, tuple[str, ...], int | None]:
    """Walk one conversation through the machine: verdict, dialect names, decided line."""
    run = MatchRun(machine)
    for after, raw in zip(alert.after, alert.client_lines, strict=False):
        run.step(after, raw, "", 0.0)
    decision = run.finish()
    verdict = decision.verdict
    line = decision.decided_line
    if verdict == "unknown" and any(a in strong for a in alert.anomalies):
        verdict = "bot"
    return verdict, decision.dialects, line


def bucket(alert: Alert, line: int | None) -> str:
    if line is None:
        return "at end"
    verbs = [raw.split(b" ", 1)[0].rstrip(b"\r\n").upper() for raw in alert.client_lines]

    def first(*names: bytes) -> int:
        return next((i + 1 for i, v in enumerate(verbs) if v in names), 10**9)

    if line < first(b"MAIL"):
        return "before MAIL"
    if line < first(b"RCPT"):
        return "before RCPT"
    if line < first(b"DATA", b"BDAT"):
        return "before DATA"
    return "at end"


def evaluate(
    pairs: list[tuple[LabelRow, Alert]],
    machine_for: Callable[[LabelRow], DecisionMachine],
    strong: tuple[str, ...],
) -> list[Outcome]:
    outcomes = []
    for row, alert in pairs:
        machine = machine_for(row)
        verdict, names, line = decide(machine, alert, strong)
        families = tuple(sorted({machine.by_name[n].family for n in names}))
        outcome = Outcome(row, alert, verdict, names, families, bucket(alert, line))
        if row.cls == "legit" and verdict == "bot":
            steps = list(zip(alert.after, alert.client_lines, strict=False))
            outcome.explanation = [explain(d, steps) for d in machine.dialects if d.cls == "bot"]
        outcomes.append(outcome)
    return outcomes


def leave_out_machines(
    pairs: list[tuple[LabelRow, Alert]], by: str, extra: list[Dialect] | None = None
) -> Callable[[LabelRow], DecisionMachine]:
    """A machine per held-out capture (``by="capture"``) or dialect (``by="dialect"``)."""
    convs: list[tuple[LabelRow, Conversation]] = [(row, to_conversation(row, alert)) for row, alert in pairs]
    cache: dict[str, DecisionMachine] = {}

    def machine_for(row: LabelRow) -> DecisionMachine:
        key = row.name if by == "capture" else row.dialect
        if key not in cache:
            train = [c for r, c in convs if (r.name if by == "capture" else r.dialect) != key]
            cache[key] = DecisionMachine(learn(train) + list(extra or []))
        return cache[key]

    return machine_for


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    classes = ("legit", "bot", "unknown")
    verdicts = ("legit", "bot", "unknown", "ambiguous")
    confusion = {c: {v: 0 for v in verdicts} for c in classes}
    by_family: dict[str, Counter[str]] = {}
    for o in outcomes:
        confusion[o.row.cls][o.verdict] += 1
        by_family.setdefault(o.row.family, Counter())["/".join(o.families) or "-"] += 1
    tp = confusion["bot"]["bot"]
    fp = confusion["legit"]["bot"] + confusion["unknown"]["bot"]
    fn = sum(confusion["bot"][v] for v in verdicts if v != "bot")
    labelled = [o for o in outcomes if o.row.cls in ("legit", "bot")]
    family_ok = sum(o.family_ok for o in labelled)
    buckets = Counter(o.bucket for o in outcomes if o.verdict in ("bot", "legit"))
    decided = sum(buckets.values())
    order = {b: i for i, b in enumerate(BUCKETS)}
    ranks = sorted(order[o.bucket] for o in outcomes if o.verdict in ("bot", "legit"))
    groups = Counter(" | ".join(o.families) for o in labelled if len(o.families) > 1)
    candidates = [len(o.dialects) for o in labelled if o.dialects]
    return {
        "conversations": len(outcomes),
        "confusion": confusion,
        "bot_precision": tp / (tp + fp) if tp + fp else None,
        "bot_recall": tp / (tp + fn) if tp + fn else None,
        "family_named": {"right": family_ok, "of": len(labelled),
                         "rate": family_ok / len(labelled) if labelled else None},
        "mean_candidates": statistics.mean(candidates) if candidates else 0.0,
        "indistinguishable_groups": dict(groups.most_common()),
        "decision_points": {b: buckets.get(b, 0) for b in BUCKETS},
        "decided_before_data": (decided - buckets.get("at end", 0)) / decided if decided else None,
        "median_decision_point": BUCKETS[ranks[len(ranks) // 2]] if ranks else None,
        "false_positives": [
            {"pcap": o.row.name, "client": f"{o.alert.client}:{o.alert.client_port}",
             "dialect": o.row.dialect, "named": list(o.dialects), "explanation": o.explanation}
            for o in outcomes if o.row.cls == "legit" and o.verdict == "bot"
        ],
        "by_family": {f: dict(c) for f, c in sorted(by_family.items())},
    }
