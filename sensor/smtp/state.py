"""The phases of an SMTP conversation and the table of what a reply decides.

The conversation (DESIGN s2) runs from the handshake until the client starts message
content (DATA answered 3xx, or the first BDAT), sends QUIT, switches to TLS (STARTTLS
answered 2xx) or the connection ends. Client lines are read as commands except:

* before the banner (BANNER): held until the banner arrives, then judged by the ACK
  numbers (pregreet or not);
* after DATA, STARTTLS or AUTH (AWAIT): held until that command's reply says what the
  following bytes are (content, TLS, a secret, or more commands);
* after a 334 to AUTH (AUTH): the next line is a secret response, masked.
"""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    BANNER = "banner"
    COMMAND = "command"
    AWAIT = "await"
    AUTH = "auth"
    DONE = "done"


class Outcome(enum.Enum):
    """What a reply to an awaited command makes of the bytes that follow it."""

    COMMANDS = "commands"
    SECRET = "secret"
    CONTENT = "data"
    TLS = "starttls"


# Ends that happen as soon as the client sends the command (RFC 5321 s4.1.1.10, RFC 3030).
END_ON_COMMAND: dict[str, str] = {"QUIT": "quit", "BDAT": "bdat"}

# command -> {first digit of the reply -> outcome}; any other reply: COMMANDS.
TRANSITIONS: dict[str, dict[int, Outcome]] = {
    "DATA": {3: Outcome.CONTENT},  # 354 Start mail input (RFC 5321 s4.1.1.4)
    "STARTTLS": {2: Outcome.TLS},  # 220 Ready to start TLS (RFC 3207 s4)
    "AUTH": {3: Outcome.SECRET},  # 334 challenge: a response line follows (RFC 4954 s4)
}

KNOWN_VERBS = frozenset(
    {
        "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY", "EXPN",
        "HELP", "NOOP", "QUIT", "STARTTLS", "AUTH", "ETRN", "TURN", "ATRN", "XCLIENT",
        "XFORWARD", "SEND", "SOML", "SAML", "VERB", "ONEX", "XEXCH50", "X-EXPS", "XUSR",
        "X-LINK2STATE", "XSHADOW",
    }
)
# Requests of other protocols sent to port 25 (open-proxy probes, scanners, C2 talk).
NON_SMTP_VERBS = frozenset(
    {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH",
     "USER", "PASS", "CAPA", "STLS", "LOGIN", "SSH-2.0-", "SSH-1.99-"}
)
