"""Capture bypass: connections whose conversation is over are dropped at the reader.

Once a conversation has ended (DATA, BDAT, STARTTLS, QUIT), nothing of its connection
matters but its close. The message body is most of the traffic on a mail server, so
its packets are recognised in the reader itself, on the raw frame bytes, before any
object is built: the source and destination address and ports are one slice of the IP
header, looked up here. A bypassed packet only records when the connection was last
seen (for idle expiry); a packet with SYN, FIN or RST is never bypassed, so the close
(or a new connection on the same ports) is still seen. This is what Suricata calls
"local bypass".

Keys are the bytes as they sit in the frame: IPv4 source, destination, source port,
destination port (12 bytes), or the same for IPv6 (36 bytes), one key per direction.
"""

from __future__ import annotations

import struct


class Bypass:
    def __init__(self) -> None:
        # raw key -> capture second of the last bypassed packet (0: none yet)
        self.table: dict[bytes, int] = {}
        self.dropped = 0  # packets the readers did not yield

    @staticmethod
    def keys(client: bytes, client_port: int, server: bytes, server_port: int) -> tuple[bytes, bytes]:
        ports = struct.pack("!HH", client_port, server_port)
        back = struct.pack("!HH", server_port, client_port)
        return client + server + ports, server + client + back

    def add(self, client: bytes, client_port: int, server: bytes, server_port: int) -> None:
        for key in self.keys(client, client_port, server, server_port):
            self.table[key] = 0

    def discard(self, client: bytes, client_port: int, server: bytes, server_port: int) -> None:
        for key in self.keys(client, client_port, server, server_port):
            self.table.pop(key, None)

    def last_seen(self, client: bytes, client_port: int, server: bytes, server_port: int) -> int:
        a, b = self.keys(client, client_port, server, server_port)
        return max(self.table.get(a, 0), self.table.get(b, 0))

    def __len__(self) -> int:
        return len(self.table) // 2
