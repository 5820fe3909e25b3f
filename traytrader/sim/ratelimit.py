"""Binance's rate-limit counters (pure): request weight per IP, orders per account.

Production values (exchangeInfo 2026-09-15): REQUEST_WEIGHT 2400 per minute per IP; ORDERS 300 per
10 s and 1200 per minute per account. Windows are fixed and aligned to the interval, as Binance's
``X-MBX-USED-WEIGHT-1M`` counters are. Going over a limit answers HTTP 429 with -1003 (weight) or
-1015 (orders); an IP that sends ``ban_after`` more requests while over the weight limit is banned
for ``ban_ms`` and gets HTTP 418 (general-info.md: "418 when an IP has been auto-banned for continuing
to send requests after receiving 429 codes"; bans start at 2 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from traytrader.sim.errors import SimError, err


@dataclass
class Window:
    interval_ms: int
    start: int = 0
    count: int = 0

    def current(self, now_ms: int) -> int:
        if now_ms - self.start >= self.interval_ms:
            self.start = now_ms - now_ms % self.interval_ms
            self.count = 0
        return self.count


@dataclass
class Limits:
    weight_1m: int = 2400
    orders_10s: int = 300
    orders_1m: int = 1200
    ban_after: int = 5
    ban_ms: int = 120_000
    enabled: bool = True


@dataclass
class RateLimiter:
    limits: Limits = field(default_factory=Limits)
    _weight: dict[str, Window] = field(default_factory=dict)
    _orders: dict[str, tuple[Window, Window]] = field(default_factory=dict)
    _strikes: dict[str, int] = field(default_factory=dict)
    _banned_until: dict[str, int] = field(default_factory=dict)

    def weight(self, ip: str, now_ms: int) -> int:
        return self._weight.setdefault(ip, Window(60_000)).current(now_ms)

    def orders(self, api_key: str, now_ms: int) -> tuple[int, int]:
        w10, w60 = self._orders.setdefault(api_key, (Window(10_000), Window(60_000)))
        return w10.current(now_ms), w60.current(now_ms)

    def charge_weight(self, ip: str, weight: int, now_ms: int) -> None:
        """Count ``weight`` for ``ip``; raise 418/429 SimErrors when banned or over the limit."""
        until = self._banned_until.get(ip, 0)
        if until > now_ms:
            raise SimError(
                -1003,
                f"Way too many requests; IP banned until {until}. Please use the websocket "
                "for live updates to avoid bans.",
                418,
            )
        w = self._weight.setdefault(ip, Window(60_000))
        w.current(now_ms)
        w.count += weight
        if self.limits.enabled and w.count > self.limits.weight_1m:
            strikes = self._strikes.get(ip, 0) + 1
            self._strikes[ip] = strikes
            if strikes > self.limits.ban_after:
                self._banned_until[ip] = now_ms + self.limits.ban_ms
                self._strikes[ip] = 0
            raise err(-1003, self.limits.weight_1m, http_status=429)
        self._strikes.pop(ip, None)

    def charge_order(self, api_key: str, now_ms: int) -> None:
        w10, w60 = self._orders.setdefault(api_key, (Window(10_000), Window(60_000)))
        w10.current(now_ms)
        w60.current(now_ms)
        w10.count += 1
        w60.count += 1
        if not self.limits.enabled:
            return
        if w10.count > self.limits.orders_10s:
            raise err(-1015, self.limits.orders_10s, "10 SECOND", http_status=429)
        if w60.count > self.limits.orders_1m:
            raise err(-1015, self.limits.orders_1m, "1 MINUTE", http_status=429)

    def retry_after_s(self, ip: str, now_ms: int) -> int:
        until = self._banned_until.get(ip, 0)
        if until > now_ms:
            return max(1, (until - now_ms + 999) // 1000)
        w = self._weight.get(ip)
        return max(1, (w.start + w.interval_ms - now_ms + 999) // 1000) if w else 1

    def report(self, ip: str, api_key: str | None, now_ms: int, orders: bool) -> list[dict]:
        """The ``rateLimits`` array of a WS API response (REQUEST_WEIGHT first, as captured live)."""
        out = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.limits.weight_1m,
                "count": self.weight(ip, now_ms),
            }
        ]
        if orders and api_key:
            c10, c60 = self.orders(api_key, now_ms)
            out.append(
                {
                    "rateLimitType": "ORDERS",
                    "interval": "SECOND",
                    "intervalNum": 10,
                    "limit": self.limits.orders_10s,
                    "count": c10,
                }
            )
            out.append(
                {
                    "rateLimitType": "ORDERS",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.limits.orders_1m,
                    "count": c60,
                }
            )
        return out

    def headers(self, ip: str, api_key: str | None, now_ms: int) -> dict[str, str]:
        h = {"X-MBX-USED-WEIGHT-1M": str(self.weight(ip, now_ms))}
        if api_key:
            c10, c60 = self.orders(api_key, now_ms)
            h["X-MBX-ORDER-COUNT-10S"] = str(c10)
            h["X-MBX-ORDER-COUNT-1M"] = str(c60)
        return h

    def exchange_info_limits(self) -> list[dict]:
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.limits.weight_1m,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.limits.orders_1m,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": self.limits.orders_10s,
            },
        ]
