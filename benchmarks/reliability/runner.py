"""Drives one scenario: a real ``Engine`` (with the ASL when installed) against the simulator over
loopback, keypresses submitted through ``EngineHandle.submit`` as a hotkey would, faults scripted over
``/sim/fault`` (and the ``FaultProxy``) at seeded random moments, and every figure read back from the
exchange's own record.

One run = prepare (scenario) → keypresses with faults (scenario) → hold until the position is
protected or ``hold_s`` passes → flatten with faults cleared → read ``/sim/state`` → per-run figures.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.reliability import metrics
from benchmarks.reliability.proxy import FaultProxy
from benchmarks.reliability.simctl import SimControl
from traytrader.core.models import (
    ApiCredentials,
    AppConfig,
    AslSettings,
    Environment,
    ExchangeSettings,
    HotkeySettings,
    KeyType,
    OrderType,
    Profile,
    SafetySettings,
)
from traytrader.engine.api import (
    Command,
    CommandDone,
    CommandKind,
    CommandRejected,
    EngineState,
    Event,
    OrderAccepted,
    OrderFilled,
    SafetyAction,
    StateChanged,
    is_final_answer,
)
from traytrader.engine.handle import Engine
from traytrader.sim import (
    DEMO_API_KEY,
    DEMO_ED25519_API_KEY,
    DEMO_ED25519_PRIVATE_KEY_PEM,
    DEMO_SECRET,
    SimOptions,
)

log = logging.getLogger("reliability")
TERMINAL = (OrderFilled, OrderAccepted, CommandRejected, CommandDone)
# Sentences that leave the user without a definite outcome (engine/outcome.py, handle.run_engine_once).
UNDETERMINED_WORDS = ("could not learn whether", "no answer in time", "check the exchange")
CLIENT_PREFIX = "tt-"
STOP_PREFIX = "ttasl-"
#: A key's order must reach the exchange within this long (the engine refuses older commands).
LATE_AFTER_MS = 2000


def poll(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Re-check ``condition`` (e.g. on /sim/state) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass
class EngineOptions:
    """What the harness sets on the engine's config for a scenario."""

    recv_window_ms: int = 1000
    request_timeout_ms: int = 600
    cooldown_ms: int = 0
    max_orders_per_minute: int = 10_000
    max_notional_usdt: Decimal = Decimal("100000")
    notional_usdt: Decimal = Decimal("200")
    rollover_after_s: float | None = None
    key_type: KeyType = KeyType.HMAC
    via_proxy: bool = False
    asl: AslSettings = field(default_factory=AslSettings)
    order_type: OrderType = OrderType.MARKET
    limit_offset_ticks: int = 0  # a LIMIT entry rests this many ticks away from the touch


class Recorder:
    """Engine events with monotonic arrival times; waits on conditions, never sleeps blind.

    Indexes (``mark``) are absolute, so ``trim`` can drop old events in a long soak without moving
    them; what the figures need from old events (client ids the user was told about, safety actions,
    outages) is kept incrementally."""

    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []
        self.offset = 0
        self.cond = threading.Condition()
        self.told: set[str] = set()
        self.safety_actions = 0
        self.outage_ms: list[float] = []
        self._down_at: float | None = None

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        with self.cond:
            self.events.append((now, event))
            if isinstance(event, OrderFilled | OrderAccepted):
                self.told.add(event.client_order_id)
            elif isinstance(event, SafetyAction):
                self.safety_actions += 1
            elif isinstance(event, StateChanged):
                self.outage_ms += outages([(now, event)], self)
            self.cond.notify_all()

    def mark(self) -> int:
        with self.cond:
            return self.offset + len(self.events)

    def wait(self, predicate: Callable[[Event], bool], timeout: float, after: int = 0) -> Event | None:
        found: list[Event] = []

        def check() -> bool:
            for _, event in self.events[max(0, after - self.offset) :]:
                if predicate(event):
                    found.append(event)
                    return True
            return False

        with self.cond:
            self.cond.wait_for(check, timeout)
        return found[0] if found else None

    def since(self, index: int) -> list[tuple[float, Event]]:
        with self.cond:
            return list(self.events[max(0, index - self.offset) :])

    def trim(self, before: int) -> None:
        """Forget events with an index below ``before``."""
        with self.cond:
            drop = max(0, min(before - self.offset, len(self.events)))
            del self.events[:drop]
            self.offset += drop


class _DownState:
    _down_at: float | None = None


def outages(events: list[tuple[float, Event]], state: Any = None) -> list[float]:
    """Milliseconds from each READY → not-READY transition to the next READY (the WS-API reconnects).
    ``state`` (anything with a ``_down_at`` attribute) carries an open outage across calls."""
    state = state if state is not None else _DownState()
    out = []
    for at, event in events:
        if not isinstance(event, StateChanged):
            continue
        if event.state is EngineState.READY:
            if state._down_at is not None:
                out.append((at - state._down_at) * 1000)
            state._down_at = None
        elif event.state in (EngineState.CONNECTING, EngineState.DISCONNECTED) and state._down_at is None:
            state._down_at = at
    return out


@dataclass
class RunFigures:
    keypresses: int = 0
    orders: int = 0
    duplicates: int = 0
    undetermined: int = 0
    orphans: int = 0
    max_unprotected_ms: float = 0.0
    late_orders: int = 0
    looser_stops: int = 0
    failed_checks: int = 0
    reconnect_ms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measured_ms: list[float] = field(default_factory=list)


@dataclass
class PressResult:
    """One keypress and its terminal event (``compact()`` keeps only what the figures need)."""

    kind: CommandKind
    event: Event | None
    counted: bool
    answered: bool = False
    text: str = ""

    def __post_init__(self) -> None:
        if self.event is not None:
            self.answered, self.text = True, self.event.text

    def compact(self) -> PressResult:
        return dataclasses.replace(self, event=None)


class Harness:
    """One simulator + one engine for a scenario; ``run_once`` executes one randomised run."""

    def __init__(
        self,
        sim_options: SimOptions,
        engine_options: EngineOptions,
        *,
        seed: int,
        workdir: Path | None = None,
        credentials: ApiCredentials | None = None,
        sim_subprocess: bool = False,
    ) -> None:
        self.sim_options = sim_options
        self.sim = SimControl(sim_options, subprocess=sim_subprocess)
        self.scratch: dict[str, Any] = {}
        self.options = engine_options
        self.rng = random.Random(seed)
        self.proxy = FaultProxy(self.sim.port).start() if engine_options.via_proxy else None
        self._tmp = tempfile.TemporaryDirectory(prefix="traytrader-rel-") if workdir is None else None
        self.workdir = Path(self._tmp.name) if self._tmp is not None else workdir  # type: ignore[union-attr]
        self.journal_path = self.workdir / "journal.sqlite3"
        self.recorder = Recorder()
        self.credentials = credentials or self._credentials()
        self.config = self._config()
        self.engine = self._new_engine()
        self.presses: list[PressResult] = []
        self.extra_reconnects: list[float] = []
        self.notes: list[str] = []
        # Wall-clock windows (ms) in which a key may make an order: [pressed, pressed] for a hotkey,
        # [launched, exited] for a CLI process; an order outside every window + 2 s came late.
        self.key_windows: list[tuple[float, float]] = []
        self.failed_checks = 0
        self.measured_ms: list[float] = []  # a scenario's own figure (e.g. fill → close at market)
        self.last_command: Command | None = None

    def _new_engine(self) -> Engine:
        kwargs: dict[str, Any] = {}
        if self.options.rollover_after_s is not None:
            kwargs["rollover_after_s"] = self.options.rollover_after_s
        engine = Engine(
            self.config, self.credentials, journal_path=self.journal_path, enable_asl=True, **kwargs
        )
        engine.subscribe(self.recorder)
        return engine

    # -- setup -------------------------------------------------------------------------------------
    def _credentials(self) -> ApiCredentials:
        if self.options.key_type is KeyType.ED25519:
            return ApiCredentials(
                "rel-ed", KeyType.ED25519, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM
            )
        return ApiCredentials("rel", KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET)

    def _config(self) -> AppConfig:
        o = self.options
        if self.proxy is not None:
            rest, ws_api, stream = (
                self.proxy.url("http"),
                self.proxy.url("ws", "/ws-fapi/v1"),
                self.proxy.url("ws"),
            )
        else:
            rest, ws_api, stream = self.sim.rest_url, self.sim.ws_api_url, self.sim.stream_url
        exchange = ExchangeSettings(
            environment=Environment.SIM,
            key=self.credentials.name,
            rest_url=rest,
            ws_api_url=ws_api,
            stream_url=stream,
            recv_window_ms=o.recv_window_ms,
            request_timeout_ms=o.request_timeout_ms,
        )
        profile = Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=o.notional_usdt, asl=o.asl,
                          order_type=o.order_type, limit_offset_ticks=o.limit_offset_ticks)
        return AppConfig(
            path="<reliability>",
            exchange=exchange,
            hotkeys=HotkeySettings(),
            safety=SafetySettings(
                max_notional_usdt=o.max_notional_usdt,
                max_orders_per_minute=o.max_orders_per_minute,
                cooldown_ms=o.cooldown_ms,
            ),
            asl=o.asl,
            profiles=(profile,),
            default_profile=profile.name,
        )

    def start(self, timeout: float = 20.0) -> None:
        mark = self.recorder.mark()
        self.engine.start()
        event = self.recorder.wait(
            lambda e: isinstance(e, StateChanged) and e.state in (EngineState.READY, EngineState.ERROR),
            timeout,
            after=mark,
        )
        if not isinstance(event, StateChanged) or event.state is not EngineState.READY:
            raise RuntimeError(f"the engine did not become ready: {getattr(event, 'text', 'no event')}")

    @property
    def asl_installed(self) -> bool:
        return getattr(self.engine, "asl", None) is not None

    def close(self) -> None:
        self.engine.stop(3.0)
        if self.proxy is not None:
            self.proxy.stop()
        self.sim.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def stop_engine(self) -> None:
        """Stop the engine as the app stops (its journal closed); ``start_engine`` starts the next."""
        self.engine.stop(3.0)

    def start_engine(self, timeout: float = 20.0) -> None:
        """A new engine on the same journal and account, as the next start of the app."""
        self.engine = self._new_engine()
        self.start(timeout)

    def check(self, ok: bool, what: str) -> bool:
        """A scenario's own promise: when it does not hold, a failed check (an invariant failure)."""
        if not ok:
            self.failed_checks += 1
            self.notes.append(f"CHECK failed: {what}")
        return ok

    # -- actions -----------------------------------------------------------------------------------
    def submit(self, kind: CommandKind, *, counted: bool = True) -> int:
        """Submit a keypress without waiting; returns the event index it was submitted at (the
        command is ``last_command``: its ``id`` names its one final answer)."""
        mark = self.recorder.mark()
        command = Command(kind, source="hotkey" if counted else "reliability")
        now = time.time() * 1000
        self.key_windows.append((now, now))
        self.last_command = command
        self.engine.submit(command)
        return mark

    def answer_of(self, command: Command, timeout: float = 30.0, after: int = 0) -> Event | None:
        """The command's one final answer (a reverse's first leg and a resting order's later fill
        are not it)."""
        return self.recorder.wait(lambda e: is_final_answer(e, command.id), timeout, after=after)

    def press(self, kind: CommandKind, *, counted: bool = True, timeout: float = 30.0) -> PressResult:
        """One keypress, waiting for its final answer."""
        mark = self.submit(kind, counted=counted)
        assert self.last_command is not None
        event = self.answer_of(self.last_command, timeout, after=mark)
        result = PressResult(kind, event, counted)
        self.presses.append(result)
        return result

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.engine.status().state is EngineState.READY:
                session = self.engine.session
                if session is not None and session.ready:
                    return True
            with self.recorder.cond:
                self.recorder.cond.wait(0.01)
        return False

    def poll(self, condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
        return poll(condition, timeout, interval)

    # -- one run -----------------------------------------------------------------------------------
    def _open_positions(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            p
            for a in state["accounts"]
            if a["apiKey"] == self.credentials.api_key
            for p in a["positions"]
            if Decimal(p["positionAmt"]) != 0
        ]

    def _open_algos(self, state: dict[str, Any]) -> list[int]:
        return [
            i
            for a in state["accounts"]
            if a["apiKey"] == self.credentials.api_key
            for i in a["openAlgoOrders"]
        ]

    def _protected(self, state: dict[str, Any]) -> bool:
        open_positions = self._open_positions(state)
        if not open_positions:
            return True
        return bool(self._open_algos(state))

    def run_once(
        self,
        act: Callable[[Harness, random.Random], None],
        prepare: Callable[[Harness, random.Random], None] | None = None,
        cleanup: Callable[[Harness], None] | None = None,
        *,
        hold_s: float = 4.0,
        after_clear: Callable[[Harness], None] | None = None,
    ) -> RunFigures:
        rng = self.rng
        if prepare is not None:
            prepare(self, rng)
        before = self.sim.state()
        start_ms = int(before["serverTime"])
        known = {_order_key(o) for o in before["orders"]}
        press_mark = len(self.presses)
        key_mark = len(self.key_windows)
        self.failed_checks = 0
        safety_mark = self.recorder.safety_actions
        outage_mark = len(self.recorder.outage_ms)
        act(self, rng)
        figures = RunFigures()
        # Hold the position until the exchange shows a stop for it (or hold_s), so the unprotected
        # time measures the engine, not how soon the harness flattens.
        self.wait_ready()
        if self.asl_installed:
            self.poll(lambda: self._protected(self.sim.state()), hold_s, 0.05)
        self.sim.clear_faults()
        if after_clear is not None:
            after_clear(self)
        if self.proxy is not None:
            self.proxy.stall(False)
            self.proxy.refuse(False)
        self.wait_ready()
        self._flatten(figures)
        state = self.sim.state()
        end_ms = int(state["serverTime"])
        if cleanup is not None:
            cleanup(self)
        # The run's orders by identity, not by time: a clock-skew run moves the exchange clock.
        window = [o for o in state["orders"] if _order_key(o) not in known]
        counted = [p for p in self.presses[press_mark:] if p.counted]
        figures.keypresses = len(counted)
        figures.orders = len(metrics.user_orders(window, CLIENT_PREFIX))
        figures.duplicates = metrics.duplicates(window)
        figures.undetermined = self._undetermined(counted, window, self.recorder.safety_actions > safety_mark)
        first = min((int(o.get("createTime") or end_ms) for o in window), default=start_ms)
        figures.max_unprotected_ms = metrics.max_unprotected_ms(window, end_ms, min(first, start_ms))
        skew_ms = int(state.get("clockSkewMs") or 0)
        figures.late_orders = metrics.late_orders(
            window, self.key_windows[key_mark:], skew_ms, LATE_AFTER_MS, CLIENT_PREFIX,
            exempt_reduce_only=self.recorder.safety_actions > safety_mark,
        )
        if figures.late_orders:
            self.notes.append(f"{figures.late_orders} order(s) sent > {LATE_AFTER_MS} ms after any key")
        figures.looser_stops = metrics.looser_replacements(window, STOP_PREFIX)
        if figures.looser_stops:
            stops = [f"{a.get('clientAlgoId')} {a.get('side')} {a.get('type')} @{a.get('triggerPrice')} "
                     f"{a.get('status')} {a.get('createTime')}→{a.get('updateTime')}"
                     for a in metrics.algo_orders(window)]
            self.notes.append(f"{figures.looser_stops} stop(s) replaced by a looser STOP_MARKET: "
                              + "; ".join(stops))
        figures.failed_checks = self.failed_checks
        figures.reconnect_ms = self.recorder.outage_ms[outage_mark:] + self.extra_reconnects
        figures.measured_ms = self.measured_ms
        figures.notes = self.notes
        self.extra_reconnects, self.notes, self.measured_ms = [], [], []
        del self.key_windows[:key_mark]
        return figures

    def _flatten(self, figures: RunFigures) -> None:
        """Close what the run left open (not counted as keypresses), then check for orphan stops.

        A refusal because the engine is (still or again) reconnecting is retried: a dropped
        connection can be noticed just after the run's last answer arrived."""
        for _ in range(5):
            if not self._open_positions(self.sim.state()):
                break
            self.wait_ready()
            result = self.press(CommandKind.FLATTEN, counted=False)
            if isinstance(result.event, OrderFilled | CommandDone):
                self.poll(lambda: not self._open_positions(self.sim.state()), 5.0, 0.05)
            else:
                self.notes.append(f"flatten retried: {getattr(result.event, 'text', 'no answer')}")
        # "A closed position cancels every remaining stop of ours — no orphans" (issue 6).
        if not self.poll(
            lambda: not self._open_algos(self.sim.state()), 3.0 if self.asl_installed else 0, 0.05
        ):
            left = self._open_algos(self.sim.state())
            figures.orphans = len(left)
            self.notes.append(f"orphan stops (algoId): {left}")
            self.press(CommandKind.CANCEL_ALL, counted=False)

    def _undetermined(self, presses: list[PressResult], window: list[Any], safety_seen: bool) -> int:
        """Keypresses with no definite outcome: no terminal event, an "unknown" sentence, or an order
        that executed on the exchange while the user was never told it did."""
        count = 0
        for press in presses:
            text = press.text.lower()
            if not press.answered or any(words in text for words in UNDETERMINED_WORDS):
                count += 1
                self.notes.append(f"undetermined {press.kind.value}: {text or 'no terminal event'}")
        told = self.recorder.told
        safety = safety_seen
        for order in metrics.user_orders(window, CLIENT_PREFIX):
            cid = str(order.get("clientOrderId"))
            if cid in told or (safety and order.get("reduceOnly")):
                continue
            if order.get("status") in ("FILLED", "NEW", "PARTIALLY_FILLED"):
                count += 1
                self.notes.append(f"order {cid} {order.get('status')} on the exchange, user not told")
        return count


def _order_key(order: dict[str, Any]) -> tuple[str, Any]:
    kind = str(order.get("kind"))
    return (kind, order.get("algoId") if kind == "algo" else order.get("orderId"))


def merge(figures: list[RunFigures]) -> dict[str, Any]:
    """Scenario totals from its runs."""
    reconnects = [ms for f in figures for ms in f.reconnect_ms]
    notes = [n for f in figures for n in f.notes]
    return {
        "runs": len(figures),
        "keypresses": sum(f.keypresses for f in figures),
        "orders": sum(f.orders for f in figures),
        "duplicates": sum(f.duplicates for f in figures),
        "undetermined": sum(f.undetermined for f in figures),
        "orphans": sum(f.orphans for f in figures),
        "max_unprotected_ms": max((f.max_unprotected_ms for f in figures), default=0.0),
        "late_orders": sum(f.late_orders for f in figures),
        "looser_stops": sum(f.looser_stops for f in figures),
        "failed_checks": sum(f.failed_checks for f in figures),
        "measured_p50_ms": metrics.percentile([ms for f in figures for ms in f.measured_ms], 50),
        "measured_max_ms": max((ms for f in figures for ms in f.measured_ms), default=None),
        "reconnect_p50_ms": metrics.percentile(reconnects, 50),
        "reconnect_p99_ms": metrics.percentile(reconnects, 99),
        "reconnects": len(reconnects),
        "notes": notes,
    }


def replace_options(options: EngineOptions, **changes: Any) -> EngineOptions:
    return dataclasses.replace(options, **changes)
