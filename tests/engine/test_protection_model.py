"""The capital-protection promise, checked by a model-based test against the real engine and the
simulator over loopback (issue 12).

The property comes first: after every step, read from the exchange's own state (``/sim/state``),

* every open position has a live stop of ours covering its whole size, on the right side, within
  ``PROTECTION_BOUND_S`` (docs/reliability.md: the watchdog's grace plus a placement round trip);
* a flat symbol has no live stop of ours left: at once when the engine heard of the close, within
  ``LEFTOVER_BOUND_S`` when the events were lost (the exchange check every 10 s finds it; a
  reduce-only stop cannot open a position meanwhile);
* a fixed stop of ours is never replaced by a looser one while the position lives;
* one key makes at most one entry order.

Hypothesis then explores the paths: MARKET and LIMIT entries (resting, filled later), buy, sell,
close, flatten, reverse, breakeven, close 25%/50%, add, profile switches, price moves and gaps
through the stop, faults on the order path (no answer, 503, a late answer), user-data stream drops
and listenKey expiry, and a restart of the engine on the same journal with a stop still in flight.
A bounded run is in the suite;
``TT_MODEL_EXAMPLES=200 TT_MODEL_STEPS=40 pytest tests/engine/test_protection_model.py`` is the
long run (docs/reliability.md has its last figures).
"""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine_kit import EventLog, SimControl, hmac_credentials, make_config
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from traytrader.core.models import OrderType, Profile
from traytrader.engine.api import Command, CommandKind, is_final_answer
from traytrader.engine.handle import Engine

SYMBOL = "BTCUSDT"
START_PRICE = Decimal("100000")
PROTECTION_BOUND_S = 4.5      # grace (2 s) + a safety placement + a snapshot period, with margin
HOME_LINE_BOUND_S = 6.0       # the same at 150±50 ms per frame: a few more round trips
# A stop of ours left on a flat position cannot open one (it is reduce-only); when the events that
# would have told the engine were lost, the exchange check (every 10 s) finds it: 10 s + margin.
LEFTOVER_BOUND_S = 13.0
ANSWER_TIMEOUT_S = 15.0       # an unknown outcome waits out recvWindow (1 s here) before asking
EXAMPLES = int(os.environ.get("TT_MODEL_EXAMPLES", "3"))
STEPS = int(os.environ.get("TT_MODEL_STEPS", "10"))
HOME_EXAMPLES = int(os.environ.get("TT_MODEL_HOME_EXAMPLES", "1"))
HOME_STEPS = int(os.environ.get("TT_MODEL_HOME_STEPS", "6"))
D = Decimal


def _profiles() -> tuple[Profile, ...]:
    return (
        Profile(name="mkt", symbol=SYMBOL, leverage=5, notional_usdt=D("200"), add_fraction=D("0.5")),
        Profile(name="lim", symbol=SYMBOL, leverage=5, notional_usdt=D("200"), order_type=OrderType.LIMIT,
                limit_offset_ticks=20),
    )


def _our_stops(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in state["orders"] if o.get("kind") == "algo" and o.get("status") == "NEW"
            and str(o.get("clientAlgoId", "")).startswith("ttasl")]


def _position(state: dict[str, Any]) -> Decimal:
    rows = state["accounts"][0]["positions"]
    return sum((D(r["positionAmt"]) for r in rows if r["symbol"] == SYMBOL), D(0))


def _entry_orders(state: dict[str, Any]) -> int:
    return sum(1 for o in state["orders"] if o.get("kind") != "algo"
               and str(o.get("clientOrderId", "")).startswith("tt-") and not o.get("reduceOnly"))


def _reductions(state: dict[str, Any]) -> int:
    """Filled orders that reduce: reduce-only closes, and algo stops of ours that fired."""
    return sum(1 for o in state["orders"]
               if (o.get("reduceOnly") and o.get("status") in ("FILLED", "PARTIALLY_FILLED"))
               or (o.get("kind") == "algo" and o.get("status") in ("FINISHED", "TRIGGERED")))


def _gap(state: dict[str, Any]) -> str | None:
    """None when the exchange's state keeps the promise, else what breaks it."""
    amount = _position(state)
    stops = _our_stops(state)
    if amount == 0:
        return f"flat, yet {len(stops)} stop(s) of ours are live" if stops else None
    side = "SELL" if amount > 0 else "BUY"
    covering = [o for o in stops if o.get("side") == side and D(str(o.get("quantity"))) == abs(amount)]
    if not covering:
        return f"position {amount} has no covering stop (live: {[(o['side'], o['quantity']) for o in stops]})"
    return None


class ProtectionModel(RuleBasedStateMachine):
    """Drives one engine (restartable) against one simulator; see the module docstring."""

    tmp: Path
    latency_ms = 0.0
    bound_s = PROTECTION_BOUND_S

    def __init__(self) -> None:
        super().__init__()
        from traytrader.sim import SimOptions, SimThread

        # The market as it is live: a depth book (partial fills, slippage), the event orders seen
        # live in a seeded random mix, the WS API reply before or after the events.
        options = SimOptions(port=0, seed=7, book="depth", event_order="random", reply_order="random",
                             latency_ms=self.latency_ms, latency_jitter_ms=self.latency_ms / 3)
        self.thread = SimThread(options).start()
        self.sim = SimControl(self.thread)
        self.sim.set_price(SYMBOL, str(START_PRICE))
        self.price = START_PRICE
        self.config = make_config(self.sim, cooldown_ms=0, timeout_ms=600, recv_window_ms=1000,
                                  profiles=_profiles())
        self.journal = self.tmp / f"journal-{id(self)}.sqlite3"
        self.engine: Engine | None = None
        self.log = EventLog()
        self.entries = 0            # entry orders the keys may have made (buy, sell, reverse)
        self.best_fixed: tuple[int, Decimal] | None = None   # (direction, best trigger) this position
        self.reductions = 0         # reduce-only fills seen: each may end a position's life
        self.history: list[str] = []   # the steps so far, said when the promise breaks
        self._start_engine()

    # --- plumbing --------------------------------------------------------------------------

    def _start_engine(self) -> None:
        self.log = EventLog()
        self.engine = Engine(self.config, hmac_credentials(), journal_path=self.journal)
        self.engine.subscribe(self.log)
        self.engine.start()
        self.log.wait_ready(15)

    def _command(self, kind: CommandKind, argument: str = "") -> Any:
        assert self.engine is not None
        command = Command(kind, argument, source="test")
        self.engine.submit(command)
        return self.log.wait_for(lambda e: is_final_answer(e, command.id), ANSWER_TIMEOUT_S)

    def _move(self, price: Decimal) -> None:
        self.price = price.quantize(D("0.1"))
        self.sim.set_price(SYMBOL, str(self.price))

    @staticmethod
    def _args(values: dict[str, Any]) -> str:
        return "(" + ", ".join(f"{k}={v!r}" for k, v in values.items() if k != "self") + ")"

    def teardown(self) -> None:
        try:
            if self.engine is not None:
                self.engine.stop(3.0)
        finally:
            self.thread.stop()

    # --- rules -------------------------------------------------------------------------------

    @rule(side=st.sampled_from([CommandKind.BUY, CommandKind.SELL]))
    def enter(self, side: CommandKind) -> None:
        self.history.append(f"enter{self._args(locals())}")
        self.entries += 1
        self._command(side)

    @rule(name=st.sampled_from(["mkt", "lim"]))
    def switch_profile(self, name: str) -> None:
        self.history.append(f"switch_profile{self._args(locals())}")
        self._command(CommandKind.SELECT_PROFILE, name)

    @rule(kind=st.sampled_from([CommandKind.CLOSE, CommandKind.FLATTEN, CommandKind.REVERSE]))
    def reduce_or_reverse(self, kind: CommandKind) -> None:
        self.history.append(f"reduce_or_reverse{self._args(locals())}")
        if kind is CommandKind.REVERSE:
            self.entries += 1
        self._command(kind)

    @rule(kind=st.sampled_from(["breakeven", "close 25%", "close 50%", "add"]))
    def toolkit(self, kind: str) -> None:
        """The trader's keys (issue 16): breakeven moves the stop's floor, a partial close and an
        add resize the position; the stop follows, never looser, never absent."""
        self.history.append(f"toolkit{self._args(locals())}")
        if kind == "add":
            self.entries += 1
            self._command(CommandKind.ADD)
        elif kind == "breakeven":
            self._command(CommandKind.BREAKEVEN)
        else:
            self._command(CommandKind.CLOSE, kind.split()[1])

    @rule(pct=st.sampled_from([-3, -1.5, -0.6, 0.6, 1.5, 3]))
    def move_price(self, pct: float) -> None:
        """Small moves fill resting LIMITs and climb the tiers; 3% gaps jump through a hard stop."""
        self.history.append(f"move_price{self._args(locals())}")
        self._move(self.price * (1 + D(str(pct)) / 100))

    @rule(kind=st.sampled_from(["drop_after_reply", "drop_before_reply", "unknown_503", "delay"]),
          side=st.sampled_from([CommandKind.BUY, CommandKind.SELL]))
    def entry_with_a_fault(self, kind: str, side: CommandKind) -> None:
        """The order's answer is lost, unknown, or later than the timeout: resolved, never doubled."""
        self.history.append(f"entry_with_a_fault{self._args(locals())}")
        self.sim.fault(kind, "order.place", count=1, ms=1500 if kind == "delay" else 0)
        self.entries += 1
        self._command(side)
        self.sim.clear_faults()

    @rule(code=st.sampled_from([-1006, -1007]), executed=st.booleans(),
          method=st.sampled_from(["order.place", "algoOrder.place"]),
          side=st.sampled_from([CommandKind.BUY, CommandKind.SELL]))
    def entry_with_unknown_status(self, code: int, executed: bool, method: str, side: CommandKind) -> None:
        """-1006/-1007 ("execution status unknown") on the order or on its stop, executed or not:
        resolved by asking, protected either way, never doubled."""
        self.history.append(f"entry_with_unknown_status{self._args(locals())}")
        self.sim._request("POST", "/sim/fault", {"kind": "status_unknown", "method": method, "code": code,
                                                 "executed": executed, "count": 1})
        self.entries += 1
        self._command(side)
        self.sim.clear_faults()

    @rule(side=st.sampled_from([CommandKind.BUY, CommandKind.SELL]))
    def listen_key_expires_during_the_fill(self, side: CommandKind) -> None:
        self.history.append(f"listen_key_expires_during_the_fill{self._args(locals())}")
        self.sim._request("POST", "/sim/fault", {"kind": "expire_listen_key_in_fill", "method": "order.place",
                                                 "events": 1, "count": 1})
        self.entries += 1
        self._command(side)
        self.sim.clear_faults()

    @rule(kind=st.sampled_from(["expire_listen_key", "close_all", "drop_user_stream"]))
    def connections_drop(self, kind: str) -> None:
        """The user-data stream (listenKey expiry, a drop of it alone) or every connection drops;
        the engine resyncs."""
        self.history.append(f"connections_drop{self._args(locals())}")
        self.sim.fault(kind)
        assert self.engine is not None
        self.log.wait_until(lambda: self.engine is not None and self.engine.status().state.value == "ready",
                            15)

    @precondition(lambda self: self.engine is not None)
    @rule(lose_stop=st.booleans())  # True: a buy whose stop never lands, then the crash
    def crash_and_restart(self, lose_stop: bool) -> None:
        """The engine stops (with its stop placement possibly still in flight) and a new one starts
        on the same journal: whatever is open is ours and gets protected."""
        self.history.append(f"crash_and_restart{self._args(locals())}")
        assert self.engine is not None
        if lose_stop:   # every stop placement lost before it executes: the fill lands, its stop never
            self.sim.fault("drop_before_execute", "algoOrder.place", count=1000)
            self.entries += 1
            command = Command(CommandKind.BUY, source="test")
            self.engine.submit(command)
            self.log.wait_for(lambda e: is_final_answer(e, command.id), ANSWER_TIMEOUT_S)
        self.engine.stop(3.0)
        self.engine = None
        self.sim.clear_faults()
        self._start_engine()

    # --- the promise ---------------------------------------------------------------------------

    @invariant()
    def every_position_is_protected_and_nothing_is_left_behind(self) -> None:
        start = time.monotonic()
        state = self.sim.state()
        gap = _gap(state)
        while gap is not None:
            bound = LEFTOVER_BOUND_S if gap.startswith("flat") else self.bound_s
            if time.monotonic() - start >= bound:
                break
            time.sleep(0.05)   # polling the exchange's state: the condition is on the exchange
            state = self.sim.state()
            gap = _gap(state)
        assert gap is None, f"{gap} after {time.monotonic() - start:.1f} s; steps: {self.history}"
        assert _entry_orders(state) <= self.entries, "a key made more than one entry order"
        self._never_looser(state)

    def _never_looser(self, state: dict[str, Any]) -> None:
        """Within one position's life, the best fixed stop of ours never gets worse. A new life
        starts when the side changes or a reduce-only order (a stop that fired, a close) filled
        since the last look: in one step a stop can fire and a resting LIMIT reopen the position."""
        amount = _position(state)
        direction = (amount > 0) - (amount < 0)
        reductions = _reductions(state)
        if direction == 0 or reductions != self.reductions or \
                (self.best_fixed is not None and self.best_fixed[0] != direction):
            self.best_fixed = None
        self.reductions = reductions
        fixed = [D(str(o["triggerPrice"])) for o in _our_stops(state)
                 if o.get("type", o.get("orderType")) == "STOP_MARKET"
                 and D(str(o.get("triggerPrice") or 0)) > 0]
        if direction == 0 or not fixed:
            return
        best = max(fixed) if direction > 0 else min(fixed)
        if self.best_fixed is not None:
            previous = self.best_fixed[1]
            assert direction * (best - previous) >= 0, f"stop loosened from {previous} to {best}"
        self.best_fixed = (direction, best)


def test_every_position_of_ours_is_protected_whatever_path_opened_it(tmp_path: Path) -> None:
    ProtectionModel.tmp = tmp_path
    ProtectionModel.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
        suppress_health_check=list(HealthCheck))
    ProtectionModel.TestCase().runTest()


class HomeLineModel(ProtectionModel):
    """The same at a home line's latency: every reply, answer and stream frame 150±50 ms late."""

    latency_ms = 150.0
    bound_s = HOME_LINE_BOUND_S


def test_the_same_at_a_home_lines_latency(tmp_path: Path) -> None:
    HomeLineModel.tmp = tmp_path
    HomeLineModel.TestCase.settings = settings(
        max_examples=HOME_EXAMPLES, stateful_step_count=HOME_STEPS, deadline=None,
        suppress_health_check=list(HealthCheck))
    HomeLineModel.TestCase().runTest()
