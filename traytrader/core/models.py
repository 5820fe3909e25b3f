"""Typed models shared by every layer: enums, the validated configuration, and API credentials.

All prices, quantities and percentages are ``Decimal``. ``config.py`` builds these from TOML;
nothing here reads files or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from traytrader.core.errors import ConfigError


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class PositionSide(StrEnum):
    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


class PositionMode(StrEnum):
    ONE_WAY = "one-way"
    HEDGE = "hedge"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"


class MarginType(StrEnum):
    CROSSED = "CROSSED"
    ISOLATED = "ISOLATED"


class WorkingType(StrEnum):
    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"


class Environment(StrEnum):
    SIM = "sim"
    TESTNET = "testnet"
    DEMO = "demo"      # Binance demo trading: its own hosts and keys (core/environments.py)
    LIVE = "live"


class KeyType(StrEnum):
    HMAC = "hmac"
    ED25519 = "ed25519"


@dataclass(frozen=True)
class ApiCredentials:
    """One unlocked API key. ``secret`` is the HMAC secret or the Ed25519 private key PEM.

    ``repr`` never shows the secret, so a credentials object in a log line or a traceback
    leaks nothing.
    """

    name: str
    key_type: KeyType
    api_key: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class AslTier:
    """At ``profit_pct`` of favourable mark-price move, trail the stop ``callback_pct`` behind."""

    profit_pct: Decimal
    callback_pct: Decimal


DEFAULT_TIERS: tuple[AslTier, ...] = (
    AslTier(Decimal("1"), Decimal("2")),
    AslTier(Decimal("2"), Decimal("1.5")),
    AslTier(Decimal("4"), Decimal("1")),
)


@dataclass(frozen=True)
class TakeProfit:
    """At ``profit_pct`` of favourable move from the entry, close ``close_fraction`` of the position
    (a reduce-only TAKE_PROFIT_MARKET algo order placed right after the stop)."""

    profit_pct: Decimal
    close_fraction: Decimal


@dataclass(frozen=True)
class AslSettings:
    """Advanced Stop Loss parameters (global defaults, overridable per profile)."""

    enabled: bool = True
    hard_stop_pct: Decimal = Decimal("2")
    tiers: tuple[AslTier, ...] = DEFAULT_TIERS
    working_type: WorkingType = WorkingType.MARK_PRICE
    safety_stop_pct: Decimal = Decimal("10")
    watchdog_ms: int = 500
    grace_ms: int = 2000
    protect_external_positions: bool = False
    take_profit: tuple[TakeProfit, ...] = ()


@dataclass(frozen=True)
class Profile:
    """A preset order: what one keypress sends. Exactly one of ``notional_usdt``, ``quantity``,
    ``risk_usdt`` and ``risk_pct`` (risk: the loss accepted at the hard stop, sized per keypress).
    ``close_fractions``: the parts of the position the tray menu offers to close; ``add_fraction``:
    what ``add`` adds, as a part of the position (None: the profile's own size)."""

    name: str
    symbol: str
    leverage: int
    margin_type: MarginType = MarginType.CROSSED
    notional_usdt: Decimal | None = None
    quantity: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_offset_ticks: int = 0
    time_in_force: TimeInForce = TimeInForce.GTC
    asl: AslSettings = field(default_factory=AslSettings)
    risk_usdt: Decimal | None = None
    risk_pct: Decimal | None = None
    close_fractions: tuple[Decimal, ...] = (Decimal("0.5"),)
    add_fraction: Decimal | None = None

    @property
    def risk_sized(self) -> bool:
        return self.risk_usdt is not None or self.risk_pct is not None


@dataclass(frozen=True)
class ExchangeSettings:
    environment: Environment
    key: str
    rest_url: str
    ws_api_url: str
    stream_url: str
    recv_window_ms: int = 5000
    request_timeout_ms: int = 5000


@dataclass(frozen=True)
class HotkeySettings:
    """Hotkeys in pynput's syntax (``<ctrl>+b``); an empty string disables that action."""

    buy: str = "<ctrl>+b"
    sell: str = "<ctrl>+s"
    flatten: str = ""
    close: str = ""
    cycle_profile: str = ""
    toggle_action_bar: str = ""
    breakeven: str = ""
    add: str = ""
    armed_on_start: bool = True
    # ``close_25 = "<ctrl>+2"``: (percent, hotkey) pairs, each closing that part of the position.
    close_parts: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class SafetySettings:
    """Caps enforced before signing. ``cooldown_ms``: a repeat press inside it is refused."""

    max_notional_usdt: Decimal = Decimal("100000")
    max_orders_per_minute: int = 30
    cooldown_ms: int = 500


@dataclass(frozen=True)
class AppConfig:
    path: str
    exchange: ExchangeSettings
    hotkeys: HotkeySettings
    safety: SafetySettings
    asl: AslSettings
    profiles: tuple[Profile, ...]
    default_profile: str = ""

    def profile(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        names = ", ".join(p.name for p in self.profiles)
        raise ConfigError(f"There is no profile named {name!r} in {self.path}; the profiles are: {names}.")
