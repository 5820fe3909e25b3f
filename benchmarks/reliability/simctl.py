"""The simulator for a reliability run: in-process on its own thread, driven over its HTTP ``/sim/`` API
exactly as any other tool would drive it (``docs/sim.md``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from traytrader.sim import SimOptions, SimThread


class SimControl:
    """A running simulator (``SimThread``) plus its control API."""

    def __init__(self, options: SimOptions) -> None:
        self.thread = SimThread(options).start()
        self.port: int = self.thread.port  # type: ignore[assignment]
        self.rest_url: str = self.thread.rest_url  # type: ignore[assignment]
        self.ws_api_url: str = self.thread.ws_api_url  # type: ignore[assignment]
        self.stream_url: str = self.thread.stream_url  # type: ignore[assignment]

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.rest_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"/sim control {method} {path} failed: {exc.read().decode()}") from None
        return json.loads(text) if text else None

    def fault(self, kind: str, method: str = "*", count: int = 1, ms: int = 0) -> Any:
        return self.request("POST", "/sim/fault", {"kind": kind, "method": method, "count": count, "ms": ms})

    def clear_faults(self) -> Any:
        return self.request("DELETE", "/sim/fault")

    def restart(self) -> Any:
        return self.request("POST", "/sim/restart", {})

    def state(self) -> dict[str, Any]:
        return self.request("GET", "/sim/state", timeout=30.0)

    def server_ms(self) -> int:
        return int(self.state()["serverTime"])

    def set_price(self, symbol: str, price: str) -> Any:
        return self.request("POST", "/sim/price", {"symbol": symbol, "price": price})

    def resume(self) -> Any:
        return self.request("POST", "/sim/resume", {})

    def stop(self) -> None:
        self.thread.stop()
