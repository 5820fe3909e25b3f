"""The desktop's trade review without a desktop: what it posts when, and that "Open journal" is
never nothing."""

from __future__ import annotations

import queue
import webbrowser
from decimal import Decimal
from pathlib import Path

import pytest
from test_review_trades import rows_of, write_journal

from traytrader.engine.api import OrderFilled, StoppedOut
from traytrader.ui.messages import Notification
from traytrader.ui.trade_review import TradeReview


def started(journal: Path, posted: queue.Queue) -> TradeReview:
    return TradeReview(journal, posted.put, wait_s=0.3, poll_s=0.01).start()


def test_a_stop_out_without_its_trade_in_the_journal_still_notifies(tmp_path: Path) -> None:
    posted: queue.Queue[Notification] = queue.Queue()
    review = started(tmp_path / "journal.sqlite3", posted)
    try:
        note = Notification("BTCUSDT stopped out", "exit 1", urgent=True)
        assert review.on_event(StoppedOut("x", symbol="BTCUSDT", exit_price=Decimal(1)), note) is None
        assert posted.get(timeout=5) == note   # after wait_s, as it was
        fill = Notification("BUY 1 BTCUSDT filled", "")
        assert review.on_event(OrderFilled("x"), fill) is fill   # fills are not held back
    finally:
        review.stop()


def test_trades_closed_before_the_app_started_are_not_news(tmp_path: Path) -> None:
    journal = write_journal(tmp_path / "journal.sqlite3", rows_of("long_hard_stop"))
    posted: queue.Queue[Notification] = queue.Queue()
    review = started(journal, posted)
    try:
        review.on_event(OrderFilled("x"), None)
        with pytest.raises(queue.Empty):
            posted.get(timeout=0.6)
    finally:
        review.stop()


def test_a_trade_that_closes_is_posted_once_with_its_picture(tmp_path: Path) -> None:
    rows = rows_of("short_trailing_stop")
    cut = max(i for i, r in enumerate(rows)   # the exit (its stream event and fill row) not yet journalled
              if r.kind == "stream" and r.text == "ORDER_TRADE_UPDATE" and '"x":"TRADE"' in r.data)
    journal = write_journal(tmp_path / "journal.sqlite3", rows[:cut])
    posted: queue.Queue[Notification] = queue.Queue()
    review = started(journal, posted)
    try:
        review.on_event(OrderFilled("x"), None)
        with pytest.raises(queue.Empty):
            posted.get(timeout=0.5)
        journal.unlink()
        write_journal(journal, rows)
        review.on_event(StoppedOut("x", symbol="BTCUSDT"), Notification("BTCUSDT stopped out", ""))
        note = posted.get(timeout=5)
        assert note.title == "BTCUSDT short closed by trailing stop" and note.body.startswith("+")
        assert Path(note.image).is_file() and Path(note.image).name == "trade-1-thumb.png"
        review.on_event(OrderFilled("x"), None)
        with pytest.raises(queue.Empty):
            posted.get(timeout=0.6)
    finally:
        review.stop()


def test_open_journal_says_where_the_page_is_when_nothing_can_open_it(tmp_path: Path, monkeypatch) -> None:
    journal = write_journal(tmp_path / "journal.sqlite3", rows_of("long_flatten"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))   # no xdg-open
    monkeypatch.setattr(webbrowser, "open", lambda url: False)  # and no browser Python knows
    said: list[Notification] = []
    review = TradeReview(journal, said.append)
    assert review.open_page(said.append) is False
    assert said and str(tmp_path / "trades.html") in said[0].body
    page = (tmp_path / "trades.html").read_text()
    assert "closed by flatten" in page and "trades/trade-1.png" in page


def test_the_page_of_an_empty_journal_says_so(tmp_path: Path) -> None:
    review = TradeReview(tmp_path / "journal.sqlite3", lambda note: None)
    page = review.write_page().read_text()
    assert "No closed trades in the journal yet." in page and "(none)" in page
