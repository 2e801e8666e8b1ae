"""Two network namespaces joined by a veth pair, for tests with real traffic.

``Net`` builds ``<prefix>c`` (client) and ``<prefix>s`` (server) with addresses from
the documentation ranges only (198.51.100.0/24, 2001:db8::/32), loopback up in both,
and tears everything down on exit (namespaces, and the processes it started, by pid),
also when the test fails. Nothing leaves the namespaces.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pytest

CLIENT4, SERVER4 = "198.51.100.2", "198.51.100.1"
CLIENT6, SERVER6 = "2001:db8:5::2", "2001:db8:5::1"
# A second client address in the client namespace (another host behind the same link).
OTHER4, OTHER6 = "198.51.100.3", "2001:db8:5::3"

needs_root_net = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and ip (iproute2) for network namespaces"
)


def need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (generous timeout, short steps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Net:
    def __init__(self, tag: str = "") -> None:
        prefix = f"bs{tag}{os.getpid() % 100000}"
        self.client, self.server = f"{prefix}c", f"{prefix}s"
        self.client_if, self.server_if = "veth-c", "veth-s"
        self.procs: list[subprocess.Popen[Any]] = []

    def __enter__(self) -> Net:
        try:
            for ns in (self.client, self.server):
                run("ip", "netns", "add", ns)
                run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "link", "add", "bstmp-c", "netns", self.client, "type", "veth", "peer", "name",
                "bstmp-s", "netns", self.server)
            run("ip", "-n", self.client, "link", "set", "bstmp-c", "name", self.client_if)
            run("ip", "-n", self.server, "link", "set", "bstmp-s", "name", self.server_if)
            for ns, dev, a4, a6 in ((self.client, self.client_if, CLIENT4, CLIENT6),
                                    (self.server, self.server_if, SERVER4, SERVER6)):
                run("ip", "-n", ns, "addr", "add", f"{a4}/24", "dev", dev)
                run("ip", "-n", ns, "-6", "addr", "add", f"{a6}/64", "dev", dev, "nodad")
                run("ip", "-n", ns, "link", "set", dev, "up")
                # Checksum offload off: the capture then holds the real checksums.
                if shutil.which("ethtool"):
                    run("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", check=False)
            run("ip", "-n", self.client, "addr", "add", f"{OTHER4}/24", "dev", self.client_if)
            run("ip", "-n", self.client, "-6", "addr", "add", f"{OTHER6}/64", "dev", self.client_if, "nodad")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def start(self, ns: str, cmd: list[str], *, log: Path | None = None, **kw: Any) -> subprocess.Popen[Any]:
        out: IO[Any] | int = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=out, stderr=subprocess.STDOUT
                                if log else subprocess.DEVNULL, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(proc)
        return proc

    def exec(self, ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", ns, *cmd, check=check)

    def python(self, ns: str, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.exec(ns, sys.executable, "-c", script, *args, check=False)

    def stop(self, proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
        for ns in (self.client, self.server):
            run("ip", "netns", "del", ns, check=False)
