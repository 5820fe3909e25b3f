"""Benchmark: ``traytrader journal trades`` over a journal of 10,000 trades (issue 18: "prints in
under a second").

The journal is made of the flows the engine recorded against the simulator
(``tests/data/trade_flows``: hard stop, trailing stop, LIMIT entry + close key, flatten, reverse),
repeated with their times shifted until it holds ``--trades`` trades: every row kind the engine
writes, requests, responses and mark prices included (~60 rows per trade).

Run: ``.venv/bin/python benchmarks/bench_journal_trades.py [--trades 10000] [--runs 5]``. Prints
the median and worst wall time and the median CPU time of the whole command (a new Python process
each run, as a user runs it) and of reading + deriving + formatting in-process. On a shared machine
the CPU time is the steadier figure: wall time grows with the load average, which it prints.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from traytrader.engine.journal import _SCHEMA

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "tests" / "data" / "trade_flows"


def build_journal(path: Path, trades: int) -> int:
    """Write a journal of at least ``trades`` trades; returns its row count."""
    recordings = [json.loads(p.read_text()) for p in sorted(FLOWS.glob("*.json"))]
    per_copy = {"long_reverse_then_close": 2}
    connection = sqlite3.connect(path)
    connection.executescript(_SCHEMA)
    made = rows = 0
    shift = 0
    while made < trades:
        for recording in recordings:
            batch = [(r["at_ms"] + shift, r["kind"], r["symbol"], r["client_id"], r["request_id"], r["text"],
                      r["data"], r["latency_us"]) for r in recording["rows"]]
            connection.executemany(
                "INSERT INTO journal (at_ms, kind, symbol, client_id, request_id, text, data, latency_us) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            rows += len(batch)
            made += per_copy.get(recording["flow"], 1)
            shift += 600_000   # ten minutes later each time
            if made >= trades:
                break
    connection.commit()
    connection.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        journal = Path(directory) / "journal.sqlite3"
        rows = build_journal(journal, args.trades)
        size_mb = journal.stat().st_size / 1e6
        command = [sys.executable, "-m", "traytrader", "journal", "trades", "--journal", str(journal)]
        walls, cpus = [], []
        for _ in range(args.runs):
            before = os.times()
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            walls.append(time.perf_counter() - started)
            after = os.times()
            cpus.append(after.children_user + after.children_system - before.children_user
                        - before.children_system)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
        counted = next(line for line in done.stdout.splitlines() if "closed trade(s)" in line)
        from traytrader.commands.journal_cmd import format_trades, load_trades

        inside, inside_cpu = [], []
        for _ in range(args.runs):
            started, started_cpu = time.perf_counter(), time.process_time()
            with redirect_stdout(io.StringIO()):
                print("\n".join(format_trades(load_trades(str(journal)))))
            inside.append(time.perf_counter() - started)
            inside_cpu.append(time.process_time() - started_cpu)
    print(f"journal: {rows:,} rows, {size_mb:.0f} MB; {counted}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall time stretches with it)")
    print(f"{'':<44}{'wall median':>12}{'worst':>8}{'CPU median':>12}")
    for label, wall, cpu in (("traytrader journal trades (new process)", walls, cpus),
                             ("read + derive + format (in process)", inside, inside_cpu)):
        print(f"{label:<44}{statistics.median(wall):>11.3f}s{max(wall):>7.3f}s{statistics.median(cpu):>11.3f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
