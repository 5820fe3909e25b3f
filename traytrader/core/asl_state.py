"""What one stop ladder remembers (``core/asl.py``): each of our stops, the ladder's state, the
client-id grammar of our stops, and the small pure helpers the ladder and its recovery share.
Pure data and arithmetic, no decisions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal

from traytrader.core.asl_io import ASL_ID_PREFIX, StopSpec
from traytrader.core.asl_table import EXISTING, StopStatus

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)
#: ``ttasl-<code><tier>-<salt>-<time36>-<seq36>``; the code says which stop it is.
STOP_ID_RE = re.compile(rf"^{ASL_ID_PREFIX}-([hktsb])(\d+)-")
LABELS = {"h": "hard", "k": "held", "t": "trailing", "s": "safety", "b": "breakeven"}
CODES = {label: code for code, label in LABELS.items()}


@dataclass(slots=True)
class StopRecord:
    """One of our stops as the ladder knows it."""

    spec: StopSpec
    direction: int
    sent_ms: int
    extreme: Decimal | None = None   # trailing: most favourable mark since placement
    status: StopStatus = StopStatus.PLACING   # moved only by ``Ladder._step`` (``STOP_TABLE``)
    confirmed_ms: int = 0
    retired: bool = False            # position closed or reversed: cancel as soon as possible

    @property
    def confirmed(self) -> bool:
        return self.status in EXISTING

    @property
    def uncertain(self) -> bool:
        return self.status is StopStatus.UNCERTAIN

    @property
    def cancel_sent(self) -> bool:
        return self.status in (StopStatus.CANCELLING, StopStatus.CANCEL_UNCERTAIN)

    @property
    def cancel_uncertain(self) -> bool:
        return self.status is StopStatus.CANCEL_UNCERTAIN

    @property
    def firing(self) -> bool:
        return self.status is StopStatus.FIRING


@dataclass(slots=True)
class LadderState:
    qty: Decimal = _ZERO
    entry: Decimal = _ZERO
    mark: Decimal | None = None
    managed: bool = False
    tier: int = 0
    stops: dict[str, StopRecord] = field(default_factory=dict)
    active: str | None = None
    closing: bool = False
    attempts: int = 0
    retry_at: int = 0
    safety_retry_at: int = 0
    unprotected_since: int | None = None
    settle_until: int = 0
    floor: Decimal | None = None   # breakeven: no stop of this position worse than this (``Floor``)
    recovered_ms: int = -1   # snapshots older than the last recovery are stale: ignored
    seq: int = 0
    gone: dict[str, int] = field(default_factory=dict)  # tombstones: client id -> when it went

    def copy(self) -> LadderState:
        return replace(self, stops={k: replace(v) for k, v in self.stops.items()}, gone=dict(self.gone))


# --- small pure helpers ---------------------------------------------------------------------------


def sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def favourable(direction: int, a: Decimal, b: Decimal) -> Decimal:
    return max(a, b) if direction > 0 else min(a, b)


def trail(extreme: Decimal, direction: int, callback_pct: Decimal) -> Decimal:
    return extreme * (1 - direction * callback_pct / _HUNDRED)
