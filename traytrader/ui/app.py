"""The desktop app's controller: one dispatcher thread owns the UI state and fans events out.

Threads (issue 7, design.md "narrow thread boundaries"):

    main thread        the tray (pystray owns it; required on macOS)
    engine thread      the engine's asyncio loop; its subscriber callback only enqueues here
    dispatcher         THIS module: the one place that changes ``UiState``; fans out to the tray,
                       the notifier, the action bar and control-socket waiters
    pynput listener    a hotkey is decided and submitted right on this thread when the dispatcher
                       has nothing older to handle (under ``_state_lock``), else enqueued here
    control socket     each request enqueues here and waits for its reply
    notifier worker    plyer calls
    tk thread          the action bar and the unlock dialog (started on first use)

The dispatcher mutates state while holding ``_state_lock``; the one other writer is the hotkey fast
path (``hotkey``), which takes that lock without waiting and only when every item enqueued before
it has been handled, so it sees exactly the state the dispatcher would have seen. Everything that may
block (unlock KDF, engine start/stop, opening files) runs on short-lived worker threads.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from traytrader.core.asl_toolkit import fraction_text
from traytrader.core.errors import TraytraderError
from traytrader.core.models import ApiCredentials, AppConfig
from traytrader.engine.api import (
    Command,
    CommandDone,
    EngineHandle,
    EngineState,
    Event,
    OrderAccepted,
    OrderFilled,
    StateChanged,
    Status,
    StopMoved,
    is_final_answer,
)
from traytrader.ui.app_memory import Forgetful, Memory, Remembered
from traytrader.ui.control_socket import format_reply
from traytrader.ui.hotkey_gate import (
    ORDER_ACTIONS,
    HotkeyGate,
    armed_at_start,
    hotkey_arguments,
    human_combo,
)
from traytrader.ui.menu_model import (
    COMMAND_FOR,
    Action,
    UiState,
    open_positions,
    position_text,
    staying_text,
    stop_text,
)
from traytrader.ui.messages import Notification, grids_of, notification_for, result_sentence
from traytrader.ui.trade_review import TradeReview

log = logging.getLogger(__name__)

EngineFactory = Callable[[ApiCredentials, str], EngineHandle]   # (credentials, active profile)
Unlocker = Callable[[str], ApiCredentials]                       # password → credentials (VaultError)


SOCKET_REPLY_TIMEOUT_S = 10.0
STATUS_REFRESH_S = 1.0
REFUSAL_QUIET_MS = 1000  # the same refusal within this time updates the tooltip only


class View(Protocol):
    """What the dispatcher pushes state into: the tray and the action bar both implement it."""

    def show_state(self, ui: UiState) -> None: ...


@dataclass
class _Pending:
    """A submitted command waiting for its final answer (matched by command id)."""

    action: Action
    reply: queue.Queue[str] | None = None


@dataclass
class _SocketRequest:
    """A ``traytrader send`` request. ``claim`` settles the race between the dispatcher taking it and
    its waiter giving up, so the sender is never left unsure (issue 12 item 4): it learns either
    the answer, or that the command was sent and is unanswered yet, or that nothing was sent."""

    action: Action | None
    argument: str
    reply: queue.Queue[str] = field(default_factory=lambda: queue.Queue(maxsize=1))
    claim: threading.Lock = field(default_factory=threading.Lock)
    sent: bool = False        # submitted to the engine
    abandoned: bool = False   # its waiter gave up first: it must never be sent


@dataclass(frozen=True)
class _Chord:
    action: Action
    combo: str
    repeat: bool


@dataclass(frozen=True)
class _Do:
    action: Action
    argument: str = ""
    source: str = "tray"


_STOP = object()


class _Inbox(queue.Queue):  # type: ignore[type-arg]
    """The dispatcher's queue, counting what was ever put in it (for the hotkey fast path)."""

    def __init__(self) -> None:
        super().__init__()
        self.posted = 0

    def _put(self, item: Any) -> None:  # called with the queue's mutex held
        self.posted += 1
        super()._put(item)


class DesktopApp:
    """Owns engine lifecycle and UI state; toolkit adapters are attached as views and hooks."""

    def __init__(self, config: AppConfig, engine_factory: EngineFactory, *,
                 unlocker: Unlocker | None = None, preset_credentials: ApiCredentials | None = None,
                 remembered: Remembered | None = None, demo: bool = False,
                 open_path: Callable[[Path], None] | None = None, journal_path: Path | None = None,
                 profile: str = "",
                 clock_ms: Callable[[], int] = lambda: time.monotonic_ns() // 1_000_000) -> None:
        self.config = config
        self._engine_factory = engine_factory
        self._unlocker = unlocker
        self._preset = preset_credentials
        self._remembered = remembered or Forgetful()
        self._open_path = open_path
        self._journal_path = journal_path
        self._clock_ms = clock_ms
        memory = self._remembered.load()
        profile, self.bar_position = profile or memory.active_profile, memory.bar_position
        self.bar_at_start = memory.bar_visible
        names = tuple(p.name for p in config.profiles)
        active = profile if profile in names else (config.default_profile or (names[0] if names else ""))
        self.ui = UiState(
            status=Status(environment=config.exchange.environment.value, profile=active),
            environment=config.exchange.environment.value,
            armed=armed_at_start(config.exchange.environment, config.hotkeys),
            profiles=names, active_profile=active, demo=demo,
            close_parts=tuple((p.name, tuple(fraction_text(f) for f in p.close_fractions if f < 1))
                              for p in config.profiles),
        )
        self.gate = HotkeyGate(config.safety.cooldown_ms)
        self.engine: EngineHandle | None = None
        self._generation = 0  # bumps on lock, so events of a stopped engine are ignored
        self._inbox = _Inbox()
        self._handled = 0                    # inbox items the dispatcher has handled
        self._state_lock = threading.Lock()  # held while state changes (see the module docstring)
        self._pending: dict[int, _Pending] = {}
        self._views: list[View] = []
        self._last_notable: EngineState | None = None
        self._dispatcher = threading.Thread(target=self._run, name="traytrader-dispatch", daemon=True)
        self._workers: list[threading.Thread] = []
        # hooks set by the front end (tray_app): all called on the dispatcher thread
        self.notify: Callable[[Notification], None] = lambda note: log.info("%s: %s", note.title, note.body)
        self.ask_password: Callable[[], None] | None = None
        self.set_action_bar: Callable[[bool], None] = lambda visible: None
        self.quit_hook: Callable[[], None] = lambda: None
        self.refused: list[str] = []  # the last few refusals, newest last (tests and the tooltip)
        self._repeating: Action | None = None
        self._last_refusal: tuple[str, int] = ("", 0)
        # trade review (issue 18): result notifications with a picture; "Open journal" opens trades.html
        self.review = TradeReview(journal_path, lambda note: self._inbox.put(("review", note))) \
            if journal_path is not None else None
        self._grids: dict[str, tuple[Decimal | None, Decimal | None]] = {}  # symbol → (tick, step)
        self._stopped: set[str] = set()  # symbols whose position has had a stop (then it "moves")

    # --- public, thread-safe ---------------------------------------------------------------

    def start(self) -> None:
        self._dispatcher.start()
        if self.review is not None:   # trade review (issue 18)
            self.review.start()
        if self._preset is not None:
            self.unlocked_with(self._preset)

    def add_view(self, view: View) -> None:
        self._views.append(view)

    def do(self, action: Action, argument: str = "", source: str = "tray") -> None:
        """A deliberate UI action (tray item, action-bar button). Returns at once."""
        self._inbox.put(_Do(action, argument, source))

    def hotkey(self, action: Action, combo: str, repeat: bool) -> None:
        """pynput listener callback (and the portal's): an order key the gate lets through is
        submitted right here; anything else (a refusal to say, key repeat, the action bar, a busy
        dispatcher) is enqueued for the dispatcher, which decides it as before.

        Why (issue 14): the hop to the dispatcher thread cost ~170 µs of the key path's ~0.5 ms
        on the 2-core test box (``benchmarks/bench_desktop.py``). The same gate decides with the
        same state: the fast path runs only while the dispatcher is idle (the lock is free) and
        every item enqueued before this key has been handled."""
        chord = _Chord(action, combo, repeat)
        if not repeat and action in ORDER_ACTIONS and self._state_lock.acquire(blocking=False):
            try:
                if self._submit_now(chord):
                    return
            finally:
                self._state_lock.release()
        self._inbox.put(chord)

    def prime(self) -> None:
        """pynput listener callback: a chord's first key went down (Ctrl of Ctrl+B). The engine walks
        the key path with this app's part (``walk_hotkey``) until the key comes or Ctrl goes up
        (``Engine.prime``; nothing is sent)."""
        engine = self.engine
        if engine is not None and self.ui.armed:
            engine.prime(self.walk_hotkey)   # its first walk, now, includes this app's part

    def walk_hotkey(self) -> None:
        """An order key's checks here, recording nothing; skipped while the dispatcher is busy."""
        if not self._state_lock.acquire(blocking=False):
            return
        try:
            self.gate.press(Action.BUY, self._clock_ms(), unlocked=self.ui.unlocked,
                            state=self.ui.status.state, armed=self.ui.armed, record=False)
        finally:
            self._state_lock.release()

    def unprime(self) -> None:
        """pynput listener callback: that first key went up (no chord, or after it)."""
        engine = self.engine
        if engine is not None:
            engine.unprime()

    def _submit_now(self, chord: _Chord) -> bool:
        """Under ``_state_lock``: submit ``chord`` if the gate lets it through now. False: nothing
        was done, and the dispatcher decides (and says why)."""
        if self.engine is None or self._inbox.posted != self._handled:
            return False
        # a refusal's sentence is said by the dispatcher, which decides again (so no label here)
        decision = self.gate.press(chord.action, self._clock_ms(), unlocked=self.ui.unlocked,
                                   state=self.ui.status.state, armed=self.ui.armed)
        if not decision.send:
            return False
        self._repeating = None
        self._submit(chord.action, self._hotkey_argument(chord.combo), "hotkey")
        return True

    def _hotkey_argument(self, combo: str) -> str:
        """The argument a key carries (``close_25`` → "25%"); "" for the others."""
        parts = self.config.hotkeys.close_parts
        return hotkey_arguments(self.config.hotkeys).get(combo, "") if parts else ""

    def socket_request(self, action: Action | None, argument: str) -> str:
        """Control-socket handler (runs on the connection's thread): waits for the reply line."""
        request = _SocketRequest(action, argument)
        self._inbox.put(request)
        try:
            return request.reply.get(timeout=SOCKET_REPLY_TIMEOUT_S)
        except queue.Empty:
            pass
        with request.claim:  # the dispatcher holds it while it handles the request
            if not request.reply.empty():
                return request.reply.get_nowait()
            if not request.sent:
                request.abandoned = True
                return format_reply(False, f"traytrader was busy for {SOCKET_REPLY_TIMEOUT_S:g} s and "
                                           "did not take the command; nothing was sent.", refused=False)
        return format_reply(False, f"The command was sent and is unanswered after {SOCKET_REPLY_TIMEOUT_S:g} "
                                   "s; the notifications will show its outcome.", refused=False)

    def unlocked_with(self, credentials: ApiCredentials) -> None:
        """The vault opened (or the demo's credentials): create and start the engine."""
        self._inbox.put(("unlocked", credentials))

    def unlock_with_password(self, password: str) -> ApiCredentials:
        """Called by the unlock dialog on its worker thread; raises VaultError on a wrong password."""
        if self._unlocker is None:
            raise TraytraderError("This app has no vault to unlock.")
        credentials = self._unlocker(password)
        self.unlocked_with(credentials)
        return credentials

    def notification_failed(self, note: Notification) -> None:
        """Notifier fallback (worker thread): show the message in the tooltip instead."""
        self._inbox.put(("fallback", note))

    def refresh(self) -> None:
        self._inbox.put(("refresh", None))

    def remember_bar_position(self, position: tuple[int, int]) -> None:
        self._inbox.put(("bar-position", position))

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the engine and the dispatcher; positions and stops on the exchange stay."""
        deadline = time.monotonic() + timeout
        if self._dispatcher.is_alive():
            self._inbox.put(_STOP)
            self._dispatcher.join(max(0.0, deadline - time.monotonic()))
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.stop(max(0.1, deadline - time.monotonic()))
        if self.review is not None:   # trade review (issue 18)
            self.review.stop(max(0.0, deadline - time.monotonic()))
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    # --- dispatcher thread -----------------------------------------------------------------

    def _run(self) -> None:
        self._publish()
        while True:
            try:
                item = self._inbox.get(timeout=STATUS_REFRESH_S)
            except queue.Empty:
                with self._state_lock:
                    self._refresh_status()
                continue
            if item is _STOP:
                with self._state_lock:
                    self._save()
                    self._fail_pending("traytrader is shutting down.")
                return
            with self._state_lock:
                try:
                    self._handle(item)
                except Exception:  # a bug in one handler must not kill the dispatcher
                    log.exception("UI dispatcher: failed to handle %r", item)
                finally:
                    self._handled += 1

    def _handle(self, item: Any) -> None:
        match item:
            case (int() as generation, Event() as event):
                if generation == self._generation:
                    self._on_event(event)
            case _Chord():
                self._on_chord(item)
            case _SocketRequest():
                self._on_socket(item)
            case _Do():
                self._on_do(item)
            case ("unlocked", credentials):
                self._start_engine(credentials)
            case ("refresh", _):
                self._refresh_status()
            case ("review", Notification() as note):   # trade review (issue 18)
                self.notify(note)
            case ("fallback", Notification() as note):
                self._set(notifications_ok=False, last_message=f"{note.title}: {note.body}")
            case ("bar-position", position):
                self.bar_position = position
            case ("locked", _):
                locked = dataclasses.replace(self.ui.status, state=EngineState.LOCKED)
                self._set(unlocked=False, status=locked)
                self.notify(Notification("Vault locked",
                                         "Hotkeys are off; stops already on the exchange stay."))

    def _set(self, **changes: Any) -> None:
        self.ui = dataclasses.replace(self.ui, **changes)
        self._publish()

    def _publish(self) -> None:
        for view in self._views:
            try:
                view.show_state(self.ui)
            except Exception:
                log.exception("UI view %r failed to show the state", view)

    def _refresh_status(self) -> None:
        if self.engine is None:
            return
        status = self.engine.status()
        # a symbol without a position has no stop: its next stop is "placed" again
        self._stopped &= {p.symbol for p in open_positions(status)}
        if status != self.ui.status:
            profile = status.profile or self.ui.active_profile
            self._set(status=status, active_profile=profile)

    def _on_event(self, event: Event) -> None:
        self._grids.update(grids_of(self.ui.status))
        if isinstance(event, StateChanged):
            note = notification_for(event, self._last_notable)
            if event.state is not EngineState.CONNECTING:
                self._last_notable = event.state
        elif isinstance(event, StopMoved):
            note = notification_for(event, grids=self._grids, first_stop=event.symbol not in self._stopped)
            self._stopped.add(event.symbol)
        else:
            note = notification_for(event, grids=self._grids)
        if is_final_answer(event):
            self._settle(event)
        if self.review is not None:   # trade review (issue 18): a stop-out's note waits for the result
            note = self.review.on_event(event, note)
        if note is not None:
            self.notify(note)
        self._refresh_status()
        if isinstance(event, StateChanged) and event.state is not self.ui.status.state:
            self._set(status=dataclasses.replace(self.ui.status, state=event.state, detail=event.detail))

    def _settle(self, event: Event) -> None:
        self.gate.settled()
        pending = self._pending.pop(getattr(event, "command_id", 0), None)
        if pending is not None and pending.reply is not None:
            ok = isinstance(event, OrderFilled | OrderAccepted | CommandDone)
            sentence = result_sentence(event, *self._grids.get(getattr(event, "symbol", ""), (None, None)))
            pending.reply.put(format_reply(ok, sentence))

    def _on_chord(self, chord: _Chord) -> None:
        label = human_combo(chord.combo)
        if chord.repeat:
            # a held key repeats ~25 times a second: say so once per hold, not 25 times
            if self._repeating is not chord.action:
                self._repeating = chord.action
                self._refuse(self.gate.repeat(label).reason)
            return
        self._repeating = None
        decision = self.gate.press(chord.action, self._clock_ms(), unlocked=self.ui.unlocked,
                                   state=self.ui.status.state, armed=self.ui.armed, label=label)
        if not decision.send:
            self._refuse(decision.reason)
            return
        if chord.action is Action.TOGGLE_ACTION_BAR:
            self._on_do(_Do(Action.TOGGLE_ACTION_BAR, source="hotkey"))
        else:
            self._submit(chord.action, self._hotkey_argument(chord.combo), "hotkey")

    def _on_socket(self, request: _SocketRequest) -> None:
        with request.claim:
            if request.abandoned:
                log.info("A `traytrader send %s` gave up waiting before it was handled; not sent.",
                         request.action.value if request.action else "status")
                return
            self._on_socket_claimed(request)

    def _on_socket_claimed(self, request: _SocketRequest) -> None:
        if request.action is None:
            request.reply.put(format_reply(True, self._status_line()))
            return
        if request.action is Action.SELECT_PROFILE:
            if request.argument not in self.ui.profiles:
                names = ", ".join(self.ui.profiles)
                request.reply.put(format_reply(False, f"There is no profile named {request.argument!r}; "
                                                      f"the profiles are: {names}."))
                return
            if self.engine is None:
                self._select_profile_locally(request.argument)
                request.reply.put(format_reply(True, f"Profile {request.argument} selected."))
                return
        else:
            decision = self.gate.press(request.action, self._clock_ms(), unlocked=self.ui.unlocked,
                                       state=self.ui.status.state, armed=self.ui.armed,
                                       label=f"'send {request.action.value}'")
            if not decision.send:
                self._refuse(decision.reason)
                request.reply.put(format_reply(False, decision.reason))
                return
        request.sent = self.engine is not None
        self._submit(request.action, request.argument, "socket", request.reply)

    def _on_do(self, item: _Do) -> None:
        action = item.action
        if action in COMMAND_FOR:
            if action is Action.SELECT_PROFILE and self.engine is None:
                self._select_profile_locally(item.argument)
            elif self.engine is None:
                self._refuse(f"Ignored {action.value}: the vault is locked; unlock it from the tray menu.")
            else:
                self._submit(action, item.argument, item.source)
        elif action is Action.TOGGLE_ARMED:
            if self.ui.unlocked or self.ui.armed:
                self._set(armed=not self.ui.armed)
        elif action is Action.TOGGLE_ACTION_BAR:
            self._set(action_bar=not self.ui.action_bar)
            self.set_action_bar(self.ui.action_bar)
            self._save()
        elif action is Action.UNLOCK:
            if self._unlocker is not None and self.ask_password is not None:
                self.ask_password()
            elif self._preset is not None:
                self._start_engine(self._preset)
        elif action is Action.LOCK:
            self._lock()
        elif action is Action.OPEN_JOURNAL and self.review is not None:   # trade review (issue 18)
            review = self.review
            self._background(lambda: review.open_page(lambda n: self._inbox.put(("review", n))),
                             "traytrader-open")
        elif action in (Action.OPEN_CONFIG, Action.OPEN_JOURNAL):
            path = Path(self.config.path) if action is Action.OPEN_CONFIG else self._journal_path
            if path is not None and self._open_path is not None:
                self._background(lambda: self._open_path(path), "traytrader-open")  # type: ignore[misc]
        elif action is Action.QUIT:
            self._refresh_status()
            if staying := staying_text(self.ui.status):
                log.warning("%s", staying)
                self.notify(Notification("Positions stay open", staying))
            self.quit_hook()

    def _submit(self, action: Action, argument: str, source: str,
                reply: queue.Queue[str] | None = None) -> None:
        if self.engine is None:
            reason = "The vault is locked; unlock it from the tray menu."
            self._refuse(reason)
            if reply is not None:
                    reply.put(format_reply(False, reason))
            return
        if action is Action.SELECT_PROFILE:
            self._select_profile_locally(argument)
        command = Command(COMMAND_FOR[action], argument, source=source)
        self._pending[command.id] = _Pending(action, reply)
        self.engine.submit(command)

    def _select_profile_locally(self, name: str) -> None:
        if name in self.ui.profiles and name != self.ui.active_profile:
            self._set(active_profile=name)
            self._save()

    def _refuse(self, reason: str) -> None:
        log.info("%s", reason)
        self.refused.append(reason)
        del self.refused[:-20]
        self._set(last_message=reason)
        now = self._clock_ms()
        if reason == self._last_refusal[0] and now - self._last_refusal[1] < REFUSAL_QUIET_MS:
            return  # the same sentence again right away: the tooltip has it, no new bubble
        self._last_refusal = (reason, now)
        self.notify(Notification("Not sent", reason))

    def _fail_pending(self, reason: str) -> None:
        while self._pending:
            pending = self._pending.pop(next(iter(self._pending)))
            if pending.reply is not None:
                pending.reply.put(format_reply(False, reason, refused=False))

    def _start_engine(self, credentials: ApiCredentials) -> None:
        if self.engine is not None:
            return
        self._generation += 1
        generation = self._generation
        try:
            engine = self._engine_factory(credentials, self.ui.active_profile)
        except TraytraderError as exc:
            self._set(last_message=str(exc))
            self.notify(Notification("traytrader could not start", str(exc), urgent=True))
            return
        engine.subscribe(lambda event: self._inbox.put((generation, event)))
        self.engine = engine
        self._set(unlocked=True, status=dataclasses.replace(self.ui.status, state=EngineState.CONNECTING))
        engine.start()

    def _lock(self) -> None:
        engine, self.engine = self.engine, None
        self._generation += 1
        self._fail_pending("The vault was locked before the engine answered.")
        if engine is not None:
            def stop_then_report() -> None:
                engine.stop(1.0)
                self._inbox.put(("locked", None))
            self._background(stop_then_report, "traytrader-lock")
        else:
            self._inbox.put(("locked", None))

    def _background(self, fn: Callable[[], None], name: str) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        worker = threading.Thread(target=fn, name=name, daemon=True)
        self._workers.append(worker)
        worker.start()

    def _save(self) -> None:
        try:
            self._remembered.save(Memory(self.ui.active_profile, self.ui.action_bar, self.bar_position))
        except (OSError, TraytraderError) as exc:
            log.warning("Could not save the app state: %s", exc)

    def _status_line(self) -> str:
        ui = self.ui
        state = "locked" if not ui.unlocked else ui.status.state.value
        armed = "armed" if ui.armed else "disarmed"
        return (f"{ui.environment} {state} {armed}; profile {ui.active_profile}; "
                f"{position_text(ui.status)}; stop: {stop_text(ui.status)}")

