"""Agent rules without sockets: validation, allowlist, TTL cap, rate limit, escalation,
journal and the set cap (dry-run backend)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.agent import (
    Agent,
    AgentConfig,
    Allowlist,
    DryRunBackend,
    Journal,
    Rejected,
    check_alert,
)
from sensor.agent.policy import BlockRequest, TokenBucket, block_seconds
from sensor.alert import SCHEMA_VERSION
from sensor.errors import ConfigError


def bot(**kw: object) -> dict[str, object]:
    obj: dict[str, object] = {"v": SCHEMA_VERSION, "seq": 3, "sensor": "s1", "verdict": "bot",
                              "client": "198.51.100.7", "client_port": 4000, "ttl": 600}
    obj.update(kw)
    return obj


@pytest.fixture
def allow(tmp_path: Path) -> Allowlist:
    path = tmp_path / "allow.txt"
    path.write_text("# our relays\n203.0.113.0/24\n2001:db8:99::/48  # v6 relays\n\n")
    return Allowlist.load(path)


def test_valid_bot_alert(allow: Allowlist) -> None:
    req = check_alert("verdict.bot", bot(), allow, max_ttl=3600)
    assert req == BlockRequest("198.51.100.7", 4, 600, "s1", 3, 4000)
    assert check_alert("verdict.legit", bot(verdict="legit"), allow, 3600) is None
    assert check_alert("heartbeat", {"v": SCHEMA_VERSION, "seq": 1, "sensor": "s1"}, allow, 3600) is None


@pytest.mark.parametrize(
    ("topic", "obj", "reason"),
    [
        ("verdict.bot", bot(v=99), "schema"),
        ("verdict.bot", bot(seq="1"), "schema"),
        ("verdict.bot", bot(sensor=""), "schema"),
        ("verdict.legit", bot(), "schema"),
        ("verdict.bot", bot(client="198.51.100.300"), "bad_address"),
        ("verdict.bot", bot(client=["x"]), "bad_address"),
        ("verdict.bot", bot(client_port=70000), "schema"),
        ("verdict.bot", bot(ttl=-5), "schema"),
        ("verdict.bot", bot(ttl=True), "schema"),
        ("verdict.bot", bot(client="203.0.113.9"), "allowlisted"),
        ("verdict.bot", bot(client="2001:db8:99::1"), "allowlisted"),
        ("verdict.bot", bot(client="127.0.0.1"), "allowlisted"),
        ("verdict.bot", bot(client="::1"), "allowlisted"),
        ("verdict.bot", bot(client="fe80::1"), "allowlisted"),
        ("verdict.bot", bot(client="169.254.3.3"), "allowlisted"),
        ("verdict.bot", bot(client="::ffff:127.0.0.1"), "allowlisted"),
    ],
)
def test_rejections(allow: Allowlist, topic: str, obj: dict[str, object], reason: str) -> None:
    with pytest.raises(Rejected) as info:
        check_alert(topic, obj, allow, 3600)
    assert info.value.reason == reason


def test_ttl_capped_and_mapped_v4(allow: Allowlist) -> None:
    req = check_alert("verdict.bot", bot(ttl=10**9, client="::ffff:198.51.100.9"), allow, 3600)
    assert req is not None and req.ttl == 3600 and req.address == "198.51.100.9" and req.family == 4


def test_bad_allowlist_is_an_operator_error(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("10.0.0.0/8\nnot-a-net\n")
    with pytest.raises(ConfigError, match=r"a.txt:2"):
        Allowlist.load(path)


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(1.0) and not bucket.take(1.0)


def test_escalation_steps() -> None:
    steps = (600, 3600, 86400, 604800)
    assert [block_seconds(n, 300, 600, steps, 10**7) for n in (1, 2, 3, 4, 5)] == [300, 3600, 86400, 604800, 604800]
    assert block_seconds(1, None, 600, steps, 10**7) == 600
    assert block_seconds(4, None, 600, steps, 86400) == 86400


def test_repeat_offender_escalates_and_refresh_keeps_level(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    backend = DryRunBackend()
    agent = Agent([], backend, journal, Allowlist.load(None), AgentConfig(escalation=(600, 3600, 86400)))
    req = BlockRequest("198.51.100.7", 4, 120, "s1", 1, 4000)
    agent.apply([req])
    assert backend.blocked["198.51.100.7"] == 120
    agent.apply([req])  # still blocked: refreshed at the same level
    entry = journal.get("198.51.100.7")
    assert entry is not None and entry.offenses == 1 and backend.blocked["198.51.100.7"] == 120
    # The block expires; the next offence escalates.
    journal.record(entry.__class__(**{**{f: getattr(entry, f) for f in entry.__slots__}, "expires": 0.0}))
    agent.apply([req])
    assert backend.blocked["198.51.100.7"] == 3600
    assert journal.get("198.51.100.7").offenses == 2  # type: ignore[union-attr]
    agent.close()


def test_set_size_cap(tmp_path: Path) -> None:
    backend = DryRunBackend()
    agent = Agent([], backend, Journal(tmp_path / "j.sqlite"), Allowlist.load(None), AgentConfig(max_elements=2))
    agent.apply([BlockRequest(f"198.51.100.{i}", 4, 60, "s1", i, 1) for i in range(10, 14)])
    assert sorted(backend.blocked) == ["198.51.100.10", "198.51.100.11"]
    assert agent.metrics.registry.get_sample_value("babel_agent_rejected_total", {"reason": "set_full"}) == 2
    agent.close()
