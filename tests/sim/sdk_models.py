"""Checking the simulator's JSON against the official SDK's response models
(``binance-sdk-derivatives-trading-usds-futures``): strict types (the models use StrictStr, StrictInt,
StrictBool) and every field the model declares present, recursively, except the ones listed in
``ABSENT`` with the reason Binance itself omits them."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

_TRAILING = "trailing stops only; they live on the Algo Service since 2025-12"
_COIN_M = "COIN-M only"
_NOT_LIVE = "absent from the production captures (2026-02-16 streams, 2025-03 and 2026-09 user data)"
#: Declared fields the simulator leaves out, per model, and why (each reason is what Binance does).
ABSENT: dict[str, dict[str, str]] = {
    "AllOrdersResponseInner": {
        "pair": _COIN_M, "cumBase": _COIN_M, "activatePrice": _TRAILING, "priceRate": _TRAILING
    },
    **{
        m: {"activatePrice": _TRAILING, "priceRate": _TRAILING}
        for m in (
            "QueryCurrentOpenOrderResponse", "CurrentAllOpenOrdersResponseInner", "QueryOrderResponse",
            "QueryOrderResponseResult", "NewOrderResponse", "NewOrderResponseResult", "CancelOrderResponse",
            "CancelOrderResponseResult", "ModifyOrderResponse", "PlaceMultipleOrdersResponseInner",
            "ModifyMultipleOrdersResponseInner", "CancelMultipleOrdersResponseInner",
        )
    },
    "OrderTradeUpdateO": {"AP": _TRAILING, "cr": _TRAILING, "M": "only on an AMENDMENT carrying modifyId"},
    "AccountUpdateA": {"S": "only with m=FUNDING_FEE"},
    "AlgoUpdateO": {"rm": "only on REJECTED"},
    "ModifyOrderResponseResult": {"modifyId": "only when the request carried modifyId"},
    "ModifyOrderResponse": {"pair": _COIN_M, "modifyId": "only when the request carried modifyId"},
    "AccountTradeListResponseInner": {"pair": _COIN_M, "baseQty": _COIN_M, "marginAsset": _COIN_M},
    "ModifyMultipleOrdersResponseInner": {"pair": _COIN_M, "modifyId": "only when the request carried it"},
    "websocket_api.OrderBookResponse": {
        "bids": "the SDK's model puts bids/asks beside result; the docs example has them in result",
        "asks": "(as bids)",
    },
    "ExchangeInformationResponseSymbolsInner": {
        "settlePlan": "absent from the production BTCUSDT entry of 2026-09-15 (delivery contracts)"
    },
    "AccountConfigUpdate": {"ai": "the multi-assets form; a leverage change carries ac instead"},
    **{
        m: {"st": _NOT_LIVE, "ps": _NOT_LIVE}
        for m in (
            "PartialBookDepthStreamsResponse", "DiffBookDepthStreamsResponse",
            "IndividualSymbolTickerStreamsResponse", "IndividualSymbolMiniTickerStreamResponse",
            "AggregateTradeStreamsResponse", "MarkPriceStreamResponse",
            "IndividualSymbolBookTickerStreamsResponse", "AllBookTickersStreamResponse",
            "MarkPriceStreamForAllMarketResponseInner", "AllMarketTickersStreamsResponseInner",
            "AllMarketMiniTickersStreamResponseInner",
        )
    },
}
#: Models that describe several shapes at once: types are checked, presence cannot be.
SEVERAL_SHAPES = {
    "ExchangeInformationResponseSymbolsInnerFiltersInner": "one model for every filter type",
}
#: ALGO_UPDATE fields present only after the trigger, and the ones a CANCELED update lacks live.
ALGO_AFTER_TRIGGER = {"ap", "aq", "act"}
ALGO_NOT_ON_CANCELED = {"V", "wt", "pm", "cp", "pP"}


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def conforms(model: type[BaseModel], payload: Any, absent: set[str] | frozenset[str] = frozenset(),
             where: str = "") -> None:
    """Raise AssertionError (or pydantic's ValidationError) unless ``payload`` fits ``model``."""
    where = where or model.__name__
    if isinstance(payload, list):
        for i, item in enumerate(payload):
            conforms(model, item, absent, f"{where}[{i}]")
        return
    assert isinstance(payload, dict), f"{where}: not an object: {payload!r}"
    model.from_dict(payload)  # type: ignore[attr-defined]  # strict types
    if model.__name__ in SEVERAL_SHAPES:
        return
    lacking = []
    for name, field in model.model_fields.items():
        if name == "additional_properties" or name.startswith("oneof_") or name in (
            "actual_instance", "one_of_schemas"
        ):
            continue
        key = field.alias or name
        if key not in payload:
            qualified = f"{model.__module__.split('.')[1]}.{model.__name__}"
            if not ({key} & (set(ABSENT.get(model.__name__, {})) | set(ABSENT.get(qualified, {})) | absent)):
                lacking.append(key)
            continue
        nested = _inner_model(field.annotation)
        if nested is not None and payload[key] is not None:
            conforms(nested, payload[key], absent, f"{where}.{key}")
    assert not lacking, f"{where} lacks declared fields {lacking}: {payload}"


def algo_update_absent(event: dict) -> set[str]:
    status = event["o"]["X"]
    out = set() if status in ("TRIGGERED", "FINISHED") else set(ALGO_AFTER_TRIGGER)
    return out | (ALGO_NOT_ON_CANCELED if status == "CANCELED" else set())
