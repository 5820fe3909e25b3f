"""Entries prepared ahead of the keypress: planned, sized, signed and framed while the loop is idle.

A keypress on a warm engine should only check and send. For the active profile, each side's entry
is kept ready: the ``EntryPlan`` (what never changes), the ``FrameTemplate`` (the frame with its
fixed params written in), and an ``ArmedEntry``: the order sized at the current book and mark
price, with its client id, request id, timestamp and finished frame. It is re-armed after every
book or mark price change of its symbol and after every command, off the hot path.

A keypress uses the armed entry only when nothing it depends on has changed: the same plan (same
exchange info and position mode), the same connection and logon state, the same bid, ask and mark
price, and a timestamp younger than ``max_age_ms`` (a fraction of recvWindow, so the exchange's
freshness check keeps its meaning). Otherwise it arms one on the spot, which costs ~10 µs more.
The caps are checked before anything is signed when arming, and again when the key is pressed,
before the frame is sent. An armed frame is never sent without a keypress; an unused one is
dropped (its client id and request id are simply never seen by the exchange).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from traytrader.core.entry_plan import EntryPlan, SizedEntry
from traytrader.core.frames import FrameTemplate
from traytrader.core.models import OrderType, PositionMode, Profile, Side
from traytrader.core.orders import OrderRequest
from traytrader.exchange.ws_api import encode_text_frame

# An armed frame older than this share of recvWindow (and never older than a second) is re-made
# at the keypress: the exchange measures recvWindow from the timestamp inside the frame.
MAX_AGE_SHARE = 0.2
MAX_AGE_CAP_MS = 1000


@dataclass(frozen=True, slots=True)
class EntryPath:
    """A prepared entry for one (profile, side): the plan, its frame template, and the frame
    builder both were made for (a new connection has a new builder, so a new path)."""

    plan: EntryPlan
    template: FrameTemplate
    frames: object

    @classmethod
    def prepare(cls, profile: Profile, side: Side, filters: object, mode: PositionMode,
                frames: object) -> EntryPath | None:
        plan = EntryPlan.prepare(profile, side, filters, mode)  # type: ignore[arg-type]
        make_template = getattr(frames, "template", None)
        if plan is None or make_template is None:
            return None
        slots = ("newClientOrderId", "quantity") if plan.order_type is OrderType.MARKET \
            else ("newClientOrderId", "price", "quantity")
        return cls(plan, make_template("order.place", plan.fixed_params(), slots), frames)

    def current(self, profile: Profile, filters: object, mode: PositionMode, frames: object) -> bool:
        plan = self.plan
        return plan.profile is profile and plan.filters is filters and plan.mode is mode \
            and self.frames is frames


class ArmInputs(NamedTuple):
    """What an entry is armed from (and what an armed entry must still match)."""

    path: EntryPath
    book: tuple[Decimal, Decimal]
    mark: Decimal
    logged_on: bool
    ws: Any   # the connection (``exchange.ws_api.WsApi``) whose request ids the frame uses


class ArmedEntry(NamedTuple):
    """One entry ready to send: valid while its inputs are unchanged (``matches``)."""

    path: EntryPath
    book: tuple[Decimal, Decimal]
    mark: Decimal
    logged_on: bool
    sized: SizedEntry
    request: OrderRequest
    request_id: str
    timestamp: int
    frame: str
    encoded: bytes | None   # the frame as written to the socket (``ws_api.encode_text_frame``)
    armed_at_ms: int   # time.monotonic() in ms

    def matches(self, inputs: ArmInputs, max_age_ms: int) -> bool:
        """The same plan, prices and logon state as now, and young enough to send. The connection
        is covered by the path: each connection has its own frame builder."""
        return self.path is inputs.path and self.book == inputs.book and self.mark == inputs.mark and \
            self.logged_on == inputs.logged_on and \
            time.monotonic_ns() // 1_000_000 - self.armed_at_ms <= max_age_ms


def arm(inputs: ArmInputs, sized: SizedEntry, client_id: str, request_id: str, timestamp: int) -> ArmedEntry:
    """Sign and frame ``sized`` (the caps were checked by the caller)."""
    values = (client_id, sized.quantity_text) if sized.price_text is None \
        else (client_id, sized.price_text, sized.quantity_text)
    path = inputs.path
    frame = path.template.fill(request_id, values, timestamp)
    return ArmedEntry(path, inputs.book, inputs.mark, inputs.logged_on, sized,
                      path.plan.request(sized, client_id), request_id, timestamp, frame,
                      encode_text_frame(frame), time.monotonic_ns() // 1_000_000)


def max_age_ms(recv_window_ms: int | None) -> int:
    """How old an armed frame may be when sent (see ``MAX_AGE_SHARE``)."""
    window = recv_window_ms or 5000
    return max(1, min(MAX_AGE_CAP_MS, int(window * MAX_AGE_SHARE)))
