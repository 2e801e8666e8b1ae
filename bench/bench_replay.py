"""Replay throughput against tshark, pyshark, tcpdump and a bare dpkt loop, on one file.

    python3 bench/bench_replay.py [--copies 200] [--pyshark-packets 5000] [--runs 3]

Builds (once) bench/out/smtp-bench.pcap with bench/build_capture.py, then times each
reader on it in this one run and prints packets per second (CPU time of the process
doing the work, best of --runs, so a busy machine skews less) and the ratios.

* replay, compiled: `babel-sensor replay FILE -q -o /dev/null` (a subprocess, like a
            user runs it) from the package `pip install .` installs, whose per-packet
            modules are compiled with mypyc (built here with bench/build_compiled.py)
* replay, pure Python: the same command on the sources (`pip install -e .`, or
            BABEL_SENSOR_COMPILE=0)
* dpkt:     `for ts, buf in dpkt.pcap.Reader(f): pass` (the floor of any dpkt-based tool)
* tshark:   `tshark -r FILE -Y smtp.req -T fields -e smtp.req.command`
* pyshark:  FileCapture on the first --pyshark-packets packets (a cut: it is slow)
* tcpdump:  `tcpdump -n -r FILE` to /dev/null
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from build_compiled import build  # noqa: E402

OUT = HERE / "out"
CAPTURE = OUT / "smtp-bench.pcap"


def child_cpu(cmd: list[str]) -> float:
    """CPU seconds (user+system) of a child process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def count_packets(path: Path) -> int:
    import dpkt

    with open(path, "rb") as fh:
        return sum(1 for _ in dpkt.pcap.Reader(fh))


def dpkt_loop(path: Path) -> None:
    import dpkt

    with open(path, "rb") as fh:
        for _ts, _buf in dpkt.pcap.Reader(fh):
            pass


PYSHARK_CHILD = """
import sys, time, pyshark
cap = pyshark.FileCapture(sys.argv[1], keep_packets=False)
start = time.perf_counter()
n = sum(1 for _ in cap)
cap.close()
print(n, time.perf_counter() - start)
"""


def pyshark_cut(path: Path, packets: int) -> tuple[int, float]:
    """pyshark on the first ``packets`` packets; its work is in its tshark child, so
    this is wall time. It runs in bench/out: pyshark reads ./config.ini as its own
    configuration, and the project root has ours."""
    cut = OUT / f"cut-{packets}.pcap"
    subprocess.run(["tcpdump", "-r", str(path), "-c", str(packets), "-w", str(cut)],
                   stderr=subprocess.DEVNULL, check=True)
    out = subprocess.run([sys.executable, "-c", PYSHARK_CHILD, str(cut)], cwd=OUT,
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1])


def best(fn, runs: int) -> float:
    return min(fn() for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--pyshark-packets", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--pure-only", action="store_true", help="Do not build and time the compiled package.")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.rebuild or not CAPTURE.exists():
        subprocess.run([sys.executable, str(HERE / "build_capture.py"), str(CAPTURE),
                        "--copies", str(args.copies)], check=True)
    packets = count_packets(CAPTURE)
    size = CAPTURE.stat().st_size
    print(f"capture: {CAPTURE} ({packets} packets, {size / 1e6:.1f} MB)")
    results: dict[str, float] = {}
    replay_args = ["replay", str(CAPTURE), "-q", "-o", os.devnull, "--dialects", str(ROOT / "dialects")]
    if not args.pure_only:
        try:
            site = build(OUT / "compiled")
        except (subprocess.CalledProcessError, RuntimeError) as exc:  # no compiler, no mypyc
            print(f"compiled build: skipped ({exc})")
        else:
            results["babel-sensor replay (compiled)"] = packets / best(
                lambda: child_cpu(replay_cmd(replay_args, site)), args.runs)
    results["babel-sensor replay (pure Python)"] = packets / best(
        lambda: child_cpu(replay_cmd(replay_args, None)), args.runs)
    dpkt_cmd = [sys.executable, "-c",
                "import sys,dpkt\nfor _ in dpkt.pcap.Reader(open(sys.argv[1],'rb')): pass", str(CAPTURE)]
    results["dpkt record loop"] = packets / best(lambda: child_cpu(dpkt_cmd), args.runs)
    if shutil.which("tshark"):
        results["tshark -Y smtp.req -T fields"] = packets / best(lambda: child_cpu(
            ["tshark", "-r", str(CAPTURE), "-Y", "smtp.req", "-T", "fields", "-e", "smtp.req.command"]), 1)
    if shutil.which("tcpdump"):
        results["tcpdump -n -r"] = packets / best(lambda: child_cpu(["tcpdump", "-n", "-r", str(CAPTURE)]), args.runs)
    try:
        n, seconds = pyshark_cut(CAPTURE, args.pyshark_packets)
        results[f"pyshark (first {n} packets, wall)"] = n / seconds
    except Exception as exc:  # pyshark missing or broken: say so, keep the rest
        print(f"pyshark: skipped ({exc})")
    main_name = next(iter(results))  # the compiled build unless --pure-only
    replay = results[main_name]
    print(f"\n{'reader':<36} {'packets/s':>12} {'replay / it':>12}")
    for name, rate in results.items():
        print(f"{name:<36} {rate:>12,.0f} {replay / rate:>12.2f}")
    dpkt = results["dpkt record loop"]
    for name in (n for n in results if n.startswith("babel-sensor")):
        print(f"{name} / dpkt = {results[name] / dpkt:.2f}")
    print(f"target: {main_name} / dpkt >= 0.60")


def replay_cmd(args: list[str], site: Path | None) -> list[str]:
    """``babel-sensor ARGS`` from the compiled package in ``site``, or from the sources."""
    code = "import sys; sys.argv[0] = 'babel-sensor'; from sensor.cli import main; main()"
    if site is None:
        return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}", *args]
    check = "import sensor.pipeline as p; assert p.__file__.endswith('.so'), p.__file__"
    return ["env", f"PYTHONPATH={site}", sys.executable, "-P", "-c", f"{check}; {code}", *args]


if __name__ == "__main__":
    main()
