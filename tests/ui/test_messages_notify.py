"""Notification words for engine events, and the notifier's single warning when there is no service."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

import pytest

from traytrader.core.models import Side
from traytrader.engine.api import (
    CommandDone,
    CommandRejected,
    EngineState,
    Notice,
    OrderAccepted,
    OrderFilled,
    PositionChanged,
    SafetyAction,
    StateChanged,
    StopMoved,
    StoppedOut,
)
from traytrader.ui.messages import Notification, latency_text, notification_for
from traytrader.ui.notify import Notifier

BTC = {"BTCUSDT": (Decimal("0.10"), Decimal("0.001"))}  # Binance's BTCUSDT tick and step


def test_fill_says_side_quantity_symbol_price_and_latency() -> None:
    note = notification_for(OrderFilled("filled", symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.0020"),
                                        avg_price=Decimal("97000.1"), fee=Decimal("0.0776"),
                                        to_wire_us=210.0, round_trip_us=3000.0,
                                        position_after=Decimal("0.002")), grids=BTC)
    assert note == Notification("Bought 0.002 BTCUSDT",
                                "at 97,000.1 · fee 0.08 USDT · 3.2 ms (0.21 ms to send)")


def test_a_close_says_closed_with_realised_pnl_and_fee() -> None:
    note = notification_for(OrderFilled("Sold", symbol="BTCUSDT", side=Side.SELL, quantity=Decimal("0.002"),
                                        avg_price=Decimal("98560"), fee=Decimal("0.0788"),
                                        realized_pnl=Decimal("3.1198"), position_after=Decimal(0),
                                        to_wire_us=150, round_trip_us=2050), grids=BTC)
    assert note == Notification("Closed BTCUSDT long 0.002",
                                "at 98,560.0 · realised PnL +3.12 USDT (fee 0.08 USDT) · "
                                "2.2 ms (0.15 ms to send)")
    half = notification_for(OrderFilled("Bought", symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.001"),
                                        avg_price=Decimal("98000"), realized_pnl=Decimal("-1.5"),
                                        position_after=Decimal("-0.001")), grids=BTC)
    assert half is not None and half.title == "Reduced BTCUSDT short by 0.001"
    assert "realised PnL -1.50 USDT" in half.body and "0.001 left" in half.body


def test_no_sentence_speaks_of_a_key_whatever_started_the_order() -> None:
    assert "key" not in latency_text(210, 3000) and latency_text(210, 3000) == "3.2 ms (0.21 ms to send)"


def test_resting_limit_order() -> None:
    note = notification_for(OrderAccepted("ok", symbol="ETHUSDT", side=Side.SELL, quantity=Decimal("1"),
                                          price=Decimal("3000.5"), to_wire_us=100, round_trip_us=900),
                            grids={"ETHUSDT": (Decimal("0.01"), Decimal("0.001"))})
    assert note is not None and note.title == "Sell 1.000 ETHUSDT at 3,000.50 resting"


def test_rejection_carries_the_engines_sentence() -> None:
    sentence = "Margin is insufficient (code -2019)."
    note = notification_for(CommandRejected(sentence, code=-2019))
    assert note == Notification("Order refused", sentence, urgent=True)


def test_stop_moves_and_stop_outs_with_pnl() -> None:
    text = "BTCUSDT long: stop → trailing 1.5% (tier 2)"
    moved = notification_for(StopMoved(text, symbol="BTCUSDT", tier=2))
    assert moved is not None and moved.title == "BTCUSDT stop moved" and "tier 2" in moved.body
    placed = notification_for(StopMoved("BTCUSDT long: stop → 95,000.0", symbol="BTCUSDT"), first_stop=True)
    assert placed is not None and placed.title == "BTCUSDT stop placed"
    out = notification_for(StoppedOut("", symbol="BTCUSDT", exit_price=Decimal("95000"),
                                      realized_pnl=Decimal("-4.2")), grids=BTC)
    assert out == Notification("BTCUSDT stopped out", "exit 95,000.0 · realised PnL -4.20 USDT", urgent=True)
    win = notification_for(StoppedOut("trailing", symbol="X", exit_price=Decimal(1),
                                      realized_pnl=Decimal("3")))
    assert win is not None and "PnL +3.00 USDT · trailing" in win.body


def test_disconnect_reconnect_ready_locked_error() -> None:
    down = notification_for(StateChanged("", state=EngineState.DISCONNECTED))
    assert down is not None and down.title == "Disconnected" and down.urgent
    back = notification_for(StateChanged("", state=EngineState.READY), EngineState.DISCONNECTED)
    assert back is not None and back.title == "Reconnected"
    first = notification_for(StateChanged("", state=EngineState.READY), EngineState.LOCKED)
    assert first is not None and first.title == "Ready"
    assert notification_for(StateChanged("", state=EngineState.READY), EngineState.READY) is None
    locked = notification_for(StateChanged("", state=EngineState.LOCKED))
    assert locked is not None and locked.title == "Vault locked"
    error = notification_for(StateChanged("x", state=EngineState.ERROR, detail="The API key was rejected."))
    assert error is not None and error.body == "The API key was rejected." and error.urgent
    assert notification_for(StateChanged("", state=EngineState.CONNECTING)) is None


def test_quiet_events() -> None:
    assert notification_for(PositionChanged("p", quantity=Decimal(1))) is None
    assert notification_for(Notice("clock resynced", level="info")) is None
    assert notification_for(Notice("rate limit hold", level="warning")) is not None
    assert notification_for(CommandDone("Cancelled 2 orders.")) == Notification("Done", "Cancelled 2 orders.")
    assert notification_for(SafetyAction("closed", symbol="BTCUSDT")).urgent  # type: ignore[union-attr]


def test_latency_text() -> None:
    assert latency_text(0, 0) == "0.00 ms (0.00 ms to send)"
    assert latency_text(1500, 10_000) == "11.5 ms (1.5 ms to send)"


def test_missing_service_warns_once_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    fallbacks: list[Notification] = []
    done = threading.Event()

    def no_service(_note: Notification) -> None:
        raise OSError("org.freedesktop.Notifications was not provided by any .service files")

    def fallback(note: Notification) -> None:
        fallbacks.append(note)
        if len(fallbacks) == 3:
            done.set()

    notifier = Notifier(no_service, on_fallback=fallback).start()
    with caplog.at_level(logging.INFO, logger="traytrader.ui.notify"):
        for i in range(3):
            notifier.post(Notification(f"t{i}", "b"))
        assert done.wait(2)
        notifier.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert [n.title for n in fallbacks] == ["t0", "t1", "t2"]
    assert sum("t1: b" in r.getMessage() for r in caplog.records) == 1
    assert notifier.degraded and notifier.delivered == 0


def test_delivery_in_order_on_the_worker_thread() -> None:
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def send(note: Notification) -> None:
        seen.append((note.title, threading.current_thread().name))
        if len(seen) == 2:
            done.set()

    notifier = Notifier(send).start()
    notifier.post(Notification("a", ""))
    notifier.post(Notification("b", ""))
    assert done.wait(2)
    notifier.stop()
    assert seen == [("a", "traytrader-notify"), ("b", "traytrader-notify")]
    assert notifier.delivered == 2 and not notifier.warned
