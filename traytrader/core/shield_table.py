"""The error shield: ONE table from exchange code (or HTTP status) to reaction and sentence.

Codes are data. The engine's ``engine/shield.py`` performs the reaction (resync the clock,
re-read the position mode, refresh exchangeInfo, hold orders) and shows the sentence. Sentences
name what the user can do; ``{msg}`` is Binance's own text and ``{min_notional}`` etc. are
filled from context when known. Source of codes and texts: protocol notes §9 (scraped 2026-05-28).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from traytrader.core.codes import BinanceCode as C


class Reaction(StrEnum):
    EXPLAIN = "explain"                  # say it; nothing to retry
    RESYNC_CLOCK_RETRY = "resync_clock"  # -1021: resync the clock offset and retry once
    BACKOFF_HOLD = "backoff_hold"        # -1003/-1015/429: hold new orders until Retry-After
    BANNED = "banned"                    # 418: stop sending entirely until the ban ends
    REREAD_MODE_REBUILD = "reread_mode"  # -4061/-1106: position mode changed behind our back
    REFRESH_FILTERS_REBUILD = "refresh_filters"  # -1111/-4014/-4023: filters changed
    HUMAN = "human"                      # key or permission problem: a human must act
    UNKNOWN_OUTCOME = "unknown_outcome"  # 503 "Unknown error": may have executed; resolve first


@dataclass(frozen=True)
class ShieldRow:
    reaction: Reaction
    sentence: str


# HTTP statuses that carry their own meaning regardless of the body's code.
HTTP_ROWS: dict[int, ShieldRow] = {
    429: ShieldRow(Reaction.BACKOFF_HOLD,
                   "The exchange says we are sending too fast; new orders are held until {until}."),
    418: ShieldRow(Reaction.BANNED,
                   "The exchange has banned this IP for sending after a rate-limit warning; nothing will "
                   "be sent until {until}."),
}

SHIELD_TABLE: dict[int, ShieldRow] = {
    C.INVALID_TIMESTAMP: ShieldRow(
        Reaction.RESYNC_CLOCK_RETRY,
        "The exchange refused the request because this computer's clock is off; the clock offset was "
        "re-measured{retried}."),
    C.ME_RECVWINDOW_REJECT: ShieldRow(
        Reaction.RESYNC_CLOCK_RETRY,
        "The exchange refused the request as too old by the time it reached the matching engine; the "
        "clock offset was re-measured{retried}."),
    C.TOO_MANY_REQUESTS: ShieldRow(
        Reaction.BACKOFF_HOLD,
        "The exchange says we are sending too many requests; new orders are held until {until}."),
    C.TOO_MANY_ORDERS: ShieldRow(
        Reaction.BACKOFF_HOLD,
        "The exchange says too many new orders were sent; new orders are held until {until}."),
    C.REQUEST_THROTTLED: ShieldRow(
        Reaction.EXPLAIN,
        "The exchange is overloaded and throttled the order (closing orders are exempt); try again "
        "in a moment."),
    C.REJECTED_MBX_KEY: ShieldRow(
        Reaction.HUMAN,
        "The exchange refused the API key: check that the key is correct and not deleted, that this "
        "computer's IP address is on the key's whitelist, and that futures trading is enabled for "
        "the key."),
    C.BAD_API_KEY_FMT: ShieldRow(
        Reaction.HUMAN, "The exchange says the API key is malformed; re-import it into the vault."),
    C.INVALID_SIGNATURE: ShieldRow(
        Reaction.HUMAN,
        "The exchange says the signature is not valid: the secret in the vault does not match the API "
        "key, or the key type (HMAC or Ed25519) is wrong."),
    C.UNAUTHORIZED: ShieldRow(
        Reaction.HUMAN, "The exchange says this key is not authorised for that request."),
    C.POSITION_SIDE_NOT_MATCH: ShieldRow(
        Reaction.REREAD_MODE_REBUILD,
        "The account's position mode changed (one-way/hedge); it was re-read{retried}."),
    C.PARAM_NOT_REQUIRED: ShieldRow(
        Reaction.REREAD_MODE_REBUILD,
        "The exchange refused a parameter (usually reduceOnly in hedge mode); the position mode was "
        "re-read{retried}."),
    C.BAD_PRECISION: ShieldRow(
        Reaction.REFRESH_FILTERS_REBUILD,
        "The exchange refused the order's precision; its filters were refreshed{retried}."),
    C.PRICE_NOT_INCREASED_BY_TICK_SIZE: ShieldRow(
        Reaction.REFRESH_FILTERS_REBUILD,
        "The price did not match the symbol's tick size; its filters were refreshed{retried}."),
    C.QTY_NOT_INCREASED_BY_STEP_SIZE: ShieldRow(
        Reaction.REFRESH_FILTERS_REBUILD,
        "The quantity did not match the symbol's step size; its filters were refreshed{retried}."),
    C.MIN_NOTIONAL: ShieldRow(
        Reaction.EXPLAIN,
        "The order is too small: the exchange's minimum notional for {symbol} is {min_notional} USDT; "
        "raise the profile's notional_usdt or quantity."),
    C.MARGIN_NOT_SUFFICIENT: ShieldRow(
        Reaction.EXPLAIN,
        "Not enough margin for this order: add funds, lower the profile's size, or raise its leverage."),
    C.BALANCE_NOT_SUFFICIENT: ShieldRow(
        Reaction.EXPLAIN, "The balance is insufficient for this order."),
    C.MARKET_ORDER_REJECT: ShieldRow(
        Reaction.EXPLAIN,
        "The market order was refused because the best price on the other side is too far from the "
        "mark price (PERCENT_PRICE filter); the book is thin or moving fast, try again in a moment."),
    C.UNABLE_TO_FILL: ShieldRow(
        Reaction.EXPLAIN,
        "The exchange could not fill the order (no liquidity at an acceptable price); nothing was "
        "bought or sold."),
    C.FOK_ORDER_REJECT: ShieldRow(
        Reaction.EXPLAIN,
        "The fill-or-kill order could not be filled completely at once, so the exchange cancelled it."),
    C.GTX_ORDER_REJECT: ShieldRow(
        Reaction.EXPLAIN,
        "The post-only order would have traded immediately as a taker, so the exchange cancelled it; "
        "use a price further from the market."),
    C.REDUCE_ONLY_REJECT: ShieldRow(
        Reaction.EXPLAIN, "The reduce-only order was refused: there is no position left to reduce."),
    C.POSITION_NOT_SUFFICIENT: ShieldRow(
        Reaction.EXPLAIN, "The position is smaller than the closing order; it may already be closed."),
    C.ORDER_WOULD_IMMEDIATELY_TRIGGER: ShieldRow(
        Reaction.EXPLAIN, "The stop would trigger immediately at the current price, so it was not placed."),
    C.DUPLICATED_CLIENT_ORDER_ID: ShieldRow(
        Reaction.EXPLAIN,
        "The exchange already has an order with this client id: the keypress was sent once already."),
    C.INVALID_LEVERAGE: ShieldRow(
        Reaction.EXPLAIN, "The exchange refused the profile's leverage for {symbol}: {msg}"),
}

_RETRY_WORDS = {True: " and the order was sent again", False: ""}


def row_for(code: int, http_status: int = 400) -> ShieldRow | None:
    """The table row for a code (HTTP 429/418 win over the body's code); ``None``: not in the table."""
    if http_status in HTTP_ROWS:
        return HTTP_ROWS[http_status]
    return SHIELD_TABLE.get(code)


def explain(code: int, msg: str, *, http_status: int = 400, retried: bool = False,
            **context: object) -> str:
    """One sentence for the user. Unknown codes: Binance's message with the code."""
    row = row_for(code, http_status)
    if row is None:
        return f"The exchange refused the request: {msg} (code {code})."
    values: dict[str, object] = {"msg": msg, "symbol": "the symbol", "min_notional": "?", "until": "later",
                                 "retried": _RETRY_WORDS[retried]}
    values.update({k: v for k, v in context.items() if v is not None})
    return row.sentence.format(**values)
