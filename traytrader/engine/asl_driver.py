"""The ASL driver: runs one ``core.asl.Ladder`` per position and executes what it decides.

The engine calls the ``AslSink`` methods (``engine/asl_api.py``) on its asyncio loop; the driver
routes each input to the ladder of that symbol and position side, and turns the ladder's actions
into requests through the ``AslGateway``: ``algoOrder.place`` (params from
``core.orders.build_stop_order``), ``algoOrder.cancel`` by clientAlgoId, ``openAlgoOrders`` for
reconciliation, a reduce-only market close. Every outcome goes back into the ladder as an input,
so retries, make-before-break and reconciliation stay pure decisions there.

Requests are started at once as tasks on the running loop: a mark price that calls for a better
stop puts the placement on the wire within the same loop iteration (see ``benchmarks/bench_asl.py``).

Reconciliation respects the weight limit (``openAlgoOrders`` costs 1 per symbol): at most one query
per symbol per ``min_query_interval_ms``, one every ``reconcile_interval_ms`` while the symbol has a
position or stops of ours, and always on ``recover`` (start and every reconnect).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from traytrader.core import asl, display
from traytrader.core.asl_takeprofit import (
    CancelTakeProfit,
    PlaceTakeProfit,
    TakeProfits,
    TpAction,
    is_take_profit_id,
)
from traytrader.core.errors import (
    CommandRefused,
    ExchangeRejected,
    InvalidOrder,
    OutcomeUnknown,
    TransportError,
    TraytraderError,
)
from traytrader.core.filters import LotSize, PriceFilter, SymbolFilters
from traytrader.core.models import AppConfig, AslSettings, PositionSide, Side
from traytrader.core.orders import build_stop_order, build_take_profit_order
from traytrader.engine.api import Event, Notice, SafetyAction, StopMoved, StoppedOut
from traytrader.engine.asl_api import AslGateway

log = logging.getLogger(__name__)

MIN_QUERY_INTERVAL_MS = 1_000
PERSIST_INTERVAL_MS = 1_000
RECONCILE_INTERVAL_MS = 10_000
_ZERO = Decimal(0)

JournalLike = Callable[[str, dict[str, Any]], None] | Any


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else _ZERO
    except (InvalidOperation, ValueError):
        return _ZERO


def existing_stop(row: Mapping[str, Any]) -> asl.ExistingStop | None:
    """An ``openAlgoOrders`` row as the ladder's ``ExistingStop`` (None for other order types)."""
    kind = str(row.get("orderType") or row.get("type") or "")
    try:
        style = asl.StopStyle(kind)
        side = Side(str(row.get("side")))
    except ValueError:
        return None
    trigger = _dec(row.get("triggerPrice"))
    callback = _dec(row.get("callbackRate"))
    return asl.ExistingStop(str(row.get("clientAlgoId", "")), side, style, _dec(row.get("quantity")),
                            trigger or None, callback or None)


class AslDriver:
    """Implements ``AslSink``. Built by the engine as ``AslDriver(config, gateway, emit, journal)``.

    ``journal`` is the engine's ``Journal`` (its ``record(kind, text, symbol=..., data=...)`` is
    used) or any ``callable(kind, data)``, or None.

    Every time the ladder sees (grace, retry backoff, "seen" guards, query pacing) comes from one
    monotonic ms clock: ``clock`` if given (tests), else wall time at start plus monotonic time
    since. The ``now_ms`` the engine passes in is exchange-aligned and jumps whenever the clock
    offset is resynced (-1021, clock skew): it is ignored, so a jump of the exchange clock can
    never push a deadline seconds into the future (F12).
    """

    def __init__(self, config: AppConfig, gateway: AslGateway, emit: Callable[[Event], None],
                 journal: JournalLike | None = None, *, clock: Callable[[], int] | None = None,
                 min_query_interval_ms: int = MIN_QUERY_INTERVAL_MS,
                 reconcile_interval_ms: int = RECONCILE_INTERVAL_MS) -> None:
        self.config = config
        self.gateway = gateway
        self.emit = emit
        self.journal = journal
        self.clock = clock
        self.min_query_interval_ms = min_query_interval_ms
        self.reconcile_interval_ms = reconcile_interval_ms
        self.ladders: dict[tuple[str, PositionSide], asl.Ladder] = {}
        # Each ladder's take-profits (``core/asl_takeprofit.py``), placed once its stop is confirmed.
        self.take_profits: dict[tuple[str, PositionSide], TakeProfits] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._query_due: dict[str, bool] = {}        # symbol -> a query was asked for
        self._query_busy: set[str] = set()
        self._last_query_ms: dict[str, int] = {}
        self._anchor = (time.time_ns() // 1_000_000, time.monotonic_ns())
        self._persisted: dict[str, tuple[Decimal, int]] = {}   # clientAlgoId -> (extreme, when)
        self.active_profile: Callable[[], Any] | None = None   # the engine's; its ASL settings govern
        self.requests_sent = 0                        # for the benchmark: requests put on the wire

    # --- AslSink -------------------------------------------------------------------------------

    def on_position(self, symbol: str, position_side: PositionSide, quantity: Decimal,
                    entry_price: Decimal, now_ms: int, *, ours: bool) -> None:
        ladder = self._ladder(symbol, position_side, create=quantity != 0)
        if ladder is not None:
            if ladder.quantity == 0 and quantity != 0:
                ladder.configure(self.settings_for(symbol))   # the profile that opened it governs
                self._tp(ladder).configure(ladder.settings.take_profit)
            self._feed(ladder, asl.PositionUpdate(quantity, entry_price, self._seen(now_ms), ours))

    def on_mark_price(self, symbol: str, mark_price: Decimal, now_ms: int) -> None:
        if not (isinstance(mark_price, Decimal) and mark_price.is_finite() and mark_price > 0):
            log.warning("ignored a mark price of %r for %s", mark_price, symbol)
            return
        now = self._seen(now_ms)
        for (name, _), ladder in list(self.ladders.items()):
            if name == symbol:
                self._feed(ladder, asl.MarkPrice(mark_price, now))
                self._persist_extremes(ladder, now)

    def on_algo_update(self, order: Mapping[str, Any], now_ms: int) -> None:
        if not isinstance(order, Mapping):
            return  # a garbled frame: the next snapshot tells the truth
        client_id = str(order.get("caid", ""))
        if not client_id.startswith(asl.ASL_ID_PREFIX):
            return
        try:
            status = asl.AlgoStatus(str(order.get("X", "")))
            side = PositionSide(str(order.get("ps") or "BOTH"))
        except ValueError:
            return
        ladder = self.ladders.get((str(order.get("s", "")), side))
        if ladder is not None and is_take_profit_id(client_id):
            filled = _dec(order.get("aq"))
            if status is asl.AlgoStatus.FINISHED and filled > 0:
                tick = self.gateway.tick_size(ladder.symbol)
                text = (f"{ladder.symbol}: take-profit filled, {str(order.get('S', '')).lower()} "
                        f"{display.quantity(filled)} at {display.price(_dec(order.get('ap')), tick)}; the "
                        "stop follows the smaller position.")
                self.emit(Notice(text))
                self._record("asl", text, ladder.symbol, client_algo_id=client_id)
            self._run_tp(ladder, self._tp(ladder).on_update(client_id, status, filled))
            self._sync_tp(ladder)
            return
        if ladder is not None:
            self._feed(ladder, asl.AlgoUpdate(client_id, status, self._seen(now_ms), _dec(order.get("ap")),
                                              _dec(order.get("aq")), str(order.get("rm") or "")))

    def on_tick(self, now_ms: int) -> None:
        now = self._seen(now_ms)
        for ladder in list(self.ladders.values()):
            self._feed(ladder, asl.Tick(now))
        for symbol in {name for name, _ in self.ladders}:
            busy = any(ladder.quantity or ladder.known_ids() for (name, _), ladder in self.ladders.items()
                       if name == symbol)
            last = self._last_query_ms.get(symbol, now - self.reconcile_interval_ms)
            if busy and now - last >= self.reconcile_interval_ms:
                self._query_due[symbol] = True
            if self._query_due.get(symbol):
                self._query(symbol)

    async def recover(self, positions: list[dict[str, Any]], open_algo_orders: list[dict[str, Any]],
                      now_ms: int, extremes: Mapping[str, Decimal] | None = None,
                      ours: Iterable[tuple[str, PositionSide]] = ()) -> None:
        """Rebuild the ladders from a snapshot. ``extremes``: the trailing stops' tracked extremes
        as persisted (journal); ``ours``: the positions known to be ours (``core.ownership``)."""
        now = self._seen(now_ms)
        ours = set(ours)
        stops: dict[tuple[str, PositionSide], list[asl.ExistingStop]] = {}
        tps: dict[tuple[str, PositionSide], dict[str, tuple[Decimal, Decimal]]] = {}
        for row in open_algo_orders:
            if not isinstance(row, Mapping):
                continue
            client_id = str(row.get("clientAlgoId", ""))
            if is_take_profit_id(client_id):
                key = (str(row.get("symbol", "")), self._side(row.get("positionSide")))
                listed = tps.setdefault(key, {})
                listed[client_id] = (_dec(row.get("quantity")), _dec(row.get("triggerPrice")))
                continue
            stop = existing_stop(row)
            if stop is None or not stop.client_algo_id.startswith(asl.ASL_ID_PREFIX):
                continue
            side = self._side(row.get("positionSide"))
            stops.setdefault((str(row.get("symbol", "")), side), []).append(stop)
        rows: dict[tuple[str, PositionSide], Mapping[str, Any]] = {}
        for row in positions:
            if isinstance(row, Mapping) and _dec(row.get("positionAmt")) != 0:
                rows[(str(row.get("symbol", "")), self._side(row.get("positionSide")))] = row
        for key in set(rows) | set(stops) | set(tps) | set(self.ladders):
            row = rows.get(key, {})
            ladder = self._ladder(*key, create=True)
            if ladder is None:
                continue
            mark = _dec(row.get("markPrice"))
            mark = mark if mark.is_finite() and mark > 0 else None
            if ladder.quantity == 0 and _dec(row.get("positionAmt")) != 0:
                ladder.configure(self.settings_for(key[0]))
            event = asl.Recover(_dec(row.get("positionAmt")), _dec(row.get("entryPrice")), mark,
                                tuple(stops.get(key, ())), now, ours=key in ours,
                                extremes=dict(extremes or {}))
            tp = self._tp(ladder)
            tp.configure(ladder.settings.take_profit)
            self._run_tp(ladder, tp.recover(tps.get(key, {}), event.quantity, now))
            self._feed(ladder, event)
            self._last_query_ms[key[0]] = now
        self._record("asl", f"ASL recovered {len(rows)} position(s) and {sum(map(len, stops.values()))} "
                     "stop(s) of ours.", "")

    # --- running actions -------------------------------------------------------------------------

    def _feed(self, ladder: asl.Ladder, event: asl.AslInput) -> None:
        """One input into the ladder. Nothing is dropped: an input the table did not expect still
        applies and brings a reconciliation (``Ladder.handle``); only an input that is no input
        (a price that is not a price) is refused, and then the open stops are read again."""
        try:
            actions = ladder.handle(event)
        except (ValueError, ArithmeticError) as exc:
            log.warning("ASL %s %s ignored a malformed input: %s", ladder.symbol, ladder.position_side, exc)
            self._record("asl", f"ignored a malformed input ({exc}); reconciling", ladder.symbol)
            actions = [asl.QueryStops(ladder.symbol)]
        if ladder.unexpected:
            log.warning("%s", ladder.unexpected)
            self._record("asl", ladder.unexpected, ladder.symbol)
        for action in actions:
            self._run(ladder, action)
        self._sync_tp(ladder)

    # --- take-profits (``core/asl_takeprofit.py``) ------------------------------------------------

    def _tp(self, ladder: asl.Ladder) -> TakeProfits:
        key = (ladder.symbol, ladder.position_side)
        tp = self.take_profits.get(key)
        if tp is None:
            tp = self.take_profits[key] = TakeProfits(ladder.symbol, ladder.position_side,
                                                      ladder.settings.take_profit, salt=ladder.salt)
        return tp

    def _sync_tp(self, ladder: asl.Ladder) -> None:
        """After every ladder input: the take-profits follow the position (placed once its stop
        is confirmed, resized with it, cancelled with it)."""
        tp = self._tp(ladder)
        if not tp.targets and not tp.orders:
            return
        protected = ladder.managed and ladder.active_stop is not None
        try:
            filters = self._filters(ladder.symbol)
        except TraytraderError:
            return
        self._run_tp(ladder, tp.sync(ladder.quantity, ladder.entry, protected, filters, self._now()))

    def _run_tp(self, ladder: asl.Ladder, actions: list[TpAction]) -> None:
        for action in actions:
            if isinstance(action, PlaceTakeProfit):
                self._spawn(self._place_tp(ladder, action), f"asl-tp-{action.client_algo_id}")
            elif isinstance(action, CancelTakeProfit):
                self._spawn(self._cancel_tp(ladder, action.client_algo_id),
                            f"asl-tp-cancel-{action.client_algo_id}")

    async def _place_tp(self, ladder: asl.Ladder, action: PlaceTakeProfit) -> None:
        tp = self._tp(ladder)
        try:
            request = build_take_profit_order(
                ladder.symbol, action.position_qty, action.quantity, ladder.position_side,
                self._filters(ladder.symbol), self.gateway.position_mode, action.client_algo_id,
                action.trigger_price, ladder.settings.working_type)
        except TraytraderError as exc:
            self._record("asl", f"take-profit {action.level} not placed: {exc}", ladder.symbol)
            self._run_tp(ladder, tp.on_place_result(action.client_algo_id, asl.Outcome.REJECTED))
            return
        self.requests_sent += 1
        outcome = await self._outcome(self.gateway.place_algo(request.params()))
        if outcome[0] is asl.Outcome.REJECTED:
            self.emit(Notice(f"{ladder.symbol}: take-profit {action.level} at {action.trigger_price} was "
                             f"refused ({outcome[2] or outcome[1]}); the stop still protects the position.",
                             level="warning"))
        self._run_tp(ladder, tp.on_place_result(action.client_algo_id, outcome[0]))
        self._sync_tp(ladder)

    async def _cancel_tp(self, ladder: asl.Ladder, client_id: str) -> None:
        self.requests_sent += 1
        outcome = await self._outcome(self.gateway.cancel_algo(ladder.symbol, client_id))
        self._run_tp(ladder, self._tp(ladder).on_cancel_result(client_id, outcome[0], outcome[1]))
        self._sync_tp(ladder)

    def _persist_extremes(self, ladder: asl.Ladder, now: int) -> None:
        """Journal a trailing stop's tracked extreme when it moved, at most once a second per stop,
        so a restart adopts the stop at what it really trails (never looser than it is)."""
        for client_id, extreme in ladder.extremes().items():
            last = self._persisted.get(client_id)
            if last is not None and (last[0] == extreme or now - last[1] < PERSIST_INTERVAL_MS):
                continue
            self._persisted[client_id] = (extreme, now)
            self._record("asl-extreme", "trailing extreme", ladder.symbol, client_algo_id=client_id,
                         extreme=extreme)
        if len(self._persisted) > 256:
            del self._persisted[next(iter(self._persisted))]

    # --- the toolkit's breakeven (``engine/position_commands.py``) ------------------------------

    def stop_price(self, symbol: str, position_side: PositionSide) -> Decimal | None:
        """Where the confirmed stop of that position would close it now (its effective price)."""
        ladder = self.ladders.get((symbol, position_side))
        return ladder.effective_price() if ladder is not None else None

    def manages(self, symbol: str, position_side: PositionSide) -> bool:
        """True when the ladder protects that position (ours, or external ones by setting)."""
        ladder = self.ladders.get((symbol, position_side))
        return ladder is not None and ladder.managed and ladder.quantity != 0

    def set_floor(self, symbol: str, position_side: PositionSide, price: Decimal) -> None:
        """Breakeven: no stop of that position worse than ``price`` from now on (``asl.Floor``)."""
        ladder = self.ladders.get((symbol, position_side))
        if ladder is not None:
            self._feed(ladder, asl.Floor(price, self._now()))

    def stop_at_least(self, symbol: str, position_side: PositionSide, price: Decimal) -> bool:
        """True when a confirmed stop of ours, sized to the position, is at ``price`` or better."""
        ladder = self.ladders.get((symbol, position_side))
        if ladder is None or ladder.active_stop is None or ladder.quantity == 0:
            return False
        effective = ladder.effective_price()
        d = 1 if ladder.quantity > 0 else -1
        return effective is not None and d * (effective - price) >= 0 and \
            ladder.active_stop.quantity == abs(ladder.quantity)

    def stop_words(self, symbol: str) -> tuple[int, str] | None:
        """(tier, words) of the active stop on ``symbol``'s position: what the status line shows
        when no move was announced in this run (a stop adopted at start)."""
        for (name, _side), ladder in self.ladders.items():
            note = ladder.active_words() if name == symbol and ladder.quantity else None
            if note is not None:
                return note.tier, note.text
        return None

    def protects(self, symbol: str, position_side: PositionSide, quantity: Decimal) -> str | None:
        """None when a confirmed stop of ours covers ``quantity`` of that position, else why not."""
        ladder = self.ladders.get((symbol, position_side))
        if ladder is not None and not ladder.settings.enabled:
            return None   # the profile switched the stop loss off: nothing is promised
        if ladder is None:
            return f"no stop manager for {symbol}"
        stop = ladder.active_stop
        if stop is None:
            return f"no confirmed stop for the {symbol} position yet ({ladder.phase.value})"
        if ladder.quantity != quantity or stop.quantity != abs(quantity):
            return f"the {symbol} stop is being resized to the position"
        return None

    def _run(self, ladder: asl.Ladder, action: asl.AslAction) -> None:
        match action:
            case asl.PlaceStop(spec=spec):
                self._place(ladder, spec)
            case asl.CancelStop(client_algo_id=client_id):
                self._spawn(self._cancel(ladder, client_id), f"asl-cancel-{client_id}")
            case asl.QueryStops(symbol=symbol):
                self._query_due[symbol] = True
                self._query(symbol)
            case asl.ClosePosition():
                self._spawn(self._close(ladder, action), f"asl-close-{ladder.symbol}")
            case asl.Notify():
                self._notify(ladder, action)

    def _place(self, ladder: asl.Ladder, spec: asl.StopSpec) -> None:
        try:
            request = build_stop_order(
                spec.symbol, spec.position_qty, spec.position_side, self._filters(spec.symbol),
                self.gateway.position_mode, spec.client_algo_id, trigger_price=spec.trigger_price,
                callback_rate=spec.callback_pct, working_type=ladder.settings.working_type)
        except InvalidOrder as exc:
            self._feed(ladder, asl.PlaceResult(spec.client_algo_id, asl.Outcome.REJECTED, self._now(),
                                               None, str(exc)))
            return
        self._spawn(self._send_place(ladder, spec.client_algo_id, request.params()),
                    f"asl-place-{spec.client_algo_id}")

    async def _send_place(self, ladder: asl.Ladder, client_id: str, params: Mapping[str, str]) -> None:
        self.requests_sent += 1
        outcome = await self._outcome(self.gateway.place_algo(params))
        self._feed(ladder, asl.PlaceResult(client_id, outcome[0], self._now(), outcome[1], outcome[2]))

    async def _cancel(self, ladder: asl.Ladder, client_id: str) -> None:
        self.requests_sent += 1
        outcome = await self._outcome(self.gateway.cancel_algo(ladder.symbol, client_id))
        self._feed(ladder, asl.CancelResult(client_id, outcome[0], self._now(), outcome[1], outcome[2]))

    async def _close(self, ladder: asl.Ladder, action: asl.ClosePosition) -> None:
        self.requests_sent += 1
        outcome = await self._outcome(self.gateway.close_position(action.symbol, action.position_side,
                                                                  action.quantity))
        self._feed(ladder, asl.CloseResult(outcome[0], self._now(), outcome[1], outcome[2]))

    @staticmethod
    async def _outcome(request: Awaitable[Any]) -> tuple[asl.Outcome, int | None, str]:
        """Confirmed, rejected (with Binance's code) or unknown: the three outcomes of a request."""
        try:
            await request
        except ExchangeRejected as exc:
            return asl.Outcome.REJECTED, exc.code, exc.msg
        except OutcomeUnknown as exc:                 # sent, no answer: reconcile by client id
            return asl.Outcome.UNKNOWN, None, str(exc)
        except (InvalidOrder, CommandRefused, TransportError) as exc:   # nothing was sent
            return asl.Outcome.REJECTED, None, str(exc)
        except (TraytraderError, OSError, TimeoutError) as exc:
            return asl.Outcome.UNKNOWN, None, str(exc)
        return asl.Outcome.CONFIRMED, None, ""

    def _query(self, symbol: str) -> None:
        now = self._now()
        last = self._last_query_ms.get(symbol)
        if symbol in self._query_busy or (last is not None and now - last < self.min_query_interval_ms):
            return  # asked again on the next tick
        self._query_due[symbol] = False
        self._query_busy.add(symbol)
        self._last_query_ms[symbol] = now
        self._spawn(self._reconcile(symbol, now), f"asl-query-{symbol}")

    async def _reconcile(self, symbol: str, requested_ms: int) -> None:
        try:
            self.requests_sent += 1
            rows = await self.gateway.open_algo_orders(symbol)
        except (TraytraderError, OSError, TimeoutError) as exc:
            log.warning("openAlgoOrders for %s failed: %s", symbol, exc)
            self._query_due[symbol] = True
            return
        finally:
            self._query_busy.discard(symbol)
        by_side: dict[PositionSide, list[asl.ExistingStop]] = {}
        tp_ids: dict[PositionSide, set[str]] = {}
        for row in rows:
            if isinstance(row, Mapping) and is_take_profit_id(str(row.get("clientAlgoId", ""))) and \
                    str(row.get("symbol", symbol)) == symbol:
                tp_ids.setdefault(self._side(row.get("positionSide")), set()).add(str(row["clientAlgoId"]))
            stop = existing_stop(row) if isinstance(row, Mapping) else None
            if stop is not None and stop.client_algo_id.startswith(asl.ASL_ID_PREFIX) and \
                    str(row.get("symbol", symbol)) == symbol:
                by_side.setdefault(self._side(row.get("positionSide")), []).append(stop)
        now = self._now()
        for (name, side), ladder in list(self.ladders.items()):
            if name == symbol:
                self._run_tp(ladder, self._tp(ladder).on_snapshot(tp_ids.get(side, set()), requested_ms))
                self._feed(ladder, asl.OpenStops(tuple(by_side.get(side, ())), requested_ms, now))

    # --- words out -------------------------------------------------------------------------------

    def _notify(self, ladder: asl.Ladder, note: asl.Notify) -> None:
        symbol = ladder.symbol
        event: Event
        if note.kind is asl.NoticeKind.STOP_MOVED:
            event = StopMoved(note.text, symbol=symbol, tier=note.tier, stop_type=note.style.value,
                              trigger_price=note.trigger_price, callback_pct=note.callback_pct)
        elif note.kind is asl.NoticeKind.STOPPED_OUT:
            event = StoppedOut(note.text, symbol=symbol, exit_price=note.exit_price or _ZERO)
        elif note.kind is asl.NoticeKind.SAFETY:
            if note.trigger_price is not None:  # the safety stop is confirmed: also a stop move
                self.emit(StopMoved(note.text, symbol=symbol, tier=-1, stop_type=note.style.value,
                                    trigger_price=note.trigger_price))
            event = SafetyAction(note.text, symbol=symbol)
        else:
            event = Notice(note.text, level="warning")
        self.emit(event)
        self._record("asl", note.text, symbol, notice=note.kind.value, tier=note.tier,
                     stop_type=note.style.value, trigger_price=note.trigger_price,
                     callback_pct=note.callback_pct, exit_price=note.exit_price)

    def _record(self, entry: str, text: str, symbol: str, **data: Any) -> None:
        journal = self.journal
        if journal is None:
            return
        data = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in data.items() if v is not None}
        try:
            if hasattr(journal, "record"):
                journal.record(entry, text, symbol=symbol, data=data or None)
            else:
                journal(entry, {"text": text, "symbol": symbol, **data})
        except Exception:  # the journal must never stop the stop manager
            log.exception("journal failed")

    # --- helpers ---------------------------------------------------------------------------------

    def _ladder(self, symbol: str, position_side: PositionSide, *, create: bool) -> asl.Ladder | None:
        key = (symbol, position_side)
        ladder = self.ladders.get(key)
        if ladder is None and create:
            try:
                tick = self.gateway.tick_size(symbol)
            except TraytraderError as exc:
                self.emit(Notice(f"{symbol}: positions cannot be protected ({exc}).", level="error"))
                return None
            salt = f"{len(self.ladders):x}{symbol[:2].lower()}"
            ladder = self.ladders[key] = asl.Ladder(symbol, position_side, self.settings_for(symbol), tick,
                                                    id_salt=salt)
        return ladder

    def settings_for(self, symbol: str) -> AslSettings:
        """The active profile's settings when it trades ``symbol`` (it is the one whose key opens a
        position there), else the first profile trading it; ``asl`` already merges the globals."""
        active = self.active_profile() if self.active_profile is not None else None
        if active is not None and active.symbol == symbol:
            return active.asl
        return next((p.asl for p in self.config.profiles if p.symbol == symbol), self.config.asl)

    def _filters(self, symbol: str) -> SymbolFilters:
        """The two rules a protective stop needs (tick and step) from the gateway."""
        tick, step = self.gateway.tick_size(symbol), self.gateway.step_size(symbol)
        lot = LotSize("MARKET_LOT_SIZE", step, _ZERO, step)
        return SymbolFilters(symbol, "TRADING", price_filter=PriceFilter(_ZERO, _ZERO, tick),
                             lot_size=lot, market_lot_size=lot)

    @staticmethod
    def _side(value: Any) -> PositionSide:
        try:
            return PositionSide(str(value or "BOTH"))
        except ValueError:
            return PositionSide.BOTH

    def _seen(self, now_ms: int) -> int:
        """The ladder's time for an input stamped ``now_ms`` by the engine: our monotonic clock."""
        del now_ms  # exchange-aligned: it jumps with every clock resync
        return self._now()

    def _now(self) -> int:
        if self.clock is not None:
            return self.clock()
        base_ms, base_ns = self._anchor
        return base_ms + (time.monotonic_ns() - base_ns) // 1_000_000

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ASL task %s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self) -> None:
        """Cancel requests still running (stops already on the exchange stay)."""
        tasks: Iterable[asyncio.Task[Any]] = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
