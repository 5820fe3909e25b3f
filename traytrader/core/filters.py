"""exchangeInfo → per-symbol trading rules (``SymbolFilters``), tolerant of what it does not know.

Source of the rules: protocol notes section 7 (``common-definition.md``). Parsing never fails for
one bad symbol: a symbol whose critical filters are missing or malformed is kept with a list of
``problems``, and orders for it are refused with that reason while every other symbol keeps
working. Unknown filter types (Binance adds them, e.g. ``POSITION_RISK_CONTROL`` in 2025) are kept
verbatim in ``unknown_filters`` and otherwise ignored.

Grids follow Binance's wording: ``(price - minPrice) % tickSize == 0`` and ``(quantity - minQty) %
stepSize == 0``; a 0 bound disables that bound.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from traytrader.core.errors import InvalidOrder, TransportError
from traytrader.core.models import OrderType

# Filter types we interpret, with where each comes from (quirks as dated data).
KNOWN_FILTER_TYPES: Mapping[str, str] = {
    "PRICE_FILTER": "price and trigger price range and tick grid (common-definition.md)",
    "LOT_SIZE": "quantity range and step for LIMIT orders",
    "MARKET_LOT_SIZE": "quantity range and step for MARKET orders",
    "MIN_NOTIONAL": "key 'notional', not spot's 'minNotional'; reduce-only orders are exempt",
    "PERCENT_PRICE": "BUY price <= mark*multiplierUp, SELL price >= mark*multiplierDown",
    "MAX_NUM_ORDERS": "open orders per symbol, algo orders included",
    # Removed from exchangeInfo on 2025-12-29 (change-log); still present in older dumps.
    "MAX_NUM_ALGO_ORDERS": "conditional orders per symbol (removed 2025-12-29; now 200 account-wide)",
}

# Filters without which no order for the symbol can be built safely.
CRITICAL_FILTER_TYPES = ("PRICE_FILTER", "LOT_SIZE")


@dataclass(frozen=True)
class PriceFilter:
    min_price: Decimal
    max_price: Decimal  # 0 = no maximum
    tick_size: Decimal


@dataclass(frozen=True)
class LotSize:
    """``LOT_SIZE`` or ``MARKET_LOT_SIZE``; ``name`` says which, for error messages."""

    name: str
    min_qty: Decimal
    max_qty: Decimal  # 0 = no maximum
    step_size: Decimal


@dataclass(frozen=True)
class PercentPrice:
    multiplier_up: Decimal
    multiplier_down: Decimal
    multiplier_decimal: int


@dataclass(frozen=True)
class SymbolFilters:
    """One symbol's trading rules. Build with ``parse_symbol_filters``; check ``problems`` first
    (``require_tradable`` does it and raises the reason)."""

    symbol: str
    status: str
    base_asset: str = ""
    quote_asset: str = "USDT"
    margin_asset: str = ""
    contract_type: str = ""
    price_precision: int | None = None
    quantity_precision: int | None = None
    price_filter: PriceFilter | None = None
    lot_size: LotSize | None = None
    market_lot_size: LotSize | None = None
    min_notional: Decimal | None = None
    percent_price: PercentPrice | None = None
    max_num_orders: int | None = None
    trigger_protect: Decimal | None = None
    order_types: tuple[str, ...] = ()
    time_in_force: tuple[str, ...] = ()
    unknown_filters: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, hash=False)
    problems: tuple[str, ...] = ()

    @property
    def is_trading(self) -> bool:
        return self.status == "TRADING"

    @property
    def tick_size(self) -> Decimal:
        return self._price().tick_size

    @property
    def min_price(self) -> Decimal:
        return self._price().min_price

    @property
    def max_price(self) -> Decimal:
        return self._price().max_price

    def require_tradable(self, order_type: OrderType | None = None) -> None:
        """Raise ``InvalidOrder`` with the reason when orders for this symbol cannot be built."""
        if self.problems:
            raise InvalidOrder(self.problems[0], filter_name="exchangeInfo")
        if not self.is_trading:
            raise InvalidOrder(
                f"{self.symbol} is not trading now (its status is {self.status}).", filter_name="status"
            )
        if order_type is not None:
            self.lot_for(order_type)

    def lot_for(self, order_type: OrderType) -> LotSize:
        """``MARKET_LOT_SIZE`` for market orders, ``LOT_SIZE`` otherwise (common-definition.md)."""
        if order_type is OrderType.MARKET:
            if self.market_lot_size is None:
                raise InvalidOrder(
                    f"{self.symbol} has no MARKET_LOT_SIZE filter in the exchange info, so market "
                    "orders for it cannot be sized safely.",
                    filter_name="MARKET_LOT_SIZE",
                )
            return self.market_lot_size
        if self.lot_size is None:
            raise InvalidOrder(
                f"{self.symbol} has no LOT_SIZE filter in the exchange info.", filter_name="LOT_SIZE"
            )
        return self.lot_size

    def _price(self) -> PriceFilter:
        if self.price_filter is None:
            raise InvalidOrder(
                f"{self.symbol} has no PRICE_FILTER in the exchange info.", filter_name="PRICE_FILTER"
            )
        return self.price_filter


@dataclass(frozen=True)
class ExchangeInfo:
    """Every symbol's filters plus the exchange-wide fields the engine needs."""

    symbols: Mapping[str, SymbolFilters]
    server_time_ms: int | None = None
    rate_limits: tuple[Mapping[str, Any], ...] = ()

    def symbol(self, name: str) -> SymbolFilters:
        """The filters of ``name``; ``InvalidOrder`` when the exchange does not list it."""
        try:
            return self.symbols[name]
        except KeyError:
            raise InvalidOrder(f"{name} is not a symbol on this exchange.", filter_name="symbol") from None

    def tradable(self, name: str, order_type: OrderType | None = None) -> SymbolFilters:
        """``symbol(name)`` that also passes ``require_tradable``."""
        filters = self.symbol(name)
        filters.require_tradable(order_type)
        return filters

    def __contains__(self, name: object) -> bool:
        return name in self.symbols

    def __len__(self) -> int:
        return len(self.symbols)


# --- parsing ----------------------------------------------------------------------------------------


class _Bad(Exception):
    """A malformed field inside one symbol; becomes one of that symbol's ``problems``."""


def _decimal(obj: Mapping[str, Any], key: str, where: str) -> Decimal:
    raw = obj.get(key)
    if isinstance(raw, bool) or raw is None:
        raise _Bad(f"{where} has no valid {key!r}")
    try:
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        raise _Bad(f"{where} has a malformed {key!r} ({raw!r})") from None
    if not value.is_finite() or value < 0:
        raise _Bad(f"{where} has an invalid {key!r} ({raw!r})")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    raw = obj.get(key)
    if isinstance(raw, bool):
        raise _Bad(f"{where} has a malformed {key!r} ({raw!r})")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    raise _Bad(f"{where} has a malformed {key!r} ({raw!r})")


def _parse_price(obj: Mapping[str, Any], where: str) -> PriceFilter:
    result = PriceFilter(
        _decimal(obj, "minPrice", where), _decimal(obj, "maxPrice", where), _decimal(obj, "tickSize", where)
    )
    if result.tick_size == 0:
        raise _Bad(f"{where} has a tickSize of 0, so prices cannot be rounded")
    if result.max_price and result.max_price < result.min_price:
        raise _Bad(f"{where} has maxPrice below minPrice")
    return result


def _parse_lot(obj: Mapping[str, Any], where: str, name: str) -> LotSize:
    result = LotSize(
        name, _decimal(obj, "minQty", where), _decimal(obj, "maxQty", where), _decimal(obj, "stepSize", where)
    )
    if result.step_size == 0:
        raise _Bad(f"{where} has a stepSize of 0, so quantities cannot be rounded")
    if result.max_qty and result.max_qty < result.min_qty:
        raise _Bad(f"{where} has maxQty below minQty")
    return result


def _parse_percent(obj: Mapping[str, Any], where: str) -> PercentPrice:
    up = _decimal(obj, "multiplierUp", where)
    down = _decimal(obj, "multiplierDown", where)
    decimals = _int(obj, "multiplierDecimal", where) if "multiplierDecimal" in obj else 4
    if up == 0 or down == 0 or down > up:
        raise _Bad(f"{where} has inconsistent multipliers (up {up}, down {down})")
    return PercentPrice(up, down, decimals)


def _strings(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list):
        return tuple(str(item) for item in raw)
    return ()


def parse_symbol_filters(entry: Mapping[str, Any]) -> SymbolFilters:
    """One element of exchangeInfo's ``symbols`` list. Never raises for malformed content: the
    reasons end up in ``problems`` (only a nameless entry raises, since it cannot be stored)."""
    symbol = entry.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise TransportError("The exchange info lists a symbol without a name.", retryable=False)
    problems: list[str] = []
    values: dict[str, Any] = {}
    unknown: list[Mapping[str, Any]] = []
    seen: set[str] = set()

    raw_filters = entry.get("filters")
    if not isinstance(raw_filters, list):
        problems.append(f"{symbol} has no filter list in the exchange info, so its orders cannot be checked.")
        raw_filters = []
    for raw in raw_filters:
        if not isinstance(raw, Mapping):
            continue
        kind = raw.get("filterType")
        where = f"{symbol}'s {kind} filter"
        try:
            if kind == "PRICE_FILTER":
                values["price_filter"] = _parse_price(raw, where)
            elif kind == "LOT_SIZE":
                values["lot_size"] = _parse_lot(raw, where, "LOT_SIZE")
            elif kind == "MARKET_LOT_SIZE":
                values["market_lot_size"] = _parse_lot(raw, where, "MARKET_LOT_SIZE")
            elif kind == "MIN_NOTIONAL":
                values["min_notional"] = _decimal(raw, "notional", where)
            elif kind == "PERCENT_PRICE":
                values["percent_price"] = _parse_percent(raw, where)
            elif kind == "MAX_NUM_ORDERS":
                values["max_num_orders"] = _int(raw, "limit", where)
            elif kind not in KNOWN_FILTER_TYPES:
                unknown.append(dict(raw))
            seen.add(str(kind))
        except _Bad as bad:
            problems.append(f"{bad}, so orders for {symbol} are refused.")

    for kind in CRITICAL_FILTER_TYPES:
        if kind not in seen:
            problems.append(f"{symbol} has no {kind} filter in the exchange info, so its orders are refused.")

    for key, attr in (("pricePrecision", "price_precision"), ("quantityPrecision", "quantity_precision")):
        if key in entry:
            with contextlib.suppress(_Bad):  # informational: Binance says not to use them as tick/step
                values[attr] = _int(entry, key, symbol)
    if "triggerProtect" in entry:
        with contextlib.suppress(_Bad):  # only used with priceProtect, which we never send
            values["trigger_protect"] = _decimal(entry, "triggerProtect", symbol)

    status = entry.get("status")
    return SymbolFilters(
        symbol=symbol,
        status=status if isinstance(status, str) else "UNKNOWN",
        base_asset=str(entry.get("baseAsset", "")),
        quote_asset=str(entry.get("quoteAsset", "USDT")),
        margin_asset=str(entry.get("marginAsset", "")),
        contract_type=str(entry.get("contractType", "")),
        order_types=_strings(entry.get("orderTypes")),
        time_in_force=_strings(entry.get("timeInForce")),
        unknown_filters=tuple(unknown),
        problems=tuple(problems),
        **values,
    )


def parse_exchange_info(data: Mapping[str, Any] | str | bytes) -> ExchangeInfo:
    """``GET /fapi/v1/exchangeInfo`` (parsed JSON or its text) → ``ExchangeInfo``.

    Raises ``TransportError`` (not retryable) only when the document as a whole is unusable.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            raise TransportError("The exchange info is not valid JSON.", retryable=False) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("symbols"), list):
        raise TransportError("The exchange info has no 'symbols' list.", retryable=False)
    server_time = data.get("serverTime")
    limits = data.get("rateLimits")
    if isinstance(server_time, bool) or not isinstance(server_time, int):
        server_time = None
    return ExchangeInfo(
        symbols=symbols_by_name(parse_symbol_filters(e) for e in data["symbols"] if isinstance(e, Mapping)),
        server_time_ms=server_time,
        rate_limits=tuple(i for i in limits if isinstance(i, Mapping)) if isinstance(limits, list) else (),
    )


def symbols_by_name(filters: Iterable[SymbolFilters]) -> dict[str, SymbolFilters]:
    """Index by symbol name; the first entry of a duplicated name wins."""
    result: dict[str, SymbolFilters] = {}
    for item in filters:
        result.setdefault(item.symbol, item)
    return result
