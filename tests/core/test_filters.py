"""exchangeInfo parsing against every shared real dump, plus malformed and incomplete symbols."""

from __future__ import annotations

import copy
import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from traytrader.core.errors import InvalidOrder, TransportError
from traytrader.core.filters import (
    ExchangeInfo,
    LotSize,
    PercentPrice,
    PriceFilter,
    parse_exchange_info,
    parse_symbol_filters,
)
from traytrader.core.models import OrderType

DATA = Path(__file__).resolve().parents[1].joinpath("data")
SAMPLE = DATA / "binance_usdm_exchange_info_sample.json"
REAL = DATA / "real" / "exchange_info"
TESTNET = REAL / "alphadogs_TESTNET_likely_exchange_info_2025-11-26_btcusdt_ethusdt_only.json"
PRODUCTION_BTC = REAL / "unattributed_PRODUCTION_btcusdt_symbol_entry_2026-09-15.json"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_every_shared_exchange_info_file_parses() -> None:
    full_dumps = [p for p in [SAMPLE, *sorted(REAL.glob("*.json"))] if "symbols" in load(p)]
    assert len(full_dumps) >= 2
    for path in full_dumps:
        info = parse_exchange_info(path.read_text())
        assert len(info) == len(load(path)["symbols"])
        for name, filters in info.symbols.items():
            assert filters.problems == (), (path.name, name)
            filters.require_tradable(OrderType.MARKET)
            filters.require_tradable(OrderType.LIMIT)


def test_sample_2021_values() -> None:
    info = parse_exchange_info(load(SAMPLE))
    assert set(info.symbols) == {"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT",
                                 "1000SHIBUSDT", "BTCUSDT_210924"}
    assert info.server_time_ms == 1630934018759
    assert len(info.rate_limits) == 3
    btc = info.symbol("BTCUSDT")
    assert btc.price_filter == PriceFilter(D("556.72"), D("4529764"), D("0.01"))
    assert btc.lot_size == LotSize("LOT_SIZE", D("0.001"), D("1000"), D("0.001"))
    assert btc.market_lot_size == LotSize("MARKET_LOT_SIZE", D("0.001"), D("200"), D("0.001"))
    assert btc.min_notional == D("5")
    assert btc.percent_price == PercentPrice(D("1.0500"), D("0.9500"), 4)
    assert btc.max_num_orders == 200
    assert (btc.price_precision, btc.quantity_precision) == (2, 3)
    assert (btc.base_asset, btc.quote_asset, btc.margin_asset) == ("BTC", "USDT", "USDT")
    assert btc.trigger_protect == D("0.0200")
    assert btc.unknown_filters == ()  # MAX_NUM_ALGO_ORDERS is known (removed 2025-12-29, still parsed)
    assert "TRAILING_STOP_MARKET" in btc.order_types
    assert info.symbol("1000SHIBUSDT").percent_price == PercentPrice(D("1.1000"), D("0.9000"), 4)
    assert info.symbol("SOLUSDT").tick_size == D("0.0010")
    assert info.symbol("BTCUSDT_210924").contract_type == "CURRENT_QUARTER"


def test_testnet_dump_keeps_unknown_filters() -> None:
    info = parse_exchange_info(TESTNET.read_bytes())
    btc = info.symbol("BTCUSDT")
    assert btc.min_notional == D("100")
    assert (btc.min_price, btc.max_price, btc.tick_size) == (D("261.10"), D("809484"), D("0.10"))
    assert btc.unknown_filters == ({"positionControlSide": "NONE", "filterType": "POSITION_RISK_CONTROL"},)
    assert btc.problems == ()


def test_production_symbol_entry_alone() -> None:
    btc = parse_symbol_filters(load(PRODUCTION_BTC))
    assert btc.market_lot_size == LotSize("MARKET_LOT_SIZE", D("0.001"), D("120"), D("0.001"))
    assert btc.min_notional == D("50")
    assert btc.tick_size == D("0.10")
    assert btc.is_trading
    info = ExchangeInfo({"BTCUSDT": btc})
    assert info.tradable("BTCUSDT", OrderType.MARKET) is btc
    assert "BTCUSDT" in info and "ETHUSDT" not in info


def test_unknown_symbol_sentence() -> None:
    info = parse_exchange_info(load(SAMPLE))
    with pytest.raises(InvalidOrder) as caught:
        info.symbol("BTCXYZ")
    assert str(caught.value) == "BTCXYZ is not a symbol on this exchange."
    assert caught.value.filter_name == "symbol"


def btc_entry() -> dict[str, Any]:
    return copy.deepcopy(load(PRODUCTION_BTC))


def with_filters(entry: dict[str, Any], change: dict[str, Any] | None = None,
                 drop: str = "") -> dict[str, Any]:
    filters = []
    for item in entry["filters"]:
        if item["filterType"] == drop:
            continue
        if change and item["filterType"] == change["filterType"]:
            item = {**item, **change}
        filters.append(item)
    entry["filters"] = filters
    return entry


@pytest.mark.parametrize(("change", "drop", "fragment"), [
    (None, "PRICE_FILTER", "no PRICE_FILTER filter"),
    (None, "LOT_SIZE", "no LOT_SIZE filter"),
    ({"filterType": "PRICE_FILTER", "tickSize": "abc"}, "", "malformed 'tickSize'"),
    ({"filterType": "PRICE_FILTER", "tickSize": "0"}, "", "tickSize of 0"),
    ({"filterType": "PRICE_FILTER", "maxPrice": "1"}, "", "maxPrice below minPrice"),
    ({"filterType": "LOT_SIZE", "stepSize": "0"}, "", "stepSize of 0"),
    ({"filterType": "LOT_SIZE", "minQty": None}, "", "no valid 'minQty'"),
    ({"filterType": "LOT_SIZE", "maxQty": "0.0001"}, "", "maxQty below minQty"),
    ({"filterType": "LOT_SIZE", "minQty": "-1"}, "", "invalid 'minQty'"),
    ({"filterType": "LOT_SIZE", "minQty": "NaN"}, "", "invalid 'minQty'"),
    ({"filterType": "LOT_SIZE", "minQty": True}, "", "no valid 'minQty'"),
    ({"filterType": "MIN_NOTIONAL", "notional": [1]}, "", "malformed 'notional'"),
    ({"filterType": "PERCENT_PRICE", "multiplierUp": "0.5"}, "", "inconsistent multipliers"),
    ({"filterType": "PERCENT_PRICE", "multiplierDecimal": "x"}, "", "malformed 'multiplierDecimal'"),
    ({"filterType": "MAX_NUM_ORDERS", "limit": True}, "", "malformed 'limit'"),
])
def test_broken_symbol_is_refused_with_reason_others_keep_working(
        change: dict[str, Any] | None, drop: str, fragment: str) -> None:
    broken = with_filters(btc_entry(), change, drop)
    eth = {**btc_entry(), "symbol": "ETHUSDT"}
    info = parse_exchange_info({"symbols": [broken, eth]})
    btc = info.symbol("BTCUSDT")
    assert any(fragment in problem for problem in btc.problems), btc.problems
    with pytest.raises(InvalidOrder, match="BTCUSDT") as caught:
        info.tradable("BTCUSDT")
    assert fragment in str(caught.value)
    info.tradable("ETHUSDT", OrderType.MARKET)


def test_missing_market_lot_size_refuses_market_orders_only() -> None:
    filters = parse_symbol_filters(with_filters(btc_entry(), drop="MARKET_LOT_SIZE"))
    filters.require_tradable(OrderType.LIMIT)
    with pytest.raises(InvalidOrder, match="MARKET_LOT_SIZE") as caught:
        filters.require_tradable(OrderType.MARKET)
    assert caught.value.filter_name == "MARKET_LOT_SIZE"


def test_missing_optional_filters_are_tolerated() -> None:
    entry = with_filters(with_filters(btc_entry(), drop="MIN_NOTIONAL"), drop="PERCENT_PRICE")
    filters = parse_symbol_filters(entry)
    assert filters.problems == ()
    assert filters.min_notional is None and filters.percent_price is None


def test_numbers_instead_of_strings_are_read_exactly() -> None:
    entry = with_filters(btc_entry(),
                         {"filterType": "PRICE_FILTER", "tickSize": 0.1, "minPrice": 556, "maxPrice": 0})
    filters = parse_symbol_filters(entry)
    assert filters.tick_size == D("0.1")
    assert filters.max_price == 0  # 0 disables the maximum


def test_not_trading_symbol_is_refused() -> None:
    filters = parse_symbol_filters({**btc_entry(), "status": "SETTLING"})
    with pytest.raises(InvalidOrder, match=r"BTCUSDT is not trading now \(its status is SETTLING\)") as c:
        filters.require_tradable()
    assert c.value.filter_name == "status"
    assert parse_symbol_filters({**btc_entry(), "status": None}).status == "UNKNOWN"


def test_entry_without_filters_list() -> None:
    entry = btc_entry()
    entry["filters"] = "nope"
    filters = parse_symbol_filters(entry)
    assert "no filter list" in filters.problems[0]
    with pytest.raises(InvalidOrder, match="PRICE_FILTER"):
        _ = filters.tick_size
    with pytest.raises(InvalidOrder, match="LOT_SIZE"):
        filters.lot_for(OrderType.LIMIT)


def test_informational_fields_may_be_malformed() -> None:
    filters = parse_symbol_filters({**btc_entry(), "pricePrecision": "x", "triggerProtect": "y",
                                    "orderTypes": None, "filters": [*btc_entry()["filters"], "junk"]})
    assert filters.problems == ()
    assert filters.price_precision is None and filters.trigger_protect is None
    assert filters.order_types == ()


def test_first_duplicate_symbol_wins() -> None:
    first = btc_entry()
    second = {**btc_entry(), "status": "SETTLING"}
    assert parse_exchange_info({"symbols": [first, second]}).symbol("BTCUSDT").is_trading


@pytest.mark.parametrize("document", [
    "{", b"[]", {"symbols": "x"}, {}, '{"symbols": [{"status": "TRADING"}]}'])
def test_unusable_documents_raise_transport_error(document: Any) -> None:
    with pytest.raises(TransportError) as caught:
        parse_exchange_info(document)
    assert not caught.value.retryable


def test_odd_top_level_fields_are_ignored() -> None:
    info = parse_exchange_info({"symbols": [btc_entry(), 5], "serverTime": True, "rateLimits": [1, {"a": 1}]})
    assert info.server_time_ms is None
    assert info.rate_limits == ({"a": 1},)
    assert len(info) == 1


def test_minimal_entry_without_informational_fields() -> None:
    entry = {"symbol": "XUSDT", "status": "TRADING", "filters": btc_entry()["filters"]}
    filters = parse_symbol_filters(entry)
    filters.require_tradable()
    assert filters.price_precision is None and filters.trigger_protect is None
    assert filters.quote_asset == "USDT" and filters.base_asset == ""
