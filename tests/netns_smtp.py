"""A tiny SMTP server for namespace tests: banner after a short greeting pause
(postscreen-style, so a client that talks first is a pregreet), 250 to everything,
354 to DATA, 221 to QUIT. Usage: python3 netns_smtp.py ADDRESS... (port 25)."""

from __future__ import annotations

import socket
import sys
import threading
import time


def serve(conn: socket.socket) -> None:
    with conn:
        time.sleep(0.3)  # greeting pause: the server's behaviour, not a test wait
        conn.sendall(b"220 mx.example.test ESMTP\r\n")
        buf = b""
        in_data = False
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if in_data:
                    if line.rstrip(b"\r") == b".":
                        in_data = False
                        conn.sendall(b"250 2.0.0 queued\r\n")
                    continue
                verb = line[:4].upper()
                if verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 bye\r\n")
                    return
                if verb == b"DATA":
                    in_data = True
                    conn.sendall(b"354 go ahead\r\n")
                elif verb == b"EHLO":
                    conn.sendall(b"250-mx.example.test\r\n250 PIPELINING\r\n")
                else:
                    conn.sendall(b"250 2.0.0 ok\r\n")


def listen(address: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 25))
    sock.listen(64)
    return sock


def accept(sock: socket.socket) -> None:
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    for sock in [listen(addr) for addr in sys.argv[1:]]:
        threading.Thread(target=accept, args=(sock,), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
