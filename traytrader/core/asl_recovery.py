"""The ladder's recovery (start, reconnect): our stops the exchange lists are adopted, the tier and
the breakeven floor restored, and a trailing stop's extreme never underestimated. A mixin of
``core.asl.Ladder`` (split out by job; it shares the ladder's state)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from traytrader.core.asl_io import AslAction, ExistingStop, Recover, StopSpec, StopStyle
from traytrader.core.asl_state import LABELS as _LABELS
from traytrader.core.asl_state import STOP_ID_RE as _ID_RE
from traytrader.core.asl_state import LadderState as _State
from traytrader.core.asl_state import StopRecord as _Stop
from traytrader.core.asl_state import favourable as _favourable
from traytrader.core.asl_state import sign as _sign
from traytrader.core.asl_table import StopStatus
from traytrader.core.models import AslSettings, AslTier, PositionSide, Side


class LadderRecovery:
    """``Ladder._on_recover`` and what it needs (adoption, the persisted extremes)."""

    symbol: str
    position_side: PositionSide
    tiers: tuple[AslTier, ...]
    _s: _State

    if TYPE_CHECKING:   # the ladder's own
        @property
        def settings(self) -> AslSettings: ...

        def _forget(self, stop: _Stop, now_ms: int) -> None: ...

        def _update_tier(self) -> None: ...

        def _prefer(self, new: _Stop, old: _Stop) -> bool: ...

    def _on_recover(self, event: Recover, out: list[AslAction]) -> None:
        s = self._s
        mine = [e for e in event.stops if _ID_RE.match(e.client_algo_id)]
        listed = {e.client_algo_id for e in mine}
        # What a trailing stop has tracked survives a reconnect (known here) and a restart
        # (persisted): the most favourable of what we know, the journal and the mark now.
        known = dict(event.extremes)
        for cid, stop in s.stops.items():
            if stop.extreme is not None:
                previous = known.get(cid)
                known[cid] = stop.extreme if previous is None else _favourable(stop.direction, previous,
                                                                               stop.extreme)
        # Placements still in flight from before stay known: for the same position of ours they
        # go on (confirmed when they land, they replace the adopted stop if better); for another,
        # they are retired and cancelled once they land (a better stop retired here and the worse
        # one kept was F16's "looser" replacement). What else we knew and the exchange no longer
        # lists is gone (tombstoned).
        was_ours = s.managed and _sign(s.qty) == _sign(event.quantity)
        for cid, stop in list(s.stops.items()):
            if stop.confirmed or cid in listed:
                self._forget(stop, event.now_ms)
        going_on = {cid for cid, stop in s.stops.items() if was_ours and not stop.retired
                    and stop.status is StopStatus.PLACING and stop.direction == _sign(event.quantity)}
        s.stops = {cid: replace(stop, retired=cid not in going_on) for cid, stop in s.stops.items()}
        s.recovered_ms = event.now_ms
        s.active, s.closing = None, False
        unprotected_since = s.unprotected_since if was_ours else None
        s.qty, s.entry, s.mark = event.quantity, event.entry_price, event.mark_price
        s.attempts, s.retry_at, s.safety_retry_at, s.settle_until = 0, 0, 0, 0
        d = _sign(event.quantity)
        adopted = [self._adopt(e, event.now_ms, known.get(e.client_algo_id)) for e in mine]
        protecting = [stop for stop in adopted if stop.direction == d]
        for stop in adopted:
            stop.retired = stop.direction != d or d == 0
        # The breakeven floor survives a reconnect (known) and a restart (its stop says it).
        if not was_ours:
            s.floor = None
        for stop in protecting:
            price = stop.spec.trigger_price
            if stop.spec.label == "breakeven" and price is not None and (
                    s.floor is None or d * (price - s.floor) > 0):
                s.floor = price
        # Ours: the engine says so, a stop of ours protects it, or we protected it before a reconnect.
        s.managed = d != 0 and self.settings.enabled and (event.ours or bool(protecting) or was_ours or
                                self.settings.protect_external_positions)
        s.tier = min(max((stop.spec.tier for stop in protecting), default=0), len(self.tiers))
        s.unprotected_since = None
        if s.managed:
            self._update_tier()
            for stop in protecting:
                if s.active is None or self._prefer(stop, s.stops[s.active]):
                    s.active = stop.spec.client_algo_id
            if s.active is None:  # unprotected since before the reconnect, if it was
                s.unprotected_since = event.now_ms if unprotected_since is None else unprotected_since

    def _adopt(self, existing: ExistingStop, now_ms: int, extreme: Decimal | None = None) -> _Stop:
        """One of our stops the exchange lists, taken over. A trailing stop's tracked extreme is
        not reported by Binance: the most favourable of ``extreme`` (what we knew or persisted)
        and the mark now, so the stop is never thought looser than it is (a replacement must beat
        it). Without a valid callbackRate, the tightest tier's is assumed, for the same reason."""
        match = _ID_RE.match(existing.client_algo_id)
        tier = int(match.group(2)) if match else 0
        label = _LABELS[match.group(1)] if match else "hard"
        if label == "safety":
            tier = -1
        callback = existing.callback_pct
        if existing.style is StopStyle.TRAILING and not (callback is not None and callback.is_finite()
                                                         and callback > 0):
            callback = min((t.callback_pct for t in self.tiers), default=Decimal("0.1"))
        spec = StopSpec(self.symbol, self.position_side, existing.side, existing.style, existing.quantity,
                        existing.client_algo_id, tier, label, existing.trigger_price, callback)
        direction = 1 if existing.side is Side.SELL else -1
        stop = _Stop(spec, direction, now_ms, status=StopStatus.LIVE, confirmed_ms=now_ms)
        if existing.style is StopStyle.TRAILING:
            seen = [x for x in (extreme, self._s.mark, existing.trigger_price) if x is not None and x > 0]
            stop.extreme = seen[0] if seen else self._s.entry
            for value in seen[1:]:
                stop.extreme = _favourable(direction, stop.extreme, value)
        self._s.stops[existing.client_algo_id] = stop
        return stop

    def extremes(self) -> dict[str, Decimal]:
        """clientAlgoId -> tracked extreme of each live trailing stop (for the driver to persist)."""
        return {cid: stop.extreme for cid, stop in self._s.stops.items()
                if stop.extreme is not None and stop.spec.style is StopStyle.TRAILING}
