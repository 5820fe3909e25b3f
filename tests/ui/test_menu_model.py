"""The tray's menu, tooltip and icon choice, from snapshots (no display)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from traytrader.engine.api import EngineState, Status
from traytrader.ui.menu_model import (
    Action,
    IconState,
    UiState,
    build_menu,
    find_entry,
    icon_state,
    position_text,
    stop_text,
    tooltip,
)

PROFILES = ("btc-100", "eth-50", "scalp")


def ui(state: EngineState = EngineState.READY, *, unlocked: bool = True, armed: bool = True,
       qty: str = "0", **status: object) -> UiState:
    return UiState(
        status=Status(state=state, symbol="BTCUSDT", position_qty=Decimal(qty), **status),  # type: ignore[arg-type]
        environment="sim", unlocked=unlocked, armed=armed, profiles=PROFILES, active_profile="eth-50",
    )


def labels(menu: tuple) -> list[str]:
    return [entry.label for entry in menu]


def test_locked_menu_offers_unlock_as_default_and_disables_trading() -> None:
    menu = build_menu(ui(EngineState.LOCKED, unlocked=False, armed=False))
    assert labels(menu) == ["Unlock vault…", "Profiles", "Arm hotkeys", "Action bar", "-", "Close position",
                            "Stop to breakeven", "Add to position", "Cancel all orders", "Flatten", "-",
                            "Open config", "Open journal", "-", "Quit"]
    unlock = find_entry(menu, Action.UNLOCK)
    assert unlock is not None and unlock.default
    for action in (Action.CLOSE, Action.CANCEL_ALL, Action.FLATTEN, Action.TOGGLE_ARMED):
        entry = find_entry(menu, action)
        assert entry is not None and not entry.enabled, action
    assert find_entry(menu, Action.LOCK) is None


def test_unlocked_ready_menu_has_lock_and_enables_trading() -> None:
    menu = build_menu(ui(qty="0.002"))
    assert menu[0].label == "Lock" and menu[0].action is Action.LOCK
    for action in (Action.CLOSE, Action.CANCEL_ALL, Action.FLATTEN):
        entry = find_entry(menu, action)
        assert entry is not None and entry.enabled, action


def test_close_position_needs_a_position() -> None:
    entry = find_entry(build_menu(ui(qty="0")), Action.CLOSE)
    assert entry is not None and not entry.enabled


@pytest.mark.parametrize("state", [EngineState.CONNECTING, EngineState.DISCONNECTED, EngineState.ERROR])
def test_not_ready_disables_trading_items(state: EngineState) -> None:
    menu = build_menu(ui(state, qty="1"))
    for action in (Action.CLOSE, Action.CANCEL_ALL, Action.FLATTEN):
        entry = find_entry(menu, action)
        assert entry is not None and not entry.enabled


def test_profiles_are_radio_items_with_the_active_one_checked() -> None:
    menu = build_menu(ui())
    profiles = next(entry for entry in menu if entry.label == "Profiles")
    assert [c.label for c in profiles.children] == list(PROFILES)
    assert all(c.radio and c.action is Action.SELECT_PROFILE for c in profiles.children)
    assert [c.checked for c in profiles.children] == [False, True, False]
    assert [c.argument for c in profiles.children] == list(PROFILES)


def test_check_items_follow_flags() -> None:
    base = ui(armed=False)
    assert find_entry(build_menu(base), Action.TOGGLE_ARMED).checked is False  # type: ignore[union-attr]
    armed = UiState(**{**base.__dict__, "armed": True, "action_bar": True})
    assert find_entry(build_menu(armed), Action.TOGGLE_ARMED).checked is True  # type: ignore[union-attr]
    assert find_entry(build_menu(armed), Action.TOGGLE_ACTION_BAR).checked is True  # type: ignore[union-attr]


def test_menu_changes_only_when_state_does() -> None:
    assert build_menu(ui()) == build_menu(ui())
    assert build_menu(ui()) != build_menu(ui(armed=False))


@pytest.mark.parametrize(("snapshot", "expected"), [
    (ui(EngineState.LOCKED, unlocked=False), IconState.LOCKED),
    (ui(EngineState.READY, unlocked=False), IconState.LOCKED),
    (ui(EngineState.CONNECTING), IconState.CONNECTING),
    (ui(EngineState.DISCONNECTED), IconState.CONNECTING),
    (ui(EngineState.ERROR, qty="1"), IconState.ERROR),
    (ui(armed=False), IconState.READY),
    (ui(armed=True), IconState.ARMED),
    (ui(qty="0.002"), IconState.LONG),
    (ui(qty="-3", armed=False), IconState.SHORT),
])
def test_icon_state(snapshot: UiState, expected: IconState) -> None:
    assert icon_state(snapshot) is expected


def test_tooltip_says_environment_profile_position_pnl_stop_rtt_and_offset() -> None:
    snapshot = ui(qty="0.002", entry_price=Decimal("97000.1"), unrealized_pnl=Decimal("1.234"),
                  stop_tier=2, rtt_ms=3.25, clock_offset_ms=-1.5, tick_size=Decimal("0.10"),
                  step_size=Decimal("0.001"))
    assert tooltip(snapshot).splitlines() == [
        "traytrader · SIM · eth-50 · hotkeys armed",
        "BTCUSDT long 0.002 @ 97,000.1 · uPnL +1.23 USDT",
        "Stop: trailing (tier 2)",
        "RTT 3.2 ms · clock offset -1.5 ms",
    ]


def test_tooltip_short_locked_and_unknown_figures() -> None:
    snapshot = ui(EngineState.LOCKED, unlocked=False, qty="-1.5", entry_price=Decimal("3000"),
                  unrealized_pnl=Decimal("-12.5"))
    lines = tooltip(snapshot).splitlines()
    assert lines[0].endswith("vault locked")
    assert lines[1] == "BTCUSDT short 1.5 @ 3,000 · uPnL -12.50 USDT"  # no tick known yet: its digits
    assert lines[2] == "Stop: no stop"
    assert lines[3] == "RTT — · clock offset —"


def test_tooltip_names_the_demo_and_the_reason_the_engine_is_not_ready() -> None:
    snapshot = UiState(status=Status(state=EngineState.ERROR, detail="the API key was rejected"),
                       environment="sim", unlocked=True, demo=True, active_profile="p")
    assert tooltip(snapshot).splitlines()[0] == "traytrader · SIM DEMO · p · error: the API key was rejected"


def test_tooltip_shows_the_last_message_when_notifications_are_missing() -> None:
    snapshot = UiState(notifications_ok=False, last_message="BUY 0.002 BTCUSDT filled")
    assert tooltip(snapshot).splitlines()[-1] == "BUY 0.002 BTCUSDT filled"


def test_tooltip_max_len_drops_lines_from_the_end() -> None:
    snapshot = ui(qty="0.002", entry_price=Decimal("97000.1"), stop_tier=0, rtt_ms=1.0, clock_offset_ms=0.0)
    short = tooltip(snapshot, max_len=80)
    assert len(short) <= 80
    assert short.startswith("traytrader · SIM")


@pytest.mark.parametrize(("tier", "text"), [(None, "no stop"), (0, "hard stop"), (-1, "safety stop"),
                                            (3, "trailing (tier 3)")])
def test_stop_text(tier: int | None, text: str) -> None:
    assert stop_text(Status(stop_tier=tier)) == text
    assert stop_text(Status(stop_tier=tier, stop_text="trailing 1.5%")) == "trailing 1.5%"


def test_engine_stop_text_loses_its_symbol_prefix() -> None:
    engine_text = "BTCUSDT long: stop → 75,375.4 (hard, 2% below entry)"
    status = Status(symbol="BTCUSDT", stop_tier=0, stop_text=engine_text)
    assert stop_text(status) == "stop → 75,375.4 (hard, 2% below entry)"
    assert tooltip(UiState(status=status)).splitlines()[2] == "Stop → 75,375.4 (hard, 2% below entry)"
    assert stop_text(Status(symbol="ETHUSDT", stop_text="trailing 1%: tier 2")) == "trailing 1%: tier 2"


def test_position_text_flat() -> None:
    assert position_text(Status(symbol="ETHUSDT")) == "ETHUSDT flat"
    assert position_text(Status()) == "— flat"


def test_action_bar_facts() -> None:
    from traytrader.ui.action_bar import DOT_COLOURS, facts

    snapshot = ui(qty="0.002", entry_price=Decimal("97000"), last_latency_us=512.0, stop_tier=1)
    texts = facts(snapshot)
    assert texts["profile"] == "eth-50" and texts["state"] == "ready"
    assert texts["latency"] == "last 0.51 ms" and texts["stop"] == "stop: trailing (tier 1)"
    assert texts["dot"] == DOT_COLOURS[EngineState.READY]
    locked = facts(ui(EngineState.READY, unlocked=False, armed=False))
    assert locked["state"] == "locked · disarmed" and locked["dot"] == DOT_COLOURS[EngineState.LOCKED]
    assert locked["latency"] == "last —"


def test_menu_offers_the_profile_close_parts_breakeven_and_add_with_a_position() -> None:
    state = dataclasses.replace(ui(EngineState.READY, qty="0.01"), close_parts=(("scalp", ("25%", "50%")),),
                                active_profile="scalp")
    menu = build_menu(state)
    parts = [entry for entry in menu if entry.label.startswith("Close ") and entry.argument]
    assert [(e.label, e.action, e.argument) for e in parts] == [
        ("Close 25%", Action.CLOSE, "25%"), ("Close 50%", Action.CLOSE, "50%")]
    assert all(e.enabled for e in parts)
    breakeven = find_entry(menu, Action.BREAKEVEN)
    add = find_entry(menu, Action.ADD)
    assert breakeven is not None and breakeven.enabled and add is not None and add.enabled
