"""exchangeInfo with unknown filters, malformed filters or missing symbols: orders for the affected
profiles are refused with a reason; the other profiles keep working.

Pure level: the shipped example config's profiles against a mutated copy of real exchangeInfo
entries. Engine level: the real engine warms up through a REST proxy that serves a mutated
exchangeInfo, and the refusals happen before anything is sent (counted at the simulator).

Unknown filter *types* are kept verbatim and ignored by ``core/filters.py`` (Binance adds filters,
e.g. POSITION_RISK_CONTROL in 2025, and enforces them itself; its rejection is then explained by
the error shield), so they do not refuse a profile; a malformed known filter or a missing symbol does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from relkit import ROOT
from rest_proxy import RewritingRestProxy

from benchmarks.reliability.runner import Recorder
from benchmarks.reliability.simctl import SimControl
from traytrader.config import load_config
from traytrader.core.errors import InvalidOrder
from traytrader.core.filters import parse_exchange_info
from traytrader.core.models import (
    ApiCredentials,
    AppConfig,
    AslSettings,
    Environment,
    ExchangeSettings,
    HotkeySettings,
    KeyType,
    PositionMode,
    Profile,
    SafetySettings,
    Side,
)
from traytrader.core.orders import build_entry_order
from traytrader.engine.api import (
    Command,
    CommandDone,
    CommandKind,
    CommandRejected,
    EngineState,
    OrderAccepted,
    OrderFilled,
    StateChanged,
)
from traytrader.engine.handle import Engine
from traytrader.sim import DEMO_API_KEY, DEMO_SECRET, SimOptions

REAL = ROOT / "tests" / "data" / "real" / "exchange_info"
UNKNOWN_FILTER = {"filterType": "SOMETHING_BINANCE_ADDS_IN_2027", "limit": 7}


def _entries() -> dict[str, dict[str, Any]]:
    btc = json.loads((REAL / "unattributed_PRODUCTION_btcusdt_symbol_entry_2026-09-15.json").read_text())
    dump = json.loads(
        (REAL / "alphadogs_TESTNET_likely_exchange_info_2025-11-26_btcusdt_ethusdt_only.json").read_text()
    )
    eth = next(s for s in dump["symbols"] if s["symbol"] == "ETHUSDT")
    return {"BTCUSDT": btc, "ETHUSDT": eth}


def _order(profile: Profile, info: Any) -> Any:
    filters = info.symbol(profile.symbol)
    price = Decimal("2500") if profile.symbol == "ETHUSDT" else Decimal("76915")
    return build_entry_order(
        profile, Side.BUY, filters, price, price + Decimal("0.1"), price, PositionMode.ONE_WAY, "tt-info-1"
    )


def test_pure_affected_profiles_refused_with_reason_others_build() -> None:
    profiles: dict[str, Profile] = {}
    for profile in load_config(ROOT / "config.example.toml").profiles:   # the first per symbol
        profiles.setdefault(profile.symbol, profile)
    entries = _entries()
    entries["ETHUSDT"]["filters"].append(UNKNOWN_FILTER)  # unknown type: ignored, kept
    broken = copy.deepcopy(entries["BTCUSDT"])  # malformed known filter
    broken["symbol"] = "BROKENUSDT"
    for f in broken["filters"]:
        if f["filterType"] == "PRICE_FILTER":
            f["tickSize"] = "0"
    info = parse_exchange_info({"symbols": [entries["BTCUSDT"], entries["ETHUSDT"], broken]})  # SOL missing
    assert _order(profiles["BTCUSDT"], info).quantity > 0
    assert _order(profiles["ETHUSDT"], info).price is not None  # the LIMIT profile still builds
    assert UNKNOWN_FILTER in [dict(f) for f in info.symbol("ETHUSDT").unknown_filters]
    with pytest.raises(InvalidOrder) as missing:
        _order(profiles["SOLUSDT"], info)
    assert str(missing.value) == "SOLUSDT is not a symbol on this exchange."
    broken_profile = Profile("broken", "BROKENUSDT", 5, notional_usdt=Decimal("100"))
    with pytest.raises(InvalidOrder) as bad:
        _order(broken_profile, info)
    assert "tickSize" in str(bad.value) and "refused" in str(bad.value)


def _mutate(body: dict[str, Any]) -> dict[str, Any]:
    body["symbols"] = [s for s in body["symbols"] if s["symbol"] != "ETHUSDT"]
    for entry in body["symbols"]:
        entry["filters"].append(UNKNOWN_FILTER)
    return body


@pytest.fixture
def engine_world(tmp_path: Path) -> Iterator[tuple[Engine, Recorder, SimControl, RewritingRestProxy]]:
    sim = SimControl(SimOptions(seed=4))
    proxy = RewritingRestProxy(sim.rest_url, {"/fapi/v1/exchangeInfo": _mutate}).start()
    exchange = ExchangeSettings(
        Environment.SIM,
        "demo",
        proxy.url,
        sim.ws_api_url,
        sim.stream_url,
        recv_window_ms=2000,
        request_timeout_ms=2000,
    )
    profiles = (
        Profile("btc", "BTCUSDT", 5, notional_usdt=Decimal("200")),
        Profile("eth", "ETHUSDT", 3, notional_usdt=Decimal("100")),
    )
    config = AppConfig(
        "<info>", exchange, HotkeySettings(), SafetySettings(cooldown_ms=0), AslSettings(), profiles, "btc"
    )
    engine = Engine(
        config,
        ApiCredentials("demo", KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET),
        journal_path=tmp_path / "j.sqlite3",
    )
    recorder = Recorder()
    engine.subscribe(recorder)
    try:
        engine.start()
        yield engine, recorder, sim, proxy
    finally:
        engine.stop(3)
        proxy.stop()
        sim.stop()


def test_engine_refuses_profile_whose_symbol_is_missing_and_keeps_trading_others(engine_world) -> None:
    engine, recorder, sim, proxy = engine_world
    ready = recorder.wait(
        lambda e: isinstance(e, StateChanged) and e.state in (EngineState.READY, EngineState.ERROR), 20
    )
    assert isinstance(ready, StateChanged) and ready.state is EngineState.READY, ready
    assert proxy.rewritten >= 1
    terminal = (OrderFilled, OrderAccepted, CommandRejected, CommandDone)

    def press(kind: CommandKind, argument: str = "") -> Any:
        mark = recorder.mark()
        engine.submit(Command(kind, argument))
        return recorder.wait(lambda e: isinstance(e, terminal), 20, after=mark)

    def orders(symbol: str) -> int:
        return sum(1 for o in sim.state()["orders"] if o["symbol"] == symbol and o.get("kind") != "algo")

    assert isinstance(press(CommandKind.BUY), OrderFilled)
    assert isinstance(press(CommandKind.SELECT_PROFILE, "eth"), CommandDone)
    refused = press(CommandKind.BUY)
    assert isinstance(refused, CommandRejected), refused
    assert "ETHUSDT is not a symbol on this exchange" in refused.text
    assert orders("ETHUSDT") == 0
    assert isinstance(press(CommandKind.SELECT_PROFILE, "btc"), CommandDone)
    assert isinstance(press(CommandKind.SELL), OrderFilled)
    assert orders("BTCUSDT") == 2
