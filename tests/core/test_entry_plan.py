"""``EntryPlan`` (the keypress's prepared entry) against ``build_entry_order`` (every check, every
sentence): wherever the builder accepts, the plan sizes the very same order; wherever the builder
refuses, the plan declines (so the dispatcher asks the builder, which names the filter)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from test_orders import ENTRY_INPUTS, FILTERS, to_decimal

from traytrader.core.entry_plan import EntryPlan
from traytrader.core.errors import InvalidOrder
from traytrader.core.filters import SymbolFilters, parse_symbol_filters
from traytrader.core.models import OrderType, PositionMode, Profile, Side, TimeInForce
from traytrader.core.orders import OrderRequest, build_entry_order


def profile_for(symbol: str, size: tuple[str, D], order_type: OrderType, offset: int,
                tif: TimeInForce) -> Profile:
    return Profile("p", symbol, 10, order_type=order_type, limit_offset_ticks=offset, time_in_force=tif,
                   **{("notional_usdt" if size[0] == "notional" else "quantity"): size[1]})


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**ENTRY_INPUTS)
def test_the_plan_sizes_what_the_builder_builds(case: dict[str, Any], size: tuple[str, D], side: Side,
                                                order_type: OrderType, offset: int, mode: PositionMode,
                                                tif: TimeInForce) -> None:
    filters = FILTERS[case["key"]]
    profile = profile_for(filters.symbol, size, order_type, offset, tif)
    bid, ask, mark = (to_decimal(case[name]) for name in ("bid", "ask", "mark"))
    try:
        built: OrderRequest | None = build_entry_order(profile, side, filters, bid, ask, mark, mode, "tt-1")
    except InvalidOrder:
        built = None
    plan = EntryPlan.prepare(profile, side, filters, mode)
    sized = plan.size(bid, ask, mark) if plan is not None else None
    event("builder refused" if built is None else "builder accepted")
    if built is None:
        assert sized is None, "the plan sized an order the builder refuses"
        return
    assert plan is not None and sized is not None, "the plan declined an order the builder accepts"
    request = plan.request(sized, "tt-1")
    assert request == built
    assert request.params() == built.params()
    assert sized.quantity_text == built.params()["quantity"]
    assert sized.price_text == built.params().get("price")
    reference = built.price or (ask if side is Side.BUY else bid)
    assert sized.notional == built.quantity * reference
    fixed = plan.fixed_params()
    assert {**fixed, "quantity": sized.quantity_text, "newClientOrderId": "tt-1",
            **({"price": sized.price_text} if sized.price_text else {})} == built.params()


def symbol_filters(status: str, min_qty: str, max_qty: str, step: str) -> SymbolFilters:
    """An XUSDT symbol with one lot rule for LIMIT and MARKET alike."""
    lot = {"minQty": min_qty, "maxQty": max_qty, "stepSize": step}
    return parse_symbol_filters({"symbol": "XUSDT", "status": status, "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.1", "maxPrice": "0", "tickSize": "0.1"},
        {"filterType": "LOT_SIZE", **lot}, {"filterType": "MARKET_LOT_SIZE", **lot}]})


def test_a_symbol_that_cannot_trade_gets_no_plan() -> None:
    filters = symbol_filters("SETTLING", "0.001", "100", "0.001")
    profile = Profile("p", "XUSDT", 5, notional_usdt=D(100))
    assert EntryPlan.prepare(profile, Side.BUY, filters, PositionMode.ONE_WAY) is None
    assert EntryPlan.prepare(Profile("p", "BTCUSDT", 5, notional_usdt=D(100)), Side.BUY,
                             FILTERS["prod:BTCUSDT"].__class__(**{**FILTERS["prod:BTCUSDT"].__dict__,
                                                                   "symbol": "ETHUSDT"}),
                             PositionMode.ONE_WAY) is None


def test_a_step_not_written_as_a_power_of_ten_floors_on_its_own_grid() -> None:
    filters = symbol_filters("TRADING", "10", "100000", "10")
    profile = Profile("p", "XUSDT", 5, notional_usdt=D(1000))
    plan = EntryPlan.prepare(profile, Side.BUY, filters, PositionMode.ONE_WAY)
    assert plan is not None
    sized = plan.size(D("0.9"), D("1.1"), D("1"))
    assert sized is not None
    # 1000 / 1.1 = 909.09…: floored to a multiple of 10, not of 1.
    assert sized.quantity == 900 and sized.quantity_text == "900"


def test_prices_that_are_not_finite_or_positive_are_declined() -> None:
    filters = FILTERS["prod:BTCUSDT"]
    plan = EntryPlan.prepare(Profile("p", "BTCUSDT", 5, notional_usdt=D(500)), Side.BUY, filters,
                             PositionMode.ONE_WAY)
    assert plan is not None
    good = (D("60000"), D("60000.1"), D("60000.05"))
    assert plan.size(*good) is not None
    for index in range(3):
        for bad in (D(0), D(-1), D("Infinity"), D("NaN")):
            prices = list(good)
            prices[index] = bad
            assert plan.size(*prices) is None
