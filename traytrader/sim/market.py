"""Symbols, filters and leverage brackets the simulator trades, loaded from ``sim/data/market.json``.

The data is a dated table (see its ``_provenance`` key): BTCUSDT is the production symbol entry of
2026-09-15 byte for byte; ETHUSDT and SOLUSDT follow its shape with production-like values. The
simulator reads the filters with its own straightforward code here, never ``core.filters``, so the
client's rounding and the simulator's checks are independent.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Bracket:
    bracket: int
    initial_leverage: int
    notional_cap: Decimal
    notional_floor: Decimal
    maint_margin_ratio: Decimal
    cum: Decimal


@dataclass(frozen=True)
class SymbolSpec:
    """One symbol's trading rules, as numbers the validator compares against."""

    symbol: str
    price_precision: int
    quantity_precision: int
    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    market_step_size: Decimal
    max_num_orders: int
    min_notional: Decimal
    multiplier_up: Decimal
    multiplier_down: Decimal
    brackets: tuple[Bracket, ...]
    start_price: Decimal

    @property
    def max_leverage(self) -> int:
        return self.brackets[0].initial_leverage if self.brackets else 125

    def max_notional_for(self, leverage: int) -> Decimal:
        """The largest notional cap among brackets that allow ``leverage``."""
        caps = [b.notional_cap for b in self.brackets if b.initial_leverage >= leverage]
        return max(caps) if caps else Decimal(0)

    def maint_ratio(self, notional: Decimal) -> Decimal:
        for b in self.brackets:
            if notional <= b.notional_cap:
                return b.maint_margin_ratio
        return self.brackets[-1].maint_margin_ratio if self.brackets else Decimal("0.004")


def _filters(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in entry["filters"]}


def _spec(entry: dict[str, Any], brackets: list[dict[str, Any]], start: str) -> SymbolSpec:
    f = _filters(entry)
    pf, lot, mlot = f["PRICE_FILTER"], f["LOT_SIZE"], f["MARKET_LOT_SIZE"]
    pp = f["PERCENT_PRICE"]
    return SymbolSpec(
        symbol=entry["symbol"],
        price_precision=int(entry["pricePrecision"]),
        quantity_precision=int(entry["quantityPrecision"]),
        min_price=Decimal(pf["minPrice"]),
        max_price=Decimal(pf["maxPrice"]),
        tick_size=Decimal(pf["tickSize"]),
        min_qty=Decimal(lot["minQty"]),
        max_qty=Decimal(lot["maxQty"]),
        step_size=Decimal(lot["stepSize"]),
        market_min_qty=Decimal(mlot["minQty"]),
        market_max_qty=Decimal(mlot["maxQty"]),
        market_step_size=Decimal(mlot["stepSize"]),
        max_num_orders=int(f["MAX_NUM_ORDERS"]["limit"]),
        min_notional=Decimal(f["MIN_NOTIONAL"]["notional"]),
        multiplier_up=Decimal(pp["multiplierUp"]),
        multiplier_down=Decimal(pp["multiplierDown"]),
        brackets=tuple(
            Bracket(
                bracket=int(b["bracket"]),
                initial_leverage=int(b["initialLeverage"]),
                notional_cap=Decimal(str(b["notionalCap"])),
                notional_floor=Decimal(str(b["notionalFloor"])),
                maint_margin_ratio=Decimal(str(b["maintMarginRatio"])),
                cum=Decimal(str(b["cum"])),
            )
            for b in brackets
        ),
        start_price=Decimal(start),
    )


class Market:
    """The exchangeInfo document plus parsed :class:`SymbolSpec` per symbol."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc
        self.specs: dict[str, SymbolSpec] = {
            e["symbol"]: _spec(e, doc["brackets"].get(e["symbol"], []), doc["start_prices"][e["symbol"]])
            for e in doc["symbols"]
        }
        self.rate_limits: list[dict[str, Any]] = doc["rateLimits"]

    @classmethod
    def load(cls) -> Market:
        text = resources.files("traytrader.sim").joinpath("data/market.json").read_text("utf-8")
        return cls(json.loads(text))

    def exchange_info(self, server_time_ms: int, rate_limits: list[dict[str, Any]] | None = None) -> dict:
        """``GET /fapi/v1/exchangeInfo`` body, top-level keys in the live order."""
        return {
            "timezone": self._doc["timezone"],
            "serverTime": server_time_ms,
            "futuresType": self._doc["futuresType"],
            "rateLimits": rate_limits if rate_limits is not None else copy.deepcopy(self.rate_limits),
            "exchangeFilters": [],
            "assets": copy.deepcopy(self._doc["assets"]),
            "symbols": copy.deepcopy(self._doc["symbols"]),
        }

    def leverage_brackets(self, symbol: str | None) -> list[dict] | dict:
        """``GET /fapi/v1/leverageBracket`` body (an object, not a list, when ``symbol`` is sent)."""

        def one(sym: str) -> dict:
            return {"symbol": sym, "notionalCoef": 1.5, "brackets": self._doc["brackets"][sym]}

        if symbol:
            return one(symbol)
        return [one(s) for s in self.specs]
