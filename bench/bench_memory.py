"""Peak memory of replay under a SYN flood: the flow table must stay bounded.

    python3 bench/bench_memory.py [--flows 1000000]

Writes bench/out/syn-<N>.pcap (N SYN-only connections from distinct addresses and
ports, 10 µs apart, so none expires by idle time during the run) for N = flows/10 and
N = flows, replays each with the default caps and prints the peak resident memory of
the replay process (ru_maxrss), next to a replay of the bundled sample (the
interpreter and its imports). With ``[reassembly] max_flows`` connections at most,
the two floods must peak at about the same memory: the table is full in both, and
every new SYN beyond it evicts the oldest handshake-only connection.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
ROOT = HERE.parent


def peak_rss_mb(args: list[str]) -> tuple[float, str]:
    """Run babel-sensor in a child; its peak RSS in MB and its summary (stderr)."""
    code = (
        "import resource, sys\n"
        "from sensor.cli import cli\n"
        "try:\n"
        "    cli(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KB")]
    if not peak:
        raise SystemExit(proc.stderr)
    summary = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("PEAK_KB"))
    return int(peak[0].split()[1]) / 1024, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", type=int, default=1_000_000)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    base, _ = peak_rss_mb(["replay", str(ROOT / "samples" / "smtp-sample.pcap"), "-q", "-o", os.devnull])
    print(f"{'capture':<28} {'peak RSS MB':>12}")
    print(f"{'bundled sample (baseline)':<28} {base:>12.1f}")
    sys.path.insert(0, str(HERE))
    from build_capture import build_syn_flood

    for n in (args.flows // 10, args.flows):
        pcap = OUT / f"syn-{n}.pcap"
        if not pcap.exists():
            build_syn_flood(pcap, n)
        peak, summary = peak_rss_mb(["replay", str(pcap), "-o", os.devnull, "--no-progress"])
        first = summary.splitlines()[0] if summary else ""
        print(f"{f'{n:,} SYN-only flows':<28} {peak:>12.1f}   {first}")
    from sensor.config import load_settings

    print(f"\n[reassembly] max_flows = {load_settings().reassembly.max_flows} (default)")


if __name__ == "__main__":
    main()
