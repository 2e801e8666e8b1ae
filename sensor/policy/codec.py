"""The Postfix policy delegation protocol as pure functions (SMTPD_POLICY_README).

Input: the bytes Postfix writes on a policy connection. A request is ``name=value``
lines, each ended by ``\\n``, then an empty line; one connection carries any number of
requests, one after the other (Postfix waits for each reply). Output: ``Request``
objects, or a ``ProtocolError`` after which the connection must be closed without a
reply (the protocol's way to say "trouble": Postfix logs, retries, then applies
``smtpd_policy_service_default_action``).

``RequestDecoder.feed(data)`` is a stepper: the same requests come out whatever the
chunking. Caps (named, configurable): the longest line and the most attributes in
one request; past either the decoder fails instead of buffering without end.
``encode_reply(action)`` gives the ``action=...`` line and the empty line; ``decide``
turns a request and what the sensor said about its flow into an action.

Deliberately unaware of sockets, clocks and the alert stream: the server owns those.
Attribute values are bytes as Postfix sent them, decoded as latin-1 (every byte
survives); a repeated attribute keeps its last value, as Postfix's own readers do.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MAX_LINE = 8192  # bytes in one name=value line (Postfix's own are far shorter)
MAX_ATTRIBUTES = 256  # name=value lines in one request (Postfix 3.7 sends ~40)

MODES = ("poison", "reject", "defer", "prepend", "dunno")
DUNNO = "DUNNO"
# Postfix puts "<rcpt>: Recipient address rejected: " before the text of an access
# action at RCPT (smtpd_check.c), so this action becomes, on the wire, exactly what
# smtpd says for a recipient missing from local_recipient_maps:
#   550 5.1.1 <alice@example.test>: Recipient address rejected: User unknown in local recipient table
# (checked against Postfix 3.7 in tests/test_e2e_postfix.py): a bot cannot tell the two apart.
USER_UNKNOWN = "550 5.1.1 User unknown in local recipient table"
HEADER = "X-Babel-Verdict"

FlowKey = tuple[str, int, str, int]  # client address, client port, server address, server port


class ProtocolError(Exception):
    """The peer broke the protocol: close without a reply."""


@dataclass(frozen=True, slots=True)
class Request:
    attributes: dict[str, str]

    def get(self, name: str) -> str:
        return self.attributes.get(name, "")

    def flow(self) -> FlowKey | None:
        """The 4-tuple that joins the request to the sensor's flow (Postfix >= 3.2)."""
        return flow_key(self.get("client_address"), self.get("client_port"),
                        self.get("server_address"), self.get("server_port"))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the sensor said about one flow."""

    verdict: str  # bot | legit | unknown | ambiguous
    dialects: tuple[str, ...] = ()
    family: str | None = None
    sensor: str = ""
    seq: int = 0


def normalise_address(text: str) -> str | None:
    """Canonical text of an address (IPv4-mapped IPv6 as IPv4); None if not one."""
    if not text or len(text) > 64:
        return None
    try:
        address = ipaddress.ip_address(text.removeprefix("ipv6:").strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _port(text: object) -> int | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        value = text
    elif isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 5:
        value = int(text)
    else:
        return None
    return value if 0 <= value < 65536 else None


def flow_key(client: object, client_port: object, server: object, server_port: object) -> FlowKey | None:
    """The cache key of a flow, or None if any part is missing or malformed."""
    if not isinstance(client, str) or not isinstance(server, str):
        return None
    c, s = normalise_address(client), normalise_address(server)
    cp, sp = _port(client_port), _port(server_port)
    if c is None or s is None or cp is None or sp is None:
        return None
    return (c, cp, s, sp)


class RequestDecoder:
    """Bytes in, requests out. After a ``ProtocolError`` the decoder stays failed."""

    def __init__(self, max_line: int = MAX_LINE, max_attributes: int = MAX_ATTRIBUTES) -> None:
        self.max_line = max_line
        self.max_attributes = max_attributes
        self.buffer = bytearray()
        self.attributes: dict[str, str] = {}
        self.count = 0
        self.failed: str | None = None

    @property
    def pending(self) -> bool:
        """Part of a request has been read (a disconnect now is abrupt)."""
        return bool(self.buffer) or self.count > 0

    def feed(self, data: bytes) -> list[Request]:
        if self.failed is not None:
            raise ProtocolError(self.failed)
        self.buffer += data
        out: list[Request] = []
        start = 0
        buf = self.buffer
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line = bytes(buf[start:end])
            start = end + 1
            if len(line) > self.max_line:
                self._fail(f"line longer than {self.max_line} bytes")
            if not line:
                if self.count == 0:
                    self._fail("empty request")
                out.append(Request(self.attributes))
                self.attributes, self.count = {}, 0
                continue
            name, sep, value = line.partition(b"=")
            if not sep or not name or not _is_name(name):
                self._fail(f"not a name=value line: {line[:40]!r}")
            self.count += 1
            if self.count > self.max_attributes:
                self._fail(f"more than {self.max_attributes} attributes")
            self.attributes[name.decode("ascii")] = value.decode("latin-1")
        del buf[:start]
        if len(buf) > self.max_line:
            self._fail(f"line longer than {self.max_line} bytes")
        return out

    def _fail(self, reason: str) -> None:
        self.failed = reason
        self.buffer.clear()
        raise ProtocolError(reason)


def _is_name(name: bytes) -> bool:
    return name.isascii() and all(c == 0x5F or 0x30 <= c <= 0x39 or 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A
                                  for c in name)


def encode_reply(action: str) -> bytes:
    """``action=ACTION\\n\\n``; an action with a line break or NUL becomes DUNNO."""
    if not action or any(c in action for c in "\r\n\0") or len(action) > 2048:
        action = DUNNO
    return f"action={action}\n\n".encode("latin-1", "replace")


def _safe(text: str) -> str:
    """Text that can go into a reply or header: printable ASCII only."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:200]


def decide(request: Request, verdict: Verdict | None, mode: str) -> str:
    """The action for one request. Only a ``bot`` flow at RCPT is ever refused;
    anything unexpected (other request types or states, no verdict) is DUNNO."""
    if request.get("request") != "smtpd_access_policy" or mode not in MODES or mode == "dunno":
        return DUNNO
    if verdict is None or request.get("protocol_state").upper() != "RCPT":
        return DUNNO
    if mode == "prepend":
        if verdict.verdict not in ("bot", "legit", "unknown", "ambiguous"):
            return DUNNO
        dialect = ",".join(verdict.dialects) or "-"
        return _safe(f"PREPEND {HEADER}: {verdict.verdict}; dialect={dialect}; sensor={verdict.sensor or '-'}")
    if verdict.verdict != "bot":
        return DUNNO
    if mode == "poison":
        return USER_UNKNOWN
    if mode == "reject":
        return "REJECT"
    return "DEFER"
