"""The agent's SQLite journal: every block and every address's offence count.

The kernel holds the blocks (element timeouts); the journal lets a restarted agent, or
one whose table was wiped by ``nft flush ruleset``, put back every block that has not
expired, with its remaining time, and remember repeat offenders for escalation.
Times are epoch seconds (wall clock: they must survive a restart).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    address TEXT PRIMARY KEY,
    family INTEGER NOT NULL,
    expires REAL NOT NULL,
    offenses INTEGER NOT NULL,
    last_offense REAL NOT NULL,
    sensor TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS blocks_expires ON blocks(expires);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    address: str
    family: int
    expires: float
    offenses: int
    last_offense: float
    sensor: str
    seq: int


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"{self.path}: cannot open the journal: {exc}") from None

    def get(self, address: str) -> Entry | None:
        row = self.db.execute("SELECT * FROM blocks WHERE address = ?", (address,)).fetchone()
        return None if row is None else Entry(*row)

    def record(self, entry: Entry) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry.address, entry.family, entry.expires, entry.offenses, entry.last_offense,
             entry.sensor, entry.seq),
        )

    def active(self, now: float) -> list[Entry]:
        rows = self.db.execute("SELECT * FROM blocks WHERE expires > ? ORDER BY address", (now,))
        return [Entry(*row) for row in rows]

    def count_active(self, now: float) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM blocks WHERE expires > ?", (now,)).fetchone()[0])

    def prune(self, now: float, offense_window: float) -> int:
        """Forget addresses whose block expired and whose last offence is old."""
        cur = self.db.execute(
            "DELETE FROM blocks WHERE expires <= ? AND last_offense < ?", (now, now - offense_window)
        )
        return cur.rowcount

    def close(self) -> None:
        self.db.close()
