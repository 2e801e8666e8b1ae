"""The compiled build (``pip install .``: mypyc over the per-packet modules, setup.py)
behaves exactly as the pure-Python sources the other tests run.

One wheel is built for the module (about 30 s) and unpacked into a temporary directory.
Then, with that directory first on the path:

* the modules setup.py lists are C extensions (the build did not fall back silently);
* ``replay`` writes byte-identical records to the pure-Python ``replay`` for the sample,
  every public capture and the dialect corpus, and ``zeek`` for the Zeek logs;
* the unit tests of reassembly, SMTP (Hypothesis chunking invariance included), the
  matcher and the pipeline pass against it.

Needs a C compiler (CI installs gcc); without one the test is skipped and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from build_compiled import build  # noqa: E402

from setup import COMPILED  # noqa: E402

PUBLIC = ROOT.parent / "shared" / "pcaps" / "public"
CORPUS = ROOT / "dialects" / "corpus"
RUN = "import sys; sys.argv[0] = 'babel-sensor'; from sensor.cli import main; main()"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the compiled build cannot be made here")
    return build(tmp_path_factory.mktemp("compiled") / "site")


def run(site: Path | None, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-c", RUN, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True)


def test_modules_are_compiled(site: Path, tmp_path: Path) -> None:
    names = [p.removesuffix(".py").replace("/", ".") for p in COMPILED]
    code = "import importlib, sys\nfor n in sys.argv[1:]: print(importlib.import_module(n).__file__)"
    out = subprocess.run([sys.executable, "-c", code, *names], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(site)}).stdout.split()
    assert len(out) == len(names)
    for name, path in zip(names, out, strict=True):
        assert path.startswith(str(site)) and path.endswith(".so"), (name, path)


def test_version_says_compiled(site: Path, tmp_path: Path) -> None:
    assert run(site, "--version", cwd=tmp_path).stdout.strip().endswith("(compiled)")


def inputs() -> list[tuple[str, list[str]]]:
    cases = [("sample", ["replay", str(ROOT / "samples" / "smtp-sample.pcap")])]
    if PUBLIC.is_dir():
        public = sorted(str(p) for p in PUBLIC.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))
        cases.append(("public", ["replay", *public]))
    corpus = sorted(str(p) for p in CORPUS.rglob("*.pcap"))
    cases.append(("corpus", ["replay", *corpus]))
    logs = sorted(str(p) for p in (ROOT / "tests" / "data" / "zeek").rglob("*.log"))
    cases.append(("zeek", ["zeek", *logs]))
    return cases


@pytest.mark.parametrize(("name", "args"), inputs(), ids=[c[0] for c in inputs()])
def test_same_records_as_pure_python(site: Path, tmp_path: Path, name: str, args: list[str]) -> None:
    common = [*args, "-q", "--explain", "--dialects", str(ROOT / "dialects")]
    pure = run(None, *common, cwd=ROOT).stdout
    compiled = run(site, *common, cwd=tmp_path).stdout
    assert pure.count("\n") > 0
    assert compiled == pure


def test_unit_tests_pass_compiled(site: Path, tmp_path: Path) -> None:
    tests = ROOT / "tests"
    files = ["test_reassembly_connection.py", "test_smtp_conversation.py", "test_smtp_fuzz.py",
             "test_dialect_matcher.py", "test_pipeline_early.py", "test_capture_pcapfile.py",
             "test_capture_decode.py", "test_anomalies.py"]
    env = {**os.environ, "PYTHONPATH": str(site)}
    check = subprocess.run([sys.executable, "-c", "import sensor.pipeline as p; print(p.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert check.stdout.strip().endswith(".so")
    pytest_bin = [sys.executable, "-P", "-m", "pytest"]  # -P: not the current directory first
    proc = subprocess.run([*pytest_bin, "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
                           *(str(tests / f) for f in files)],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
