"""Benchmark: the engine idle — connected, warm, streams running (mark price 1 s, book ticker,
user data), the ASL watchdog ticking — CPU share of one core and resident memory.

The simulator runs in a separate process; only this process (engine thread, journal writer, main
thread asleep) is measured. CPU is sampled once a second over ``--seconds`` (default 20).
Goal: under 2 % of one core and under 80 MB RSS.

Run: ``.venv/bin/python benchmarks/bench_idle.py [--seconds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine import SimProcess, config_for, credentials, wait_until_ready

from traytrader.core.models import AslSettings
from traytrader.engine.handle import Engine


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="measured seconds (20)")
    args = parser.parse_args(argv)
    sim = SimProcess()
    try:
        config = replace(config_for(sim), asl=AslSettings())
        journal = Path(tempfile.mkdtemp(prefix="tt-idle-")) / "journal.sqlite3"
        engine = Engine(config, credentials(False), journal_path=journal)
        engine.start()
        wait_until_ready(engine)
        time.sleep(2)  # let warm-up work settle
        samples, rss = [], []
        for _ in range(args.seconds):
            cpu0, wall0 = time.process_time(), time.monotonic()
            time.sleep(1)
            samples.append(100 * (time.process_time() - cpu0) / (time.monotonic() - wall0))
            rss.append(rss_mb())
        engine.stop(3)
    finally:
        sim.stop()
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"\nbench_idle: engine connected and idle for {args.seconds} s (streams + ASL watchdog)\n")
    print(f"{'measurement':<40} {'median':>10} {'p99/max':>10}")
    print("-" * 62)
    print(f"{'CPU, % of one core (1 s samples)':<40} {statistics.median(samples):>10.2f} {p99:>10.2f}")
    print(f"{'RSS, MB':<40} {statistics.median(rss):>10.1f} {max(rss):>10.1f}")
    cpu_ok = statistics.median(samples) < 2.0
    rss_ok = max(rss) < 80.0
    print(f"\ngoals: CPU < 2 % {'met' if cpu_ok else 'MISSED'}; RSS < 80 MB {'met' if rss_ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
