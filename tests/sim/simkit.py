"""Helpers for simulator tests: small signed WS API / REST clients and stream readers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from yarl import URL

from traytrader.sim import (
    DEMO_API_KEY,
    DEMO_ED25519_API_KEY,
    DEMO_ED25519_PRIVATE_KEY_PEM,
    DEMO_SECRET,
    Sim,
)

BTC_PRICE = Decimal("65000.0")

# The orders most tests send, as request parameters; a test spreads one and overrides what it is
# about, e.g. ``{**LIMIT_BUY, "newClientOrderId": "rest-1"}``. Valid at the frozen BTC_PRICE.
MARKET_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010"}
LIMIT_BUY = {**MARKET_BUY, "type": "LIMIT", "timeInForce": "GTC", "price": "64000.0"}
STOP_SELL = {
    "algoType": "CONDITIONAL",
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "STOP_MARKET",
    "quantity": "0.010",
    "triggerPrice": "60000.0",
}


def hmac_sign(payload: str, secret: str = DEMO_SECRET) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def ed_sign(payload: str) -> str:
    key = load_pem_private_key(DEMO_ED25519_PRIVATE_KEY_PEM.encode(), None)
    return base64.b64encode(key.sign(payload.encode())).decode()  # type: ignore[call-arg,union-attr]


def now_ms() -> int:
    return int(time.time() * 1000)


class WsApi:
    """A minimal WS API client: signs with the demo HMAC key unless told otherwise; calls may overlap."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict]] = {}
        self._reader: asyncio.Task | None = None

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    body = json.loads(msg.data)
                    fut = self._waiting.pop(body.get("id"), None)
                    if fut is not None and not fut.done():
                        fut.set_result(body)
        finally:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection ended"))
            self._waiting.clear()

    async def call(
        self,
        method: str,
        params: dict | None = None,
        *,
        sign: bool = True,
        key: str = "hmac",
        timeout: float = 5.0,
    ) -> dict:
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        p = dict(params or {})
        if sign:
            p.setdefault("apiKey", DEMO_API_KEY if key == "hmac" else DEMO_ED25519_API_KEY)
            p.setdefault("timestamp", now_ms())
            payload = "&".join(f"{k}={v}" for k, v in sorted(p.items()))
            p["signature"] = hmac_sign(payload) if key == "hmac" else ed_sign(payload)
        rid = next(self._ids)
        fut: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        if self._reader.done():
            raise ConnectionError("connection ended")
        self._waiting[rid] = fut
        await self.ws.send_str(json.dumps({"id": rid, "method": method, "params": p}))
        return await asyncio.wait_for(fut, timeout)

    async def closed(self, timeout: float = 5.0) -> None:
        """Wait until the server has closed the connection."""
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)


class Rest:
    """A minimal REST client signing query strings with the demo HMAC key."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        *,
        signed: bool = True,
        key: str | None = DEMO_API_KEY,
        secret: str = DEMO_SECRET,
    ) -> tuple[int, Any, dict]:
        p = dict(params or {})
        headers = {"X-MBX-APIKEY": key} if key else {}
        if signed:
            p.setdefault("timestamp", now_ms())
            q = urlencode(p)
            q += "&signature=" + hmac_sign(q, secret)
        else:
            q = urlencode(p)
        url = URL(f"{self.base}{path}?{q}", encoded=True)  # sent exactly as signed (no re-quoting)
        async with self.session.request(method, url, headers=headers) as r:
            return r.status, await r.json(content_type=None), dict(r.headers)


async def control(
    http: aiohttp.ClientSession, sim: Sim, method: str, route: str, body: Any = None
) -> tuple[int, Any]:
    if body is None and method in ("POST", "PUT"):
        body = {}  # control writes are JSON (a text/plain write is what a hostile web page sends)
    async with http.request(method, f"{sim.control_url}/{route}", json=body) as r:
        return r.status, await r.json()


async def next_event(
    ws: aiohttp.ClientWebSocketResponse, event: str, timeout: float = 5.0, where: Any = None
) -> dict:
    """The next message on a stream whose ``e`` is ``event`` (unwrapping combined-stream frames)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError(f"no {event} within {timeout}s")
        msg = await asyncio.wait_for(ws.receive(), left)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"stream ended: {msg.type}")
        body = json.loads(msg.data)
        data = body.get("data", body) if isinstance(body, dict) else body
        if isinstance(data, dict) and data.get("e") == event and (where is None or where(data)):
            return data
