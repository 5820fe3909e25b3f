"""The journal's trade-review parts: the mark recorder's bounded rate, and a crashed run's journal
reading up to its last complete row."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from traytrader.engine.journal import MarkRecorder, read_journal, read_trade_rows


class Rows:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def record(self, kind: str, text: str = "", *, symbol: str = "", **_: Any) -> None:
        self.rows.append((kind, symbol, text))


def mark(symbol: str, price: str) -> dict[str, Any]:
    return {"e": "markPriceUpdate", "s": symbol, "p": price}


def test_marks_are_recorded_only_with_a_position_and_at_a_bounded_rate() -> None:
    journal, now, open_ = Rows(), [0], {"BTCUSDT"}
    recorder = MarkRecorder(journal, lambda s: s in open_, now_ms=lambda: now[0],   # type: ignore[arg-type]
                            interval_ms=1000, idle_ms=15_000)
    for step in range(50):                     # 20 marks a second, rising: 3 rows (0, 1, 2 s)
        now[0] = step * 50
        recorder(mark("BTCUSDT", str(100 + step)))
        recorder(mark("ETHUSDT", str(10 + step)))   # no position: never
    assert journal.rows == [("mark", "BTCUSDT", "100"), ("mark", "BTCUSDT", "120"),
                            ("mark", "BTCUSDT", "140")]
    journal.rows.clear()
    for second in range(3, 40):               # a price standing still: one row per 15 s
        now[0] = second * 1000
        recorder(mark("BTCUSDT", "140"))
    assert [row[2] for row in journal.rows] == ["140", "140"]
    journal.rows.clear()
    open_.clear()
    now[0] += 5000
    recorder(mark("BTCUSDT", "150"))          # flat: nothing
    open_.add("BTCUSDT")
    now[0] += 10
    recorder(mark("BTCUSDT", "151"))          # the next position's first mark: at once
    recorder({"e": "bookTicker", "s": "BTCUSDT", "b": "1", "a": "2"})
    recorder({"e": "markPriceUpdate", "s": None, "p": "1"})
    assert journal.rows == [("mark", "BTCUSDT", "151")]


CHILD = textwrap.dedent("""
    import json, os, sys
    from traytrader.engine.journal import Journal
    journal = Journal(sys.argv[1])
    fill = {"e": "ORDER_TRADE_UPDATE", "o": {"s": "BTCUSDT", "c": "tt1", "S": "BUY", "x": "TRADE",
            "l": "1", "L": "100", "n": "0.01", "N": "USDT", "R": False, "ps": "BOTH", "rp": "0", "i": 1}}
    for batch in range(4):   # four commits of 50 rows
        for index in range(50):
            first = batch == index == 0
            journal.record("stream", "ORDER_TRADE_UPDATE" if first else "noise",
                           data=fill if first else {"index": index})
        assert journal.flush(5)
    print("flushed", flush=True)
    os._exit(9)   # killed: no close, no checkpoint
""")


def test_a_crashed_runs_journal_reads_up_to_its_last_complete_row(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=root))
    assert "flushed" in done.stdout, done.stderr
    wal = path.with_name(path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0, "the rows are still in the WAL, as after a crash"
    assert len(read_journal(path)) == 200
    with wal.open("r+b") as handle:           # a torn write: the last commit's last frame half on disk
        handle.truncate(wal.stat().st_size - 100)
    rows = read_journal(path)
    assert [r.seq for r in rows] == list(range(1, 151)), "every row of the three complete commits"
    assert [r.text for r in read_trade_rows(path)] == ["ORDER_TRADE_UPDATE"]


def test_a_journal_that_is_not_a_database_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    assert read_trade_rows(path) == []
    assert read_trade_rows(tmp_path / "missing.sqlite3") == []
