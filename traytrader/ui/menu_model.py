"""The tray's menu, tooltip and icon state, computed from one snapshot (pure: no toolkit, no I/O).

The pystray adapter (``ui/tray.py``) only translates ``MenuEntry`` trees into toolkit items and
calls back with ``(Action, argument)``. Everything a user can see in the tray is decided here,
so it is tested without a display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from traytrader.core import display
from traytrader.engine.api import CommandKind, EngineState, PositionSnapshot, Status


class Action(StrEnum):
    """What a tray item (or the action bar, or a hotkey) asks the app to do."""

    UNLOCK = "unlock"
    LOCK = "lock"
    SELECT_PROFILE = "profile"
    TOGGLE_ARMED = "arm"
    TOGGLE_ACTION_BAR = "action-bar"
    BUY = "buy"
    SELL = "sell"
    CLOSE = "close"            # argument "50%": close that part of the position
    BREAKEVEN = "breakeven"
    ADD = "add"
    CANCEL_ALL = "cancel"
    FLATTEN = "flatten"
    CYCLE_PROFILE = "cycle"
    OPEN_CONFIG = "open-config"
    OPEN_JOURNAL = "open-journal"
    QUIT = "quit"


#: The engine command each order or profile action becomes.
COMMAND_FOR: dict[Action, CommandKind] = {
    Action.BUY: CommandKind.BUY,
    Action.SELL: CommandKind.SELL,
    Action.CLOSE: CommandKind.CLOSE,
    Action.BREAKEVEN: CommandKind.BREAKEVEN,
    Action.ADD: CommandKind.ADD,
    Action.FLATTEN: CommandKind.FLATTEN,
    Action.CANCEL_ALL: CommandKind.CANCEL_ALL,
    Action.SELECT_PROFILE: CommandKind.SELECT_PROFILE,
    Action.CYCLE_PROFILE: CommandKind.CYCLE_PROFILE,
}


class IconState(StrEnum):
    """The seven looks of the tray icon, in the order a user cares about them."""

    LOCKED = "locked"
    CONNECTING = "connecting"
    READY = "ready"
    ARMED = "armed"
    LONG = "long"
    SHORT = "short"
    ERROR = "error"


@dataclass(frozen=True)
class UiState:
    """Everything the tray shows; built by the app from the engine's ``Status`` and its own flags."""

    status: Status = field(default_factory=Status)
    environment: str = "sim"
    unlocked: bool = False
    armed: bool = False
    action_bar: bool = False
    profiles: tuple[str, ...] = ()
    active_profile: str = ""
    demo: bool = False
    notifications_ok: bool = True
    last_message: str = ""
    # profile name -> the parts of its position the menu offers to close ("25%", "50%")
    close_parts: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class MenuEntry:
    """One menu row. ``action is None`` and ``label == "-"`` is a separator; ``children`` a submenu."""

    label: str
    action: Action | None = None
    argument: str = ""
    checked: bool | None = None
    radio: bool = False
    enabled: bool = True
    default: bool = False
    children: tuple[MenuEntry, ...] = ()

    @property
    def is_separator(self) -> bool:
        return self.action is None and self.label == "-" and not self.children


SEPARATOR = MenuEntry("-")


def can_trade(ui: UiState) -> bool:
    """True when an order command could be sent right now (the engine still has the final say)."""
    return ui.unlocked and ui.status.state is EngineState.READY


def build_menu(ui: UiState) -> tuple[MenuEntry, ...]:
    """The whole tray menu for this snapshot; rebuilt on every state change."""
    locked = not ui.unlocked
    trading = can_trade(ui)
    has_position = ui.status.position_qty != 0
    if locked:
        vault = MenuEntry("Unlock vault…", Action.UNLOCK, default=True)
    else:
        vault = MenuEntry("Lock", Action.LOCK)
    profiles = tuple(
        MenuEntry(name, Action.SELECT_PROFILE, argument=name, checked=name == ui.active_profile, radio=True)
        for name in ui.profiles
    )
    return (
        vault,
        MenuEntry("Profiles", children=profiles, enabled=bool(profiles)),
        MenuEntry("Arm hotkeys", Action.TOGGLE_ARMED, checked=ui.armed, enabled=not locked),
        MenuEntry("Action bar", Action.TOGGLE_ACTION_BAR, checked=ui.action_bar, default=not locked),
        SEPARATOR,
        MenuEntry("Close position", Action.CLOSE, enabled=trading and has_position),
        *(MenuEntry(f"Close {part}", Action.CLOSE, argument=part, enabled=trading and has_position)
          for part in dict(ui.close_parts).get(ui.active_profile, ())),
        MenuEntry("Stop to breakeven", Action.BREAKEVEN, enabled=trading and has_position),
        MenuEntry("Add to position", Action.ADD, enabled=trading and has_position),
        MenuEntry("Cancel all orders", Action.CANCEL_ALL, enabled=trading),
        MenuEntry("Flatten", Action.FLATTEN, enabled=trading),
        SEPARATOR,
        MenuEntry("Open config", Action.OPEN_CONFIG),
        MenuEntry("Open journal", Action.OPEN_JOURNAL),
        SEPARATOR,
        MenuEntry("Quit", Action.QUIT),
    )


def find_entry(menu: tuple[MenuEntry, ...], action: Action, argument: str = "") -> MenuEntry | None:
    """The first entry (depth first) with this action and argument; tests and the adapter use it."""
    for entry in menu:
        if entry.action is action and entry.argument == argument:
            return entry
        found = find_entry(entry.children, action, argument)
        if found is not None:
            return found
    return None


def icon_state(ui: UiState) -> IconState:
    """Which icon to draw: the position wins over "armed", an error wins over everything unlocked."""
    if not ui.unlocked:
        return IconState.LOCKED
    state = ui.status.state
    if state is EngineState.ERROR:
        return IconState.ERROR
    if state is not EngineState.READY:
        return IconState.CONNECTING
    if ui.status.position_qty > 0:
        return IconState.LONG
    if ui.status.position_qty < 0:
        return IconState.SHORT
    return IconState.ARMED if ui.armed else IconState.READY


def format_amount(value: Decimal, *, signed: bool = False, places: int = 2) -> str:
    """``Decimal`` → text with thousands separators at ``places`` decimals; ``signed`` adds ``+``.
    (Prices, quantities and money have their own formats in ``core.display``.)"""
    text = display.quantity(value, Decimal(1).scaleb(-places))
    return "+" + text if signed and value > 0 else text


def format_quantity(value: Decimal) -> str:
    """A quantity without its sign, at its own digits (``core.display.quantity`` with a step)."""
    return display.quantity(abs(value))


def open_positions(status: Status) -> tuple[PositionSnapshot, ...]:
    """Every open position in the snapshot; the active symbol's first. A snapshot without the
    list (older engines, tests) still shows its own symbol's position."""
    listed = status.positions
    if not listed and status.position_qty:
        listed = (PositionSnapshot(status.symbol, status.position_qty, status.entry_price,
                                   status.unrealized_pnl, status.mark_price, status.tick_size,
                                   status.step_size),)
    return tuple(sorted(listed, key=lambda p: p.symbol != status.symbol))


def position_line(position: PositionSnapshot) -> str:
    """``BTCUSDT long 0.002 @ 97,000.1 · uPnL +1.23 USDT``."""
    return (f"{position.symbol} {display.direction(position.quantity)} "
            f"{display.quantity(abs(position.quantity), position.step_size)} @ "
            f"{display.price(position.entry_price, position.tick_size)}"
            f" · uPnL {display.usdt(position.unrealized_pnl, signed=True)}")


def position_text(status: Status) -> str:
    """The active symbol's position (``BTCUSDT long 0.002 @ 97,000.1 · uPnL +1.23 USDT``) or
    ``BTCUSDT flat``."""
    symbol = status.symbol or "—"
    if status.position_qty == 0:
        return f"{symbol} flat"
    return position_line(PositionSnapshot(symbol, status.position_qty, status.entry_price,
                                          status.unrealized_pnl, status.mark_price, status.tick_size,
                                          status.step_size))


def others_text(status: Status) -> str:
    """The open positions of other symbols in one line (``also ETHUSDT short 1.5 (uPnL -3.00 USDT)``),
    or ``""``."""
    others = [p for p in open_positions(status) if p.symbol != status.symbol]
    return "also " + ", ".join(
        f"{p.symbol} {display.direction(p.quantity)} {display.quantity(abs(p.quantity), p.step_size)} "
        f"(uPnL {display.usdt(p.unrealized_pnl, signed=True)})" for p in others) if others else ""


def staying_text(status: Status) -> str:
    """What quitting leaves behind: ``""`` when flat, else which positions stay on the exchange."""
    positions = open_positions(status)
    if not positions:
        return ""
    listed = ", ".join(f"{p.symbol} {display.direction(p.quantity)} "
                       f"{display.quantity(abs(p.quantity), p.step_size)}" for p in positions)
    one = len(positions) == 1
    return (f"{display.plural(len(positions), 'open position')} ({listed}) "
            f"{'stays' if one else 'stay'} on the exchange with {'its stop' if one else 'their stops'}; "
            "traytrader takes up the stop ladder again when it next starts.")


def stop_text(status: Status) -> str:
    """The protective stop in a few words (the engine's text without its "BTCUSDT long: " prefix)."""
    if status.stop_text:
        head, sep, tail = status.stop_text.partition(": ")
        if sep and status.symbol and head.startswith(status.symbol):
            return tail
        return status.stop_text
    tier = status.stop_tier
    if tier is None:
        return "no stop"
    if tier == 0:
        return "hard stop"
    if tier < 0:
        return "safety stop"
    return f"trailing (tier {tier})"


def _stop_line(status: Status) -> str:
    text = stop_text(status)
    return text[0].upper() + text[1:] if text.startswith("stop") else f"Stop: {text}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def hotkey_text(ui: UiState) -> str:
    if not ui.unlocked:
        return "vault locked"
    if ui.status.state is not EngineState.READY:
        detail = f": {ui.status.detail}" if ui.status.detail else ""
        return f"{ui.status.state.value}{detail}"
    return "hotkeys armed" if ui.armed else "hotkeys disarmed"


def tooltip(ui: UiState, max_len: int = 0) -> str:
    """Environment, profile, position, uPnL, stop, RTT and clock offset, one fact per line.

    ``max_len`` (Windows truncates tray tooltips at 127 characters) drops lines from the end.
    """
    env = ui.environment.upper() + (" DEMO" if ui.demo else "")
    lines = [
        f"traytrader · {env} · {ui.active_profile or 'no profile'} · {hotkey_text(ui)}",
        position_text(ui.status),
        _stop_line(ui.status),
        *([others] if (others := others_text(ui.status)) else []),
        f"RTT {_ms(ui.status.rtt_ms)} · clock offset {_ms(ui.status.clock_offset_ms)}",
    ]
    if not ui.notifications_ok and ui.last_message:
        lines.append(ui.last_message)
    text = "\n".join(lines)
    if max_len:
        while len(text) > max_len and len(lines) > 1:
            lines.pop()
            text = "\n".join(lines)
        text = text[:max_len]
    return text
