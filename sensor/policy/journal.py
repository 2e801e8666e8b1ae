"""The poisoning journal (SQLite): every poisoned (client, dialect, recipient, time).

One row per refused recipient: when, the flow, the sensor's verdict and dialects,
the envelope (HELO, sender, recipient) and the action sent. ``summary`` gives what
an operator needs to measure the effect (the B@bel paper's feedback-manipulation
experiment): totals, distinct clients and recipients, per dialect, per day, and the
clients that came back for the same recipient after being told it does not exist.
Writes are committed every ``commit_every`` rows and on ``flush``/``close``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS poisoned (
    ts REAL NOT NULL, client TEXT NOT NULL, client_port INTEGER NOT NULL,
    server TEXT NOT NULL, server_port INTEGER NOT NULL, verdict TEXT NOT NULL,
    dialects TEXT NOT NULL, family TEXT, helo TEXT, sender TEXT, recipient TEXT NOT NULL,
    action TEXT NOT NULL, mode TEXT NOT NULL, sensor TEXT, seq INTEGER
);
CREATE INDEX IF NOT EXISTS poisoned_client ON poisoned (client, recipient);
CREATE INDEX IF NOT EXISTS poisoned_ts ON poisoned (ts);
"""


@dataclass(frozen=True, slots=True)
class Poisoning:
    ts: float
    client: str
    client_port: int
    server: str
    server_port: int
    verdict: str
    dialects: tuple[str, ...]
    family: str | None
    helo: str
    sender: str
    recipient: str
    action: str
    mode: str
    sensor: str
    seq: int


class PoisonJournal:
    def __init__(self, path: str | Path, commit_every: int = 100) -> None:
        self.path = str(path)
        self.commit_every = max(1, commit_every)
        self.uncommitted = 0
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"{self.path}: cannot open the poisoning journal: {exc}") from None

    def record(self, p: Poisoning) -> None:
        self.db.execute(
            "INSERT INTO poisoned VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (p.ts, p.client, p.client_port, p.server, p.server_port, p.verdict, ",".join(p.dialects),
             p.family, p.helo, p.sender, p.recipient, p.action, p.mode, p.sensor, p.seq),
        )
        self.uncommitted += 1
        if self.uncommitted >= self.commit_every:
            self.flush()

    def flush(self) -> None:
        if self.uncommitted:
            self.db.commit()
            self.uncommitted = 0

    def close(self) -> None:
        self.flush()
        self.db.close()

    def summary(self, since: float | None = None) -> dict[str, Any]:
        """Totals and breakdowns, as plain data (the CLI prints it)."""
        where, args = ("WHERE ts >= ?", (since,)) if since is not None else ("", ())
        q = self.db.execute

        def one(sql: str) -> Any:
            return q(sql.format(where=where), args).fetchone()

        total, clients, recipients, first, last = one(
            "SELECT count(*), count(DISTINCT client), count(DISTINCT recipient), min(ts), max(ts) "
            "FROM poisoned {where}")
        by_dialect = q(
            f"SELECT dialects, count(*), count(DISTINCT client), count(DISTINCT recipient) FROM poisoned {where} "
            "GROUP BY dialects ORDER BY count(*) DESC", args).fetchall()
        by_day = q(
            f"SELECT date(ts, 'unixepoch'), count(*), count(DISTINCT client) FROM poisoned {where} "
            "GROUP BY 1 ORDER BY 1", args).fetchall()
        # A client told "no such user" that asks for the same recipient again, on a later
        # connection: its operator did not (yet) clean the list.
        returned = q(
            f"SELECT count(*) FROM (SELECT client, recipient FROM poisoned {where} "
            "GROUP BY client, recipient HAVING count(DISTINCT client_port) > 1)", args).fetchone()[0]
        top = q(
            f"SELECT client, count(*), count(DISTINCT recipient), group_concat(DISTINCT dialects) "
            f"FROM poisoned {where} GROUP BY client ORDER BY count(*) DESC LIMIT 10", args).fetchall()
        return {
            "poisoned": total, "clients": clients, "recipients": recipients, "first": first, "last": last,
            "repeated_pairs": returned,
            "by_dialect": [{"dialects": d or "-", "poisoned": n, "clients": c, "recipients": r}
                           for d, n, c, r in by_dialect],
            "by_day": [{"day": d, "poisoned": n, "clients": c} for d, n, c in by_day],
            "top_clients": [{"client": c, "poisoned": n, "recipients": r, "dialects": d or "-"}
                            for c, n, r, d in top],
        }
