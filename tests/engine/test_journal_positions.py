"""The journal (append-only, redacted, WAL) and the position tracker, without a network."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from traytrader.core.models import PositionSide, Side
from traytrader.engine.journal import REDACTED, Journal, read_journal, redact
from traytrader.engine.positions import PositionTracker

REAL = Path(__file__).resolve().parents[1].joinpath("data/real/user_stream")


def test_journal_writes_reads_and_redacts(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    secret = "S3cretValueThatMustNeverAppear"
    journal = Journal(path, secrets=[secret])
    journal.record(
        "request",
        "order.place",
        symbol="BTCUSDT",
        client_id="tt-1",
        request_id="4",
        data={"symbol": "BTCUSDT", "apiKey": "k" * 20, "signature": "abc", "quantity": Decimal("0.1")},
    )
    journal.record("notice", f"an error mentioning {secret}", data={"nested": [{"note": secret}]})
    journal.record("response", "order.place", latency_us=123.5)
    assert journal.flush()
    journal.close()
    rows = read_journal(path)
    assert [r.kind for r in rows] == ["request", "notice", "response"]
    assert json.loads(rows[0].data) == {
        "symbol": "BTCUSDT",
        "apiKey": REDACTED,
        "signature": REDACTED,
        "quantity": "0.1",
    }
    assert rows[0].client_id == "tt-1" and rows[0].request_id == "4"
    assert rows[2].latency_us == 123.5
    raw = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("j.sqlite3-*"))
    assert secret.encode() not in raw
    assert read_journal(path, last=1)[0].kind == "response"


def test_journal_is_append_only_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    journal.record("command", "buy")
    journal.close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("DELETE FROM journal")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("UPDATE journal SET text = 'x'")
    connection.close()


def test_journal_disabled_and_missing_file(tmp_path: Path) -> None:
    journal = Journal(None)
    journal.record("x")
    assert journal.flush()
    journal.close()
    assert read_journal(tmp_path / "none.sqlite3") == []


def test_redact_nested() -> None:
    assert redact({"a": [{"listenKey": "x"}], "Signature": 1}) == {
        "a": [{"listenKey": REDACTED}],
        "Signature": REDACTED,
    }


def test_tracker_fill_then_account_update_does_not_double_count() -> None:
    tracker = PositionTracker()
    tracker.apply_fill("BTCUSDT", PositionSide.BOTH, Side.BUY, Decimal("0.002"), Decimal("60000"), 1_000)
    position = tracker.get("BTCUSDT")
    assert position.quantity == Decimal("0.002") and position.entry_price == Decimal("60000")
    assert position.ours
    # The exchange's absolute update (later) confirms; a replayed fill with an older time is skipped.
    tracker.on_account_update(
        {
            "e": "ACCOUNT_UPDATE",
            "T": 1_001,
            "a": {"P": [{"s": "BTCUSDT", "pa": "0.002", "ep": "60000", "up": "0", "ps": "BOTH"}]},
        }
    )
    assert (
        tracker.apply_fill("BTCUSDT", PositionSide.BOTH, Side.BUY, Decimal("0.002"), Decimal("60000"), 1_000)
        is None
    )
    assert tracker.get("BTCUSDT").quantity == Decimal("0.002")


def test_tracker_average_entry_reduce_and_reverse() -> None:
    tracker = PositionTracker()
    tracker.apply_fill("X", PositionSide.BOTH, Side.BUY, Decimal(1), Decimal(100), 1)
    tracker.apply_fill("X", PositionSide.BOTH, Side.BUY, Decimal(1), Decimal(110), 2)
    assert tracker.get("X").entry_price == Decimal(105)
    tracker.apply_fill("X", PositionSide.BOTH, Side.SELL, Decimal(3), Decimal(120), 3)
    position = tracker.get("X")
    assert position.quantity == Decimal(-1) and position.entry_price == Decimal(120)
    tracker.apply_fill("X", PositionSide.BOTH, Side.BUY, Decimal(1), Decimal(90), 4)
    assert tracker.get("X").quantity == 0 and not tracker.get("X").ours
    tracker.on_mark("X", Decimal(1))
    assert tracker.open_positions() == []


def test_tracker_real_account_update_and_load() -> None:
    event = json.loads((REAL / "roq_fapi_account_update_order_xrpusdt.json").read_text())
    tracker = PositionTracker()
    changed = tracker.on_account_update(event)
    assert changed and all(p.symbol for p in changed)
    tracker.load(
        [
            {
                "symbol": "BTCUSDT",
                "positionAmt": "-0.010",
                "entryPrice": "65000.1",
                "positionSide": "BOTH",
                "unRealizedProfit": "1.5",
            }
        ],
        5,
    )
    assert tracker.get("BTCUSDT").quantity == Decimal("-0.010")
    assert all(p.symbol == "BTCUSDT" for p in tracker.open_positions())
    tracker.on_mark("BTCUSDT", Decimal("64000.1"))
    assert tracker.get("BTCUSDT").unrealized_pnl == Decimal("10.000")
