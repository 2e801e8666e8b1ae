"""The command line, in-process with click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pcapgen import SIMPLE, Flow, lockstep, write

from sensor.cli import cli

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "samples" / "smtp-sample.pcap"


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append(prefix + (name,))
        if isinstance(command, click.Group):
            out += all_commands(command, prefix + (name,))
    return out


@pytest.mark.parametrize("path", [()] + all_commands(cli), ids=lambda p: " ".join(p) or "babel-sensor")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def no_dialects(tmp_path: Path) -> str:
    empty = tmp_path / "no-dialects"
    empty.mkdir(exist_ok=True)
    return str(empty)


def test_replay_jsonl_fields(tmp_path: Path) -> None:
    pcap = write(tmp_path / "a.pcap", lockstep(Flow(), SIMPLE).frames)
    result = CliRunner().invoke(cli, ["replay", str(pcap), "-q", "--dialects", no_dialects(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    [line] = result.stdout.splitlines()
    obj = json.loads(line)
    for field in ("ts", "client", "client_port", "server", "server_port", "verdict", "dialects",
                  "family", "decided_at", "anomalies", "end", "incomplete", "client_lines", "replies"):
        assert field in obj
    assert obj["verdict"] == "unknown" and obj["dialects"] == [] and obj["end"] == "data"
    assert obj["client_lines"] == [c.decode() for c, _ in SIMPLE]


def test_replay_to_file_table_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    result = CliRunner().invoke(cli, ["replay", str(SAMPLE), "--format", "table", "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    text = out.read_text()
    assert text.startswith("TIME (UTC)") and "[10.10.1.4]:1470" in text
    assert "conversations=9" in result.stderr and "packets/s=" in result.stderr


def test_replay_sample_golden() -> None:
    """The bundled sample against its golden output (regenerate: see tests/data/golden/README)."""
    golden = ROOT / "tests" / "data" / "golden" / "smtp-sample.jsonl"
    result = CliRunner().invoke(cli, ["replay", str(SAMPLE), "-q"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == golden.read_text()


def test_auth_secrets_never_in_output() -> None:
    result = CliRunner().invoke(cli, ["replay", str(SAMPLE), "-q"], catch_exceptions=False)
    # zeek's smtp.pcap carries AUTH LOGIN credentials (base64 of the user and password)
    assert "Z3VycGFydGFw" not in result.stdout and "cHVuamFi" not in result.stdout
    assert '"***\\r\\n"' in result.stdout


@pytest.mark.parametrize("content", [b"", b"garbage, not a capture"])
def test_bad_capture_exits_1_with_one_line(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    result = CliRunner().invoke(cli, ["replay", str(bad)])
    assert result.exit_code == 1
    assert str(bad) in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_file_and_directory_exit_1(tmp_path: Path) -> None:
    for target in (tmp_path / "missing.pcap", tmp_path):
        result = CliRunner().invoke(cli, ["replay", str(target)])
        assert result.exit_code == 1 and str(target) in result.stderr


def test_truncated_capture_warns_and_exits_0(tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[: len(raw) - 100])
    result = CliRunner().invoke(cli, ["replay", str(cut), "-q"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "warning" in result.stderr and "truncated" in result.stderr
    assert len(result.stdout.splitlines()) >= 8


def test_bad_config_exits_1(tmp_path: Path) -> None:
    cfg = tmp_path / "c.ini"
    cfg.write_text("[capture]\nportz = 25\n")
    result = CliRunner().invoke(cli, ["replay", str(SAMPLE), "--config", str(cfg)])
    assert result.exit_code == 1 and "portz" in result.stderr and str(cfg) in result.stderr


def test_usage_error_exits_2() -> None:
    assert CliRunner().invoke(cli, ["replay"]).exit_code == 2
    assert CliRunner().invoke(cli, ["replay", str(SAMPLE), "--format", "xml"]).exit_code == 2


def test_ports_option(tmp_path: Path) -> None:
    pcap = write(tmp_path / "p.pcap", lockstep(Flow(sport=2525), SIMPLE).frames)
    none = CliRunner().invoke(cli, ["replay", str(pcap), "-q"], catch_exceptions=False)
    assert none.stdout == ""
    some = CliRunner().invoke(cli, ["replay", str(pcap), "-q", "--ports", "25,2525"], catch_exceptions=False)
    assert json.loads(some.stdout)["server_port"] == 2525


def test_strong_evidence_makes_bot_and_policy_is_configurable(tmp_path: Path) -> None:
    flow = Flow().handshake()
    flow.client_send(b"EHLO bot\r\n")  # before the banner: a pregreet
    flow.server_send(b"220 mx ESMTP\r\n")
    flow.client_ack()
    flow.sack = flow.cnxt
    flow.server_send(b"250 hi\r\n")
    flow.cack = flow.snxt
    flow.exchange(b"QUIT\r\n", b"221 bye\r\n")
    pcap = write(tmp_path / "pg.pcap", flow.frames)
    rec = json.loads(CliRunner().invoke(cli, ["replay", str(pcap), "-q", "--dialects", no_dialects(tmp_path)],
                                        catch_exceptions=False).stdout)
    assert rec["verdict"] == "bot" and "smtp_pregreet" in rec["anomalies"]
    assert rec["decided_at"]["line"] == 1 and rec["decided_at"]["command"] == "EHLO"
    assert 0 <= rec["decided_at"]["seconds"] < 1
    cfg = tmp_path / "c.ini"
    cfg.write_text("[verdict]\nstrong_evidence =\n")
    rec = json.loads(CliRunner().invoke(cli, ["replay", str(pcap), "-q", "--config", str(cfg),
                                              "--dialects", no_dialects(tmp_path)], catch_exceptions=False).stdout)
    assert rec["verdict"] == "unknown"  # decided at line 1: no dialect accepts it


def test_unknown_is_never_bot_by_itself(tmp_path: Path) -> None:
    pcap = write(tmp_path / "a.pcap", lockstep(Flow(), SIMPLE).frames)
    rec = json.loads(CliRunner().invoke(cli, ["replay", str(pcap), "-q", "--dialects", no_dialects(tmp_path)],
                                        catch_exceptions=False).stdout)
    assert rec["verdict"] == "unknown" and rec["dialects"] == []


def test_dialects_list_show_graph(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["dialects", "list"], catch_exceptions=False)
    assert listed.exit_code == 0 and "emotet" in listed.output and "postfix" in listed.output
    shown = runner.invoke(cli, ["dialects", "show", "emotet"], catch_exceptions=False)
    assert "class bot" in shown.output and "START" in shown.output
    dot = tmp_path / "emotet.dot"
    assert runner.invoke(cli, ["dialects", "graph", "emotet", "-o", str(dot)], catch_exceptions=False).exit_code == 0
    assert dot.read_text().startswith('digraph "emotet"')
    assert runner.invoke(cli, ["dialects", "show", "no-such"]).exit_code == 1


@pytest.mark.skipif(__import__("shutil").which("dot") is None, reason="Graphviz dot not installed")
def test_dialects_graph_svg(tmp_path: Path) -> None:
    svg = tmp_path / "postfix.svg"
    result = CliRunner().invoke(cli, ["dialects", "graph", "postfix", "-o", str(svg)], catch_exceptions=False)
    assert result.exit_code == 0 and "<svg" in svg.read_text()


def test_replay_explain_and_bad_dialects_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["replay", str(SAMPLE), "-q", "--explain"], catch_exceptions=False)
    first = json.loads(result.stdout.splitlines()[0])
    assert first["verdict"] == "legit" and any(" accepts all " in r for r in first["explain"])
    assert any(r.startswith("left ") for r in first["explain"])
    bad = tmp_path / "d"
    bad.mkdir()
    (bad / "x.json").write_text('{"schema_version": 2}')
    err = CliRunner().invoke(cli, ["replay", str(SAMPLE), "--dialects", str(bad)])
    assert err.exit_code == 1 and "x.json" in err.stderr and "schema_version 2" in err.stderr


def test_eval_on_labels(tmp_path: Path) -> None:
    pcap = write(tmp_path / "a.pcap", lockstep(Flow(), SIMPLE).frames)
    labels = tmp_path / "labels.tsv"
    labels.write_text("pcap\tdialect\tclass\tflow\n" + f"{pcap.name}\tpython-smtplib\tlegit\t\n")
    result = CliRunner().invoke(cli, ["eval", str(labels), "--json"], catch_exceptions=False)
    report = json.loads(result.stdout)
    assert report["conversations"] == 1 and report["confusion"]["legit"]["bot"] == 0
    text = CliRunner().invoke(cli, ["eval", str(labels)], catch_exceptions=False).stdout
    assert "false positives (legit labelled bot): 0" in text
    bad = tmp_path / "bad.tsv"
    bad.write_text("pcap\tdialect\n")
    err = CliRunner().invoke(cli, ["eval", str(bad)])
    assert err.exit_code == 1 and "class" in err.stderr


def test_closed_output_pipe_ends_quietly() -> None:
    """`babel-sensor replay ... | head -1`: no per-flow "internal error" noise."""
    import subprocess
    import sys

    proc = subprocess.run(
        f"{sys.executable} -m sensor replay {SAMPLE} --format table -q | head -1",
        shell=True, capture_output=True, text=True, check=True, cwd=ROOT,
    )
    assert proc.stdout.startswith("TIME (UTC)")
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_version_says_which_build_runs() -> None:
    """The sources the tests run are pure Python (tests/test_compiled.py checks the
    compiled build says "compiled")."""
    result = CliRunner().invoke(cli, ["--version"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output.strip().endswith("(pure Python)"), result.output
