"""The decision machine: verdicts, when they are decided, explanations, caching."""

from __future__ import annotations

from sensor.dialect.learn import Conversation, learn
from sensor.dialect.matcher import DecisionMachine, MatchRun, explain


def conv(name: str, cls: str, lines: list[tuple[str, bytes]], capture: str = "c", end: str = "data") -> Conversation:
    return Conversation(name, cls, name, "library" if cls == "legit" else "bot", capture, tuple(lines), end)


LEGIT = [("220", b"EHLO a.example\r\n"), ("250", b"MAIL FROM:<a@b.example>\r\n"),
         ("250", b"RCPT TO:<c@d.example>\r\n"), ("250", b"DATA\r\n")]
BOT = [("220", b"EHLO a.example\r\n"), ("250", b"MAIL FROM: <a@b.example>\r\n"),
       ("-", b"RCPT TO:<c@d.example>\r\n"), ("-", b"DATA\r\n")]


def run(machine: DecisionMachine, lines: list[tuple[str, bytes]]):
    r = MatchRun(machine)
    for i, (after, raw) in enumerate(lines):
        r.step(after, raw, raw.split(b" ")[0].decode().strip(), float(i))
    return r.finish()


def machine() -> DecisionMachine:
    return DecisionMachine(learn([conv("goodlib", "legit", LEGIT), conv("badbot", "bot", BOT)]))


def test_verdicts_and_decision_points() -> None:
    m = machine()
    legit = run(m, [("220", b"EHLO x.example\r\n"), ("250", b"MAIL FROM:<x@y.example>\r\n"),
                    ("250", b"RCPT TO:<z@w.example>\r\n"), ("250", b"DATA\r\n")])
    assert legit.verdict == "legit" and legit.dialects == ("goodlib",)
    assert legit.decided_line == 2 and legit.decided_command == "MAIL"  # EHLO was shared
    bot = run(m, [("220", b"EHLO q.example\r\n"), ("250", b"MAIL FROM: <x@y.example>\r\n"),
                  ("-", b"RCPT TO:<z@w.example>\r\n")])
    assert bot.verdict == "bot" and bot.family == "badbot" and bot.decided_line == 2


def test_ambiguous_unknown_and_revised() -> None:
    m = machine()
    assert run(m, [("220", b"EHLO a.example\r\n")]).verdict == "ambiguous"
    unknown = run(m, [("220", b"HELO a.example\r\n")])
    assert unknown.verdict == "unknown" and unknown.decided_line == 1
    # legit at MAIL, then something no legit engine does: the verdict is not legit
    revised = run(m, [("220", b"EHLO x.example\r\n"), ("250", b"MAIL FROM:<x@y.example>\r\n"),
                      ("250", b"Subject: hi\r\n")])
    assert revised.verdict == "unknown"


def test_pipelining_is_part_of_the_dialect() -> None:
    m = machine()
    waited = run(m, [("220", b"EHLO q.example\r\n"), ("250", b"MAIL FROM: <x@y.example>\r\n"),
                     ("250", b"RCPT TO:<z@w.example>\r\n")])
    assert waited.verdict == "unknown"  # the bot never waits for the reply to MAIL


def test_explain_names_the_line_and_what_was_expected() -> None:
    m = machine()
    lines = [("220", b"EHLO x.example\r\n"), ("250", b"MAIL FROM: <x@y.example>\r\n")]
    text = explain(m.by_name["goodlib"], lines)
    assert "left goodlib at line 2" in text and "MAIL FROM:<{addr}>" in text and "MAIL FROM: <{addr}>" in text
    assert explain(m.by_name["badbot"], lines) == "badbot accepts all 2 lines"


def test_errors_match_any_error_code() -> None:
    m = DecisionMachine(learn([conv("lib", "legit", LEGIT[:2] + [("250", b"RCPT TO:<c@d.example>\r\n"),
                                                                  ("550", b"QUIT\r\n")])]))
    other_error = run(m, [("220", b"EHLO a.example\r\n"), ("250", b"MAIL FROM:<a@b.example>\r\n"),
                          ("250", b"RCPT TO:<c@d.example>\r\n"), ("452", b"QUIT\r\n")])
    assert other_error.verdict == "legit"
    # and QUIT after an error is learned as this engine's reaction to an error anywhere
    early = run(m, [("220", b"EHLO a.example\r\n"), ("421", b"QUIT\r\n")])
    assert early.verdict == "legit"


def test_steps_are_cached() -> None:
    m = machine()
    lines = [("220", b"EHLO x.example\r\n"), ("250", b"MAIL FROM:<x@y.example>\r\n")]
    run(m, lines)
    states = m.cached_states
    for _ in range(50):
        run(m, lines)
    assert m.cached_states == states


def test_states_do_not_grow_with_distinct_lines() -> None:
    """Every line has a literal form; forms no dialect knows are dropped before the
    lookup, so a long run of conversations with new values adds no states."""
    m = machine()
    for i in range(3):
        run(m, [("220", f"EHLO h{i}.example\r\n".encode()), ("250", f"MAIL FROM:<u{i}@v.example>\r\n".encode()),
                ("250", f"XYZZY {i}\r\n".encode())])
    states = m.cached_states
    for i in range(3, 500):
        decision = run(m, [("220", f"EHLO h{i}.example\r\n".encode()),
                           ("250", f"MAIL FROM:<u{i}@v.example>\r\n".encode()),
                           ("250", f"XYZZY {i}\r\n".encode())])
        assert decision.verdict == "unknown"
    assert m.cached_states == states
