"""Client lines to templates: protocol text literal, per-message values as typed slots.

Input: a client line's exact bytes (terminator included). Output: a template, a str in
which literal text is kept exactly (latin-1, so every byte maps to one character; the
terminator's CR/LF stay real characters) and each value is a slot in braces:

    {addr}    a mailbox local@domain        {ip4}   an IPv4 address
    {ip6}     an IPv6 address               {num}   a number
    {domain}  a dotted host name            {label} a single-label host name
    {word}    another path content (<postmaster>)

Literal braces are doubled. What stays literal: the verb and its letter case, every
separator (``MAIL FROM:<`` vs ``MAIL FROM: <``), parameter names and keyword values
(``BODY=8BITMIME``), brackets around address literals and paths (``[{ip4}]`` vs
``{ip4}``, ``<>`` vs ``<{addr}>``), and the exact terminator. So
``MAIL FROM:<alice@example.org> SIZE=1234\\r\\n`` and
``MAIL FROM:<bob@example.net> SIZE=88\\r\\n`` share ``MAIL FROM:<{addr}> SIZE={num}\\r\\n``.

A greeting (HELO/EHLO/LHLO) also has a *host* form, ``EHLO {host}\\r\\n``, in which any
host shape fills the slot: the shape of the name a mail engine announces is the
operator's configuration more often than the engine's, and the learner uses the host
form for an engine it has seen announce several shapes.

Pure functions; nothing here knows dialects.
"""

from __future__ import annotations

import re

_IP6_LITERAL = re.compile(r"\[IPv6:[0-9A-Fa-f:.]+\]")
_IP4_LITERAL = re.compile(r"\[\d{1,3}(?:\.\d{1,3}){3}\]")
_PATH = re.compile(r"<([^<>]*)>")
_MAILBOX = re.compile(r"[^\s<>@:;,=]+@[^\s<>@;,]+")
_IP4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
_NUMBER = re.compile(r"(?<![\w.-])\d+(?![\w.-])")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?")
_GREETINGS = frozenset({"HELO", "EHLO", "LHLO"})
_HOST_SLOTS = ("{domain}", "{label}", "[{ip4}]", "[IPv6:{ip6}]", "{ip4}")


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _path(match: re.Match[str]) -> str:
    inner = match.group(1)
    if not inner:
        return "<>"
    if "@" in inner:
        local, _, domain = inner.rpartition("@")
        if _IP4_LITERAL.fullmatch(domain):
            return "<{local}@[{ip4}]>"
        return "<{addr}>" if local else "<@{domain}>"
    return "<{word}>"


def _values(text: str) -> str:
    """Escape ``text`` and replace the values in it by slots (order matters)."""
    out: list[str] = []
    pos = 0
    # One pass over the alternatives, leftmost first.
    for match in _VALUE.finditer(text):
        out.append(_escape(text[pos : match.start()]))
        kind = match.lastgroup
        token = match.group(0)
        if kind == "ip6lit":
            out.append("[IPv6:{ip6}]")
        elif kind == "ip4lit":
            out.append("[{ip4}]")
        elif kind == "path":
            out.append(_path(_PATH.fullmatch(token)))  # type: ignore[arg-type]
        elif kind == "mailbox":
            out.append("{addr}")
        elif kind == "ip4":
            out.append("{ip4}")
        else:
            out.append("{num}")
        pos = match.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


_VALUE = re.compile(
    "|".join(
        f"(?P<{name}>{rx.pattern})"
        for name, rx in (
            ("ip6lit", _IP6_LITERAL),
            ("ip4lit", _IP4_LITERAL),
            ("path", _PATH),
            ("mailbox", _MAILBOX),
            ("ip4", _IP4),
            ("num", _NUMBER),
        )
    )
)


def _greeting_arg(arg: str) -> str:
    if not arg:
        return ""
    if _IP6_LITERAL.fullmatch(arg):
        return "[IPv6:{ip6}]"
    if _IP4_LITERAL.fullmatch(arg):
        return "[{ip4}]"
    if _IP4.fullmatch(arg):
        return "{ip4}"
    if _HOST.fullmatch(arg):
        return "{domain}" if "." in arg.rstrip(".") else "{label}"
    return _values(arg)


def template(raw: bytes) -> str:
    """The template of one client line (exact bytes, terminator included)."""
    text = raw.decode("latin-1")
    body = text.rstrip("\r\n")
    term = text[len(body) :]
    verb, sep, rest = body.partition(" ")
    if verb.upper() in _GREETINGS:
        # The argument is one host; anything after it is kept through the value rules.
        arg, sep2, tail = rest.partition(" ")
        return _escape(verb) + sep + _greeting_arg(arg) + (sep2 + _values(tail) if sep2 else "") + term
    return _escape(verb) + sep + _values(rest) + term


def host_form(tmpl: str) -> str | None:
    """The greeting's host form (``EHLO {host}\\r\\n``), or None if it is not one."""
    verb, sep, rest = tmpl.partition(" ")
    if verb.upper() not in _GREETINGS or not sep:
        return None
    for slot in _HOST_SLOTS:
        if rest.startswith(slot):
            return verb + sep + "{host}" + rest[len(slot) :]
    return None


def literal(raw: bytes) -> str:
    """A line kept literal, in template notation (for values a dialect never varies)."""
    return _escape(raw.decode("latin-1"))
