"""The simulator's records: quotes, orders, algo orders, positions and accounts (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from traytrader.sim.accounts import AccountSpec

ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
#: Algo status machine (ALGO_UPDATE ``X``): every legal transition, one table.
ALGO_TRANSITIONS: dict[str, frozenset[str]] = {
    "NEW": frozenset({"NEW", "TRIGGERING", "CANCELED", "EXPIRED", "REJECTED"}),
    "TRIGGERING": frozenset({"TRIGGERED", "REJECTED", "CANCELED"}),
    "TRIGGERED": frozenset({"FINISHED"}),
    "FINISHED": frozenset(),
    "CANCELED": frozenset(),
    "EXPIRED": frozenset(),
    "REJECTED": frozenset(),
}
ALGO_OPEN = frozenset({"NEW", "TRIGGERING"})


@dataclass
class Quote:
    symbol: str
    last: Decimal
    mark: Decimal
    bid: Decimal
    ask: Decimal
    update_id: int = 1
    time_ms: int = 0
    index: Decimal = ZERO  # index price; 0 before the first move (then = mark)

    def working(self, working_type: str) -> Decimal:
        return self.mark if working_type == "MARK_PRICE" else self.last


@dataclass
class Order:
    order_id: int
    api_key: str
    symbol: str
    side: str
    position_side: str
    type: str
    tif: str
    quantity: Decimal
    price: Decimal
    reduce_only: bool
    client_id: str
    create_ms: int
    stp: str = "EXPIRE_MAKER"
    good_till: int = 0
    price_match: str = "NONE"
    close_position: bool = False
    orig_type: str = ""
    stop_price: Decimal = ZERO
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_ms: int = 0
    algo_id: int | None = None
    modify_count: int = 0
    events: str = "classic"  # the event order of its fills (sim.event_order)
    new_at: int | None = None  # outbox index of its NEW while it is being accepted ("lite-first")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else ZERO


@dataclass
class AlgoOrder:
    algo_id: int
    api_key: str
    client_id: str
    symbol: str
    side: str
    position_side: str
    type: str
    tif: str
    quantity: Decimal | None
    price: Decimal
    trigger_price: Decimal
    working_type: str
    close_position: bool
    reduce_only: bool
    price_protect: bool
    activate_price: Decimal | None
    callback_rate: Decimal | None
    create_ms: int
    stp: str = "EXPIRE_MAKER"
    good_till: int = 0
    price_match: str = "NONE"
    status: str = "NEW"
    activated: bool = False
    extreme: Decimal = ZERO
    update_ms: int = 0
    trigger_ms: int = 0
    actual_order_id: int | None = None
    reject_reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in ALGO_OPEN

    def move(self, status: str, now_ms: int) -> None:
        """Change status through the transition table; an illegal move raises and changes nothing."""
        if status not in ALGO_TRANSITIONS[self.status]:
            raise ValueError(f"algo {self.algo_id}: illegal transition {self.status} -> {status}")
        self.status = status
        self.update_ms = now_ms


@dataclass
class Position:
    symbol: str
    position_side: str
    amount: Decimal = ZERO  # signed: LONG/BOTH long > 0, SHORT < 0
    entry: Decimal = ZERO
    realized: Decimal = ZERO  # accumulated realized PnL (ACCOUNT_UPDATE "cr")
    update_ms: int = 0


@dataclass
class Account:
    spec: AccountSpec
    wallet: Decimal
    hedge: bool
    leverage: dict[str, int] = field(default_factory=dict)
    isolated: dict[str, bool] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    open_orders: dict[int, Order] = field(default_factory=dict)
    open_algos: dict[int, AlgoOrder] = field(default_factory=dict)
    update_ms: int = 0

    @property
    def api_key(self) -> str:
        return self.spec.api_key

    def position(self, symbol: str, ps: str) -> Position:
        key = (symbol, ps)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(symbol, ps)
        return pos
