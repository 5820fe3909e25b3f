"""The Advanced Stop Loss ladder: one position's protective stop as a pure state machine.

One ``Ladder`` per position (symbol + position side). Inputs carry ``now_ms``: position updates,
mark prices, ALGO_UPDATEs, the results of the ladder's own requests, open-stop snapshots and timer
ticks. Outputs are actions: place a stop, cancel one, query the open stops, close the position,
notify. No I/O, no clock; ``engine/asl_driver.py`` executes the actions and feeds the results back.

Rules (every number from ``AslSettings``; long and short are one code path, ``d`` = +1 / -1;
with ``enabled = false`` the ladder protects nothing, and only cleans up after a closed position):

* Profit is the mark-price move from the average entry in the position's direction,
  ``d * (mark - entry) / entry * 100``; leverage does not enter. The reached tier only grows
  while the position lives; a reverse starts a new ladder.
* Tier 0 is a hard STOP_MARKET ``hard_stop_pct`` against the entry; tier k >= 1 is a
  TRAILING_STOP_MARKET with tier k's callback, tracking from placement (no activatePrice).
* Effective price ``P`` (where a stop would close the position now): a fixed stop's trigger; a
  trailing stop's ``extreme * (1 - d*cb/100)``, ``extreme`` being the most favourable mark price
  seen since placement (Binance tracks the same from placement, notes section 4; we see one mark
  price a second, so ours is a slightly conservative estimate). ``a`` is *better* than ``b`` when
  ``d * (P_a - P_b) > 0``; that is how hard, trailing and safety stops are compared. A stop is
  replaced only by a better one, or, when it must be replaced anyway (resize, stop lost), by one
  not worse: if the tier's stop would be worse, a fixed stop at the old effective price ("held")
  goes in instead. The stop never loosens.
* Make-before-break: the new stop is placed and confirmed (placement result, ALGO_UPDATE NEW or a
  snapshot) before the old one is cancelled. One placement in flight at a time (plus the
  watchdog's safety stop) and none while an old stop's cancel is outstanding: at most two of our
  stops are live, two only from the replacement's placement until the old one's cancel.
* A failed placement keeps the old stop and retries with backoff; an unknown placement or a failed
  cancel asks for a snapshot of the open stops and reconciles by clientAlgoId. A stop of ours that
  a snapshot shows and we do not know is adopted like a confirmation (kept if best, else cancelled).
* Watchdog: no confirmed stop for ``grace_ms`` while placements hang or keep failing → a safety
  stop ``safety_stop_pct`` against the entry; if even that is refused with -2021, the position is
  closed at market (reduce-only). After a stop-out the ladder waits ``grace_ms`` for the position
  update before protecting what may be left.
* A closed or reversed position retires every stop of the ladder: each is cancelled (one still in
  flight as soon as it is confirmed), and snapshots catch the rest, so no stop is left behind.
* Breakeven (``Floor``, the user's key): from then on no stop of the position is worse than the
  floor (entry plus fees, ``core/asl_toolkit.py``); the desired stop is the tier's or the floor,
  whichever is better, so later tiers only tighten from it. Its stops are ``ttasl-b…``; a recovery
  restores the floor from them. A new position (or a reverse) starts without one.
* Take-profits live beside the ladder (``core/asl_takeprofit.py``, driven by the same driver).
* Recovery (start, reconnect): our stops (clientAlgoId prefix ``ttasl-``) are adopted, the tier is
  the highest of the adopted stops' and the current profit's, and the ladder goes on from there.
  A position is protected when the engine says it is ours, a stop of ours protects it, we
  protected it before the reconnect, or ``protect_external_positions`` is set. Snapshots asked for
  before a recovery are stale and ignored. Binance does not report how far a trailing stop has
  trailed, so an adopted one is estimated from the mark at recovery (conservative).

The vocabulary (inputs, outputs) is ``core/asl_io.py``, the phase and stop tables
``core/asl_table.py``, the wording ``core/asl_words.py``; they are re-exported here. What the ladder
remembers is ``core/asl_state.py``, its recovery ``core/asl_recovery.py``, the toolkit's rules
(breakeven level, sizes) ``core/asl_toolkit.py`` and the take-profits ``core/asl_takeprofit.py``.

Phases, derived after each input and checked against ``TRANSITIONS``: every input is valid in every
phase and is always applied; one that leads somewhere the table does not expect also asks for a fresh
snapshot of the open stops (reconciliation), and ``Ladder.unexpected`` says what happened::

    IDLE ──open──► PLACING ──confirmed──► PROTECTED ──better stop / resize──► REPLACING
      ▲             │   ▲                    ▲    ▲                               │ confirmed
      │       failed│   │retry               │    └──── old one cancelled ── CANCELLING_OLD
      │             ▼   │                    │
      │          UNPROTECTED     PLACING ──safety stop refused (-2021)──► CLOSING
      └──────────── closed (from any phase) ──────────────────────────────────┘
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

from traytrader.core.asl_io import *  # noqa: F403  (the ladder's vocabulary, re-exported)
from traytrader.core.asl_io import (
    ASL_ID_PREFIX,
    UNKNOWN_ORDER,
    WOULD_TRIGGER,
    AlgoStatus,
    AlgoUpdate,
    AslAction,
    AslInput,
    CancelResult,
    CancelStop,
    ClosePosition,
    CloseResult,
    Floor,
    MarkPrice,
    NoticeKind,
    Notify,
    OpenStops,
    Outcome,
    PlaceResult,
    PlaceStop,
    PositionUpdate,
    QueryStops,
    Recover,
    StopSpec,
    StopStyle,
    Tick,
    validate,
)
from traytrader.core.asl_recovery import LadderRecovery
from traytrader.core.asl_state import CODES as _CODES
from traytrader.core.asl_state import LadderState as _State
from traytrader.core.asl_state import StopRecord as _Stop
from traytrader.core.asl_state import favourable as _favourable
from traytrader.core.asl_state import sign as _sign
from traytrader.core.asl_state import trail as _trail
from traytrader.core.asl_table import STOP_TABLE, TRANSITIONS, StopEvent, StopPhase, StopStatus
from traytrader.core.asl_words import pct_text as _pct
from traytrader.core.asl_words import price_text as _price
from traytrader.core.decimals import Direction, format_decimal, round_to_tick
from traytrader.core.models import AslSettings, PositionSide, Side
from traytrader.core.orders import base36

# Retry delays after a failed placement, ms; the last one repeats (weight of algoOrder.place is 0).
RETRY_BACKOFF_MS = (250, 500, 1000, 2000, 5000)
_TOMBSTONES = 256
_CB_STEP = Decimal("0.01")  # callbackRate precision is undocumented; two decimals (notes section 4)
_HUNDRED = Decimal(100)
_ZERO = Decimal(0)


# --- the ladder ---------------------------------------------------------------------------------


class Ladder(LadderRecovery):
    """The stop ladder of one position. Feed it with ``handle(input)``; execute what it returns.

    ``tick_size`` rounds fixed triggers towards the market (a long's up, a short's down: never
    looser than computed, the same rule as ``core.orders``). ``id_salt`` tells apart ladders that
    place stops in the same millisecond (default: derived from symbol and position side).
    """

    def __init__(self, symbol: str, position_side: PositionSide, settings: AslSettings,
                 tick_size: Decimal, *, id_salt: str | None = None) -> None:
        self.symbol = symbol
        self.position_side = position_side
        self.settings = settings
        self.tick_size = tick_size
        self.tiers = tuple(sorted(settings.tiers, key=lambda t: t.profit_pct))
        self.salt = id_salt or base36(zlib.crc32(f"{symbol}/{position_side}".encode()))[:4]
        self.phase = StopPhase.IDLE
        self.unexpected = ""   # set by ``handle`` when an input led somewhere the table does not expect
        self._reconcile = ""
        self._s = _State()

    def configure(self, settings: AslSettings) -> None:
        """Take ``settings`` (the profile that opened the next position) while nothing is open: a
        live position keeps the settings it was opened with."""
        if self._s.qty == 0:
            self.settings = settings
            self.tiers = tuple(sorted(settings.tiers, key=lambda t: t.profit_pct))

    # --- read-only views for the driver and the tests

    @property
    def quantity(self) -> Decimal:
        return self._s.qty

    @property
    def tier(self) -> int:
        return self._s.tier

    @property
    def active_stop(self) -> StopSpec | None:
        stop = self._s.stops.get(self._s.active or "")
        return stop.spec if stop else None

    def active_words(self) -> Notify | None:
        """The active stop, worded as its move was (the status line of a stop adopted at start)."""
        stop = self._s.stops.get(self._s.active or "")
        return self._moved(stop) if stop else None

    def effective_price(self) -> Decimal | None:
        """The active stop's effective price (see the module docstring), or None."""
        stop = self._s.stops.get(self._s.active or "")
        return self._effective(stop) if stop else None

    @property
    def entry(self) -> Decimal:
        return self._s.entry

    @property
    def managed(self) -> bool:
        """True while the ladder protects the position (ours, or external ones by setting)."""
        return self._s.managed

    @property
    def floor(self) -> Decimal | None:
        """The breakeven floor set by the user (``Floor``), or None."""
        return self._s.floor

    def known_ids(self) -> frozenset[str]:
        return frozenset(self._s.stops)

    # --- the one entry point

    def handle(self, event: AslInput) -> list[AslAction]:
        """Apply one input; return the actions to execute, in order.

        Every input is valid in every phase: nothing from the exchange is ever dropped. When the
        phase it leads to is not one ``TRANSITIONS`` expects, the ladder keeps what it learnt and
        asks for a fresh snapshot of the open stops (``QueryStops``) to reconcile, and
        ``unexpected`` says what happened (the driver journals it). Raises ``ValueError`` only for
        an input that is not one (a price that is not a price), changing nothing."""
        if (self.phase, type(event)) not in TRANSITIONS:
            raise ValueError(f"{type(event).__name__} is not an input of the ladder.")
        validate(event)
        allowed = TRANSITIONS[(self.phase, type(event))]
        out: list[AslAction] = []
        self._reconcile = ""
        self._dispatch(event, out)
        self._sweep(out)
        self._plan(event.now_ms, out)
        phase = self._derive_phase()
        self.unexpected = self._reconcile
        if phase not in allowed:
            self.unexpected = (f"{self.symbol} {self.position_side}: {type(event).__name__} moved the ladder "
                               f"from {self.phase} to {phase}; reconciling with the exchange.")
        if self.unexpected and not any(isinstance(action, QueryStops) for action in out):
            out.append(QueryStops(self.symbol))
        self.phase = phase
        return out

    # --- dispatch

    def _dispatch(self, event: AslInput, out: list[AslAction]) -> None:
        s = self._s
        match event:
            case MarkPrice(price=price):
                s.mark = price
                for stop in s.stops.values():
                    if stop.extreme is not None:
                        stop.extreme = _favourable(stop.direction, stop.extreme, price)
                self._update_tier()
            case PositionUpdate():
                self._on_position(event, out)
            case AlgoUpdate():
                self._on_algo_update(event, out)
            case PlaceResult():
                self._on_place_result(event, out)
            case CancelResult():
                self._on_cancel_result(event, out)
            case CloseResult():
                if s.closing and event.outcome is Outcome.CONFIRMED:
                    # The position update follows; until then the ladder waits (no new stop for
                    # a position that is being closed), then protects whatever is left.
                    s.closing = False
                    s.settle_until = event.now_ms + self.settings.grace_ms
                elif s.closing:
                    s.closing = False
                    out.append(self._notify(f"{self._name()}: closing the position failed "
                                            f"({event.message or event.outcome}); retrying.",
                                            NoticeKind.WARNING))
            case OpenStops():
                self._on_snapshot(event, out)
            case Recover():
                self._on_recover(event, out)
            case Tick():
                pass
            case Floor(price=price):
                if s.managed and s.qty and (s.floor is None or self._better(price, s.floor)):
                    s.floor = price

    def _on_position(self, event: PositionUpdate, out: list[AslAction]) -> None:
        s = self._s
        old_d, new_d = _sign(s.qty), _sign(event.quantity)
        if new_d != old_d:  # opened, closed or reversed: whatever we had belongs to the old position
            self._retire_all()
            s.tier, s.attempts, s.retry_at, s.safety_retry_at, s.settle_until = 0, 0, 0, 0, 0
            s.closing, s.active, s.floor = False, None, None
            s.managed = new_d != 0 and self.settings.enabled and (
                event.ours or self.settings.protect_external_positions)
            s.unprotected_since = event.now_ms if s.managed else None
        elif new_d and event.ours and not s.managed and self.settings.enabled:  # we added to it: ours now
            s.managed = True
            s.unprotected_since = event.now_ms if s.active is None else None
        s.qty, s.entry = event.quantity, event.entry_price
        if s.managed:
            self._update_tier()

    def _on_algo_update(self, event: AlgoUpdate, out: list[AslAction]) -> None:
        s = self._s
        stop = s.stops.get(event.client_algo_id)
        if stop is None:
            return  # not ours, or already gone (a late or duplicated update)
        status = event.status
        if status is AlgoStatus.NEW:
            self._confirm(stop, event.now_ms, out)
        elif status in (AlgoStatus.TRIGGERING, AlgoStatus.TRIGGERED):
            self._step(stop, StopEvent.FIRING)
        else:
            if status is AlgoStatus.FINISHED and event.filled_qty > 0:
                s.settle_until = event.now_ms + self.settings.grace_ms
                out.append(self._notify(
                    f"{self._name(stop.direction)}: stopped out at {_price(event.avg_price, self.tick_size)} "
                    f"({stop.spec.label} stop).", NoticeKind.STOPPED_OUT, spec=stop.spec,
                    exit_price=event.avg_price))
            elif status is AlgoStatus.REJECTED and not stop.confirmed:
                self._placement_failed(stop, event.now_ms, None, event.reason or "rejected", out)
                return
            elif not stop.retired and not stop.cancel_sent and stop.confirmed:
                out.append(self._notify(
                    f"{self._name(stop.direction)}: the {stop.spec.label} stop was {status.lower()} "
                    f"on the exchange{': ' + event.reason if event.reason else ''}; replacing it.",
                    NoticeKind.WARNING))
            self._forget(stop, event.now_ms)

    def _on_place_result(self, event: PlaceResult, out: list[AslAction]) -> None:
        stop = self._s.stops.get(event.client_algo_id)
        if stop is None or stop.confirmed:
            return
        if event.outcome is Outcome.CONFIRMED:
            self._confirm(stop, event.now_ms, out)
        elif event.outcome is Outcome.REJECTED:
            self._placement_failed(stop, event.now_ms, event.code, event.message, out)
        elif not stop.uncertain:
            self._step(stop, StopEvent.PLACE_UNKNOWN)
            out.append(QueryStops(self.symbol))

    def _on_cancel_result(self, event: CancelResult, out: list[AslAction]) -> None:
        stop = self._s.stops.get(event.client_algo_id)
        if stop is None or not stop.cancel_sent:
            return
        if event.outcome is Outcome.CONFIRMED or event.code in UNKNOWN_ORDER:
            self._forget(stop, event.now_ms)
        elif not stop.cancel_uncertain:
            self._step(stop, StopEvent.CANCEL_UNKNOWN)
            out.append(QueryStops(self.symbol))

    def _on_snapshot(self, event: OpenStops, out: list[AslAction]) -> None:
        s = self._s
        if event.requested_ms < s.recovered_ms:
            return
        listed = {e.client_algo_id: e for e in event.stops}
        for cid, stop in list(s.stops.items()):
            if cid in listed:
                if not stop.confirmed:
                    self._confirm(stop, event.now_ms, out)
                elif stop.cancel_uncertain:   # still there: cancel it again
                    self._step(stop, StopEvent.CANCEL_SENT)
                    out.append(CancelStop(self.symbol, cid))
                else:
                    self._step(stop, StopEvent.LISTED)
            elif (stop.confirmed and stop.confirmed_ms < event.requested_ms) or (
                    stop.uncertain and stop.sent_ms < event.requested_ms):
                # Gone without our hearing of it. Only what we knew before the query was sent
                # is judged (same millisecond: ambiguous, left to the next snapshot).
                self._forget(stop, event.now_ms)
        for cid, existing in listed.items():
            if cid not in s.stops and s.gone.get(cid, -1) < event.requested_ms:
                # Ours but unknown (a placement we gave up on, a cancel that did not happen):
                # adopted like a confirmation, so it protects if it is the best, else is cancelled.
                orphan = self._adopt(existing, event.now_ms)
                orphan.status = StopStatus.PLACING   # as if placed now: confirmed just below
                self._confirm(orphan, event.now_ms, out)

    # --- stop bookkeeping

    def _confirm(self, stop: _Stop, now_ms: int, out: list[AslAction]) -> None:
        if stop.confirmed:
            return
        s = self._s
        self._step(stop, StopEvent.CONFIRMED)
        stop.confirmed_ms = now_ms
        if stop.retired or not s.managed or stop.direction != _sign(s.qty):
            stop.retired = True
            return
        active = s.stops.get(s.active or "")
        if active is not None and not self._prefer(stop, active):
            self._cancel(stop, out)  # e.g. a safety stop confirmed after the hard stop: not needed
            return
        s.active, s.unprotected_since, s.attempts = stop.spec.client_algo_id, None, 0
        if active is not None:
            self._cancel(active, out)  # make-before-break: the new one is confirmed, drop the old
        out.append(self._moved(stop))

    def _placement_failed(self, stop: _Stop, now_ms: int, code: int | None, why: str,
                          out: list[AslAction]) -> None:
        s = self._s
        self._forget(stop, now_ms)
        if stop.retired:
            return
        s.attempts += 1
        delay = RETRY_BACKOFF_MS[min(s.attempts, len(RETRY_BACKOFF_MS)) - 1]
        safety = stop.spec.label == "safety"
        if code == WOULD_TRIGGER and s.qty and stop.spec.style is StopStyle.STOP_MARKET:
            # "The stop would have fired": the price is already through it (slippage, a late
            # LIMIT fill, a restart, an addition that moved the average entry past the market).
            # What the stop would have done, done now: close the whole position at market. An
            # older stop that covers only part of it must not be left as the only protection.
            s.closing = True
            out.append(ClosePosition(self.symbol, self.position_side, abs(s.qty)))
            out.append(self._notify(
                f"{self._name()}: the price is already through the {stop.spec.label} stop at "
                f"{_price(stop.spec.trigger_price, self.tick_size)}, so the position is being closed "
                "at market.",
                NoticeKind.SAFETY))
            return
        if safety:
            s.safety_retry_at = now_ms + delay
        else:
            s.retry_at = now_ms + delay
        if s.attempts == 1:
            out.append(self._notify(
                f"{self._name()}: the {stop.spec.label} stop was refused ({why or code}); "
                f"{'the old stop stays and ' if s.active else ''}retrying.", NoticeKind.WARNING))

    def _forget(self, stop: _Stop, now_ms: int) -> None:
        s = self._s
        cid = stop.spec.client_algo_id
        s.stops.pop(cid, None)
        s.gone[cid] = now_ms
        if len(s.gone) > _TOMBSTONES:
            del s.gone[next(iter(s.gone))]
        if s.active == cid:
            s.active = None
            if s.managed and s.qty and s.unprotected_since is None:
                s.unprotected_since = now_ms

    def _cancel(self, stop: _Stop, out: list[AslAction]) -> None:
        """Cancel a stop that exists or may exist (live, or its placement unknown); a firing one
        is never cancelled, one still being placed is cancelled once it is confirmed."""
        if stop.status in (StopStatus.LIVE, StopStatus.UNCERTAIN):
            self._step(stop, StopEvent.CANCEL_SENT)
            out.append(CancelStop(self.symbol, stop.spec.client_algo_id))

    def _step(self, stop: _Stop, event: StopEvent) -> None:
        """Move ``stop`` along ``STOP_TABLE``; an unexpected pair makes the ladder reconcile."""
        status, expected = STOP_TABLE[(stop.status, event)]
        if not expected:
            self._reconcile = (f"{self.symbol} {self.position_side}: stop {stop.spec.client_algo_id} was "
                               f"{stop.status} when {event} came; reconciling with the exchange.")
        stop.status = status

    def _retire_all(self) -> None:
        for stop in self._s.stops.values():
            stop.retired = True

    def _sweep(self, out: list[AslAction]) -> None:
        """Cancel every retired stop whose existence is confirmed or possible."""
        for stop in self._s.stops.values():
            if stop.retired:
                self._cancel(stop, out)

    # --- deciding

    def _plan(self, now_ms: int, out: list[AslAction]) -> None:
        s = self._s
        if not s.managed or not s.qty or s.closing:
            return
        d = _sign(s.qty)
        current = [stop for stop in s.stops.values() if not stop.retired]
        if any(stop.firing for stop in current):
            return  # the exchange is closing the position; the position update follows
        active = s.stops.get(s.active or "")
        for stop in current:
            if stop.confirmed and stop is not active:
                self._cancel(stop, out)
        in_flight = [stop for stop in current if not stop.confirmed]
        if active is None:
            if s.unprotected_since is None:   # no confirmed stop, whatever the bookkeeping says
                s.unprotected_since = now_ms
            if not in_flight and now_ms >= s.retry_at and now_ms >= s.settle_until:
                self._place(self._desired(), now_ms, out)
            # Watchdog: unprotected beyond the grace window while placements hang or keep failing.
            grace = self.settings.grace_ms
            overdue = now_ms - s.unprotected_since >= grace
            stuck = s.attempts > 0 or any(now_ms - x.sent_ms >= grace for x in in_flight)
            if overdue and stuck and now_ms >= s.safety_retry_at and \
                    not any(x.spec.label == "safety" for x in in_flight):
                price = s.entry * (1 - d * self.settings.safety_stop_pct / _HUNDRED)
                self._place(self._fixed(price, -1, "safety"), now_ms, out)
            return
        if in_flight or any(stop.cancel_sent for stop in current) or now_ms < s.retry_at:
            return
        candidate = self._desired()
        if active.spec.quantity != abs(s.qty):
            if self._better(self._effective(active), self._candidate_price(candidate)):
                candidate = self._fixed(self._effective(active), max(s.tier, active.spec.tier), "held")
            self._place(candidate, now_ms, out)
        elif self._better(self._candidate_price(candidate), self._effective(active)):
            self._place(candidate, now_ms, out)

    def _desired(self) -> StopSpec:
        s = self._s
        d = _sign(s.qty)
        if s.tier == 0 or s.mark is None:
            spec = self._fixed(s.entry * (1 - d * self.settings.hard_stop_pct / _HUNDRED), 0, "hard")
        else:
            callback = self.tiers[s.tier - 1].callback_pct.quantize(_CB_STEP, rounding=ROUND_FLOOR)
            spec = self._spec(StopStyle.TRAILING, s.tier, "trailing", callback_pct=callback)
        if s.floor is not None and ((spec.style is StopStyle.TRAILING and s.mark is None)
                                    or self._better(s.floor, self._candidate_price(spec))):
            return self._fixed(s.floor, s.tier, "breakeven")   # the floor: tiers only tighten from it
        return spec

    def _fixed(self, price: Decimal, tier: int, label: str) -> StopSpec:
        up = _sign(self._s.qty) > 0
        trigger = round_to_tick(price, self.tick_size, Direction.UP if up else Direction.DOWN)
        return self._spec(StopStyle.STOP_MARKET, tier, label, trigger_price=trigger)

    def _spec(self, style: StopStyle, tier: int, label: str, *, trigger_price: Decimal | None = None,
              callback_pct: Decimal | None = None) -> StopSpec:
        s = self._s
        side = Side.SELL if s.qty > 0 else Side.BUY
        return StopSpec(self.symbol, self.position_side, side, style, abs(s.qty), "", tier, label,
                        trigger_price, callback_pct)

    def _place(self, spec: StopSpec, now_ms: int, out: list[AslAction]) -> None:
        """Record and emit a placement. Ids: ``ttasl-<label><tier>-<salt>-<now36>-<seq36>`` (26
        characters or so; unique across restarts by time, across ladders by salt)."""
        s = self._s
        s.seq += 1
        code = _CODES[spec.label]
        cid = f"{ASL_ID_PREFIX}-{code}{max(spec.tier, 0)}-{self.salt}-{base36(now_ms)}-{base36(s.seq)}"
        spec = replace(spec, client_algo_id=cid[:36])
        trailing = spec.style is StopStyle.TRAILING
        s.stops[spec.client_algo_id] = _Stop(spec, _sign(s.qty), now_ms, extreme=s.mark if trailing else None)
        out.append(PlaceStop(spec))

    def _candidate_price(self, spec: StopSpec) -> Decimal:
        if spec.style is StopStyle.STOP_MARKET:
            assert spec.trigger_price is not None
            return spec.trigger_price
        assert self._s.mark is not None and spec.callback_pct is not None
        return _trail(self._s.mark, _sign(self._s.qty), spec.callback_pct)

    def _effective(self, stop: _Stop) -> Decimal:
        if stop.spec.style is StopStyle.STOP_MARKET:
            assert stop.spec.trigger_price is not None
            return stop.spec.trigger_price
        assert stop.extreme is not None and stop.spec.callback_pct is not None
        return _trail(stop.extreme, stop.direction, stop.spec.callback_pct)

    def _better(self, a: Decimal, b: Decimal) -> bool:
        return _sign(self._s.qty) * (a - b) > 0

    def _prefer(self, new: _Stop, old: _Stop) -> bool:
        """Should ``new`` replace ``old``? Whenever it is not worse: the stop never loosens. A size
        that no longer fits is fixed by the next resize, at a level not worse than this one."""
        return not self._better(self._effective(old), self._effective(new))

    def _update_tier(self) -> None:
        s = self._s
        if s.mark is None or not s.qty or s.entry <= 0:
            return
        profit = _sign(s.qty) * (s.mark - s.entry) / s.entry * _HUNDRED
        reached = sum(1 for tier in self.tiers if profit >= tier.profit_pct)
        s.tier = max(s.tier, reached)

    def _derive_phase(self) -> StopPhase:
        s = self._s
        if not s.managed or not s.qty:
            return StopPhase.IDLE
        if s.closing:
            return StopPhase.CLOSING
        current = [stop for stop in s.stops.values() if not stop.retired]
        in_flight = any(not stop.confirmed for stop in current)
        if s.active is None:
            return StopPhase.PLACING if in_flight else StopPhase.UNPROTECTED
        if in_flight:
            return StopPhase.REPLACING
        if any(stop.cancel_sent for stop in current):
            return StopPhase.CANCELLING_OLD
        return StopPhase.PROTECTED

    # --- words

    def _name(self, direction: int | None = None) -> str:
        d = direction if direction is not None else _sign(self._s.qty)
        return f"{self.symbol} {'long' if d >= 0 else 'short'}"

    def _moved(self, stop: _Stop) -> Notify:
        spec, d = stop.spec, stop.direction
        if spec.label == "trailing":
            what = f"trailing {_pct(spec.callback_pct)} (tier {spec.tier})"
        elif spec.label == "hard":
            trigger = _price(spec.trigger_price, self.tick_size)
            side = "below" if d > 0 else "above"
            what = f"{trigger} (hard, {_pct(self.settings.hard_stop_pct)} {side} entry)"
        elif spec.label == "breakeven":
            what = f"{_price(spec.trigger_price, self.tick_size)} (breakeven: entry plus fees)"
        elif spec.label == "held":
            trigger = _price(spec.trigger_price, self.tick_size)
            what = f"{trigger} held for {format_decimal(spec.quantity)} (tier {spec.tier})"
        else:
            return self._notify(
                f"{self._name(d)}: no confirmed stop for {self.settings.grace_ms / 1000:g} s, safety stop → "
                f"{_price(spec.trigger_price, self.tick_size)} ({_pct(self.settings.safety_stop_pct)} "
                f"{'below' if d > 0 else 'above'} entry).", NoticeKind.SAFETY, spec=spec)
        return self._notify(f"{self._name(d)}: stop → {what}", NoticeKind.STOP_MOVED, spec=spec)

    def _notify(self, text: str, kind: NoticeKind, *, spec: StopSpec | None = None,
                exit_price: Decimal | None = None) -> Notify:
        if spec is None:
            return Notify(text, kind, exit_price=exit_price)
        return Notify(text, kind, spec.tier, spec.style, spec.trigger_price, spec.callback_pct, exit_price)
