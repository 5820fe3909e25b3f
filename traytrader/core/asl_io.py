"""The Advanced Stop Loss's vocabulary: what goes into a ladder and what comes out of it.

Inputs carry ``now_ms`` (the driver's monotonic clock): position updates, mark prices,
ALGO_UPDATEs, the results of the ladder's own requests, open-stop snapshots, timer ticks and a
recovery snapshot. Outputs are actions the driver (``engine/asl_driver.py``) executes: place a stop,
cancel one, query the open stops, close the position, notify. The ladder itself is ``core/asl.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from traytrader.core.models import PositionSide, Side

ASL_ID_PREFIX = "ttasl"
# Binance codes the ladder reacts to (notes 3.4, 9): as of 2025-12-09, algo orders.
WOULD_TRIGGER = -2021
UNKNOWN_ORDER = (-2011, -2013)
_ZERO = Decimal(0)


class AlgoStatus(StrEnum):
    """``ALGO_UPDATE.o.X`` (notes 3.3)."""

    NEW = "NEW"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"   # the exchange answered with an error ``code``
    UNKNOWN = "unknown"     # sent, no answer: may or may not have happened


class StopStyle(StrEnum):
    STOP_MARKET = "STOP_MARKET"
    TRAILING = "TRAILING_STOP_MARKET"


class NoticeKind(StrEnum):
    STOP_MOVED = "stop_moved"
    STOPPED_OUT = "stopped_out"
    SAFETY = "safety"
    WARNING = "warning"


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """Signed ``quantity`` (> 0 long, < 0 short, 0 closed). ``ours``: opened by traytrader."""

    quantity: Decimal
    entry_price: Decimal
    now_ms: int
    ours: bool = True


@dataclass(frozen=True, slots=True)
class MarkPrice:
    price: Decimal
    now_ms: int


@dataclass(frozen=True, slots=True)
class AlgoUpdate:
    client_algo_id: str
    status: AlgoStatus
    now_ms: int
    avg_price: Decimal = _ZERO   # ``ap``
    filled_qty: Decimal = _ZERO  # ``aq``
    reason: str = ""             # ``rm``


@dataclass(frozen=True, slots=True)
class _AlgoResult:
    """How a request about one of our algo orders ended; ``code`` is set when REJECTED."""

    client_algo_id: str
    outcome: Outcome
    now_ms: int
    code: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class PlaceResult(_AlgoResult):
    """The answer to ``algoOrder.place``."""


@dataclass(frozen=True, slots=True)
class CancelResult(_AlgoResult):
    """The answer to ``algoOrder.cancel``."""


@dataclass(frozen=True, slots=True)
class CloseResult:
    outcome: Outcome
    now_ms: int
    code: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class ExistingStop:
    """One of our open algo orders as the exchange lists it (``openAlgoOrders``)."""

    client_algo_id: str
    side: Side
    style: StopStyle
    quantity: Decimal
    trigger_price: Decimal | None = None
    callback_pct: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OpenStops:
    """Our open stops for this ladder, from a query sent at ``requested_ms``."""

    stops: tuple[ExistingStop, ...]
    requested_ms: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class Tick:
    now_ms: int


@dataclass(frozen=True, slots=True)
class Floor:
    """The user's breakeven command: from now on no stop of this position is worse than ``price``
    (the ladder's floor; later tiers may only tighten from there). A floor never loosens either:
    a worse one than the floor already set changes nothing."""

    price: Decimal
    now_ms: int


@dataclass(frozen=True, slots=True)
class Recover:
    """Start or reconnect: the position and our open stops as the exchange reports them."""

    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal | None
    stops: tuple[ExistingStop, ...]
    now_ms: int
    ours: bool = False
    # clientAlgoId -> the most favourable mark a trailing stop of ours had tracked, as persisted
    # (journal) by the run that placed it: an adopted trailing stop is never underestimated.
    extremes: Mapping[str, Decimal] = field(default_factory=dict)


AslInput = (PositionUpdate | MarkPrice | AlgoUpdate | PlaceResult | CancelResult | CloseResult
            | OpenStops | Tick | Recover | Floor)


# --- outputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StopSpec:
    """Everything ``core.orders.build_stop_order`` needs. ``quantity`` is unsigned."""

    symbol: str
    position_side: PositionSide
    side: Side
    style: StopStyle
    quantity: Decimal
    client_algo_id: str
    tier: int                          # -1 safety, 0 hard, k trailing tier k (or held at tier k)
    label: str                         # hard, trailing, held, safety
    trigger_price: Decimal | None = None
    callback_pct: Decimal | None = None

    @property
    def position_qty(self) -> Decimal:
        """The signed position this stop protects (what ``build_stop_order`` takes)."""
        return self.quantity if self.side is Side.SELL else -self.quantity


@dataclass(frozen=True, slots=True)
class PlaceStop:
    spec: StopSpec


@dataclass(frozen=True, slots=True)
class CancelStop:
    symbol: str
    client_algo_id: str


@dataclass(frozen=True, slots=True)
class QueryStops:
    symbol: str


@dataclass(frozen=True, slots=True)
class ClosePosition:
    symbol: str
    position_side: PositionSide
    quantity: Decimal  # unsigned


@dataclass(frozen=True, slots=True)
class Notify:
    text: str
    kind: NoticeKind
    tier: int = 0
    style: StopStyle = StopStyle.STOP_MARKET
    trigger_price: Decimal | None = None
    callback_pct: Decimal | None = None
    exit_price: Decimal | None = None


AslAction = PlaceStop | CancelStop | QueryStops | ClosePosition | Notify


def validate(event: AslInput) -> None:
    """Raise ``ValueError`` for an input that is not one (a price that is not a price)."""
    match event:
        case MarkPrice(price=price) | Floor(price=price) if not (price.is_finite() and price > 0):
            raise ValueError(f"A price of {price} is not a price.")
        case PositionUpdate(quantity=qty, entry_price=entry) | Recover(quantity=qty, entry_price=entry) \
                if not qty.is_finite() or (qty != 0 and not (entry.is_finite() and entry > 0)):
            raise ValueError(f"A position of {qty} at {entry} is not a position.")
        case Recover(mark_price=mark) if mark is not None and not (mark.is_finite() and mark > 0):
            raise ValueError(f"A mark price of {mark} is not a price.")
