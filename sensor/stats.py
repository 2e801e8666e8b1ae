"""Counters of a run: packets, flows, conversations, anomalies, verdicts, skips."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Stats:
    packets: int = 0
    segments: int = 0
    conversations: int = 0
    flows: int = 0
    bypassed: int = 0  # packets of finished conversations dropped at the reader
    skipped: Counter[str] = field(default_factory=Counter)  # decoder skip reasons
    anomalies: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    ends: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # wall-clock time of the run

    @property
    def packets_per_second(self) -> float:
        return self.packets / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """The one-paragraph summary printed on stderr at the end of a run."""
        anomalies = ", ".join(f"{k}={v}" for k, v in sorted(self.anomalies.items())) or "none"
        verdicts = ", ".join(f"{k}={v}" for k, v in sorted(self.verdicts.items())) or "none"
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items())) or "none"
        return (
            f"packets={self.packets} segments={self.segments} flows={self.flows} "
            f"conversations={self.conversations} packets/s={self.packets_per_second:,.0f} "
            f"seconds={self.seconds:.2f} bypassed={self.bypassed}\n"
            f"verdicts: {verdicts}\n"
            f"anomalies: {anomalies}\n"
            f"skipped: {skipped}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "packets": self.packets,
            "segments": self.segments,
            "flows": self.flows,
            "bypassed": self.bypassed,
            "conversations": self.conversations,
            "seconds": round(self.seconds, 3),
            "packets_per_second": round(self.packets_per_second),
            "verdicts": dict(self.verdicts),
            "ends": dict(self.ends),
            "anomalies": dict(self.anomalies),
            "skipped": dict(self.skipped),
        }
