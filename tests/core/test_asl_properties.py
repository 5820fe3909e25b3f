"""Property tests: random price paths, position changes and hostile delivery of every answer.

Responses and ALGO_UPDATEs are delivered late, out of order and twice; placements are refused;
the user's toolkit keys come in between (breakeven moves the floor, partial closes and adds resize);
requests are lost (the answer is "unknown", and a lost cancel never reaches the exchange). After
every step, on the model exchange's truth:

* at most two of our stops protect the position, and exactly one once the ladder says PROTECTED
  with nothing left to deliver;
* once a stop was confirmed, the position is never without one (until a stop fires);
* the level of the stop the ladder relies on never loosens;
* no input ever hits an illegal transition, restarts (recovery from a snapshot) included;
and when it is all over (position closed, network healthy again) no stop of ours is left.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from asl_exchange_model import Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traytrader.core import asl
from traytrader.core.asl_toolkit import breakeven_price, breakeven_refusal

D = Decimal
START = D("100000")

OPS = ["deliver", "deliver", "deliver", "deliver", "duplicate", "mark", "mark", "mark", "tick",
       "fill", "snapshot", "restart", "breakeven", "partial"]
FEE_RATE = D("0.0005")


class Hostile(Harness):
    """Deliveries chosen by hypothesis; position updates stay in order (one stream, ordered by
    Binance), everything else may be reordered and duplicated."""

    def __init__(self, data: st.DataObject) -> None:
        super().__init__(mark=START)
        self.data = data
        self.healthy = False
        self.trace: list[str] = []
        self.generation = self.fills_at = 0
        self.ours: set[str] = set()
        self.adopted: set[str] = set()
        self.confirmed = False
        self.on_action = self._keep
        self.place_code = self._refuse

    def _keep(self, action: asl.AslAction) -> bool:
        if self.healthy or not isinstance(action, asl.PlaceStop | asl.CancelStop):
            return True
        return not self.data.draw(st.booleans().map(lambda b: b and self.data.draw(st.booleans())), "lost")

    def _refuse(self, spec: asl.StopSpec) -> int | None:
        if self.healthy:
            return None
        return self.data.draw(st.sampled_from([None, None, None, -1008]), "refused")

    def feed(self, event: asl.AslInput) -> None:
        before = self.ladder.phase
        recover = isinstance(event, asl.Recover)
        if recover or (isinstance(event, asl.PositionUpdate) and
                       _sign(event.quantity) != _sign(self.ladder.quantity)):
            self.generation += 1
            self.fills_at = len(self.exchange.fills)
            self.confirmed = False
            # the stops of this position: those placed from now on, and those a recovery adopts
            self.adopted = {s.client_algo_id for s in event.stops} if recover else set()
            self.ours = set(self.adopted)
        event = replace(event, now_ms=self.now)
        actions = self.ladder.handle(event)
        self.trace.append(f"{before}->{self.ladder.phase} {_short(event)} => {[_short(a) for a in actions]}")
        for action in actions:
            self.execute(action)

    def mark(self, price: Decimal) -> None:
        """The exchange and the ladder see the same mark price at once (the market stream is
        ordered; a lagging stream would start a trailing stop from a price the ladder has not seen)."""
        super().mark(price)
        self.feed(self.queue.pop())

    def execute(self, action: asl.AslAction) -> None:
        if isinstance(action, asl.PlaceStop):
            self.ours.add(action.spec.client_algo_id)
        super().execute(action)

    def deliverable(self) -> list[int]:
        positions = [i for i, e in enumerate(self.queue) if isinstance(e, asl.PositionUpdate)]
        return [i for i, e in enumerate(self.queue)
                if not isinstance(e, asl.PositionUpdate) or i == positions[0]]


class Watch:
    """The invariants, checked after every step in the ladder's view: once every position update
    has reached it (before that, it cannot know the position it should protect). A generation is
    one position as the ladder sees it (open → closed or reversed); only the stops it placed for
    that position count (leftovers of an earlier one are the no-orphan check's business)."""

    def __init__(self, h: Hostile) -> None:
        self.h = h
        self.seen = -1
        self.best: Decimal | None = None

    def check(self) -> None:
        h = self.h
        if any(isinstance(e, asl.PositionUpdate) for e in h.queue):
            return
        position = h.exchange.position
        assert h.ladder.quantity == position
        if h.generation != self.seen:
            self.seen, self.best = h.generation, None
        d = (position > 0) - (position < 0)
        ours = h.ours
        live = [s for s in h.exchange.protective() if s.spec.client_algo_id in ours]
        assert len(live) <= 2, f"{len(live)} live stops"
        if d == 0 or len(h.exchange.fills) > h.fills_at:
            return  # closed, or a stop fired: the position is the exchange's to close
        active = h.ladder.active_stop
        if active is not None and active.client_algo_id in ours:
            h.confirmed = True
        if h.confirmed:
            assert live, "the position lost its stop"
        # The stop the ladder relies on, measured on the exchange, never loosens. (A stop whose
        # cancel was lost may linger and trail higher meanwhile; it was already replaced.)
        relied_id = active.client_algo_id if active is not None else None
        relied = next((s for s in live if s.spec.client_algo_id == relied_id), None)
        if relied_id in h.adopted:
            # Adopted at a restart: Binance does not tell how far a trailing stop has trailed, so
            # the ladder's estimate (the mark at recovery) is conservative; measure from its own.
            self.best = None
        elif relied is not None:
            level = relied.level()
            assert self.best is None or d * (level - self.best) >= 0, f"loosened from {self.best} to {level}"
            self.best = level
        if not h.queue and h.ladder.phase is asl.StopPhase.PROTECTED:
            assert active is not None
            assert [s.spec.client_algo_id for s in live] == [active.client_algo_id]


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def _short(item: object) -> str:
    fields = getattr(item, "__dataclass_fields__", {})
    parts = []
    for name in fields:
        value = getattr(item, name)
        if isinstance(value, asl.StopSpec):
            value = f"{value.client_algo_id}:{value.trigger_price or value.callback_pct}x{value.quantity}"
        if name not in ("now_ms", "requested_ms", "symbol", "text") and value not in (None, "", D(0)):
            parts.append(f"{name}={value}")
    return f"{type(item).__name__}({', '.join(parts)})"


def run(data: st.DataObject, steps: int) -> None:
    h = Hostile(data)
    watch = Watch(h)
    h.now = 1_000
    h.fill(D("0.01") * data.draw(st.sampled_from([1, -1]), "side"))
    for _ in range(steps):
        h.now += 1
        op = data.draw(st.sampled_from(OPS), "op")
        if op in ("deliver", "duplicate"):
            choices = h.deliverable() if op == "deliver" else \
                [i for i, e in enumerate(h.queue) if not isinstance(e, asl.PositionUpdate)]
            if not choices:
                continue
            index = data.draw(st.sampled_from(choices), "which")
            event = h.queue.pop(index) if op == "deliver" else h.queue[index]
            h.feed(event)
        elif op == "mark":
            move = data.draw(st.integers(-400, 400), "move")  # basis points
            price = (h.exchange.mark * (1 + D(move) / 10_000)).quantize(D("0.1"))
            h.now += 100
            h.mark(price)
        elif op == "tick":
            h.now += data.draw(st.sampled_from([100, 500, 2_000]), "dt")
            h.feed(asl.Tick(h.now))
        elif op == "fill":
            qty = D(data.draw(st.sampled_from(["0.01", "-0.01", "0.02", "-0.02"]), "qty"))
            h.now += 50
            h.fill(qty)
        elif op == "snapshot":
            h.queue.append(h.snapshot())
        elif op == "breakeven":   # the user's key, gated as the dispatcher gates it
            qty, entry = h.ladder.quantity, h.ladder.entry
            if qty and not any(isinstance(e, asl.PositionUpdate) for e in h.queue):
                level = breakeven_price(qty, entry, abs(qty) * entry * FEE_RATE, FEE_RATE, D("0.1"))
                if breakeven_refusal(qty, level, h.exchange.mark, h.ladder.effective_price()) is None:
                    h.feed(asl.Floor(level, h.now))
        elif op == "partial":     # close 25/50/75% of the position, rounded down to the step
            qty = h.exchange.position
            part = (abs(qty) * D(data.draw(st.sampled_from(["0.25", "0.5", "0.75"]), "part"))).quantize(
                D("0.001"), "ROUND_FLOOR")
            if qty and 0 < part < abs(qty):
                h.now += 50
                h.fill(-part if qty > 0 else part)
        elif not any(isinstance(e, asl.PositionUpdate) for e in h.queue):
            # A restart or reconnect: the engine reads the position and our open stops back.
            # Answers to requests sent before it may still arrive (or be lost) afterwards.
            stops = h.snapshot().stops
            h.feed(asl.Recover(h.exchange.position, h.exchange.entry, h.exchange.mark, stops, h.now, True))
        try:
            watch.check()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n" + "\n".join(h.trace[-40:])) from None
    settle(h)


def settle(h: Hostile) -> None:
    """The user closes; the network heals; the driver ticks and reconciles now and then."""
    h.healthy = True
    if h.exchange.position:
        h.now += 10
        h.fill(-h.exchange.position)
    for _ in range(20):
        h.drain()
        h.now += 500
        h.feed(asl.Tick(h.now))
        h.queue.append(h.snapshot())
        h.drain()
        if not h.exchange.stops and not h.ladder.known_ids():
            break
    assert h.exchange.stops == {}, f"left behind: {sorted(h.exchange.stops)}"
    assert h.ladder.known_ids() == frozenset() and h.ladder.phase is asl.StopPhase.IDLE


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_invariants_hold_under_hostile_delivery(data):
    run(data, data.draw(st.integers(5, 80), "steps"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(-300, 300), min_size=1, max_size=200), st.sampled_from([1, -1]))
def test_random_price_paths_with_instant_answers(moves, side):
    """No hostility: the ladder follows any path, never loosens and ends with nothing left."""
    h = Harness(mark=START)
    h.now = 1_000
    h.fill(D("0.01") * side)
    h.drain()
    best = None
    for move in moves:
        h.now += 1_000
        h.mark((h.exchange.mark * (1 + D(move) / 10_000)).quantize(D("0.1")))
        h.tick()
        h.drain()
        if h.exchange.position == 0:
            break
        assert len(h.exchange.protective()) == 1
        level = h.exchange.best_level()
        assert best is None or side * (level - best) >= 0
        best = level
    if h.exchange.position:
        h.fill(-h.exchange.position)
        h.drain()
    assert h.exchange.stops == {}
