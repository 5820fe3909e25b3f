"""Armed entries: the active profile's BUY and SELL kept sized, signed and framed before the key.

Part of the ``Dispatcher`` (``engine/dispatch.py``), split out by job: a keypress sends the armed
frame only if nothing it depends on has changed (plan, connection and logon, bid/ask/mark, the
frame's age), else arms one on the spot. Re-armed after every book or mark change of the symbol,
after every command and every half max-age; the caps are checked before anything is signed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from traytrader.core.entry_plan import SizedEntry
from traytrader.core.errors import (
    CommandRefused,
    TraytraderError,
)
from traytrader.core.models import Profile, Side
from traytrader.core.orders import ClientIds, OrderRequest
from traytrader.engine.api import Command, CommandKind
from traytrader.engine.armed import ArmedEntry, ArmInputs, EntryPath, arm
from traytrader.engine.order_sending import Fired
from traytrader.engine.session import Session

log = logging.getLogger(__name__)

# Entries are sized on the book: refuse them when the market feed (mark price every second) has
# been silent this long. Closing needs no price and always works.
STALE_PRICE_S = 3.0
WARM_S = 0.05   # see EntryArming._keep_warm
# A hotkey's first key went down (Ctrl of Ctrl+B): walk the key path this often until its key comes,
# the first key goes up, or this long has passed (see ``EntryArming.prime_key_path``).
PRIMED_EVERY_S = 0.001
PRIMED_FOR_S = 1.0
WALK_KINDS = {Side.BUY: CommandKind.BUY, Side.SELL: CommandKind.SELL}


class EntryArming:
    """The arming half of the ``Dispatcher`` (a mixin: it shares the dispatcher's state)."""

    session: Session
    active: Profile | None
    _client_ids: ClientIds
    _entry_paths: dict[tuple[str, Side], EntryPath]
    _armed: dict[Side, ArmedEntry]
    _arm_pending: bool
    _refresh: asyncio.TimerHandle | None
    _warm: asyncio.TimerHandle | None
    _priming: asyncio.TimerHandle | None
    _primed_until: float
    _walk_also: Callable[[], None] | None
    _max_age_ms: int

    if TYPE_CHECKING:   # the ``Dispatcher``'s other parts, after this mixin in the bases
        _wallet: Decimal | None
        frame_ready_ns: int
        _awaiting_answer: set[str]

        def sized_profile(self, profile: Profile) -> Profile: ...
        def admit(self, command: Command, profile: Profile) -> str | None: ...
        def take_up(self, command: Command, symbol: str) -> None: ...
        def command_row(self, command: Command, profile: Profile, client_id: str) -> Callable[[], None]: ...
        def record_sent(self, request: OrderRequest, request_id: str, params: dict[str, str] | None,
                        timestamp: int, first_row: Callable[[], None] | None = None) -> None: ...

    def prime(self, profiles: tuple[Profile, ...] | list[Profile]) -> None:
        """Prepare every profile's BUY and SELL entry now (the session just became ready), so the
        first keypress finds its plan and frame template made; arm the active profile's."""
        for profile in profiles:
            for side in (Side.BUY, Side.SELL):
                with contextlib.suppress(TraytraderError):   # that profile's keypress says why
                    self._entry_path(profile, side)
        self.schedule_arming()

    def fire(self, command: Command, profile: Profile) -> Fired | None:
        """The key path of a BUY or SELL: admitted, its armed entry checked, its frame written, all
        now and before a task exists for the command (``execute`` then awaits the answer).

        The checks are ``execute``'s and ``_entry``'s own, in their order: ``admit``, the wallet a
        risk profile needs, ``_armed_for`` (the armed entry still current, the caps); nothing is
        awaited between them and the write. None: the command does not take this path (another
        kind, a refusal, nothing armed, a write that would wait) and ``execute`` does it all,
        saying why where it refuses."""
        if self._priming is not None:
            self.unprime_key_path()
        kind = command.kind
        side = Side.BUY if kind is CommandKind.BUY else Side.SELL if kind is CommandKind.SELL else None
        if side is None or (profile.risk_pct is not None and self._wallet is None) \
                or self.admit(command, profile) is not None:
            return None
        try:
            armed = self._armed_for(profile, side)
        except TraytraderError:   # a cap refuses it: ``execute`` says so
            return None
        ws = self.session.ws
        if armed is None or ws is None or not ws.connected:
            return None
        self.frame_ready_ns = time.perf_counter_ns()   # attribution: our work ends, the write begins
        written = ws.write_now(armed.request_id, "order.place", armed.frame, armed.encoded)
        if written is None:   # the write would wait: ``execute`` sends this same armed entry
            self._armed[side] = armed
            return None
        request = armed.request
        self.take_up(command, profile.symbol)
        self._awaiting_answer.add(request.client_order_id)
        self.record_sent(request, armed.request_id, None, armed.timestamp,
                         self.command_row(command, profile, request.client_order_id))
        return Fired(request, ws, written, armed.timestamp)

    def set_active(self, profile: Profile) -> None:
        """The profile a keypress will use: its entries are the ones kept armed."""
        self.active = profile
        self._armed.clear()
        self.schedule_arming()

    def _entry_path(self, profile: Profile, side: Side) -> EntryPath | None:
        """The prepared entry for (profile, side), rebuilt when its inputs changed; None when the
        plan cannot be made (the keypress then takes the full builder, which names the reason)."""
        session = self.session
        ws = session.ws
        if ws is None:
            return None
        try:   # a risk-based profile: the notional its risk buys (one object while nothing changes)
            profile = self.sized_profile(profile)
        except TraytraderError:
            return None
        filters = session.filters(profile.symbol)
        key = (profile.name, side)
        path = self._entry_paths.get(key)
        if path is not None and path.current(profile, filters, session.mode, ws.frames):
            return path
        path = EntryPath.prepare(profile, side, filters, session.mode, ws.frames)
        if path is not None:
            self._entry_paths[key] = path
        return path

    def _on_market_message(self, message: dict[str, Any]) -> None:
        active = self.active
        if active is not None and message.get("s") == active.symbol:
            self.schedule_arming()

    def schedule_arming(self) -> None:
        """Re-arm the active profile's entries soon, once however many prices arrive meanwhile.
        Two hops: whatever the current callback started (the ASL's stop replacement on a new mark
        price) runs first."""
        if self._arm_pending or self.active is None:
            return
        self._arm_pending = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:   # not on the engine loop (tests building a dispatcher by hand)
            self._arm_pending = False
            return
        loop.call_soon(loop.call_soon, self._arm_active)

    def _arm_active(self) -> None:
        """Arm both sides of the active profile where the armed entry no longer matches the prices
        or is half its allowed age; then again in half that age, so a quiet market keeps a
        fresh frame too."""
        self._arm_pending = False
        profile, session = self.active, self.session
        if profile is None or not session.ready:
            return
        half_age = self._max_age_ms // 2
        for side in (Side.BUY, Side.SELL):
            armed = self._armed.get(side)
            try:
                inputs = self._inputs(profile, side)
                if inputs is None:
                    armed = None
                elif armed is None or not armed.matches(inputs, half_age):
                    armed = None
                    sized = inputs.path.plan.size(inputs.book[0], inputs.book[1], inputs.mark)
                    now_ms = session.clock.now_ms()
                    # The caps before signing; the keypress checks them again and says why.
                    if sized is not None and session.limiter.refuse_order(now_ms, sized.notional) is None:
                        armed = self._arm(inputs, sized, now_ms)
            except TraytraderError:
                armed = None
            if armed is None:
                self._armed.pop(side, None)
            else:
                self._armed[side] = armed
        if self._refresh is not None:
            self._refresh.cancel()
        self._refresh = asyncio.get_running_loop().call_later(half_age / 1000, self.schedule_arming)
        if self._warm is None:
            self._warm = asyncio.get_running_loop().call_later(WARM_S, self._keep_warm)

    def _keep_warm(self) -> None:
        """Walk the keypress's checks (``walk_keypress``) every ``WARM_S``, so the code and data
        they touch stay in the CPU caches between a trader's sporadic keys: with keys 250 ms apart,
        accepted → frame ready fell from ~99 to ~39 µs and → wire from ~192 to ~147 µs, for no
        measurable idle CPU (``bench_engine.py --gap-ms 250``, ``bench_idle.py``)."""
        self._warm = None
        if self.active is None or not self.session.ready:
            return
        self.walk_keypress()
        self._warm = asyncio.get_running_loop().call_later(WARM_S, self._keep_warm)

    def prime_key_path(self, also: Callable[[], None] | None = None) -> None:
        """A hotkey's first key went down (``Engine.prime``): walk the key path now, and then every
        ``PRIMED_EVERY_S`` until ``unprime_key_path`` (the key went up), a command, or
        ``PRIMED_FOR_S``. ``also``: the front end's own part of the key path, walked with it
        (``DesktopApp.walk_hotkey``: the gate's checks, which record nothing).

        Why: between a trader's Ctrl and B (tens to hundreds of ms) other programs run, and the
        key path's code and data leave the CPU caches; the CPU itself may go to sleep. Walked every
        millisecond, pynput callback → frame on the wire fell from ~150 to ~110-130 µs median on
        the 2-core test box (``benchmarks/bench_desktop.py --only keys``), for ~1% of a core while
        a hotkey's modifier is held."""
        loop = asyncio.get_running_loop()
        self._walk_also = also
        self.walk_keypress()
        self._primed_until = loop.time() + PRIMED_FOR_S
        if self._priming is None:
            self._priming = loop.call_later(PRIMED_EVERY_S, self._walk_primed)

    def unprime_key_path(self) -> None:
        """The key is here, or the first key went up: no more walks (see ``prime_key_path``)."""
        self._primed_until = 0.0
        if self._priming is not None:
            self._priming.cancel()
            self._priming = None

    def _walk_primed(self) -> None:
        self._priming = None
        loop = asyncio.get_running_loop()
        if loop.time() < self._primed_until:
            self.walk_keypress()
            self._priming = loop.call_later(PRIMED_EVERY_S, self._walk_primed)

    def walk_keypress(self) -> None:
        """What ``fire`` checks for either side of the active profile, without sending, consuming
        or scheduling anything: admission, the armed entry's match, the caps, the connection's
        readiness to write. Run ahead of a key (``_keep_warm``; ``Engine.prime`` when a hotkey's
        modifier goes down), it leaves that path's code and data in the CPU caches, where a cold
        walk costs about three times as much (``benchmarks/bench_desktop.py``)."""
        profile, session = self.active, self.session
        if profile is None or not session.ready:
            return
        ws = session.ws
        for side in (Side.BUY, Side.SELL):
            self.admit(Command(WALK_KINDS[side], source="warm"), profile)
            armed = self._armed.get(side)
            inputs = self._inputs(profile, side)
            if armed is not None and inputs is not None and armed.matches(inputs, self._max_age_ms):
                session.limiter.refuse_order(session.clock.now_ms(), armed.sized.notional)
        if ws is not None and ws.connected:
            ws.can_write_now()
        also = self._walk_also
        if also is not None:
            try:
                also()
            except Exception:   # the front end's walk must never stop the engine's; it stops itself
                self._walk_also = None
                log.debug("the front end's key path walk failed", exc_info=True)

    def _inputs(self, profile: Profile, side: Side) -> ArmInputs | None:
        """What an entry is armed from, or None when something is missing or the price is stale
        (the full builder then says why)."""
        session = self.session
        symbol = profile.symbol
        path = self._entry_path(profile, side)
        ws = session.ws
        book, mark = session.books.get(symbol), session.tracker.marks.get(symbol)
        if path is None or ws is None or book is None or mark is None \
                or (session.price_age_s(symbol) or 0.0) > STALE_PRICE_S:
            return None
        return ArmInputs(path, book, mark, ws.frames.logged_on, ws)

    def _arm(self, inputs: ArmInputs, sized: SizedEntry, now_ms: int) -> ArmedEntry:
        """Sign and frame ``sized`` with a new client id and request id (caps already checked)."""
        return arm(inputs, sized, self._client_ids.next(), inputs.ws.ids.next(), now_ms)

    def _armed_for(self, profile: Profile, side: Side) -> ArmedEntry | None:
        """This keypress's entry, the caps checked: the armed one when its inputs are unchanged,
        else armed now. None: the full builder decides (no plan, no price, a stale price, a failed
        filter check). Raises ``CommandRefused`` when a cap refuses it."""
        armed = self._armed.pop(side, None)
        inputs = self._inputs(profile, side)
        if inputs is None:
            return None
        if armed is not None and armed.matches(inputs, self._max_age_ms):
            sized = armed.sized
        else:
            armed, sized = None, inputs.path.plan.size(inputs.book[0], inputs.book[1], inputs.mark)
            if sized is None:
                return None
        session = self.session
        now_ms = session.clock.now_ms()
        refusal = session.limiter.refuse_order(now_ms, sized.notional)
        if refusal is not None:
            raise CommandRefused(refusal)
        return armed if armed is not None else self._arm(inputs, sized, now_ms)
