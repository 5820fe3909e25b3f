"""``Engine``: the engine thread and its asyncio loop behind the ``EngineHandle`` protocol.

Front ends call ``start``, ``subscribe``, ``submit``, ``status`` and ``stop`` from any thread.
``submit`` runs the command's first step on the calling thread when the loop is parked with nothing
to do (``engine/loop_borrow.py``: the engine thread is then provably idle, so the engine's state is
still touched by one thread at a time), else hands it to the loop with ``call_soon_threadsafe``;
either way it returns without waiting for the exchange. Subscriber callbacks run on the engine
thread, or on the submitting thread while its command runs there (they must only enqueue). The
thread is not a daemon: ``stop()`` closes the connections and joins it (about a second at most),
and positions and stops on the exchange stay.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import importlib
import importlib.util
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from traytrader.core.errors import ExchangeRejected, TraytraderError
from traytrader.core.models import ApiCredentials, AppConfig, Profile
from traytrader.core.retry import RetryDecision, backoff, classify
from traytrader.core.shield_table import explain
from traytrader.engine.api import (
    Command,
    CommandDone,
    CommandKind,
    CommandRejected,
    EngineState,
    Event,
    EventCallback,
    Notice,
    OrderFilled,
    PositionSnapshot,
    StateChanged,
    Status,
    StopMoved,
    is_final_answer,
)
from traytrader.engine.asl_api import AslSink
from traytrader.engine.dispatch import Dispatcher
from traytrader.engine.eager import EagerStart
from traytrader.engine.gateway import EngineGateway
from traytrader.engine.journal import FillRecorder, Journal, MarkRecorder  # recorders: issue 18
from traytrader.engine.loop_borrow import LoopBorrow, new_engine_loop
from traytrader.engine.session import ROLLOVER_AFTER_S, Session
from traytrader.engine.warmup import apply_profile_settings, load_account, load_positions, warm_up

log = logging.getLogger(__name__)
EXCHANGE_CHECK_S = 10.0   # positionRisk (weight 5) every 10 s: 30 of the 2,400 a minute allows


class Engine:
    """The running engine. See the module docstring for the threading contract."""

    def __init__(self, config: AppConfig, credentials: ApiCredentials, *,
                 journal_path: str | Path | None = None, active_profile: str | None = None,
                 rollover_after_s: float = ROLLOVER_AFTER_S, enable_asl: bool = True) -> None:
        if not config.profiles:
            raise TraytraderError(f"There are no profiles in {config.path}; add one to trade.")
        self.config = config
        self.credentials = credentials
        self.journal_path = journal_path
        self.rollover_after_s = rollover_after_s
        self.enable_asl = enable_asl
        name = active_profile or config.default_profile or config.profiles[0].name
        self._profile: Profile = config.profile(name)
        self._subscribers: list[EventCallback] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._borrow: LoopBorrow | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._loop_ready = threading.Event()
        self.session: Session | None = None
        self.dispatcher: Dispatcher | None = None
        self.asl: AslSink | None = None
        self._status = Status(environment=config.exchange.environment.value, profile=self._profile.name,
                              symbol=self._profile.symbol)
        self._stop_tier: int | None = None
        self._stop_text = ""

    # -- EngineHandle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._thread_main, name="traytrader-engine", daemon=False)
        self._thread.start()
        self._loop_ready.wait(5)

    def subscribe(self, callback: EventCallback) -> None:
        self._subscribers.append(callback)

    def submit(self, command: Command) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._emit(CommandRejected("The engine is not running.", command=command.kind,
                                       command_id=command.id))
            return
        borrow = self._borrow
        if borrow is not None and borrow.run(self._on_command, command):
            return
        try:
            loop.call_soon_threadsafe(self._on_command, command)
        except RuntimeError:  # the loop closed between the check and the call
            self._emit(CommandRejected("The engine is not running.", command=command.kind,
                                       command_id=command.id))

    def prime(self, walk: Callable[[], None] | None = None) -> None:
        """A hotkey's first key went down: walk the key path now, on this thread if the loop can
        be borrowed, then every millisecond on the loop until ``unprime`` or a command
        (``EntryArming.prime_key_path``), with the front end's ``walk``. Nothing is sent."""
        self._call_dispatcher("prime_key_path", walk)

    def unprime(self) -> None:
        """That key went up without a chord: stop the walks."""
        self._call_dispatcher("unprime_key_path")

    def _call_dispatcher(self, name: str, *args: object) -> None:
        loop, borrow, dispatcher = self._loop, self._borrow, self.dispatcher
        if loop is None or dispatcher is None:
            return
        method = getattr(dispatcher, name)
        if borrow is not None and borrow.run(method, *args):
            return
        with contextlib.suppress(RuntimeError):   # the loop closed meanwhile
            loop.call_soon_threadsafe(method, *args)

    def status(self) -> Status:
        return self._status

    def stop(self, timeout: float = 1.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None

    @property
    def active_profile(self) -> Profile:
        return self._profile

    # -- the engine thread -------------------------------------------------------------------------
    def _thread_main(self) -> None:
        loop, borrow = new_engine_loop()
        self._loop, self._borrow = loop, borrow
        with borrow.owned() if borrow is not None else contextlib.nullcontext():
            try:
                loop.run_until_complete(self._main())
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                self._loop_ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        secrets = [self.credentials.api_key, self.credentials.secret]
        secrets += [line for line in self.credentials.secret.splitlines() if len(line) >= 16]
        try:
            journal = Journal(self.journal_path, secrets=secrets)
        except (OSError, sqlite3.Error) as exc:
            text = f"Cannot open the journal at {self.journal_path}: {exc}; nothing will be sent without it."
            self._emit(StateChanged(f"Engine error: {text}", state=EngineState.ERROR, detail=text))
            self._status = Status(state=EngineState.ERROR, environment=self._status.environment,
                                  profile=self._profile.name, symbol=self._profile.symbol, detail=text)
            self._loop_ready.set()
            await self._stop.wait()
            return
        session = Session(self.config, self.credentials, emit=self._emit, journal=journal,
                          rollover_after_s=self.rollover_after_s)
        self.session = session
        dispatcher = Dispatcher(session, self._emit, on_filled=self._on_filled)
        dispatcher.set_active(self._profile)
        self.dispatcher = dispatcher
        self.asl = self._make_asl(session, dispatcher, journal) if self.enable_asl else None
        dispatcher.asl = self.asl   # breakeven moves the ladder's floor
        session.user_listeners.append(self._on_user_message)
        session.market_listeners.append(self._on_market_message)
        # trade review (issue 18): the mark-price path of open positions at a bounded rate, and
        # each execution as a compact ``fill`` row
        session.market_listeners.append(
            MarkRecorder(journal, lambda symbol: bool(session.tracker.open_positions(symbol))))
        session.user_listeners.append(FillRecorder(journal))
        session.reconnect_listeners.append(self._recover)
        self._loop_ready.set()
        runner = asyncio.ensure_future(self._warm_up(session))
        ticker = asyncio.ensure_future(self._tick()) if self.asl is not None else None
        try:
            await self._stop.wait()
        finally:
            for task in (runner, ticker):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            await session.close()
            journal.record("state", "Engine stopped.")
            journal.close()
            session.state = EngineState.STOPPED
            self._emit(StateChanged("Engine stopped.", state=EngineState.STOPPED))

    def _make_asl(self, session: Session, dispatcher: Dispatcher, journal: Journal) -> AslSink | None:
        """The ASL driver, when ``engine/asl_driver.py`` is installed (one line to plug in)."""
        if importlib.util.find_spec("traytrader.engine.asl_driver") is None:
            return None
        module = importlib.import_module("traytrader.engine.asl_driver")
        gateway = EngineGateway(session, dispatcher)
        driver = module.AslDriver(self.config, gateway, self._emit, journal)
        driver.active_profile = lambda: self._profile
        sink: AslSink = driver
        return sink

    async def _warm_up(self, session: Session) -> None:
        delays = backoff(initial_s=0.2, max_s=15.0)
        while True:
            try:
                positions, algos = await warm_up(session, self._profile)
                break
            except ExchangeRejected as exc:
                text = explain(exc.code, exc.msg, http_status=exc.http_status)
                if session.note_rate_limit(exc):   # 418/429: wait it out, then warm up again
                    await session.close_connections()
                    await session.wait_out_ban()
                    continue
                if classify(exc) is RetryDecision.FATAL:
                    session.set_state(EngineState.ERROR, text)
                    return
                session.set_state(EngineState.CONNECTING, f"{text} Retrying.")
            except TraytraderError as exc:
                if classify(exc) is RetryDecision.FATAL:
                    session.set_state(EngineState.ERROR, str(exc))
                    return
                session.set_state(EngineState.CONNECTING, f"{exc} Retrying.")
            except Exception as exc:
                log.exception("warm-up failed")
                session.set_state(EngineState.CONNECTING,
                                  f"warm-up failed ({exc.__class__.__name__}); retrying")
            await session.close_connections()
            await asyncio.sleep(next(delays))
        session.set_state(EngineState.READY)
        self._refresh_status()
        if self.asl is not None:
            await self._recover_asl(session, positions, algos)
            self._feed_positions()

    async def _recover(self) -> None:
        """After any reconnect (WS API, user-data stream): positions, ownership and stops from the
        exchange, and the ladders rebuilt from them."""
        session = self.session
        assert session is not None
        positions, algos = await load_account(session)
        if self.asl is not None:
            await self._recover_asl(session, positions, algos)
        if self.dispatcher is not None:   # a resting order that filled in the gap: announce it
            session.spawn(self.dispatcher.check_resting_after_resync(), "resting-orders")

    async def _recover_asl(self, session: Session, positions: list[dict[str, Any]],
                           algos: list[dict[str, Any]]) -> None:
        assert self.asl is not None
        ours = [(p.symbol, p.position_side) for p in session.tracker.open_positions() if p.ours]
        await self.asl.recover(positions, algos, session.clock.now_ms(),
                               extremes=session.journal.trailing_extremes(), ours=ours)

    async def _tick(self) -> None:
        """The watchdog's clock: the ASL's tick every ``watchdog_ms``, and every
        ``EXCHANGE_CHECK_S`` a fresh read of the positions from the exchange, so a position the
        streams never told us about (a missed event) is seen and, if ours, protected."""
        interval = self.config.asl.watchdog_ms / 1000
        loop = asyncio.get_running_loop()
        next_check = loop.time() + EXCHANGE_CHECK_S
        checking: asyncio.Task[None] | None = None
        while True:
            await asyncio.sleep(interval)
            session = self.session
            if self.asl is None or session is None or session.state is not EngineState.READY:
                continue
            try:
                self.asl.on_tick(session.clock.now_ms())
            except Exception:
                log.exception("ASL tick failed")
            if loop.time() >= next_check and (checking is None or checking.done()):
                next_check = loop.time() + EXCHANGE_CHECK_S
                checking = session.spawn(self._check_positions(session), "exchange-check")

    async def _check_positions(self, session: Session) -> None:
        try:
            if await load_positions(session, fresh_only=True) is not None:
                self._feed_positions()
        except TraytraderError as exc:
            log.info("periodic position check failed: %s", exc)

    def protection_gap(self, symbol: str, timeout_s: float = 2.0) -> str | None:
        """None when every open position of ``symbol`` that is ours has a confirmed stop covering
        it, else the sentence saying what is missing. Thread-safe: asks the engine loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return "the engine is not running"

        async def ask() -> str | None:
            session, asl = self.session, self.asl
            if session is None:
                return "the engine is not running"
            for position in session.tracker.open_positions(symbol):
                if not (position.ours or self.config.asl.protect_external_positions):
                    continue
                if asl is None:
                    return None   # no stop manager in this engine (tests of the hot path alone)
                gap = asl.protects(symbol, position.position_side, position.quantity)
                if gap is not None:
                    return gap
            return None

        try:
            return asyncio.run_coroutine_threadsafe(ask(), loop).result(timeout_s)
        except (RuntimeError, TimeoutError, concurrent.futures.TimeoutError):
            return "the engine did not answer"

    # -- commands ----------------------------------------------------------------------------------
    def _on_command(self, command: Command) -> None:
        session, dispatcher = self.session, self.dispatcher
        if session is None or dispatcher is None:
            detail = self._status.detail or "it is starting"
            self._emit(CommandRejected(f"The engine is not ready: {detail}", command=command.kind,
                                       command_id=command.id))
            return
        if command.kind in (CommandKind.SELECT_PROFILE, CommandKind.CYCLE_PROFILE):
            self._switch_profile(command)
            return
        name = f"command-{command.kind.value}"
        fired = dispatcher.fire(command, self._profile)   # an armed entry: written here and now
        if fired is not None:
            session.spawn(dispatcher.execute(command, self._profile, fired), name)
            return
        # its first step now: what it sends is written in this callback, not an iteration later
        execution = EagerStart(dispatcher.execute(command, self._profile))
        execution.first_step(session.spawn(execution, name))

    def _switch_profile(self, command: Command) -> None:
        profiles = self.config.profiles
        if command.kind is CommandKind.CYCLE_PROFILE:
            index = next(i for i, p in enumerate(profiles) if p.name == self._profile.name)
            profile = profiles[(index + 1) % len(profiles)]
        else:
            try:
                profile = self.config.profile(command.argument)
            except TraytraderError as exc:
                self._emit(CommandRejected(str(exc), command=command.kind, command_id=command.id))
                return
        self._profile = profile
        session = self.session
        assert session is not None
        if self.dispatcher is not None:
            self.dispatcher.set_active(profile)
        session.journal.record("command", f"profile {profile.name}", symbol=profile.symbol)
        if session.state is EngineState.READY:
            session.spawn(self._apply_settings(profile), "apply-profile")
        self._refresh_status()
        self._emit(CommandDone(f"Profile {profile.name} ({profile.symbol}, {profile.leverage}x) is active.",
                               command=command.kind, command_id=command.id))

    async def _apply_settings(self, profile: Profile) -> None:
        session = self.session
        assert session is not None
        try:
            await apply_profile_settings(session, profile)
        except TraytraderError as exc:
            session.notice(f"Could not apply {profile.name}'s leverage/margin type: {exc}", "warning")

    # -- events ------------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if isinstance(event, StopMoved) and event.symbol == self._profile.symbol:
            self._stop_tier, self._stop_text = event.tier, event.text
        if isinstance(event, StateChanged | StopMoved):
            self._refresh_status()
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed")

    def _on_filled(self, request: Any, result: dict[str, Any]) -> None:
        self._feed_positions(request.symbol)
        self._refresh_status()

    def _feed_positions(self, symbol: str | None = None) -> None:
        session = self.session
        if self.asl is None or session is None:
            return
        now = session.clock.now_ms()
        for position in session.tracker.all():
            if symbol is None or position.symbol == symbol:
                self.asl.on_position(position.symbol, position.position_side, position.quantity,
                                     position.entry_price, now, ours=position.ours)

    def _on_user_message(self, message: dict[str, Any]) -> None:
        """Positions the event may have changed go to the ASL with whether they are ours (the
        tracker derives that from our client ids, ``core.ownership``); ALGO_UPDATEs go as they are."""
        session = self.session
        if session is None:
            return
        kind = message.get("e")
        now = session.clock.now_ms()
        if kind in ("ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE") and self.asl is not None:
            for position in session.last_changed:
                self.asl.on_position(position.symbol, position.position_side, position.quantity,
                                     position.entry_price, now, ours=position.ours)
        elif kind == "ALGO_UPDATE" and self.asl is not None and isinstance(message.get("o"), dict):
            self.asl.on_algo_update(message["o"], now)
        if kind == "ACCOUNT_UPDATE":
            self._refresh_status()

    def _on_market_message(self, message: dict[str, Any]) -> None:
        if message.get("e") != "markPriceUpdate":
            return
        session = self.session
        if session is None:
            return
        symbol = str(message.get("s", ""))
        mark = session.mark(symbol)
        if self.asl is not None and mark is not None:
            self.asl.on_mark_price(symbol, mark, session.clock.now_ms())
        if symbol == self._profile.symbol or session.tracker.open_positions(symbol):
            self._refresh_status()

    def _grid(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """``symbol``'s price tick and quantity step for showing numbers (None until known)."""
        try:
            filters = self.session.filters(symbol) if self.session is not None else None
        except TraytraderError:
            return None, None
        if filters is None:
            return None, None
        lot = filters.market_lot_size or filters.lot_size
        tick = filters.price_filter.tick_size if filters.price_filter is not None else None
        return tick, lot.step_size if lot is not None else None

    def _position_snapshots(self, session: Session) -> tuple[PositionSnapshot, ...]:
        snapshots = []
        for position in session.tracker.open_positions():
            tick, step = self._grid(position.symbol)
            snapshots.append(PositionSnapshot(
                position.symbol, position.quantity, position.entry_price, position.unrealized_pnl,
                session.mark(position.symbol), tick, step))
        return tuple(snapshots)

    def _refresh_status(self) -> None:
        session = self.session
        if session is None:
            return
        symbol = self._profile.symbol
        positions = session.tracker.open_positions(symbol)
        quantity = sum((p.quantity for p in positions), start=session.tracker.get(symbol).quantity * 0)
        position = positions[0] if positions else None
        if not positions:   # the stop went with the position: the next one starts without it
            self._stop_tier, self._stop_text = None, ""
        elif not self._stop_text and self.asl is not None:   # a stop adopted at start: no move said it
            self._stop_tier, self._stop_text = self.asl.stop_words(symbol) or (None, "")
        dispatcher = self.dispatcher
        tick, step = self._grid(symbol)
        self._status = Status(
            state=session.state, environment=self.config.exchange.environment.value,
            profile=self._profile.name, symbol=symbol, position_qty=quantity,
            entry_price=position.entry_price if position else quantity * 0,
            unrealized_pnl=sum((p.unrealized_pnl for p in positions), start=quantity * 0),
            mark_price=session.mark(symbol), stop_tier=self._stop_tier if positions else None,
            stop_text=self._stop_text if positions else "", rtt_ms=session.clock.rtt_ms,
            clock_offset_ms=float(session.clock.offset_ms) if session.clock.synced_at else None,
            last_latency_us=dispatcher.last_latency_us if dispatcher else None, detail=session.detail,
            tick_size=tick, step_size=step, positions=self._position_snapshots(session))


def run_engine_once(engine: Engine, command: Command, *, timeout_s: float = 30.0,
                    on_event: Callable[[Event], None] | None = None) -> Event:
    """Start ``engine``, wait until it is ready, run ``command``, and return its final answer;
    when that answer is a fill, only once the resulting position is protected (a ``Notice`` with
    level ``error`` says it is not, within ``timeout_s``).

    Used by ``traytrader order`` and tests: the same engine path as a keypress, once. The command
    is stamped when it is submitted (the engine refuses commands that reach it late).
    """
    changed = threading.Event()
    result: list[Event] = []
    ready = threading.Event()
    last_state: list[StateChanged] = []   # what the engine last said about its connection

    def watch(event: Event) -> None:
        if on_event is not None:
            on_event(event)
        if isinstance(event, StateChanged):
            last_state[:] = [event]
            if event.state is EngineState.READY:
                ready.set()
            elif event.state is EngineState.ERROR:
                result.append(event)
                ready.set()
        elif is_final_answer(event, command.id):
            result.append(event)
        changed.set()

    engine.subscribe(watch)
    engine.start()
    if not ready.wait(timeout_s):
        detail = last_state[0].detail if last_state else ""
        said = f": {detail}" if detail else "."
        return StateChanged(f"The engine did not become ready in {timeout_s:g} s{said}",
                            state=EngineState.CONNECTING, detail=detail)
    if result:
        return result[0]
    command = dataclasses.replace(command, accepted_ns=time.perf_counter_ns())
    engine.submit(command)
    deadline = time.monotonic() + timeout_s
    while not result:
        if not changed.wait(max(0.0, deadline - time.monotonic())):
            return CommandRejected("No answer in time.", command=command.kind, command_id=command.id)
        changed.clear()
    answer = result[0]
    if not isinstance(answer, OrderFilled):
        return answer
    gap = engine.protection_gap(answer.symbol)
    while gap is not None:   # every ASL event sets ``changed``; look again then
        if not changed.wait(max(0.0, deadline - time.monotonic())):
            return Notice(f"{answer.text} The position is NOT protected: {gap}. Check it on the exchange.",
                          level="error")
        changed.clear()
        gap = engine.protection_gap(answer.symbol)
    return answer
