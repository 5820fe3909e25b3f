"""The simulator for a reliability run, driven over its HTTP ``/sim/`` API exactly as any other tool
would drive it (``docs/sim.md``): in-process on its own thread, or as a ``traytrader sim`` subprocess
(the soak, so that the engine's memory is measured apart from the exchange's)."""

from __future__ import annotations

import json
import subprocess as subprocess_module
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

from traytrader.sim import SimOptions, SimThread


class SimControl:
    """A running simulator (``SimThread``, or a subprocess with ``subprocess=True``) plus its control API."""

    def __init__(self, options: SimOptions, *, subprocess: bool = False) -> None:
        self.thread: SimThread | None = None
        self.process: subprocess_module.Popen[str] | None = None
        if subprocess:
            self.rest_url = self._spawn(options)
        else:
            self.thread = SimThread(options).start()
            self.rest_url = str(self.thread.rest_url)
        self.port = int(self.rest_url.rsplit(":", 1)[1])
        self.ws_api_url = f"ws://127.0.0.1:{self.port}/ws-fapi/v1"
        self.stream_url = f"ws://127.0.0.1:{self.port}"

    def _spawn(self, options: SimOptions) -> str:
        args = [
            sys.executable,
            "-m",
            "traytrader",
            "sim",
            "--port",
            "0",
            "--seed",
            str(options.seed),
            "--speed",
            str(options.speed),
            "--session-limit-s",
            str(options.session_limit_s),
        ]
        if options.prices_csv:
            args += ["--prices", options.prices_csv]
        if options.accounts_file:
            args += ["--accounts", options.accounts_file]
        self.process = subprocess_module.Popen(args, stdout=subprocess_module.PIPE, text=True)
        assert self.process.stdout is not None
        stdout = self.process.stdout
        for line in stdout:
            if line.startswith("REST:"):
                # Keep draining its stdout so the simulator can never block on a full pipe.
                threading.Thread(
                    target=lambda: [None for _ in stdout], name="sim-stdout", daemon=True
                ).start()
                return line.split()[-1].strip()
        raise RuntimeError("traytrader sim exited before printing its URLs")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

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

    def fault(self, kind: str, method: str = "*", count: int = 1, ms: int = 0, **extra: Any) -> Any:
        """``POST /sim/fault``; ``extra``: the fields only some kinds take (``status_unknown``: code,
        executed)."""
        body = {"kind": kind, "method": method, "count": count, "ms": ms, **extra}
        return self.request("POST", "/sim/fault", body)

    def clear_faults(self) -> Any:
        return self.request("DELETE", "/sim/fault")

    def restart(self) -> Any:
        return self.request("POST", "/sim/restart", {})

    def state(self, *, since_ms: int | None = None, orders: bool = True) -> dict[str, Any]:
        """``GET /sim/state``; ``since_ms``: only orders created at or after it; ``orders=False``:
        none (a long soak's polls stay small)."""
        query = [f"since={max(0, since_ms)}"] if since_ms is not None else []
        query += [] if orders else ["orders=0"]
        path = "/sim/state" + ("?" + "&".join(query) if query else "")
        return self.request("GET", path, timeout=30.0)

    def server_ms(self) -> int:
        return int(self.state(orders=False)["serverTime"])

    def set_price(self, symbol: str, price: str) -> Any:
        return self.request("POST", "/sim/price", {"symbol": symbol, "price": price})

    def resume(self) -> Any:
        return self.request("POST", "/sim/resume", {})

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess_module.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
