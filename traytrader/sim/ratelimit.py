"""Binance's rate-limit counters (pure): request weight per IP, orders per account.

Production values (exchangeInfo 2026-09-15): REQUEST_WEIGHT 2400 per minute per IP; ORDERS 300 per
10 s and 1200 per minute per account. Windows are fixed and aligned to the interval, as Binance's
``X-MBX-USED-WEIGHT-1M`` counters are. Going over a limit answers HTTP 429 with -1003 (weight) or
-1015 (orders); an IP that sends ``ban_after`` more requests while over the weight limit is banned
for ``ban_ms`` and gets HTTP 418 (general-info.md: "418 when an IP has been auto-banned for continuing
to send requests after receiving 429 codes"; bans start at 2 minutes). Every 418/429 carries the
time requests are welcome again (``SimError.retry_until_ms``: REST ``Retry-After``, WS
``error.data.retryAfter``). The ``rate_limit_429`` and ``ban_418`` faults start the same states
on demand (``inject``).
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
    # Injected faults (``rate_limit_429``): the weight limit of an IP, or the ORDERS limit of every
    # account, counts as used up until this time, whatever the real counters say.
    _weight_full_until: dict[str, int] = field(default_factory=dict)
    _orders_full_until: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # requests answered 418/429, per IP

    def weight(self, ip: str, now_ms: int) -> int:
        return self._weight.setdefault(ip, Window(60_000)).current(now_ms)

    def orders(self, api_key: str, now_ms: int) -> tuple[int, int]:
        w10, w60 = self._orders.setdefault(api_key, (Window(10_000), Window(60_000)))
        return w10.current(now_ms), w60.current(now_ms)

    def banned_error(self, until_ms: int) -> SimError:
        return SimError(
            -1003,
            f"Way too many requests; IP banned until {until_ms}. Please use the websocket "
            "for live updates to avoid bans.",
            418,
            until_ms,
        )

    def charge_weight(self, ip: str, weight: int, now_ms: int) -> None:
        """Count ``weight`` for ``ip``; raise 418/429 SimErrors when banned or over the limit.

        Every request over the limit is a strike; ``ban_after`` strikes in a row ban the IP."""
        until = self._banned_until.get(ip, 0)
        if until > now_ms:
            raise self.banned_error(until)
        w = self._weight.setdefault(ip, Window(60_000))
        w.current(now_ms)
        w.count += weight
        full_until = self._weight_full_until.get(ip, 0)
        if full_until > now_ms or (self.limits.enabled and w.count > self.limits.weight_1m):
            strikes = self._strikes.get(ip, 0) + 1
            self._strikes[ip] = strikes
            if strikes > self.limits.ban_after:
                self._banned_until[ip] = now_ms + self.limits.ban_ms
                self._strikes[ip] = 0
            retry = full_until if full_until > now_ms else w.start + w.interval_ms
            raise err(-1003, self.limits.weight_1m, http_status=429, retry_until_ms=retry)
        self._strikes.pop(ip, None)

    def charge_order(self, api_key: str, now_ms: int) -> None:
        w10, w60 = self._orders.setdefault(api_key, (Window(10_000), Window(60_000)))
        w10.current(now_ms)
        w60.current(now_ms)
        w10.count += 1
        w60.count += 1
        if self._orders_full_until > now_ms:
            raise self._orders_full(self._orders_full_until)
        if not self.limits.enabled:
            return
        if w10.count > self.limits.orders_10s:
            raise err(-1015, self.limits.orders_10s, "10 SECOND", http_status=429,
                      retry_until_ms=w10.start + w10.interval_ms)
        if w60.count > self.limits.orders_1m:
            raise err(-1015, self.limits.orders_1m, "1 MINUTE", http_status=429,
                      retry_until_ms=w60.start + w60.interval_ms)

    def _orders_full(self, until_ms: int) -> SimError:
        return err(-1015, self.limits.orders_10s, "10 SECOND", http_status=429, retry_until_ms=until_ms)

    # ----------------------------------------------------------------------- injected faults
    def inject(self, kind: str, code: int, ip: str, ms: int, now_ms: int) -> SimError:
        """Start an injected limit for ``ip`` and return the answer for the request that hit it.

        ``ban_418``: the IP is banned for ``ms`` (0: ``ban_ms``), every request refused with 418.
        ``rate_limit_429`` with -1003: the IP's weight counts as used up for ``ms`` (0: to the end
        of the current minute window); with -1015: every account's ORDERS limit for ``ms``
        (0: 10 s). Requests in the window are refused (and earn strikes) like real ones."""
        if kind == "ban_418":
            until = now_ms + (ms or self.limits.ban_ms)
            self._banned_until[ip] = until
            return self.banned_error(until)
        if code == -1015:
            self._orders_full_until = until = now_ms + (ms or 10_000)
            return self._orders_full(until)
        w = self._weight.setdefault(ip, Window(60_000))
        w.current(now_ms)
        until = now_ms + ms if ms else w.start + w.interval_ms
        self._weight_full_until[ip] = until
        return err(-1003, self.limits.weight_1m, http_status=429, retry_until_ms=until)

    def note_refused(self, ip: str, error: SimError) -> None:
        if error.http_status in (418, 429):
            self.refused[ip] = self.refused.get(ip, 0) + 1

    def lift(self) -> None:
        """End every ban and injected limit (``DELETE /sim/fault``); counters and strikes stay."""
        self._banned_until.clear()
        self._weight_full_until.clear()
        self._orders_full_until = 0

    def describe(self, now_ms: int) -> dict:
        """The limit part of ``GET /sim/state``: active bans and injected limits, refusals per IP."""
        return {
            "bannedUntil": {ip: t for ip, t in self._banned_until.items() if t > now_ms},
            "weightLimitedUntil": {ip: t for ip, t in self._weight_full_until.items() if t > now_ms},
            "ordersLimitedUntil": self._orders_full_until if self._orders_full_until > now_ms else 0,
            "refused": dict(self.refused),
        }

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
