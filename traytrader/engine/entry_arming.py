"""Armed entries: the active profile's BUY and SELL kept sized, signed and framed before the key.

Part of the ``Dispatcher`` (``engine/dispatch.py``), split out by job: a keypress sends the armed
frame only if nothing it depends on has changed (plan, connection and logon, bid/ask/mark, the
frame's age), else arms one on the spot. Re-armed after every book or mark change of the symbol,
after every command and every half max-age; the caps are checked before anything is signed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from traytrader.core.entry_plan import SizedEntry
from traytrader.core.errors import (
    CommandRefused,
    TraytraderError,
)
from traytrader.core.models import Profile, Side
from traytrader.core.orders import (
    ClientIds,
)
from traytrader.engine.armed import ArmedEntry, ArmInputs, EntryPath, arm
from traytrader.engine.session import Session

# Entries are sized on the book: refuse them when the market feed (mark price every second) has
# been silent this long. Closing needs no price and always works.
STALE_PRICE_S = 3.0
WARM_S = 0.05   # see EntryArming._keep_warm


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
    _max_age_ms: int

    if TYPE_CHECKING:   # ``position_commands.PositionCommands``, after this mixin in the bases
        def sized_profile(self, profile: Profile) -> Profile: ...

    def prime(self, profiles: tuple[Profile, ...] | list[Profile]) -> None:
        """Prepare every profile's BUY and SELL entry now (the session just became ready), so the
        first keypress finds its plan and frame template made; arm the active profile's."""
        for profile in profiles:
            for side in (Side.BUY, Side.SELL):
                with contextlib.suppress(TraytraderError):   # that profile's keypress says why
                    self._entry_path(profile, side)
        self.schedule_arming()

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
        """Walk the keypress's checks without sending or consuming anything (the armed entry's
        match, the caps) every ``WARM_S``, so the code and data they touch stay in the CPU caches
        between a trader's sporadic keys: with keys 250 ms apart, accepted → frame ready fell from
        ~99 to ~39 µs and → wire from ~192 to ~147 µs, for no measurable idle CPU
        (``bench_engine.py --gap-ms 250``, ``bench_idle.py``)."""
        self._warm = None
        profile, session = self.active, self.session
        if profile is None or not session.ready:
            return
        for side in (Side.BUY, Side.SELL):
            armed = self._armed.get(side)
            inputs = self._inputs(profile, side)
            if armed is not None and inputs is not None and armed.matches(inputs, self._max_age_ms):
                session.limiter.refuse_order(session.clock.now_ms(), armed.sized.notional)
        self._warm = asyncio.get_running_loop().call_later(WARM_S, self._keep_warm)

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
