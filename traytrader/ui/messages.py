"""Which engine events become desktop notifications, and their words (pure).

A notification must be readable in the second it is on screen: the title says what happened, the
body gives the numbers. Position updates and routine notices change only the tooltip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from traytrader.core import display
from traytrader.core.models import Side
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
    Status,
    StopMoved,
    StoppedOut,
)

#: symbol → (price tick, quantity step), from the engine's ``Status``; unknown symbols show the
#: digits they have.
Grids = Mapping[str, tuple[Decimal | None, Decimal | None]]


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    urgent: bool = False
    image: str = ""   # a PNG shown where the desktop shows images (trade review, issue 18)


def latency_text(to_wire_us: float, round_trip_us: float) -> str:
    """``3.2 ms (0.21 ms to send)``: what the user waited, and our own share of it (the time
    from the click, key or command to the frame on the wire, whichever started it)."""
    return f"{display.milliseconds(to_wire_us + round_trip_us)} ({display.milliseconds(to_wire_us)} to send)"


def grids_of(status: Status) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Every symbol's tick and step a ``Status`` knows (its own symbol and each open position)."""
    grids = {p.symbol: (p.tick_size, p.step_size) for p in status.positions}
    if status.symbol:
        grids[status.symbol] = (status.tick_size, status.step_size)
    return grids


def notification_for(event: Event, previous: EngineState | None = None, *, grids: Grids | None = None,
                     first_stop: bool = False) -> Notification | None:
    """The notification for ``event``, or ``None`` when it only updates the tooltip.

    ``previous`` is the last engine state other than CONNECTING before a ``StateChanged``, to tell
    a reconnect (DISCONNECTED → … → READY) from a start. ``grids`` gives prices and quantities
    their symbol's tick and step; ``first_stop`` says a ``StopMoved`` is the position's first stop
    (so it is "placed", not "moved").
    """
    tick, step = (grids or {}).get(getattr(event, "symbol", ""), (None, None))
    match event:
        case OrderFilled():
            return _fill_notification(event, tick, step)
        case OrderAccepted():
            price = "" if event.price is None else f" at {display.price(event.price, tick)}"
            verb = "Buy" if event.side is Side.BUY else "Sell"
            return Notification(
                f"{verb} {display.quantity(event.quantity, step)} {event.symbol}{price} resting",
                f"accepted in {latency_text(event.to_wire_us, event.round_trip_us)}",
            )
        case CommandRejected():
            return Notification("Order refused", event.text, urgent=True)
        case CommandDone():
            return Notification("Done", event.text)
        case StopMoved():
            verb = "placed" if first_stop else "moved"
            return Notification(f"{event.symbol} stop {verb}", event.text)
        case StoppedOut():
            return Notification(
                f"{event.symbol} stopped out",
                f"exit {display.price(event.exit_price, tick)} · "
                f"realised PnL {display.usdt(event.realized_pnl, signed=True)}"
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


def _fill_notification(event: OrderFilled, tick: Decimal | None, step: Decimal | None) -> Notification:
    """An opening fill says what was bought; a reducing one says what was closed and what it made."""
    qty = display.quantity(event.quantity, step)
    at = f"at {display.price(event.avg_price, tick)}"
    fee = "" if event.fee is None else display.usdt(event.fee)
    timing = latency_text(event.to_wire_us, event.round_trip_us)
    if event.realized_pnl is not None or event.position_after == 0:
        closed = "long" if event.side is Side.SELL else "short"
        if event.position_after:
            title = f"Reduced {event.symbol} {closed} by {qty}"
        else:
            title = f"Closed {event.symbol} {closed} {qty}"
        fee_note = f" (fee {fee})" if fee else ""
        if event.realized_pnl is not None:
            pnl = f" · realised PnL {display.usdt(event.realized_pnl, signed=True)}{fee_note}"
        else:
            pnl = f" · fee {fee}" if fee else ""
        left = "" if not event.position_after else \
            f" · {display.quantity(abs(event.position_after), step)} left"
        return Notification(title, f"{at}{pnl}{left} · {timing}")
    word = "Bought" if event.side is Side.BUY else "Sold"
    return Notification(f"{word} {qty} {event.symbol}",
                        f"{at}" + (f" · fee {fee}" if fee else "") + f" · {timing}")


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


def result_sentence(event: Event, tick: Decimal | None = None, step: Decimal | None = None) -> str:
    """A command's answer in one sentence (``traytrader send``'s reply), prices on the symbol's grid."""
    if isinstance(event, OrderFilled):
        pnl = "" if event.realized_pnl is None else \
            f"; realised PnL {display.usdt(event.realized_pnl, signed=True)}"
        return (f"{event.side.value} {display.quantity(event.quantity, step)} {event.symbol} filled at "
                f"{display.price(event.avg_price, tick)} ({display.milliseconds(event.round_trip_us)}{pnl}).")
    return event.text
