"""Where blocks go: nftables (own table), nftables set-only, or a dry-run log.

``NftablesBackend`` drives the ``nft`` command with scripts on stdin (``nft -f -``):
each script is one kernel transaction, so a table is never half-built.

* Own table (``set_only=False``): ``table inet <table>`` with sets ``<set4>``
  (ipv4_addr) and ``<set6>`` (ipv6_addr), ``flags timeout``, and one base chain per hook
  (priority -10) that drops (or rejects) TCP to the listed ports from listed addresses.
  ``install(entries)`` deletes and re-creates the table with those elements in one
  transaction: the journal is the source of truth.
* ``set_only=True``: the operator owns the table, sets and rules (CrowdSec's set-only
  mode); the agent only adds elements and checks that the sets exist.

Every element carries a kernel timeout, so blocks expire even if the agent dies. Adding
an element that is already there does not change its timeout in the kernel (the bug
CrowdSec's bouncer had, #243), so a block is written as add + delete + add in one
transaction: the add makes the delete safe, the second add sets the new timeout.
Batches are chunked; a failing chunk is retried element by element.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from typing import Protocol

from ..errors import SensorError

logger = logging.getLogger(__name__)

CHUNK = 200

Block = tuple[str, int, int]
"""(address, family 4|6, seconds)."""


class BackendError(SensorError):
    """nft failed (not installed, no permission, bad table)."""


class Backend(Protocol):
    name: str

    def install(self, blocks: Sequence[Block]) -> None:
        """(Re)create what the backend owns, holding exactly ``blocks``."""

    def present(self) -> bool:
        """Whether the table and sets are still there."""

    def block(self, blocks: Sequence[Block]) -> None:
        """Add or refresh blocks."""


class DryRunBackend:
    name = "dry-run"

    def __init__(self) -> None:
        self.blocked: dict[str, int] = {}

    def install(self, blocks: Sequence[Block]) -> None:
        for address, _family, seconds in blocks:
            logger.info("dry-run: would restore [%s] for %d s", address, seconds)
            self.blocked[address] = seconds

    def present(self) -> bool:
        return True

    def block(self, blocks: Sequence[Block]) -> None:
        for address, _family, seconds in blocks:
            logger.info("dry-run: would block [%s] for %d s", address, seconds)
            self.blocked[address] = seconds


class NftablesBackend:
    def __init__(
        self,
        *,
        nft: str = "nft",
        family: str = "inet",
        table: str = "babel_sensor",
        set4: str = "blocked4",
        set6: str = "blocked6",
        hooks: tuple[str, ...] = ("input",),
        priority: str = "-10",
        ports: tuple[int, ...] = (25, 465, 587),
        action: str = "drop",
        set_only: bool = False,
    ) -> None:
        self.nft = nft
        self.set_only = set_only
        self.family = family if set_only else "inet"
        self.table = table
        self.sets = {4: set4, 6: set6}
        if set_only and family == "ip":
            del self.sets[6]
        elif set_only and family == "ip6":
            del self.sets[4]
        self.hooks = hooks
        self.priority = priority
        self.ports = ports
        self.action = action
        self.name = "set-only" if set_only else "nftables"

    # -------------------------------------------------------------- nft invocation
    def _run(self, args: list[str], script: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [self.nft, *args], input=script, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"{self.nft}: cannot run: {exc}") from None

    def _apply(self, script: str) -> None:
        proc = self._run(["-f", "-"], script)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["failed"])[0]
            raise BackendError(f"nft: {first}")

    # -------------------------------------------------------------- table
    def _table_script(self) -> str:
        t = f"{self.family} {self.table}"
        match = f"tcp dport {{ {', '.join(map(str, self.ports))} }} " if self.ports else ""
        verdict = ("reject with tcp reset" if self.ports else "reject") if self.action == "reject" else "drop"
        lines = [f"table {t} {{}}", f"delete table {t}", f"table {t} {{"]
        lines.append(f"  set {self.sets[4]} {{ type ipv4_addr; flags timeout; }}")
        lines.append(f"  set {self.sets[6]} {{ type ipv6_addr; flags timeout; }}")
        for hook in self.hooks:
            lines += [
                f"  chain {hook} {{",
                f"    type filter hook {hook} priority {self.priority}; policy accept;",
                f'    ip saddr @{self.sets[4]} {match}counter {verdict} comment "babel-sensor"',
                f'    ip6 saddr @{self.sets[6]} {match}counter {verdict} comment "babel-sensor"',
                "  }",
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def install(self, blocks: Sequence[Block]) -> None:
        if self.set_only:
            if not self.present():
                raise BackendError(
                    f"set-only: sets {', '.join(self.sets.values())} not found in table "
                    f"{self.family} {self.table} (create them with flags timeout)"
                )
            self.block(blocks)
            return
        script = self._table_script()
        for address, family, seconds in blocks:
            script += self._element("add", address, family, seconds)
        self._apply(script)

    def present(self) -> bool:
        proc = self._run(["-t", "list", "table", self.family, self.table])
        if proc.returncode != 0:
            return False
        text = proc.stdout
        if any(f"set {name} {{" not in text for name in self.sets.values()):
            return False
        if self.set_only:
            return True
        return all(f"chain {hook} {{" in text for hook in self.hooks) and text.count('comment "babel-sensor"') == 2 * len(self.hooks)

    # -------------------------------------------------------------- elements
    def _element(self, verb: str, address: str, family: int, seconds: int | None) -> str:
        name = self.sets.get(family)
        if name is None:
            return ""
        timeout = f" timeout {seconds}s" if seconds is not None else ""
        return f"{verb} element {self.family} {self.table} {name} {{ {address}{timeout} }}\n"

    def _refresh(self, address: str, family: int, seconds: int) -> str:
        return (
            self._element("add", address, family, seconds)
            + self._element("delete", address, family, None)
            + self._element("add", address, family, seconds)
        )

    def block(self, blocks: Sequence[Block]) -> None:
        failed: list[str] = []
        for start in range(0, len(blocks), CHUNK):
            chunk = blocks[start : start + CHUNK]
            try:
                self._apply("".join(self._refresh(*b) for b in chunk))
            except BackendError:
                for b in chunk:
                    try:
                        self._apply(self._refresh(*b))
                    except BackendError as exc:
                        logger.error("cannot block [%s]: %s", b[0], exc)
                        failed.append(b[0])
        if failed:
            raise BackendError(f"{len(failed)} of {len(blocks)} blocks failed")
