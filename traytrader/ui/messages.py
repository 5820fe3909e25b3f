"""Which engine events become desktop notifications, and their words (pure).

A notification must be readable in the second it is on screen: the title says what happened, the
body gives the numbers. Position updates and routine notices change only the tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass

from traytrader.engine.api import (
    CommandDone,
    CommandRejected,
    EngineState,
    Event,
    Notice,
    OrderAccepted,
    OrderFilled,
    SafetyAction,
    StateChanged,
    StopMoved,
    StoppedOut,
)
from traytrader.ui.menu_model import format_amount, format_quantity


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    urgent: bool = False
    image: str = ""   # a PNG shown where the desktop shows images (trade review, issue 18)


def latency_text(to_wire_us: float, round_trip_us: float) -> str:
    """``3.2 ms (key → wire 0.21 ms)``: what the user waited, and our own share of it."""
    total_ms = (to_wire_us + round_trip_us) / 1000
    return f"{total_ms:.1f} ms (key → wire {to_wire_us / 1000:.2f} ms)"


def notification_for(event: Event, previous: EngineState | None = None) -> Notification | None:
    """The notification for ``event``, or ``None`` when it only updates the tooltip.

    ``previous`` is the last engine state other than CONNECTING before a ``StateChanged``, to tell
    a reconnect (DISCONNECTED → … → READY) from a start.
    """
    match event:
        case OrderFilled():
            return Notification(
                f"{event.side.value} {format_quantity(event.quantity)} {event.symbol} filled",
                f"avg {format_amount(event.avg_price)} · "
                f"{latency_text(event.to_wire_us, event.round_trip_us)}",
            )
        case OrderAccepted():
            price = "" if event.price is None else f" @ {format_amount(event.price)}"
            return Notification(
                f"{event.side.value} {format_quantity(event.quantity)} {event.symbol}{price} resting",
                f"accepted in {latency_text(event.to_wire_us, event.round_trip_us)}",
            )
        case CommandRejected():
            return Notification("Order refused", event.text, urgent=True)
        case CommandDone():
            return Notification("Done", event.text)
        case StopMoved():
            return Notification(f"{event.symbol} stop moved", event.text)
        case StoppedOut():
            return Notification(
                f"{event.symbol} stopped out",
                f"exit {format_amount(event.exit_price)} · "
                f"PnL {format_amount(event.realized_pnl, signed=True)}"
                + (f" · {event.text}" if event.text else ""),
                urgent=True,
            )
        case SafetyAction():
            return Notification(f"{event.symbol} safety action", event.text, urgent=True)
        case StateChanged():
            return _state_notification(event, previous)
        case Notice() if event.level in ("warning", "error"):
            return Notification("traytrader", event.text, urgent=event.level == "error")
    return None


def _state_notification(event: StateChanged, previous: EngineState | None) -> Notification | None:
    state = event.state
    if state is previous:
        return None
    if state is EngineState.DISCONNECTED:
        return Notification("Disconnected", event.text or "The connection to the exchange dropped.",
                            urgent=True)
    if state is EngineState.READY:
        if previous is EngineState.DISCONNECTED:
            return Notification("Reconnected", event.text or "The connection to the exchange is back.")
        return Notification("Ready", event.text or "Connected; hotkeys work when armed.")
    if state is EngineState.LOCKED:
        return Notification("Vault locked",
                            event.text or "Hotkeys are off; stops already on the exchange stay.")
    if state is EngineState.ERROR:
        return Notification("traytrader needs you", event.detail or event.text, urgent=True)
    return None
