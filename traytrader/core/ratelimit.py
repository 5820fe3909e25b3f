"""Client-side rate limiting: the exchange's counters, the user's caps, and holds after 429/418.

Pure: every method takes ``now_ms``. The exchange reports ``rateLimits`` in each WS-API response
(protocol notes §10): ``{rateLimitType, interval, intervalNum, limit, count}``. Binance counts in
fixed windows aligned to the interval (a MINUTE window starts on the minute), so a count seen in an
earlier window no longer applies. We refuse a new order when the next one would reach the limit
minus a small reserve, which is kept for closing orders and cancels.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

INTERVAL_MS = {"SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
# Headroom kept below each exchange limit so that closes and cancels still pass.
RESERVE_FRACTION = Decimal("0.05")


@dataclass
class _Counter:
    kind: str            # REQUEST_WEIGHT or ORDERS
    window_ms: int
    limit: int
    count: int
    window_start_ms: int
    headroom: int = 0    # the reserve kept for closes and cancels (set from ``limit``)

    def __post_init__(self) -> None:
        self.headroom = max(1, int(self.limit * RESERVE_FRACTION))

    def current(self, now_ms: int) -> int:
        return self.count if now_ms // self.window_ms * self.window_ms == self.window_start_ms else 0


@dataclass(frozen=True)
class Hold:
    until_ms: int
    reason: str


class RateLimiter:
    """Decides whether a new order may go out now; says why not in one sentence."""

    def __init__(self, *, max_orders_per_minute: int, max_notional_usdt: Decimal) -> None:
        self.max_orders_per_minute = max_orders_per_minute
        self.max_notional_usdt = max_notional_usdt
        self._counters: dict[tuple[str, int], _Counter] = {}
        self._limiting: list[_Counter] = []   # the counters that can refuse an order
        self._sent: deque[int] = deque()
        self.hold: Hold | None = None

    # -- what the exchange told us ---------------------------------------------------------
    def observe(self, rate_limits: Iterable[Mapping[str, Any]], now_ms: int) -> None:
        """Record the ``rateLimits`` array of one response."""
        for item in rate_limits:
            try:
                window = INTERVAL_MS[str(item["interval"])] * int(item.get("intervalNum", 1))
                counter = _Counter(str(item["rateLimitType"]), window, int(item["limit"]),
                                   int(item.get("count", 0)), now_ms // window * window)
            except (KeyError, ValueError, TypeError):
                continue
            self._counters[(counter.kind, window)] = counter
        self._limiting = [c for c in self._counters.values() if c.kind in ("ORDERS", "REQUEST_WEIGHT")]

    def hold_until(self, until_ms: int, reason: str) -> None:
        """Hold new orders until ``until_ms`` (after 429, 418, -1003, -1015); the later hold wins."""
        if self.hold is None or until_ms >= self.hold.until_ms:
            self.hold = Hold(until_ms, reason)

    def held(self, now_ms: int) -> Hold | None:
        if self.hold is not None and now_ms >= self.hold.until_ms:
            self.hold = None
        return self.hold

    # -- decisions -------------------------------------------------------------------------
    def refuse_order(self, now_ms: int, notional: Decimal | None, *, reduce_only: bool = False) -> str | None:
        """``None`` when an order may be sent now, else the sentence saying why not.

        Reduce-only orders skip the user caps and the reserve (closing must stay possible) but
        not an exchange hold: during a ban every request makes the ban longer.
        """
        hold = self.hold
        if hold is not None and self.held(now_ms) is not None:
            return hold.reason
        for counter in self._limiting:
            # In the counter's window and within one order (plus the reserve) of its limit.
            if counter.count + 1 + (0 if reduce_only else counter.headroom) > counter.limit \
                    and now_ms // counter.window_ms * counter.window_ms == counter.window_start_ms:
                seconds = counter.window_ms // 1000
                return (f"Holding new orders: the exchange's {counter.kind} limit of {counter.limit} per "
                        f"{seconds} s is nearly used up ({counter.current(now_ms)}); try again shortly.")
        if reduce_only:
            return None
        if notional is not None and notional > self.max_notional_usdt:
            return (f"Refused: the order's notional {notional:f} USDT is above your cap of "
                    f"{self.max_notional_usdt:f} USDT (safety.max_notional_usdt).")
        self._expire(now_ms)
        if len(self._sent) >= self.max_orders_per_minute:
            return (f"Refused: you already sent {len(self._sent)} orders in the last minute, your cap is "
                    f"{self.max_orders_per_minute} (safety.max_orders_per_minute).")
        return None

    def record_order(self, now_ms: int) -> None:
        """Count one order against the user's per-minute cap (call when it is sent)."""
        self._sent.append(now_ms)
        for counter in self._counters.values():
            if counter.kind != "ORDERS":
                continue
            start = now_ms // counter.window_ms * counter.window_ms
            if start != counter.window_start_ms:
                counter.window_start_ms, counter.count = start, 0
            counter.count += 1

    def _expire(self, now_ms: int) -> None:
        while self._sent and self._sent[0] <= now_ms - 60_000:
            self._sent.popleft()

    def usage(self, now_ms: int) -> dict[str, str]:
        """``{"ORDERS/10s": "3/300", ...}`` for status lines and ``traytrader check``."""
        return {f"{c.kind}/{c.window_ms // 1000}s": f"{c.current(now_ms)}/{c.limit}"
                for c in self._counters.values()}
