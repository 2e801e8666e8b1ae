"""The registry of anomaly names: protocol oddities, counted, never fatal.

Names are stage-prefixed snake_case, like Zeek "weirds": ``capture_`` for frames the
decoder could not use, ``tcp_`` for reassembly, ``smtp_`` for the conversation.
Every ``Anomaly`` any stage emits uses a name from ``ANOMALIES``; a test keeps the
stages and this table in step, and the README's table is generated from it.

``STRONG_EVIDENCE`` lists the anomalies that no legitimate mail engine produces. It is
only a default: which of them may turn an unknown conversation into ``bot`` is the
operator's policy (config), never decided here.
"""

from __future__ import annotations

ANOMALIES: dict[str, str] = {
    # capture / decode
    "capture_truncated_frame": "frame shorter than its link, IP or TCP header says",
    "capture_bad_ip_header": "IP header malformed (version, header length, total length)",
    "capture_bad_tcp_header": "TCP header malformed (data offset)",
    "capture_unknown_linktype": "capture link type the decoder does not know",
    "capture_unknown_ethertype": "Ethernet/SLL payload that is neither IPv4 nor IPv6",
    "capture_ip_fragment": "IP fragment: counted and skipped, not reassembled",
    "capture_ipv6_unknown_header": "IPv6 extension header chain the decoder cannot follow",
    # TCP reassembly
    "tcp_mid_stream": "connection picked up without its handshake: roles guessed from ports",
    "tcp_gap": "bytes missing from a stream (a hole): nothing is matched across it",
    "tcp_overlap_mismatch": "retransmitted bytes differ from the bytes first seen (first wins)",
    "tcp_hole_cap": "too many bytes buffered above a hole: the hole was declared a gap",
    "tcp_stream_cap": "stream exceeded the per-direction byte cap before the conversation ended",
    "tcp_flow_table_full": "flow table full: a new connection was not tracked",
    "tcp_ack_unseen": "peer acknowledged bytes never seen in the capture (capture loss)",
    "tcp_syn_isn_changed": "a SYN with a new initial sequence number replaced a connection",
    "tcp_data_without_syn_ack": "client data before any SYN-ACK from the server was seen",
    # SMTP conversation
    "smtp_pregreet": "client spoke before the server's banner reached it (RFC 5321 s3.1)",
    "smtp_pipelining_unadvertised": "client sent without waiting though PIPELINING was not advertised (RFC 2920)",
    "smtp_bare_lf": "client line ended with LF alone (RFC 5321 s2.3.8 requires CRLF)",
    "smtp_bare_cr": "client line carries a CR not followed by LF (RFC 5321 s2.3.8)",
    "smtp_non_smtp_command": "client sent a non-SMTP protocol command (HTTP verb, proxy request)",
    "smtp_header_as_command": "client sent a message header line as a command (no DATA state)",
    "smtp_unknown_command": "client sent a verb that is not an SMTP command",
    "smtp_invalid_syntax": "MAIL/RCPT without FROM:/TO:, or a command line that is empty",
    "smtp_long_line": "command line longer than 512 octets (RFC 5321 s4.5.3.1.4)",
    "smtp_line_cap": "line exceeded the configured line cap and was cut",
    "smtp_held_cap": "bytes waiting for a server reply exceeded their cap",
    "smtp_invalid_reply": "server line that is not a reply (three digits then space, dash or end)",
    "smtp_unsolicited_reply": "server reply with no command waiting for it",
    "smtp_server_silent": "conversation ended without a single server byte",
    "smtp_client_silent": "conversation ended without a single client line",
    "smtp_command_after_quit": "client kept sending after QUIT",
    # pipeline
    "internal_error": "a bug isolated to one flow: the flow was dropped (see the log)",
}

# Anomalies that no legitimate engine is known to produce (DESIGN s2 "strong evidence").
STRONG_EVIDENCE: frozenset[str] = frozenset(
    {
        "smtp_pregreet",
        "smtp_non_smtp_command",
        "smtp_header_as_command",
    }
)


def check(name: str) -> str:
    """Return ``name`` if it is registered; raise ``KeyError`` (a bug) otherwise."""
    if name not in ANOMALIES:
        raise KeyError(f"unregistered anomaly name {name!r}")
    return name


from dataclasses import dataclass  # noqa: E402


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An event every stage may emit: ``name`` from ``ANOMALIES``, ``detail`` free text."""

    ts: float
    name: str
    detail: str = ""
