"""Injected faults (pure bookkeeping): which request to drop, delay, answer with 503, 429 or 418.

A fault matches a request by ``method``: a WS API method name (``order.place``; a ``v2/`` prefix is
ignored), a REST route written ``"POST /fapi/v1/order"``, or ``"*"`` for any. Each REST route also
matches its WS twin's name (``POST /fapi/v1/order`` is ``order.place``), so one fault covers both
transports. ``count`` is how many matching requests it affects before it disarms.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUEST_KINDS = (
    "drop_before_reply",
    "drop_after_reply",
    "drop_before_execute",
    "delay",
    "unknown_503",
    "rate_limit_429",
    "ban_418",
    "status_unknown",
    "expire_listen_key_in_fill",
)
#: Kinds answered by the rate limiter instead of executing the request (``ratelimit.inject``).
LIMIT_KINDS = ("rate_limit_429", "ban_418")
#: The codes a ``rate_limit_429`` may answer with: request weight, or new orders.
LIMIT_CODES = (-1003, -1015)
#: ``status_unknown`` codes: Binance's two "execution status unknown" answers, with their HTTP status
#: (general-info: 5XX "the execution status is UNKNOWN"; 408 "a timeout ... from the backend server").
STATUS_UNKNOWN: dict[int, tuple[int, str]] = {
    -1006: (503, "An unexpected response was received from the message bus. Execution status unknown."),
    -1007: (408, "Timeout waiting for response from backend server. Send status unknown; "
                 "execution status unknown."),
}
INSTANT_KINDS = (
    "clock_skew", "expire_listen_key", "close_all", "stall", "drop_user_stream",
    "algo_reject", "algo_hold", "expire_algos",
)
KINDS = REQUEST_KINDS + INSTANT_KINDS

REST_TO_WS: dict[str, str] = {
    "POST /fapi/v1/order": "order.place",
    "DELETE /fapi/v1/order": "order.cancel",
    "GET /fapi/v1/order": "order.status",
    "PUT /fapi/v1/order": "order.modify",
    "POST /fapi/v1/algoOrder": "algoOrder.place",
    "DELETE /fapi/v1/algoOrder": "algoOrder.cancel",
    "GET /fapi/v2/positionRisk": "account.position",
    "GET /fapi/v3/positionRisk": "v2/account.position",
    "GET /fapi/v2/account": "account.status",
    "GET /fapi/v2/balance": "account.balance",
    "POST /fapi/v1/listenKey": "userDataStream.start",
    "PUT /fapi/v1/listenKey": "userDataStream.ping",
    "DELETE /fapi/v1/listenKey": "userDataStream.stop",
}


@dataclass
class Fault:
    kind: str
    method: str = "*"
    count: int = 1
    ms: int = 0
    code: int = -1003  # rate_limit_429: -1003 (weight) or -1015 (orders); status_unknown: -1006 / -1007
    executed: bool = True  # status_unknown: whether the request really executes (after ``ms``)
    events: int = 1  # expire_listen_key_in_fill: user-data events delivered before the key expires

    def body(self) -> dict:
        """The ``status_unknown`` answer: ``{"code": -1006|-1007, "msg": …}``."""
        return {"code": self.code, "msg": STATUS_UNKNOWN[self.code][1]}

    def matches(self, names: tuple[str, ...]) -> bool:
        return self.method == "*" or self.method in names


@dataclass
class FaultBook:
    faults: list[Fault]

    def __init__(self) -> None:
        self.faults = []

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str) -> list[Fault]:
        """The armed faults that apply to one request of ``method``; each is used up by one."""
        base = method[3:] if method.startswith("v2/") else method
        names = (method, base, REST_TO_WS.get(method, ""))
        hits = [f for f in self.faults if f.kind in REQUEST_KINDS and f.count > 0 and f.matches(names)]
        for f in hits:
            f.count -= 1
        self.faults = [f for f in self.faults if f.count > 0]
        return hits

    def describe(self) -> list[dict]:
        out = []
        for f in self.faults:
            d = {"kind": f.kind, "method": f.method, "count": f.count, "ms": f.ms}
            if f.kind in ("rate_limit_429", "status_unknown"):
                d["code"] = f.code
            if f.kind == "status_unknown":
                d["executed"] = f.executed
            if f.kind == "expire_listen_key_in_fill":
                d["events"] = f.events
            out.append(d)
        return out
