"""The Zeek front end: logs real Zeek wrote give what replay gives on the same captures."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PUBLIC, Collect, replay_records

from sensor.capture.zeeklog import read_records
from sensor.cli import cli
from sensor.cli_dialects import load_machine
from sensor.config import load_settings
from sensor.pipeline import Pipeline

ZEEK = Path(__file__).parent / "data" / "zeek"
CORPUS = Path(__file__).parent.parent / "dialects" / "corpus"
LOGS = sorted(ZEEK.glob("public/*/*.smtp_dialect.log")) + sorted(ZEEK.glob("corpus/*/*.smtp_dialect.log"))


def capture_of(log: Path) -> Path:
    root = PUBLIC if log.parent.parent.name == "public" else CORPUS
    return root / log.parent.name / log.name.removesuffix(".smtp_dialect.log")


def zeek_records(log: Path) -> list[dict]:
    out = Collect()
    pipeline = Pipeline(load_settings(), [out], isolate_errors=False, machine=load_machine(None))
    pipeline.run_conversations(read_records(log))
    pipeline.finish()
    return [json.loads(json.dumps(a.to_json())) for a in out.alerts]


def key(rec: dict) -> tuple:
    return (rec["client"], rec["client_port"], rec["server"], rec["server_port"], round(rec["ts"], 3))


@pytest.mark.parametrize("log", LOGS, ids=[f"{p.parent.parent.name}/{p.parent.name}/{p.name}" for p in LOGS])
def test_zeek_log_equals_replay(log: Path) -> None:
    capture = capture_of(log)
    if not capture.is_file():
        pytest.skip(f"{capture} not present")
    ours = {key(r): r for r in replay_records([capture], load_settings(), load_machine(None))}
    theirs = {key(r): r for r in zeek_records(log)}
    compared = 0
    for k, z in theirs.items():
        r = ours.get(k)
        if r is None or z["incomplete"] or r["incomplete"]:
            continue
        compared += 1
        assert z["client_lines"] == r["client_lines"], k
        assert z["replies"] == r["replies"], k
        assert z["verdict"] == r["verdict"], k
    missing = [k for k, r in ours.items() if not r["incomplete"] and k not in theirs]
    assert not missing, f"conversations replay reports and the Zeek log lacks: {missing}"
    if log.parent.parent.name == "corpus":  # our own gap-free captures: Zeek too sees them whole
        assert compared == len(ours) == len(theirs)


def record(**overrides: object) -> dict:
    base = {
        "ts": 1.0, "uid": "C1", "id.orig_h": "198.51.100.7", "id.orig_p": 40000,
        "id.resp_h": "203.0.113.25", "id.resp_p": 25, "schema_version": 1,
        "chunk_ts": [1.1, 1.2, 1.3], "chunk_dir": ["s", "c", "s"], "chunk_seq": [1, 1, 29],
        "chunk_data": [base64.b64encode(d).decode() for d in
                       (b"220 mx.example.net ESMTP hi\r\n", b"EHLO a.example\r\n", b"250 mx\r\n")],
        "orig_bytes": 16, "resp_bytes": 37, "end": "close", "incomplete": False, "mid_stream": False,
    }
    base.update(overrides)
    return base


def test_incomplete_record_is_marked_and_bad_lines_are_skipped(tmp_path: Path, caplog) -> None:
    log = tmp_path / "smtp_dialect.log"
    log.write_text("\n".join([
        json.dumps(record(end="gap", incomplete=True, reason="gap")),
        "{not json",
        json.dumps(record(schema_version=9)),
        json.dumps(record(uid="C2", **{"id.orig_p": 40001})),
    ]) + "\n")
    recs = zeek_records(log)
    assert [r["client_port"] for r in recs] == [40000, 40001]
    assert recs[0]["incomplete"] is True and recs[0]["end"] == "gap"
    assert recs[1]["incomplete"] is False and recs[1]["client_lines"] == ["EHLO a.example\r\n"]
    assert "smtp_dialect.log:2" in caplog.text and "smtp_dialect.log:3" in caplog.text


def test_follow_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "smtp_dialect.log"
    log.write_text(json.dumps(record()) + "\n")

    def rotate_and_write() -> None:
        time.sleep(0.3)
        log.rename(tmp_path / "smtp_dialect.old.log")
        log.write_text(json.dumps(record(**{"id.orig_p": 40002})) + "\n")

    writer = threading.Thread(target=rotate_and_write)
    writer.start()
    flows = [flow.client_port for flow, _events in read_records(log, follow=True, idle_exit=2.0, poll=0.05)]
    writer.join()
    assert flows == [40000, 40002]


def test_zeek_command(tmp_path: Path) -> None:
    log = tmp_path / "smtp_dialect.log"
    log.write_text(json.dumps(record()) + "\n")
    result = CliRunner().invoke(cli, ["zeek", str(log), "-q"], catch_exceptions=False)
    assert json.loads(result.stdout)["client_lines"] == ["EHLO a.example\r\n"]
    missing = CliRunner().invoke(cli, ["zeek", str(tmp_path / "nope.log")])
    assert missing.exit_code == 1 and "nope.log" in missing.stderr
