"""Helpers for engine tests: the simulator's control API, configs pointed at it, credentials, and an
event log that waits on conditions (never sleeps). A uniquely named module, so that importing it
never picks up another directory's ``conftest``."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

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
from traytrader.engine.api import Command, CommandKind, EngineState, Event, StateChanged, is_final_answer

#: ``TT_SIM_LATENCY=150±50`` runs every engine test against a home line's latency (issue 13).
HOME_LINE = os.environ.get("TT_SIM_LATENCY", "")


def sim_latency(spec: str) -> tuple[float, float]:
    """``"150±50"`` (or ``150+-50``, ``150``) as (ms, jitter ms); ``""`` is loopback."""
    if not spec:
        return 0.0, 0.0
    ms, _, jitter = spec.replace("+-", "±").partition("±")
    return float(ms), float(jitter or 0)


class SimControl:
    """A running simulator thread plus its HTTP control API."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.rest_url: str = sim.rest_url
        self.ws_api_url: str = sim.ws_api_url
        self.stream_url: str = sim.stream_url

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.rest_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def fault(self, kind: str, method: str = "*", count: int = 1, ms: int = 0) -> Any:
        return self._request("POST", "/sim/fault", {"kind": kind, "method": method, "count": count, "ms": ms})

    def clear_faults(self) -> Any:
        return self._request("DELETE", "/sim/fault")

    def state(self) -> Any:
        return self._request("GET", "/sim/state")

    def set_price(self, symbol: str, price: str) -> Any:
        return self._request("POST", "/sim/price", {"symbol": symbol, "price": price})


def order_count(state: Any, api_key: str | None = None) -> int:
    """How many (non-algo) orders the simulator holds in ``/sim/state``, any status."""
    return sum(
        1
        for order in state.get("orders", [])
        if order.get("kind") != "algo" and (api_key is None or order.get("apiKey") == api_key)
    )


def our_algos(sim: SimControl, status: str = "NEW") -> list[dict[str, Any]]:
    """The ASL's own algo orders (``ttasl`` client ids) in ``/sim/state`` with ``status``."""
    return [o for o in sim.state()["orders"]
            if o.get("kind") == "algo" and str(o.get("clientAlgoId", "")).startswith("ttasl") and
            o.get("status") == status]


def position(sim: SimControl, symbol: str = "BTCUSDT") -> Decimal:
    """The first account's net position in ``symbol`` (both sides of hedge mode summed)."""
    rows = sim.state()["accounts"][0]["positions"]
    return sum((Decimal(r["positionAmt"]) for r in rows if r["symbol"] == symbol), Decimal(0))


def make_config(
    sim: SimControl,
    *,
    notional: str = "200",
    cooldown_ms: int = 300,
    max_notional: str = "100000",
    max_per_minute: int = 30,
    timeout_ms: int = 600,
    recv_window_ms: int = 1000,
    profiles: tuple[Profile, ...] | None = None,
) -> AppConfig:
    exchange = ExchangeSettings(
        environment=Environment.SIM,
        key="demo",
        rest_url=sim.rest_url,
        ws_api_url=sim.ws_api_url,
        stream_url=sim.stream_url,
        recv_window_ms=recv_window_ms,
        request_timeout_ms=timeout_ms,
    )
    if profiles is None:
        profiles = (
            Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=Decimal(notional)),
            Profile(name="eth", symbol="ETHUSDT", leverage=3, notional_usdt=Decimal("100")),
        )
    return AppConfig(
        path="<test>",
        exchange=exchange,
        hotkeys=HotkeySettings(),
        safety=SafetySettings(
            max_notional_usdt=Decimal(max_notional),
            max_orders_per_minute=max_per_minute,
            cooldown_ms=cooldown_ms,
        ),
        asl=AslSettings(),
        profiles=profiles,
        default_profile=profiles[0].name,
    )


def hmac_credentials() -> ApiCredentials:
    from traytrader.sim import DEMO_API_KEY, DEMO_SECRET

    return ApiCredentials("demo", KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET)


def ed25519_credentials() -> ApiCredentials:
    from traytrader.sim import DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM

    return ApiCredentials("demo-ed", KeyType.ED25519, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM)


VAULT_PASSWORD = "correct horse battery staple"


def sim_config_head(sim: SimControl) -> str:
    """The start of a config file pointed at ``sim`` with the demo key (``default_profile = "btc"``);
    the test appends its own sections and profiles."""
    return (f'default_profile = "btc"\n[exchange]\nenvironment = "sim"\nkey = "demo"\n'
            f'rest_url = "{sim.rest_url}"\nws_api_url = "{sim.ws_api_url}"\n'
            f'stream_url = "{sim.stream_url}"\n')


def write_demo_vault(directory: Path) -> tuple[Path, Path]:
    """``vault.bin`` holding the demo HMAC key (cheap KDF: a test, not a secret) and ``pw``, the
    password file that unlocks it, both in ``directory``; returns their paths."""
    from traytrader.vault import Vault

    vault = Vault(directory / "vault.bin", iterations=1000)
    unlocked = vault.create(VAULT_PASSWORD)
    unlocked.add(hmac_credentials())
    vault.save(unlocked, VAULT_PASSWORD)
    password_file = directory / "pw"
    password_file.write_text(VAULT_PASSWORD + "\n")
    return vault.path, password_file


class EventLog:
    """Collects engine events (from the engine thread) and waits for conditions with a timeout."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0, *, after: int = 0) -> Event:
        """The first event (from index ``after``) matching ``predicate``; fails after ``timeout``."""
        with self._cond:
            found: list[Event] = []

            def check() -> bool:
                for event in self.events[after:]:
                    if predicate(event):
                        found.append(event)
                        return True
                return False

            if not self._cond.wait_for(check, timeout):
                texts = [f"{type(e).__name__}: {e.text}" for e in self.events]
                raise AssertionError(f"no matching event within {timeout}s; got {texts}")
            return found[0]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait for a condition on engine state (not an event): re-checked on every event and at
        least every 10 ms, failing after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"condition not met within {timeout}s")
                self._cond.wait(min(remaining, 0.01))

    def wait_type(self, kind: type[Event], timeout: float = 10.0, *, after: int = 0) -> Any:
        return self.wait_for(lambda e: isinstance(e, kind), timeout, after=after)

    def wait_ready(self, timeout: float = 15.0) -> None:
        settled = (EngineState.READY, EngineState.ERROR)
        event = self.wait_for(lambda e: isinstance(e, StateChanged) and e.state in settled, timeout)
        assert isinstance(event, StateChanged) and event.state is EngineState.READY, event.text

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def of_type(self, kind: type[Event]) -> list[Any]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]


T = TypeVar("T")


def on_loop(engine: Any, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``engine``'s loop (an ``Engine``) and return its result."""
    assert engine._loop is not None
    return asyncio.run_coroutine_threadsafe(coro, engine._loop).result(10)


def press(engine: Any, log: EventLog, kind: CommandKind, argument: str = "", timeout: float = 10.0) -> Any:
    """Submit one command to ``engine`` and return its own final answer. Matched by id: a command
    that ends with more than one event (a flatten's fill, then its summary) can still be answering
    when the next one runs, and the next one's answer must not be taken for it."""
    command = Command(kind, argument=argument, source="test")
    engine.submit(command)
    return log.wait_for(lambda e: is_final_answer(e, command.id), timeout)
