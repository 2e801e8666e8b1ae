"""Conversation records as JSON lines, one object per line (DESIGN s4)."""

from __future__ import annotations

from typing import TextIO

from ..alert import Alert, dumps


class JsonLinesOutput:
    def __init__(self, stream: TextIO, *, owned: bool = False) -> None:
        self.stream = stream
        self.owned = owned
        self.count = 0

    def publish(self, alert: Alert) -> None:
        self.stream.write(dumps(alert) + "\n")
        self.count += 1

    def close(self) -> None:
        if self.owned:
            self.stream.close()
        else:
            self.stream.flush()
