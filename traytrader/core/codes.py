"""Binance USDⓈ-M error codes and their texts, as data.

Source: ``shared/docs/binance-usdm-protocol.md`` section 9 (exact texts from Binance's
``error-code.md``, futures, scraped 2026-05-28). The simulator answers with these texts and the
engine's error shield keys its reactions on these codes, so both sides agree by construction.
Texts containing ``%s`` are templates: fill them with ``message(code, *args)``.
"""

from __future__ import annotations

from enum import IntEnum


class BinanceCode(IntEnum):
    UNKNOWN = -1000
    DISCONNECTED = -1001
    UNAUTHORIZED = -1002
    TOO_MANY_REQUESTS = -1003
    REQUEST_THROTTLED = -1008
    INVALID_MESSAGE = -1013
    TOO_MANY_ORDERS = -1015
    INVALID_TIMESTAMP = -1021
    INVALID_SIGNATURE = -1022
    ILLEGAL_CHARS = -1100
    TOO_MANY_PARAMETERS = -1101
    MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
    UNKNOWN_PARAM = -1103
    PARAM_NOT_REQUIRED = -1106
    BAD_PRECISION = -1111
    INVALID_TIF = -1115
    INVALID_ORDER_TYPE = -1116
    INVALID_SIDE = -1117
    BAD_SYMBOL = -1121
    INVALID_LISTEN_KEY = -1125
    INVALID_PARAMETER = -1130
    NEW_ORDER_REJECTED = -2010
    CANCEL_REJECTED = -2011
    NO_SUCH_ORDER = -2013
    BAD_API_KEY_FMT = -2014
    REJECTED_MBX_KEY = -2015
    BALANCE_NOT_SUFFICIENT = -2018
    MARGIN_NOT_SUFFICIENT = -2019
    UNABLE_TO_FILL = -2020
    ORDER_WOULD_IMMEDIATELY_TRIGGER = -2021
    REDUCE_ONLY_REJECT = -2022
    POSITION_NOT_SUFFICIENT = -2024
    MAX_OPEN_ORDER_EXCEEDED = -2025
    QTY_LESS_THAN_ZERO = -4003
    QTY_LESS_THAN_MIN_QTY = -4004
    QTY_GREATER_THAN_MAX_QTY = -4005
    PRICE_LESS_THAN_MIN_PRICE = -4013
    PRICE_NOT_INCREASED_BY_TICK_SIZE = -4014
    INVALID_CL_ORD_ID_LEN = -4015
    PRICE_HIGHER_THAN_MULTIPLIER_UP = -4016
    QTY_NOT_INCREASED_BY_STEP_SIZE = -4023
    PRICE_LOWER_THAN_MULTIPLIER_DOWN = -4024
    INVALID_LEVERAGE = -4028
    MAX_STOP_ORDER_EXCEEDED = -4045
    NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
    THERE_EXISTS_OPEN_ORDERS = -4047
    THERE_EXISTS_QUANTITY = -4048
    NO_NEED_TO_CHANGE_POSITION_SIDE = -4059
    INVALID_POSITION_SIDE = -4060
    POSITION_SIDE_NOT_MATCH = -4061
    REDUCE_ONLY_CONFLICT = -4062
    POSITION_SIDE_CHANGE_EXISTS_OPEN_ORDERS = -4067
    POSITION_SIDE_CHANGE_EXISTS_QUANTITY = -4068
    DUPLICATED_CLIENT_ORDER_ID = -4116
    STOP_ORDER_TRIGGERING = -4117
    REDUCE_ONLY_MARGIN_CHECK_FAILED = -4118
    STOP_ORDER_SWITCH_ALGO = -4120
    MARKET_ORDER_REJECT = -4131
    CLOSE_POSITION_CONFLICT = -4130
    INVALID_ACTIVATION_PRICE = -4135
    QUANTITY_MUST_BE_ZERO_WITH_CLOSE_POSITION = -4137
    REDUCE_ONLY_MUST_BE_TRUE_WITH_CLOSE_POSITION = -4138
    STRATEGY_INVALID_TRIGGER_PRICE = -4142
    MIN_NOTIONAL = -4164
    FOK_ORDER_REJECT = -5021
    GTX_ORDER_REJECT = -5022
    ME_RECVWINDOW_REJECT = -5028
    FUTURE_GOOD_TILL_DATE = -5040


MESSAGES: dict[BinanceCode, str] = {
    BinanceCode.UNKNOWN: "An unknown error occured while processing the request.",
    BinanceCode.DISCONNECTED: "Internal error; unable to process your request. Please try again.",
    BinanceCode.UNAUTHORIZED: "You are not authorized to execute this request.",
    BinanceCode.TOO_MANY_REQUESTS: (
        "Too many requests; current limit is %s requests per minute. Please use the websocket for live "
        "updates to avoid polling the API."
    ),
    BinanceCode.REQUEST_THROTTLED: (
        "Server is currently overloaded with other requests. Please try again in a few minutes."
    ),
    BinanceCode.INVALID_MESSAGE: "INVALID_MESSAGE.",
    BinanceCode.TOO_MANY_ORDERS: "Too many new orders; current limit is %s orders per %s.",
    BinanceCode.INVALID_TIMESTAMP: "Timestamp for this request is outside of the recvWindow.",
    BinanceCode.INVALID_SIGNATURE: "Signature for this request is not valid.",
    BinanceCode.ILLEGAL_CHARS: "Illegal characters found in parameter '%s'.",
    BinanceCode.TOO_MANY_PARAMETERS: "Too many parameters sent for this endpoint.",
    BinanceCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED: (
        "Mandatory parameter '%s' was not sent, was empty/null, or malformed."
    ),
    BinanceCode.UNKNOWN_PARAM: "An unknown parameter was sent.",
    BinanceCode.PARAM_NOT_REQUIRED: "Parameter '%s' sent when not required.",
    BinanceCode.BAD_PRECISION: "Precision is over the maximum defined for this asset.",
    BinanceCode.INVALID_TIF: "Invalid timeInForce.",
    BinanceCode.INVALID_ORDER_TYPE: "Invalid orderType.",
    BinanceCode.INVALID_SIDE: "Invalid side.",
    BinanceCode.BAD_SYMBOL: "Invalid symbol.",
    BinanceCode.INVALID_LISTEN_KEY: (
        "This listenKey does not exist. Please use `POST /fapi/v1/listenKey` to recreate `listenKey`"
    ),
    BinanceCode.INVALID_PARAMETER: "Invalid data sent for a parameter.",
    BinanceCode.NEW_ORDER_REJECTED: "NEW_ORDER_REJECTED",
    BinanceCode.CANCEL_REJECTED: "Unknown order sent.",
    BinanceCode.NO_SUCH_ORDER: "Order does not exist.",
    BinanceCode.BAD_API_KEY_FMT: "API-key format invalid.",
    BinanceCode.REJECTED_MBX_KEY: "Invalid API-key, IP, or permissions for action.",
    BinanceCode.BALANCE_NOT_SUFFICIENT: "Balance is insufficient.",
    BinanceCode.MARGIN_NOT_SUFFICIENT: "Margin is insufficient.",
    BinanceCode.UNABLE_TO_FILL: "Unable to fill.",
    BinanceCode.ORDER_WOULD_IMMEDIATELY_TRIGGER: "Order would immediately trigger.",
    BinanceCode.REDUCE_ONLY_REJECT: "ReduceOnly Order is rejected.",
    BinanceCode.POSITION_NOT_SUFFICIENT: "Position is not sufficient.",
    BinanceCode.MAX_OPEN_ORDER_EXCEEDED: "Reach max open order limit.",
    BinanceCode.QTY_LESS_THAN_ZERO: "Quantity less than zero.",
    BinanceCode.QTY_LESS_THAN_MIN_QTY: "Quantity less than min quantity.",
    BinanceCode.QTY_GREATER_THAN_MAX_QTY: "Quantity greater than max quantity.",
    BinanceCode.PRICE_LESS_THAN_MIN_PRICE: "Price less than min price.",
    BinanceCode.PRICE_NOT_INCREASED_BY_TICK_SIZE: "Price not increased by tick size.",
    BinanceCode.INVALID_CL_ORD_ID_LEN: "Client order id length should not be more than 36 chars",
    BinanceCode.PRICE_HIGHER_THAN_MULTIPLIER_UP: "Price is higher than mark price multiplier cap.",
    BinanceCode.QTY_NOT_INCREASED_BY_STEP_SIZE: "Qty not increased by step size.",
    BinanceCode.PRICE_LOWER_THAN_MULTIPLIER_DOWN: "Price is lower than mark price multiplier floor.",
    BinanceCode.INVALID_LEVERAGE: "Leverage %s is not valid",
    BinanceCode.MAX_STOP_ORDER_EXCEEDED: "Reach max stop order limit.",
    BinanceCode.NO_NEED_TO_CHANGE_MARGIN_TYPE: "No need to change margin type.",
    BinanceCode.THERE_EXISTS_OPEN_ORDERS: "Margin type cannot be changed if there exists open orders.",
    BinanceCode.THERE_EXISTS_QUANTITY: "Margin type cannot be changed if there exists position.",
    BinanceCode.NO_NEED_TO_CHANGE_POSITION_SIDE: "No need to change position side.",
    BinanceCode.INVALID_POSITION_SIDE: "Invalid position side.",
    BinanceCode.POSITION_SIDE_NOT_MATCH: "Order's position side does not match user's setting.",
    BinanceCode.REDUCE_ONLY_CONFLICT: "Invalid or improper reduceOnly value.",
    BinanceCode.POSITION_SIDE_CHANGE_EXISTS_OPEN_ORDERS: (
        "Position side cannot be changed if there exists open orders."
    ),
    BinanceCode.POSITION_SIDE_CHANGE_EXISTS_QUANTITY: (
        "Position side cannot be changed if there exists position."
    ),
    BinanceCode.DUPLICATED_CLIENT_ORDER_ID: "clientOrderId is duplicated",
    BinanceCode.STOP_ORDER_TRIGGERING: "stop order is triggering",
    BinanceCode.REDUCE_ONLY_MARGIN_CHECK_FAILED: (
        "ReduceOnly Order Failed. Please check your existing position and open orders"
    ),
    BinanceCode.STOP_ORDER_SWITCH_ALGO: (
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
    ),
    BinanceCode.CLOSE_POSITION_CONFLICT: (
        "An open stop or take profit order with GTE and closePosition in the direction is existing."
    ),
    BinanceCode.MARKET_ORDER_REJECT: (
        "The counterparty's best price does not meet the PERCENT_PRICE filter limit"
    ),
    BinanceCode.INVALID_ACTIVATION_PRICE: "Invalid activation price",
    BinanceCode.QUANTITY_MUST_BE_ZERO_WITH_CLOSE_POSITION: (
        "Quantity must be zero with closePosition equals true"
    ),
    BinanceCode.REDUCE_ONLY_MUST_BE_TRUE_WITH_CLOSE_POSITION: (
        "Reduce only must be true with closePosition equals true"
    ),
    BinanceCode.STRATEGY_INVALID_TRIGGER_PRICE: (
        "REJECT: take profit or stop order will be triggered immediately"
    ),
    BinanceCode.MIN_NOTIONAL: (
        "Order's notional must be no smaller than %s (unless you choose reduce only)"
    ),
    BinanceCode.FOK_ORDER_REJECT: (
        "Due to the order could not be filled immediately, the FOK order has been rejected."
    ),
    BinanceCode.GTX_ORDER_REJECT: (
        "Due to the order could not be executed as maker, the Post Only order will be rejected."
    ),
    BinanceCode.ME_RECVWINDOW_REJECT: "Timestamp for this request is outside of the ME recvWindow.",
    BinanceCode.FUTURE_GOOD_TILL_DATE: (
        "The goodTillDate timestamp must be greater than the current time plus 600 seconds and smaller "
        "than 253402300799000 (UTC 9999-12-31 23:59:59)"
    ),
}


def message(code: BinanceCode, *args: object) -> str:
    """Binance's text for ``code`` with ``%s`` placeholders filled from ``args`` in order."""
    text = MESSAGES.get(code, code.name)
    for arg in args:
        text = text.replace("%s", str(arg), 1)
    return text
