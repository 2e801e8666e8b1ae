"""Matcher cost per conversation with 10, 100 and 1,000 loaded dialects.

    python3 bench/bench_matcher.py

The bundled dialects are padded with generated variants (copies of real dialects
whose templates differ by a suffix on every line, so they never match the test
traffic but sit in the same index) up to N dialects. The conversations of the bundled
sample and the dialect corpus are walked through a decision machine built with each
N, after one warm-up pass (the lazy machine builds and caches its states then), and
the CPU time per conversation is printed with the ratio to N = 10.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensor.dialect.loader import load_dir  # noqa: E402
from sensor.dialect.matcher import DecisionMachine, MatchRun  # noqa: E402
from sensor.dialect.model import Dialect  # noqa: E402
from sensor.labels import read_labels, replay_file  # noqa: E402


def variants(real: list[Dialect], n: int) -> list[Dialect]:
    out = list(real[:n])
    i = 0
    while len(out) < n:
        base = real[i % len(real)]
        tag = f"~v{i}"
        transitions = frozenset(
            (p + tag if p else p, a, t + tag) for p, a, t in base.transitions
        )
        out.append(Dialect(f"{base.name}{tag}", base.cls, base.family, base.kind, transitions))
        i += 1
    return out


def main() -> None:
    real = load_dir(ROOT / "dialects")
    alerts = replay_file(ROOT / "samples" / "smtp-sample.pcap")
    for row in read_labels(ROOT / "dialects" / "corpus" / "labels.tsv"):
        alerts += replay_file(row.pcap)
    conversations = [list(zip(a.after, a.client_lines, strict=False)) for a in alerts]
    lines = sum(len(c) for c in conversations)
    print(f"{len(conversations)} conversations, {lines} client lines; {len(real)} real dialects")
    results = {}
    for n in (10, 100, 1000):
        machine = DecisionMachine(variants(real, n))

        def walk(machine: DecisionMachine = machine) -> None:
            for conv in conversations:
                run = MatchRun(machine)
                for after, raw in conv:
                    run.step(after, raw, "", 0.0)
                run.finish()

        walk()  # warm-up: the lazy machine builds its states
        best = min(_timed(walk) for _ in range(5))
        results[n] = best / len(conversations)
        print(f"{n:>5} dialects: {results[n] * 1e6:8.1f} µs per conversation "
              f"({machine.cached_states} machine states), ratio to 10: {results[n] / results[10]:.2f}")


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()
    fn()
    return time.process_time() - start


if __name__ == "__main__":
    main()
