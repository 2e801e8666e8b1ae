"""Outputs: where conversation records go (JSON lines, a table, ZeroMQ)."""

from __future__ import annotations

from typing import Protocol

from ..alert import Alert


class Output(Protocol):
    def publish(self, alert: Alert) -> None: ...

    def close(self) -> None: ...
