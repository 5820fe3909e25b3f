"""What several benchmarks share: the simulator in its own process (limits raised out of the way),
an ``AppConfig`` and demo credentials pointed at it, and one definition of median and p99.

Import it after putting the repository root on ``sys.path`` (each ``bench_*.py`` does so when run
as a script): ``from benchmarks._common import SimProcess, median_p99, sim_config``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from traytrader.core.models import (
    ApiCredentials,
    AppConfig,
    AslSettings,
    Environment,
    ExchangeSettings,
    HotkeySettings,
    KeyType,
    Profile,
    SafetySettings,
)
from traytrader.sim import DEMO_API_KEY, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM, DEMO_SECRET

ROOT = Path(__file__).resolve().parents[1]

# A separate process shares neither the event loop nor the GIL with the client being measured.
SIM_CODE = """
import sys
from traytrader.sim import SimOptions, SimThread
sim = SimThread(SimOptions(port=0, seed=1, weight_limit_1m=10**8, orders_limit_10s=10**8,
                             orders_limit_1m=10**8)).start()
print(sim.rest_url, sim.ws_api_url, sim.stream_url, flush=True)
sys.stdin.read()
sim.stop()
"""


class SimProcess:
    """The simulator in a child process; it stops when its stdin closes (``stop()``)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SIM_CODE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.rest_url, self.ws_api_url, self.stream_url = self.proc.stdout.readline().split()

    def set_price(self, price: str, symbol: str = "BTCUSDT") -> Decimal:
        """Pins ``symbol``'s price through ``/sim/price``; returns the resulting mark price."""
        body = json.dumps({"symbol": symbol, "price": price}).encode()
        request = urllib.request.Request(self.rest_url + "/sim/price", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return Decimal(json.loads(response.read())["mark"])

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def sim_config(sim: SimProcess, profile: Profile, *, safety: SafetySettings | None = None,
               asl: AslSettings | None = None) -> AppConfig:
    """A one-profile config pointed at ``sim`` (defaults for whatever is not given)."""
    exchange = ExchangeSettings(Environment.SIM, "bench", sim.rest_url, sim.ws_api_url, sim.stream_url)
    return AppConfig("<bench>", exchange, HotkeySettings(), safety or SafetySettings(), asl or AslSettings(),
                     (profile,), profile.name)


def credentials(ed25519: bool = False) -> ApiCredentials:
    """The simulator's demo key pair: HMAC, or Ed25519 when asked."""
    if ed25519:
        return ApiCredentials("ed", KeyType.ED25519, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM)
    return ApiCredentials("hmac", KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100): a value that was measured, never an interpolation."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def median_p99(values: Sequence[float]) -> tuple[float, float]:
    return statistics.median(values), percentile(values, 99)


def wait_until_ready(engine: Any, timeout_s: float = 20.0) -> None:
    """Block until ``engine`` (an ``EngineHandle``) is READY; exit the benchmark if it never is."""
    deadline = time.monotonic() + timeout_s
    while engine.status().state.value != "ready":
        if time.monotonic() > deadline:
            raise SystemExit(f"engine not ready: {engine.status()}")
        time.sleep(0.01)
