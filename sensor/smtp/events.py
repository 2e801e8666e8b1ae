"""Events of the SMTP conversation stage.

``ClientLine`` carries the client's exact bytes (terminator included; AUTH secrets
replaced by ``***`` here, at the source, so no later stage or output can leak them).
``ServerReply`` carries a whole (multi-line) reply. ``ConversationEnd`` closes the
conversation with one of the DESIGN s4 ``end`` values.

The per-line events are NamedTuples (immutable, and a fraction of the cost of a frozen
dataclass: one is built for every line of every conversation); the rare ones are
frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..anomalies import Anomaly


class ClientLine(NamedTuple):
    ts: float
    raw: bytes  # exact bytes, terminator included (AUTH secrets masked)
    terminator: bytes  # b"\r\n" | b"\n" | b"\r" (only at end of stream) | b"" (end of stream, cut)
    command: str  # the verb folded to upper case ("MAIL"), "" for a line that is not a command
    pipelined: bool  # sent before the reply to the previous command (or the banner) arrived
    pregreet: bool  # sent before the banner arrived
    masked: bool  # an AUTH secret was replaced by ***
    number: int  # 1-based line number in the conversation
    after: str  # the reply code it waited for ("250"), "-" if it did not wait, "?" unknown


class ServerReply(NamedTuple):
    ts: float
    code: int  # 0 for a line that is not a reply
    raw: bytes  # every line of the reply, exact
    extensions: frozenset[str]  # EHLO keywords advertised (upper case), else empty
    answers: int  # index of the ClientLine it answers, 0 for the banner, -1 unsolicited


@dataclass(frozen=True, slots=True)
class ConversationEnd:
    ts: float
    end: str  # data | bdat | quit | starttls | close | reset | timeout | gap | eof
    incomplete: bool


SmtpEvent = ClientLine | ServerReply | ConversationEnd | Anomaly

__all__ = ["Anomaly", "ClientLine", "ConversationEnd", "ServerReply", "SmtpEvent"]
