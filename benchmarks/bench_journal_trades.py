"""Benchmark: ``traytrader journal trades`` over a journal of 10,000 trades (issue 18: "prints in
under a second").

The journal is made of the flows the engine recorded against the simulator
(``tests/data/trade_flows``: hard stop, trailing stop, LIMIT entry + close key, flatten, reverse),
repeated with their times shifted until it holds ``--trades`` trades: every row kind the engine
writes, requests, responses and mark prices included (~60 rows per trade).

Run: ``.venv/bin/python benchmarks/bench_journal_trades.py [--trades 10000] [--runs 5]``. Prints
the median and worst wall time of the whole command (a new Python process each run, as a user
runs it) and of reading + deriving + formatting in-process.
"""

from __future__ import annotations

import argparse
import io
import json
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
        walls = []
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            walls.append(time.perf_counter() - started)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
        counted = next(line for line in done.stdout.splitlines() if "closed trade(s)" in line)
        from traytrader.commands.journal_cmd import format_trades, load_trades

        inside = []
        for _ in range(args.runs):
            started = time.perf_counter()
            with redirect_stdout(io.StringIO()):
                print("\n".join(format_trades(load_trades(str(journal)))))
            inside.append(time.perf_counter() - started)
    print(f"journal: {rows:,} rows, {size_mb:.0f} MB; {counted}")
    print(f"{'':<44}{'median':>9}{'worst':>9}")
    print(f"{'traytrader journal trades (new process)':<44}{statistics.median(walls):>8.3f}s{max(walls):>8.3f}s")
    print(f"{'read + derive + format (in process)':<44}{statistics.median(inside):>8.3f}s{max(inside):>8.3f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
