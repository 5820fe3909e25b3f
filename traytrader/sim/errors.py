"""The simulator's one error type: a Binance ``{code, msg}`` answer plus the HTTP status it travels with.

Texts come from ``core.codes`` (Binance's own texts); the few codes that table lacks are kept here
as dated data with their source.
"""

from __future__ import annotations

from traytrader.core.codes import BinanceCode, message

# Codes core.codes does not carry, with Binance's texts (futures error-code.md, scraped 2026-05-28,
# and the live probe of 2026-09-15 for -1130).
EXTRA_TEXTS: dict[int, str] = {
    -1000: "An unknown error occured while processing the request.",
    -1014: "Unsupported order combination.",
    -1104: "Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'.",
    -1130: "Data sent for parameter '%s' is not valid.",
    -1131: "recvWindow must be less than 60000",
    -4001: "Price less than 0.",
    -4002: "Price greater than max price.",
    -4136: "Invalid callBack rate.",
    -5027: "No need to modify the order.",
}

#: Binance's 503 "execution status unknown" text (general-info.md, HTTP return codes).
UNKNOWN_503_TEXT = "Unknown error, please check your request or try again later."


class SimError(Exception):
    """A refusal the client sees as ``{"code": code, "msg": msg}`` with ``http_status``."""

    def __init__(
        self, code: int, msg: str, http_status: int = 400, retry_until_ms: int | None = None
    ) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.retry_until_ms = retry_until_ms  # 418/429: when requests are welcome again (epoch ms)

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}

    def ws_body(self, now_ms: int) -> dict:
        """The WS API ``error`` object: 418/429 carry ``data`` with ``serverTime`` and ``retryAfter``
        (epoch ms), as Binance's WebSocket API documents (spot ``web-socket-api.md``, rate limits)."""
        if self.retry_until_ms is None:
            return self.body()
        return {**self.body(), "data": {"serverTime": now_ms, "retryAfter": self.retry_until_ms}}

    def retry_after_s(self, now_ms: int) -> int:
        """The REST ``Retry-After`` header: whole seconds to wait, rounded up, at least 1."""
        return max(1, -(-((self.retry_until_ms or now_ms) - now_ms) // 1000))


def err(code: int, *args: object, http_status: int = 400, retry_until_ms: int | None = None) -> SimError:
    """A :class:`SimError` with Binance's text for ``code`` (``%s`` filled from ``args``)."""
    if code in EXTRA_TEXTS:  # the simulator's table wins (e.g. -1130 with the parameter's name)
        text = EXTRA_TEXTS[code]
        for a in args:
            text = text.replace("%s", str(a), 1)
    else:
        text = message(BinanceCode(code), *args)
    return SimError(code, text, http_status, retry_until_ms)


def missing(name: str) -> SimError:
    return err(-1102, name)
