"""Conversation records as a human table, one row per conversation.

Addresses in postscreen's ``[addr]:port`` form; the first client lines shown with
``repr``-style escapes so terminators and odd bytes stay visible.
"""

from __future__ import annotations

import datetime
from typing import TextIO

from ..alert import Alert

HEADER = f"{'TIME (UTC)':<19} {'CLIENT':<28} {'SERVER':<24} {'VERDICT':<9} {'END':<8} {'N':>3}  ANOMALIES / FIRST LINES"


def show_line(raw: bytes, width: int = 48) -> str:
    text = repr(raw)[2:-1]
    return text if len(text) <= width else text[: width - 1] + "…"


def endpoint(addr: str, port: int) -> str:
    return f"[{addr}]:{port}"


class TableOutput:
    def __init__(self, stream: TextIO, *, owned: bool = False) -> None:
        self.stream = stream
        self.owned = owned
        self.count = 0

    def publish(self, alert: Alert) -> None:
        if self.count == 0:
            self.stream.write(HEADER + "\n")
        self.count += 1
        when = datetime.datetime.fromtimestamp(alert.ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        verdict = alert.verdict + ("*" if alert.incomplete else "")
        first = " | ".join(show_line(line, 40) for line in alert.client_lines[:3])
        notes = ",".join(alert.anomalies)
        detail = f"{notes} {first}".strip() if notes else first
        self.stream.write(
            f"{when:<19} {endpoint(alert.client, alert.client_port):<28} "
            f"{endpoint(alert.server, alert.server_port):<24} {verdict:<9} {alert.end:<8} "
            f"{len(alert.client_lines):>3}  {detail}\n"
        )

    def close(self) -> None:
        if self.owned:
            self.stream.close()
        else:
            self.stream.flush()
