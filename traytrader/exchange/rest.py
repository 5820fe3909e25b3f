"""Signed REST over one keep-alive aiohttp session, for what the WS API lacks.

Used for server time, exchangeInfo, position mode, leverage, margin type and open algo orders
(protocol notes §1.4, §6). ``{code, msg}`` bodies become ``ExchangeRejected`` here, once; 429/418
carry ``retry_until_ms`` from ``Retry-After`` (seconds, as the official SDK parses it). Rate-limit
headers (``X-MBX-USED-WEIGHT-1M``, ``X-MBX-ORDER-COUNT-10S``/``-1M``) are reported in the same shape
as the WS API's ``rateLimits`` so one limiter reads both.

REST signing (protocol notes §2.1): parameters are signed in the order sent, ``signature`` last;
the whole payload goes in the query string (Binance accepts it for POST and DELETE too).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from traytrader.core.errors import ExchangeRejected, OutcomeUnknown, TransportError
from traytrader.core.requests import is_outcome_unknown, retry_until_ms
from traytrader.core.signing import Signer, rest_query, sign_rest

_HEADER_LIMITS = (
    # header, rateLimitType, interval, intervalNum; limits are unknown from headers: use exchangeInfo's
    ("X-MBX-USED-WEIGHT-1M", "REQUEST_WEIGHT", "MINUTE", 1),
    ("X-MBX-ORDER-COUNT-10S", "ORDERS", "SECOND", 10),
    ("X-MBX-ORDER-COUNT-1M", "ORDERS", "MINUTE", 1),
)


class RestClient:
    """``await get/post/delete(path, params, signed=...)`` → decoded JSON body."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        signer: Signer,
        *,
        now_ms: Callable[[], int],
        recv_window_ms: int = 5000,
        timeout_s: float = 5.0,
        on_rate_limits: Callable[[list[dict[str, Any]]], None] | None = None,
        limits: Mapping[tuple[str, str, int], int] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._signer = signer
        self.now_ms = now_ms
        self.recv_window_ms = recv_window_ms
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.on_rate_limits = on_rate_limits
        self.limits = dict(limits or {})   # (type, interval, num) -> limit, from exchangeInfo
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(limit=8, keepalive_timeout=60, ttl_dns_cache=300),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = False,
                  keyed: bool = False) -> Any:
        return await self.request("GET", path, params, signed=signed, keyed=keyed)

    async def post(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = True,
                   keyed: bool = True) -> Any:
        return await self.request("POST", path, params, signed=signed, keyed=keyed)

    async def put(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = False,
                  keyed: bool = True) -> Any:
        return await self.request("PUT", path, params, signed=signed, keyed=keyed)

    async def delete(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = True,
                     keyed: bool = True) -> Any:
        return await self.request("DELETE", path, params, signed=signed, keyed=keyed)

    def signed_query(self, params: Mapping[str, Any] | None) -> str:
        """The query string with ``recvWindow``, ``timestamp`` and ``signature`` (last)."""
        items = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        items["recvWindow"] = str(self.recv_window_ms)
        items["timestamp"] = str(self.now_ms())
        return sign_rest(self._signer, items)[0]

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
                      signed: bool = False, keyed: bool = False) -> Any:
        if signed:
            query = self.signed_query(params)
        else:
            query = rest_query({k: _text(v) for k, v in (params or {}).items() if v is not None})
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        headers = {"X-MBX-APIKEY": self._api_key} if (signed or keyed) else {}
        session = self._ensure_session()
        try:
            async with session.request(method, url, headers=headers) as response:
                text = await response.text()
                status = response.status
                response_headers = response.headers
        except TimeoutError as exc:
            if method == "GET":
                raise TransportError(f"The exchange did not answer {method} {path} in time.") from exc
            raise OutcomeUnknown(f"No answer to {method} {path} in time; its outcome is unknown.") from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"Could not reach the exchange at {self.base_url}: "
                                 f"{exc.__class__.__name__}.") from exc
        self._report_headers(response_headers)
        return self._decode(method, path, status, text, response_headers.get("Retry-After"))

    def _decode(self, method: str, path: str, status: int, text: str, retry_after: str | None) -> Any:
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        if status < 400 and not (isinstance(body, dict) and int(body.get("code", 0) or 0) < 0):
            return body
        code = int(body.get("code", -1000)) if isinstance(body, dict) else -1000
        msg = str(body.get("msg", "")) if isinstance(body, dict) else text[:200]
        if method != "GET" and is_outcome_unknown(status, code, msg):
            # A write the exchange may have executed: resolved by asking, never taken as refused.
            raise OutcomeUnknown(f"The exchange answered {method} {path} with {status} \"{msg}\"; "
                                 "its outcome is unknown.")
        if status >= 500:
            raise TransportError(f"The exchange answered {method} {path} with HTTP {status}.")
        until = retry_until_ms(None, retry_after, self.now_ms()) if status in (418, 429) else None
        raise ExchangeRejected(code, msg, http_status=status, retry_until_ms=until)

    def _report_headers(self, headers: Mapping[str, str]) -> None:
        if self.on_rate_limits is None:
            return
        found = []
        for header, kind, interval, num in _HEADER_LIMITS:
            value = headers.get(header)
            limit = self.limits.get((kind, interval, num))
            if value is not None and limit is not None:
                found.append({"rateLimitType": kind, "interval": interval, "intervalNum": num,
                              "limit": limit, "count": int(value)})
        if found:
            self.on_rate_limits(found)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

