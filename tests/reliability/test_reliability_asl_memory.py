"""F13: the ASL must not keep every stop id it ever placed. Hundreds of positions, each with a hard
stop replaced by a trailing one and then cancelled on close, leave a bounded number of ids in the
driver and its ladders (tombstones of recent ids only), while the open position stays protected.

The gateway is an in-memory stand-in for Binance's algo-order endpoints (the exchange itself cannot
run here at this count in seconds); it answers like the exchange and feeds back ALGO_UPDATEs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from traytrader.core import asl
from traytrader.core.models import (
    AppConfig,
    AslSettings,
    Environment,
    ExchangeSettings,
    HotkeySettings,
    PositionMode,
    PositionSide,
    Profile,
    SafetySettings,
)
from traytrader.engine.asl_driver import AslDriver

D = Decimal
CYCLES = 400


class AlgoBook:
    """Open algo orders by client id; every place/cancel is echoed as an ALGO_UPDATE."""

    def __init__(self) -> None:
        self.open: dict[str, dict[str, Any]] = {}
        self.placed = 0
        self.driver: AslDriver | None = None
        self.position_mode = PositionMode.ONE_WAY

    def tick_size(self, symbol: str) -> Decimal:
        return D("0.1")

    def step_size(self, symbol: str) -> Decimal:
        return D("0.001")

    def _echo(self, cid: str, status: str) -> None:
        assert self.driver is not None
        loop = asyncio.get_running_loop()
        update = {"caid": cid, "X": status, "s": "BTCUSDT", "ps": "BOTH"}
        loop.call_soon(self.driver.on_algo_update, update, 0)

    async def place_algo(self, params: Mapping[str, str]) -> dict[str, Any]:
        cid = params["clientAlgoId"]
        self.open[cid] = {"clientAlgoId": cid, "symbol": "BTCUSDT", "positionSide": "BOTH",
                          "orderType": params.get("type"), "side": params["side"],
                          "quantity": params.get("quantity", "0"), "triggerPrice": params.get("triggerPrice"),
                          "callbackRate": params.get("callbackRate")}
        self.placed += 1
        self._echo(cid, "NEW")
        return {"clientAlgoId": cid, "algoStatus": "NEW"}

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> dict[str, Any]:
        self.open.pop(client_algo_id, None)
        self._echo(client_algo_id, "CANCELED")
        return {"clientAlgoId": client_algo_id}

    async def open_algo_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return list(self.open.values())

    async def close_position(self, symbol: str, position_side: PositionSide, quantity: Decimal) -> dict:
        return {}


def _config() -> AppConfig:
    profile = Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=D("200"))
    exchange = ExchangeSettings(environment=Environment.SIM, key="demo", rest_url="http://127.0.0.1:1",
                                ws_api_url="ws://127.0.0.1:1", stream_url="ws://127.0.0.1:1")
    return AppConfig("<test>", exchange, HotkeySettings(), SafetySettings(), AslSettings(), (profile,), "btc")


def retained_ids(driver: AslDriver) -> int:
    """Stop ids the driver still holds: live stops plus tombstones, over every ladder."""
    return sum(len(ladder._s.stops) + len(ladder._s.gone) for ladder in driver.ladders.values())


async def _settle(book: AlgoBook, predicate, limit: int = 200) -> None:
    for _ in range(limit):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the ASL did not settle")


async def test_stop_ids_of_finished_positions_are_forgotten() -> None:
    clock = [1_000_000]
    book = AlgoBook()
    driver = AslDriver(_config(), book, lambda e: None, None, clock=lambda: clock[0],  # type: ignore[arg-type]
                       min_query_interval_ms=10**9, reconcile_interval_ms=10**9)
    book.driver = driver
    sizes: list[int] = []
    for _ in range(CYCLES):
        clock[0] += 1_000
        driver.on_mark_price("BTCUSDT", D("100000"), 0)
        driver.on_position("BTCUSDT", PositionSide.BOTH, D("0.002"), D("100000"), 0, ours=True)
        await _settle(book, lambda: len(book.open) == 1)
        clock[0] += 100
        driver.on_mark_price("BTCUSDT", D("102500"), 0)     # +2.5 %: the trailing tier replaces the hard stop
        await _settle(book, lambda: len(book.open) == 1 and next(iter(book.open.values()))["orderType"]
                      == asl.StopStyle.TRAILING.value)
        clock[0] += 100
        driver.on_position("BTCUSDT", PositionSide.BOTH, D("0"), D("0"), 0, ours=True)   # closed by hand
        await _settle(book, lambda: not book.open)
        for _step in range(5):
            await asyncio.sleep(0)
        sizes.append(retained_ids(driver))
    assert book.placed >= 2 * CYCLES
    # Bounded: after hundreds of positions the driver holds no more ids than after the first few hundred.
    assert max(sizes[-50:]) <= max(sizes[: CYCLES // 2]) + 2, (sizes[:5], sizes[-5:])
    assert max(sizes) < book.placed // 2

    # Protection intact after all that: a new position gets its stop at once.
    clock[0] += 1_000
    driver.on_mark_price("BTCUSDT", D("100000"), 0)
    driver.on_position("BTCUSDT", PositionSide.BOTH, D("0.002"), D("100000"), 0, ours=True)
    await _settle(book, lambda: len(book.open) == 1)
    await driver.aclose()
