"""The zoo's SMTP server: an honest, small receiver with selectable behaviours.

It runs in the server network namespace while a real client talks to it; tcpdump on
the server-side veth records the conversation.  It is deliberately plain asyncio and
stdlib only, so that it can run anywhere the zoo runs.

Behaviours (``--behaviour``):

``modern``    banner and EHLO reply like Postfix: PIPELINING, SIZE, VRFY, ETRN,
              ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8, CHUNKING.
``starttls``  the same with STARTTLS offered (certificate and key given on the
              command line; generated per run by the zoo with ``openssl req -x509``).
``old``       answers EHLO with 502, so clients fall back to HELO.
``strict``    as ``modern``, but RCPT for a mailbox that is not in ``USERS`` is
              answered as Postfix does for a missing local user (550 5.1.1).
``busy``      as ``modern``, but one command is answered with a temporary error;
              ``--busy-step`` chooses which (see ``BUSY_STEPS``).

Every connection and every line received is logged as one JSON object per line
(``--log``): ``connect``, ``line`` (client line, latin-1), ``reply``, ``tls``,
``data`` (message bytes received), ``close``.  The zoo reads this log to know when
the client's conversation is over before it stops tcpdump.

The server never strips or re-cases what it logs: the log is for humans checking a
capture, and the capture is the data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from typing import TextIO

#: Mailboxes (local parts) that exist on our server; ``strict`` rejects all others.
USERS = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
    "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent",
    "victor", "walter", "postmaster", "info", "sales", "support", "billing",
)

#: ``busy`` variants: (verb that gets the temporary error, reply, close afterwards).
BUSY_STEPS = {
    "mail": ("MAIL", "451 4.3.0 Error: queue file write error", False),
    "rcpt": ("RCPT", "452 4.3.1 Insufficient system storage", False),
    "data": ("DATA", "421 4.3.2 mx.zoo.example.net Service shutting down, closing transmission channel", True),
}

SERVER_NAME = "mx.zoo.example.net"
MAX_LINE = 4096
MAX_MESSAGE = 10240000

EHLO_KEYWORDS = (
    "PIPELINING",
    f"SIZE {MAX_MESSAGE}",
    "VRFY",
    "ETRN",
    "STARTTLS",
    "ENHANCEDSTATUSCODES",
    "8BITMIME",
    "DSN",
    "SMTPUTF8",
    "CHUNKING",
)


class Log:
    """JSON-lines event log, flushed per event so the zoo can follow it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def event(self, kind: str, conn: int, **fields: object) -> None:
        record = {"ts": round(time.time(), 6), "event": kind, "conn": conn, **fields}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


def local_part(path: str) -> str:
    """Local part of the mailbox in a MAIL/RCPT argument (``<a@b> PARAMS``)."""
    path = path.strip()
    if path.startswith("<"):
        path = path[1 : path.find(">")] if ">" in path else path[1:]
    else:
        path = path.split(" ", 1)[0]
    return path.rsplit("@", 1)[0].lower()


def mailbox(path: str) -> str:
    path = path.strip()
    if path.startswith("<") and ">" in path:
        return path[: path.find(">") + 1]
    return "<" + path.split(" ", 1)[0] + ">"


class Session:
    """One SMTP session; RFC 5321 order of commands, honest replies."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: int,
        args: argparse.Namespace,
        log: Log,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = conn
        self.args = args
        self.log = log
        self.tls_context = tls_context
        self.tls_active = False
        self.greeted = False
        self.sender: str | None = None
        self.recipients: list[str] = []
        self.busy_fired = False
        self.queue_id = 0
        self.bdat_size = 0

    async def reply(self, text: str) -> None:
        self.log.event("reply", self.conn, text=text)
        self.writer.write(text.encode("utf-8") + b"\r\n")
        await self.writer.drain()

    def ehlo_lines(self, name: str) -> list[str]:
        keywords = [
            k
            for k in EHLO_KEYWORDS
            if k != "STARTTLS" or (self.args.behaviour == "starttls" and not self.tls_active)
        ]
        lines = [SERVER_NAME, *keywords]
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    def busy(self, verb: str) -> tuple[str, bool] | None:
        """The temporary error for ``verb`` if this is the one command ``busy`` fails."""
        if self.args.behaviour != "busy" or self.busy_fired:
            return None
        step_verb, text, close = BUSY_STEPS[self.args.busy_step]
        if verb != step_verb:
            return None
        self.busy_fired = True
        return text, close

    def reset(self) -> None:
        self.sender = None
        self.recipients = []

    async def run(self) -> None:
        banner = f"220 {SERVER_NAME} ESMTP Postfix"
        if self.args.behaviour == "old":
            banner = f"220 {SERVER_NAME} SMTP ready"
        await self.reply(banner)
        while True:
            raw = await self.reader.readline()
            if not raw:
                self.log.event("eof", self.conn)
                return
            self.log.event("line", self.conn, raw=raw.decode("latin-1"))
            if len(raw) > MAX_LINE:
                await self.reply("500 5.5.0 Error: line too long")
                continue
            line = raw.decode("latin-1").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            handler = getattr(self, "do_" + verb.lower(), None) if verb.isalpha() else None
            if handler is None:
                await self.reply("502 5.5.2 Error: command not recognized")
                continue
            if await handler(arg):
                return

    async def do_ehlo(self, arg: str) -> bool:
        if self.args.behaviour == "old":
            await self.reply("502 5.5.2 Error: command not recognized")
            return False
        if not arg:
            await self.reply("501 Syntax: EHLO hostname")
            return False
        self.greeted = True
        self.reset()
        lines = self.ehlo_lines(arg)
        self.log.event("reply", self.conn, text="\n".join(lines))
        self.writer.write("".join(line + "\r\n" for line in lines).encode())
        await self.writer.drain()
        return False

    async def do_helo(self, arg: str) -> bool:
        if not arg:
            await self.reply("501 Syntax: HELO hostname")
            return False
        self.greeted = True
        self.reset()
        await self.reply(f"250 {SERVER_NAME}")
        return False

    async def do_starttls(self, arg: str) -> bool:
        if self.args.behaviour != "starttls" or self.tls_active or self.tls_context is None:
            await self.reply("502 5.5.1 Error: command not implemented")
            return False
        await self.reply("220 2.0.0 Ready to start TLS")
        try:
            await self.writer.start_tls(self.tls_context)
        except (ssl.SSLError, OSError, ConnectionError) as exc:
            self.log.event("tls_failed", self.conn, error=str(exc))
            return True
        self.tls_active = True
        self.greeted = False
        self.reset()
        ssl_object = self.writer.get_extra_info("ssl_object")
        self.log.event(
            "tls",
            self.conn,
            version=ssl_object.version() if ssl_object else None,
            cipher=ssl_object.cipher()[0] if ssl_object and ssl_object.cipher() else None,
        )
        return False

    async def do_mail(self, arg: str) -> bool:
        if not self.greeted:
            await self.reply("503 5.5.1 Error: send HELO/EHLO first")
            return False
        if not arg.upper().startswith("FROM:"):
            await self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return False
        if self.sender is not None:
            await self.reply("503 5.5.1 Error: nested MAIL command")
            return False
        busy = self.busy("MAIL")
        if busy:
            await self.reply(busy[0])
            return busy[1]
        self.sender = mailbox(arg[5:])
        await self.reply("250 2.1.0 Ok")
        return False

    async def do_rcpt(self, arg: str) -> bool:
        if self.sender is None:
            await self.reply("503 5.5.1 Error: need MAIL command")
            return False
        if not arg.upper().startswith("TO:"):
            await self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return False
        busy = self.busy("RCPT")
        if busy:
            await self.reply(busy[0])
            return busy[1]
        box = mailbox(arg[3:])
        if self.args.behaviour == "strict" and local_part(arg[3:]) not in USERS:
            await self.reply(
                f"550 5.1.1 {box}: Recipient address rejected: "
                "User unknown in local recipient table"
            )
            return False
        self.recipients.append(box)
        await self.reply("250 2.1.5 Ok")
        return False

    def queued(self) -> str:
        self.queue_id += 1
        return f"250 2.0.0 Ok: queued as {self.conn:05X}{self.queue_id:03X}"

    async def do_data(self, arg: str) -> bool:
        if self.sender is None:
            await self.reply("503 5.5.1 Error: need RCPT command")
            return False
        if not self.recipients:
            await self.reply("554 5.5.1 Error: no valid recipients")
            return False
        busy = self.busy("DATA")
        if busy:
            await self.reply(busy[0])
            return busy[1]
        await self.reply("354 End data with <CR><LF>.<CR><LF>")
        size = 0
        while True:
            chunk = await self.reader.readline()
            if not chunk:
                self.log.event("eof", self.conn, during="data")
                return True
            if chunk in (b".\r\n", b".\n"):
                break
            size += len(chunk)
        self.log.event("data", self.conn, size=size, sender=self.sender, recipients=self.recipients)
        self.reset()
        await self.reply(self.queued())
        return False

    async def do_bdat(self, arg: str) -> bool:
        parts = arg.split()
        if not parts or not parts[0].isdigit() or len(parts) > 2 or (
            len(parts) == 2 and parts[1].upper() != "LAST"
        ):
            await self.reply("501 5.5.4 Syntax: BDAT count [LAST]")
            return False
        count = int(parts[0])
        try:
            await self.reader.readexactly(count)
        except asyncio.IncompleteReadError:
            self.log.event("eof", self.conn, during="bdat")
            return True
        if self.sender is None or not self.recipients:
            await self.reply("503 5.5.1 Error: need RCPT command")
            return False
        last = len(parts) == 2
        self.bdat_size += count
        if not last:
            await self.reply(f"250 2.0.0 Ok: {count} bytes")
            return False
        self.log.event(
            "data", self.conn, size=self.bdat_size, sender=self.sender, recipients=self.recipients
        )
        self.bdat_size = 0
        self.reset()
        await self.reply(self.queued())
        return False

    async def do_rset(self, arg: str) -> bool:
        self.reset()
        await self.reply("250 2.0.0 Ok")
        return False

    async def do_noop(self, arg: str) -> bool:
        await self.reply("250 2.0.0 Ok")
        return False

    async def do_vrfy(self, arg: str) -> bool:
        await self.reply("252 2.0.0 Send some mail, I'll try my best")
        return False

    async def do_quit(self, arg: str) -> bool:
        await self.reply("221 2.0.0 Bye")
        return True


async def serve(args: argparse.Namespace) -> None:
    log = Log(open(args.log, "a", encoding="utf-8") if args.log else sys.stdout)
    tls_context = None
    if args.behaviour == "starttls":
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)
        # Old clients (and some libraries' defaults) still offer TLS 1.0/1.1 only.
        tls_context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        tls_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    counter = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal counter
        counter += 1
        conn = counter
        peer = writer.get_extra_info("peername")
        log.event("connect", conn, client=peer[0], port=peer[1])
        session = Session(reader, writer, conn, args, log, tls_context)
        try:
            await session.run()
        except (ConnectionError, ssl.SSLError, OSError, asyncio.LimitOverrunError, ValueError) as exc:
            log.event("error", conn, error=repr(exc))
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError, OSError):
                pass
            log.event("close", conn, client=peer[0], port=peer[1])

    hosts = args.listen or ["0.0.0.0"]
    server = await asyncio.start_server(handle, hosts, args.port, limit=MAX_MESSAGE + MAX_LINE)
    log.event("listening", 0, addresses=[str(s.getsockname()) for s in server.sockets])
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--behaviour", choices=("modern", "starttls", "old", "strict", "busy"), default="modern")
    parser.add_argument("--busy-step", choices=sorted(BUSY_STEPS), default="mail")
    parser.add_argument("--listen", action="append", help="address to bind (repeatable)")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--cert", help="PEM certificate (starttls)")
    parser.add_argument("--key", help="PEM private key (starttls)")
    parser.add_argument("--log", help="JSON-lines event log (default stdout)")
    args = parser.parse_args(argv)
    if args.behaviour == "starttls" and not (args.cert and args.key):
        parser.error("--behaviour starttls needs --cert and --key")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
