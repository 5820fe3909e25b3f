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

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def err(code: int, *args: object, http_status: int = 400) -> SimError:
    """A :class:`SimError` with Binance's text for ``code`` (``%s`` filled from ``args``)."""
    if code in EXTRA_TEXTS:  # the simulator's table wins (e.g. -1130 with the parameter's name)
        text = EXTRA_TEXTS[code]
        for a in args:
            text = text.replace("%s", str(a), 1)
    else:
        text = message(BinanceCode(code), *args)
    return SimError(code, text, http_status)


def missing(name: str) -> SimError:
    return err(-1102, name)
