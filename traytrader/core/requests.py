"""WS-API request bookkeeping as pure data: ids, response parsing, outcome classification.

The socket side (``exchange/ws_api.py``) keeps one future per id; this module decides what an
answer means. A response is correlated by its ``id`` (the server echoes it and "does not interpret
``id`` in any way", protocol notes §1.3). A 5xx status "does not necessarily mean that your
request has failed": 503 with "Unknown error" is an unknown outcome, to be resolved by asking
``order.status`` before resending (never twice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

UNKNOWN_503_TEXT = "unknown error"  # protocol notes §9, "503 has three variants"


@dataclass(frozen=True)
class WsResponse:
    id: Any
    status: int
    result: Any = None
    error_code: int | None = None
    error_msg: str = ""
    rate_limits: list[dict[str, Any]] = field(default_factory=list)
    retry_until_ms: int | None = None   # 429/418 ``error.data.retryAfter`` (epoch ms)

    @property
    def ok(self) -> bool:
        return self.error_code is None and 200 <= self.status < 300

    @property
    def outcome_unknown(self) -> bool:
        """True when the request may or may not have executed: any 5xx answer, and -1006/-1007
        ("execution status unknown"). Such a request is resolved by asking the exchange
        (``order.status``), never taken as refused."""
        return is_outcome_unknown(self.status, self.error_code, self.error_msg)


#: Binance codes that say the request may have executed: -1006 "An unexpected response was received
#: from the message bus. Execution status unknown." and -1007 "Timeout waiting for response from
#: backend server. Send status unknown; execution status unknown."
UNKNOWN_OUTCOME_CODES = frozenset({-1006, -1007})


#: The 5xx answers that say the request was NOT executed (protocol notes §9): 503 "Service
#: Unavailable." and -1008 (system throttling).
NOT_EXECUTED_5XX_TEXT = "service unavailable"
THROTTLED = -1008


def is_outcome_unknown(http_status: int | None, code: int | None, msg: str = "") -> bool:
    """Whether an error answer leaves the request's outcome unknown (see ``outcome_unknown``):
    -1006/-1007, and every 5xx but the two documented as failures."""
    if code in UNKNOWN_OUTCOME_CODES:
        return True
    if http_status is None or http_status < 500:
        return False
    return code != THROTTLED and NOT_EXECUTED_5XX_TEXT not in msg.lower()


def parse_response(text: str | bytes) -> WsResponse | dict[str, Any]:
    """A ``WsResponse`` for an id-carrying reply, else the decoded object (an unsolicited message).

    Raises ``ValueError`` on text that is not a JSON object.
    """
    try:
        obj = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if "id" not in obj or "status" not in obj:
        return obj
    error = obj.get("error") or {}
    # Binance's WS API puts it in the error's data: {"error": {..., "data": {"serverTime",
    # "retryAfter"}}} (spot web-socket-api.md, rate limits); the envelope form is kept as well.
    data = error.get("data") if isinstance(error, dict) else None
    retry_after = data.get("retryAfter") if isinstance(data, dict) else obj.get("retryAfter")
    code = error.get("code") if isinstance(error, dict) else None
    return WsResponse(
        id=obj["id"],
        status=int(obj["status"]),
        result=obj.get("result"),
        error_code=int(code) if code is not None else (None if 200 <= int(obj["status"]) < 300 else -1000),
        error_msg=str(error.get("msg", "")) if isinstance(error, dict) else "",
        rate_limits=list(obj.get("rateLimits") or ()),
        retry_until_ms=int(retry_after) if isinstance(retry_after, int | float) else None,
    )


class RequestIds:
    """Monotonic ids as short strings (``"1"``, ``"2"``...): unique per connection, cheap to build
    and to echo. Strings because the frame builder escapes the id as a JSON string."""

    __slots__ = ("_next",)

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def next(self) -> str:
        value = self._next
        self._next += 1
        return str(value)


def retry_until_ms(response_retry: int | None, retry_after_header: str | None, now_ms: int,
                   default_s: float = 60.0) -> int:
    """When a 429/418 hold ends. ``Retry-After`` is seconds (spot docs, and the official SDK's
    ``parse_retry_after`` for all products); a WS ``retryAfter`` is an epoch in ms (spot WS docs).
    Without either, hold for ``default_s``."""
    if response_retry is not None:
        return response_retry if response_retry > 10**11 else now_ms + int(response_retry * 1000)
    if retry_after_header:
        try:
            return now_ms + int(float(retry_after_header) * 1000)
        except ValueError:
            pass
    return now_ms + int(default_s * 1000)
