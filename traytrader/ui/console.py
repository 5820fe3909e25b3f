"""The console front end: one line per command in, one line per event out.

What headless users, scripts and the end-to-end tests run (``traytrader run --console``). It uses
only the engine handle (``engine/api.py``): commands go in with ``submit``, every event comes back
as a line tagged ``FILL``, ``ACCEPT``, ``REJECT``, ``DONE``, ``POS``, ``STOP``, ``STOPPED``,
``SAFETY``, ``STATE`` or ``NOTICE``. End of input (Ctrl+D, or a closed pipe) quits like ``quit``.

With a control socket, ``traytrader send buy`` from another terminal or a window-manager shortcut
reaches the same engine: commands from the socket and from the input line up one at a time, and
the sender gets the command's own answer.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from pathlib import Path
from typing import TextIO

from traytrader.core import display
from traytrader.core.errors import ConfigError
from traytrader.core.models import AppConfig
from traytrader.engine.api import (
    Command,
    CommandDone,
    CommandKind,
    CommandRejected,
    EngineHandle,
    EngineState,
    Event,
    Notice,
    OrderAccepted,
    OrderFilled,
    PositionChanged,
    SafetyAction,
    StateChanged,
    Status,
    StopMoved,
    StoppedOut,
    is_final_answer,
)
from traytrader.ui.control_socket import ControlServer, format_reply
from traytrader.ui.menu_model import COMMAND_FOR, Action, others_text, staying_text

TAGS: tuple[tuple[type[Event], str], ...] = (
    (OrderFilled, "FILL"), (OrderAccepted, "ACCEPT"), (CommandRejected, "REJECT"), (CommandDone, "DONE"),
    (PositionChanged, "POS"), (StopMoved, "STOP"), (StoppedOut, "STOPPED"), (SafetyAction, "SAFETY"),
    (StateChanged, "STATE"), (Notice, "NOTICE"),
)

SIMPLE_COMMANDS = {
    "buy": CommandKind.BUY, "b": CommandKind.BUY, "sell": CommandKind.SELL, "s": CommandKind.SELL,
    "close": CommandKind.CLOSE, "flatten": CommandKind.FLATTEN, "cancel": CommandKind.CANCEL_ALL,
    "reverse": CommandKind.REVERSE, "cycle": CommandKind.CYCLE_PROFILE,
    "breakeven": CommandKind.BREAKEVEN, "be": CommandKind.BREAKEVEN, "add": CommandKind.ADD,
}

STARTED_STATES = (EngineState.READY, EngineState.ERROR, EngineState.STOPPED)
START_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 30.0

HELP = ("commands: buy (b), sell (s), close, close 50%, breakeven (be), add, flatten, cancel, reverse, "
        "profile NAME, cycle, status, help, quit")


def tag_for(event: Event) -> str:
    for kind, tag in TAGS:
        if isinstance(event, kind):
            return tag
    return "EVENT"


def format_event(event: Event) -> str:
    return f"{tag_for(event):<7} {event.text}"


def format_status(status: Status) -> str:
    """One ``key=value`` line; numbers as everywhere else (``core.display``), text with spaces quoted."""
    tick, step = status.tick_size, status.step_size
    parts = [f"state={status.state.value}", f"env={status.environment}", f"profile={status.profile}",
             f"symbol={status.symbol}", f"position={display.quantity(status.position_qty, step)}"]
    if status.position_qty:
        parts.append(f"entry={display.price(status.entry_price, tick)}")
        parts.append(f"uPnL=\"{display.usdt(status.unrealized_pnl, signed=True)}\"")
    if status.mark_price is not None:
        parts.append(f"mark={display.price(status.mark_price, tick)}")
    if status.stop_text:
        parts.append(f"stop=\"{status.stop_text}\"")
    if others := others_text(status):
        parts.append(f"others=\"{others.removeprefix('also ')}\"")
    if status.rtt_ms is not None:
        parts.append(f"rtt={status.rtt_ms:.1f}ms")
    if status.clock_offset_ms is not None:
        parts.append(f"offset={status.clock_offset_ms:.0f}ms")
    if status.last_latency_us is not None:
        parts.append(f"to_wire={status.last_latency_us:.0f}us")
    if status.detail:
        parts.append(f"detail=\"{status.detail}\"")
    return "STATUS  " + " ".join(parts)


#: Commands that take no argument, and what they do instead, for the refusal of ``buy 5``.
NO_ARGUMENT = {
    CommandKind.BUY: "buys the active profile's size", CommandKind.SELL: "sells the active profile's size",
    CommandKind.FLATTEN: "cancels the symbol's orders and closes its position",
    CommandKind.CANCEL_ALL: "cancels the symbol's open orders",
    CommandKind.REVERSE: "reverses the whole position", CommandKind.CYCLE_PROFILE: "picks the next profile",
    CommandKind.BREAKEVEN: "moves the stop to entry plus fees",
    CommandKind.ADD: "adds the profile's add_fraction of the position (or its size)",
}
SIZE_HINT = " Set the size in the profile, or switch profiles with `profile NAME`."


def parse_line(line: str) -> Command | str | None:
    """A ``Command``, ``"quit"``/``"status"``/``"help"``, ``None`` for a blank line, or an error text."""
    words = line.strip().split()
    if not words:
        return None
    word = words[0].lower()
    if word in ("quit", "exit", "q"):
        return "quit"
    if word in ("status", "help", "?"):
        return "help" if word == "?" else word
    if word == "profile":
        if len(words) != 2:
            return "error: usage: profile NAME"
        return Command(CommandKind.SELECT_PROFILE, argument=words[1], source="console")
    kind = SIMPLE_COMMANDS.get(word)
    if kind is None:
        return f"error: unknown command {words[0]!r}; {HELP}"
    if kind is CommandKind.CLOSE and len(words) > 1:   # close 50%: that part of the position
        part = "".join(words[1:])
        if len(words) > 3 or not part.rstrip("%").replace(".", "", 1).isdigit():
            return f"error: usage: close, or close 50% (a part of the position), not {line.strip()!r}"
        return Command(kind, argument=part, source="console")
    if len(words) > 1 and kind in NO_ARGUMENT:
        hint = SIZE_HINT if kind in (CommandKind.BUY, CommandKind.SELL) else ""
        return (f"error: nothing was sent: {word} takes no argument ({' '.join(words[1:])!r}); it "
                f"{NO_ARGUMENT[kind]}.{hint}")
    return Command(kind, source="console")


def run_console(engine: EngineHandle, config: AppConfig, *, stdin: TextIO, stdout: TextIO,
                socket_path: Path | None = None) -> int:
    """Run ``engine`` with a line-based front end until ``quit`` or end of input; returns 0.
    ``socket_path``: also take commands from ``traytrader send`` there (when it is free)."""
    lock = threading.Lock()
    settled = threading.Condition(lock)
    # Commands submitted and not yet finally answered, by id; a socket sender's queue gets its own.
    waiting: dict[int, queue.Queue[Event] | None] = {}
    started = threading.Event()

    def write_locked(text: str) -> None:
        try:
            stdout.write(text + "\n")
            stdout.flush()
        except (ValueError, OSError):  # stdout closed under us: nothing left to tell
            pass

    def write(text: str) -> None:
        with lock:
            write_locked(text)

    def on_event(event: Event) -> None:
        with lock:
            write_locked(format_event(event))
            if is_final_answer(event) and event.command_id in waiting:
                reply = waiting.pop(event.command_id)
                if reply is not None:
                    reply.put(event)
                settled.notify_all()
        if isinstance(event, StateChanged) and event.state in STARTED_STATES:
            started.set()

    def submit(command: Command, reply: queue.Queue[Event] | None) -> str | None:
        """Submit ``command`` once the previous one is answered; the refusal sentence instead
        when it is not answered in time (then nothing is sent: never a command executed late)."""
        with lock:
            if not settled.wait_for(lambda: not waiting, timeout=SETTLE_TIMEOUT_S):
                return "The previous command is still unanswered; nothing was sent."
            waiting[command.id] = reply
        engine.submit(dataclasses.replace(command, accepted_ns=time.perf_counter_ns()))
        return None

    def socket_request(action: Action | None, argument: str) -> str:
        """A ``traytrader send`` request (on the socket's connection thread): its command's answer."""
        if action is None:
            return format_reply(True, format_status(engine.status()).removeprefix("STATUS").strip())
        reply: queue.Queue[Event] = queue.Queue(maxsize=1)
        refusal = submit(Command(COMMAND_FOR[action], argument, source="socket"), reply)
        if refusal is not None:
            return format_reply(False, refusal)
        try:
            event = reply.get(timeout=SETTLE_TIMEOUT_S)
        except queue.Empty:
            return format_reply(False, "No answer yet; the console shows the outcome.", refused=False)
        return format_reply(not isinstance(event, CommandRejected), event.text)

    engine.subscribe(on_event)
    write(f"NOTICE  traytrader console ({config.exchange.environment.value}); {HELP}")
    control = None
    if socket_path is not None:
        try:
            control = ControlServer(socket_path, socket_request).start()
            write(f"NOTICE  `traytrader send buy --socket {socket_path}` works from another terminal too.")
        except (ConfigError, OSError) as exc:
            write(f"NOTICE  no control socket for `traytrader send`: {exc}")
    engine.start()
    # Scripts pipe commands in at once: hold them until warm-up is over, else they are refused.
    started.wait(START_TIMEOUT_S)
    try:
        for line in stdin:
            parsed = parse_line(line)
            if parsed is None:
                continue
            if parsed == "quit":
                break
            if parsed == "status":
                with lock:  # after the commands before it, as a script reads it
                    settled.wait_for(lambda: not waiting, timeout=SETTLE_TIMEOUT_S)
                    write_locked(format_status(engine.status()))
            elif parsed == "help":
                write(f"NOTICE  {HELP}")
            elif isinstance(parsed, str):
                write(f"REJECT  {parsed.removeprefix('error: ')}")
            else:
                # One command at a time: a piped script's next line waits for this answer (else
                # the in-flight protection would refuse it); a refused one answers at once.
                refusal = submit(parsed, None)
                if refusal is not None:
                    write(f"REJECT  {refusal}")
        # Let what was submitted finish before stopping (a piped "buy" then end of input).
        with lock:
            settled.wait_for(lambda: not waiting, timeout=SETTLE_TIMEOUT_S)
    except KeyboardInterrupt:
        pass
    finally:
        if staying := staying_text(engine.status()):
            write(f"NOTICE  {staying}")
        if control is not None:
            control.stop()
        engine.stop(timeout=2.0)
    return 0
