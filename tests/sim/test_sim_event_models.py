"""The official SDK's stream models accept the events issue 13 added: MARGIN_CALL, ACCOUNT_UPDATE
m=FUNDING_FEE, the liquidation ORDER_TRADE_UPDATE and ALGO_UPDATE EXPIRED/REJECTED (strict types,
every declared field present but the ones Binance leaves out)."""

from __future__ import annotations

import typing
from typing import Any

import binance_sdk_derivatives_trading_usds_futures.websocket_streams.models as S
from pydantic import BaseModel
from simkit import MARKET_BUY, STOP_SELL, WsApi, control, next_event

from traytrader.sim import DEMO_API_KEY, Sim, SimOptions, start_sim

#: Declared fields these events leave out, and why.
ABSENT = {
    "OrderTradeUpdateO": {"AP", "cr", "M"},  # trailing-stop fields; M only on an AMENDMENT
    "AccountUpdateA": set(),
    # rm only on REJECTED; ap/aq/act only once the algo order has placed its order (the 2025-12 captures)
    "AlgoUpdateO": {"rm", "ap", "aq", "act"},
}


def check(model: type[BaseModel], data: Any, name: str = "") -> None:
    """Strict validation, then every declared field present (recursively)."""
    model.model_validate(data, strict=True)
    absent = ABSENT.get(model.__name__, set())
    for field, info in model.model_fields.items():
        if field == "additional_properties":
            continue
        key = info.alias or field
        assert key in data or key in absent, f"{model.__name__}.{key} missing in {name or data}"
        inner = [a for a in typing.get_args(info.annotation) if a is not type(None)]
        sub = inner[0] if inner else None
        if key in data and isinstance(sub, type) and issubclass(sub, BaseModel):
            check(sub, data[key], name)
        elif key in data and typing.get_origin(sub) is list:
            (item,) = typing.get_args(sub)
            if isinstance(item, type) and issubclass(item, BaseModel):
                for row in data[key]:
                    check(item, row, name)


async def move(http: Any, sim: Sim, price: str) -> None:
    await control(http, sim, "POST", "price", {"symbol": "BTCUSDT", "price": price, "mark": price})


async def test_new_events_match_the_sdk_models(http) -> None:
    sim = await start_sim(SimOptions(seed=7, liquidation=True))
    try:
        sim.server.apply_price("BTCUSDT", sim.server.paths["BTCUSDT"].set(65000), sim.server.now_ms())
        async with http.ws_connect(sim.ws_api_url) as raw:
            api = WsApi(raw)
            key = (await api.call("userDataStream.start", {"apiKey": DEMO_API_KEY}, sign=False))["result"]
            async with http.ws_connect(f"{sim.stream_url}/private/ws/{key['listenKey']}") as ws:
                await control(http, sim, "POST", "balance", {"balance": "100"})
                await api.call("order.place", {**MARKET_BUY, "quantity": "0.020"})
                await api.call("algoOrder.place", {**STOP_SELL, "triggerPrice": "50000.0"})
                await control(http, sim, "POST", "fault", {"kind": "expire_algos"})
                expired = await next_event(ws, "ALGO_UPDATE", where=lambda e: e["o"]["X"] == "EXPIRED")
                check(S.AlgoUpdate, expired)
                await api.call("algoOrder.place", {**STOP_SELL, "triggerPrice": "64000.0"})
                await control(http, sim, "POST", "fault", {"kind": "algo_reject"})
                await control(http, sim, "POST", "funding", {"rate": "0.0001"})
                funding = await next_event(ws, "ACCOUNT_UPDATE", where=lambda e: e["a"]["m"] == "FUNDING_FEE")
                check(S.AccountUpdate, funding)
                assert funding["a"]["S"] == "BTCUSDT"
                await move(http, sim, "63900")
                rejected = await next_event(ws, "ALGO_UPDATE", where=lambda e: e["o"]["X"] == "REJECTED")
                check(S.AlgoUpdate, rejected)
                assert rejected["o"]["rm"]
                await move(http, sim, "60330")
                check(S.MarginCall, await next_event(ws, "MARGIN_CALL"))
                await move(http, sim, "60000")
                liq = await next_event(ws, "ORDER_TRADE_UPDATE", where=lambda e: e["o"]["x"] == "CALCULATED")
                check(S.OrderTradeUpdate, liq)
    finally:
        await sim.stop()
