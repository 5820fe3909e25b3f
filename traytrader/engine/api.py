"""The engine's public surface: commands in, events out, and the handle the front ends hold.

Front ends (tray, hotkeys, action bar, console, control socket, ``traytrader order``) import only
this module and ``core.models``. They never touch the network: they submit ``Command`` objects
through an ``EngineHandle`` and receive ``Event`` objects through one subscriber callback.

Threading contract:
* ``EngineHandle.submit`` is thread-safe, never blocks, and returns at once. A command that cannot
  be executed (vault locked, disconnected, cooldown, caps) produces a ``CommandRejected`` event; it
  is never queued for later.
* Subscriber callbacks run on the engine thread: they must only enqueue and return.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from traytrader.core.models import Side


class CommandKind(StrEnum):
    BUY = "buy"
    SELL = "sell"
    CLOSE = "close"            # reduce-only market close of the position; ``argument`` "50%": that part
    BREAKEVEN = "breakeven"    # move the stop to entry + fees (the ladder's floor)
    ADD = "add"                # scale in: add_fraction of the position (or the profile's size)
    CANCEL_ALL = "cancel"      # cancel open orders and algo orders for the symbol
    FLATTEN = "flatten"        # cancel all + close
    REVERSE = "reverse"        # close and open the opposite side with the same profile
    SELECT_PROFILE = "profile"  # ``argument`` is the profile name
    CYCLE_PROFILE = "cycle"


_COMMAND_IDS = itertools.count(1)


@dataclass(frozen=True)
class Command:
    """One user intent. ``accepted_ns`` is ``time.perf_counter_ns()`` when the front end took it:
    the start of the "command accepted → frame on the wire" latency, and the age the engine checks
    (a command that reaches it late is refused, never executed late). ``id`` ties the command to
    its one final answer: every terminal event carries it as ``command_id``."""

    kind: CommandKind
    argument: str = ""
    source: str = "api"  # hotkey, tray, actionbar, console, socket, cli
    accepted_ns: int = field(default_factory=time.perf_counter_ns)
    id: int = field(default_factory=lambda: next(_COMMAND_IDS))


class EngineState(StrEnum):
    LOCKED = "locked"          # no credentials yet
    CONNECTING = "connecting"  # warming up or reconnecting
    READY = "ready"            # warm: a keypress needs nothing but the order itself
    DISCONNECTED = "disconnected"
    ERROR = "error"            # a human must act (bad key, ban); ``detail`` says what
    STOPPED = "stopped"


@dataclass(frozen=True)
class Event:
    """Base of every event. ``text`` is one sentence for a notification or a console line."""

    text: str
    at_ms: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass(frozen=True)
class StateChanged(Event):
    state: EngineState = EngineState.LOCKED
    detail: str = ""


@dataclass(frozen=True)
class OrderFilled(Event):
    symbol: str = ""
    side: Side = Side.BUY
    quantity: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    fee: Decimal | None = None
    client_order_id: str = ""
    to_wire_us: float = 0.0        # command accepted → frame written
    round_trip_us: float = 0.0     # frame written → response received
    command_id: int = 0            # 0: not a command's answer (a resting order filled later)
    final: bool = True             # False: one leg of a command that has more to do (reverse)
    realized_pnl: Decimal | None = None    # the fill reduced or closed a position: its realised PnL
    position_after: Decimal | None = None  # signed position once this fill is applied (when known)


@dataclass(frozen=True)
class OrderAccepted(Event):
    """A LIMIT order rests on the book (or any order acknowledged without a fill yet)."""

    symbol: str = ""
    side: Side = Side.BUY
    quantity: Decimal = Decimal(0)
    price: Decimal | None = None
    client_order_id: str = ""
    to_wire_us: float = 0.0
    round_trip_us: float = 0.0
    command_id: int = 0
    final: bool = True


@dataclass(frozen=True)
class CommandRejected(Event):
    """Refused before sending (our checks, safety rules) or by the exchange; ``code`` if Binance's."""

    command: CommandKind | None = None
    code: int | None = None
    command_id: int = 0
    final: bool = True


@dataclass(frozen=True)
class CommandDone(Event):
    """A non-order command finished (cancel all, close with no position, profile switch)."""

    command: CommandKind | None = None
    command_id: int = 0
    final: bool = True


@dataclass(frozen=True)
class PositionChanged(Event):
    symbol: str = ""
    quantity: Decimal = Decimal(0)   # signed: > 0 long, < 0 short
    entry_price: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    position_side: str = "BOTH"


@dataclass(frozen=True)
class StopMoved(Event):
    """The ASL placed (and confirmed) a new protective stop: "BTCUSDT long: stop → trailing 1.5% (tier 2)"."""

    symbol: str = ""
    tier: int = 0                     # 0 = hard stop, 1.. = trailing tiers, -1 = safety stop
    stop_type: str = "STOP_MARKET"
    trigger_price: Decimal | None = None
    callback_pct: Decimal | None = None


@dataclass(frozen=True)
class StoppedOut(Event):
    symbol: str = ""
    exit_price: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)


@dataclass(frozen=True)
class SafetyAction(Event):
    """The watchdog acted: safety stop placed, or position closed because even that would trigger."""

    symbol: str = ""


@dataclass(frozen=True)
class Notice(Event):
    """Anything else worth a line: reconnects, rate-limit holds, clock resyncs, warnings."""

    level: str = "info"  # info, warning, error


@dataclass(frozen=True)
class PositionSnapshot:
    """One open position of the account, any symbol (the action bar lists them all)."""

    symbol: str
    quantity: Decimal                 # signed: > 0 long, < 0 short
    entry_price: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    mark_price: Decimal | None = None
    tick_size: Decimal | None = None  # for showing its prices (``core.display``)
    step_size: Decimal | None = None


@dataclass(frozen=True)
class Status:
    """A snapshot for the tooltip and the action bar; cheap to copy, safe to read from any thread."""

    state: EngineState = EngineState.LOCKED
    environment: str = "sim"
    profile: str = ""
    symbol: str = ""
    position_qty: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    mark_price: Decimal | None = None
    stop_tier: int | None = None      # None: no stop; 0 hard; 1.. trailing; -1 safety
    stop_text: str = ""
    rtt_ms: float | None = None
    clock_offset_ms: float | None = None
    last_latency_us: float | None = None
    detail: str = ""
    tick_size: Decimal | None = None  # ``symbol``'s price tick and quantity step, once known
    step_size: Decimal | None = None
    positions: tuple[PositionSnapshot, ...] = ()  # every open position, every symbol


EventCallback = Callable[[Event], None]

#: The events that answer a command; ``is_final_answer`` says which one ends it.
ANSWER_EVENTS = (OrderFilled, OrderAccepted, CommandRejected, CommandDone)


def is_final_answer(event: Event, command_id: int | None = None) -> bool:
    """True for the one event that ends a command (``command_id``: that command's, else any's).
    A reverse's first leg, a resting order filled later and every other event are not."""
    if not isinstance(event, ANSWER_EVENTS) or not event.final or not event.command_id:
        return False
    return command_id is None or event.command_id == command_id


class EngineHandle(Protocol):
    """What front ends hold. Implemented by ``traytrader.engine.handle.Engine``."""

    def start(self) -> None:
        """Start the engine thread and warm up; returns at once (watch ``StateChanged``)."""

    def submit(self, command: Command) -> None:
        """Thread-safe, non-blocking; see the module docstring."""

    def subscribe(self, callback: EventCallback) -> None:
        """Register a callback run for every event on the engine thread (or on the thread that
        submitted the command, while it ran there: ``engine/loop_borrow.py``): enqueue and return."""

    def prime(self, walk: Callable[[], None] | None = None) -> None:
        """A key is about to come (a hotkey's modifier went down): get the key path ready, walking
        the front end's part (``walk``, on any thread; it must not block) with the engine's.
        Thread-safe, sends nothing, may do nothing."""

    def unprime(self) -> None:
        """The key did not come (the modifier went up): stop getting ready. Thread-safe."""

    def status(self) -> Status:
        """The latest snapshot."""

    def stop(self, timeout: float = 1.0) -> None:
        """Close connections and join the thread; positions and stops on the exchange stay."""
