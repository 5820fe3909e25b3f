"""Hotkeys fire only while unlocked + READY + armed; repeats and presses inside the cooldown send nothing."""

from __future__ import annotations

import pytest

from traytrader.core.models import Environment, HotkeySettings
from traytrader.engine.api import EngineState
from traytrader.ui.hotkey_gate import ChordTracker, HotkeyGate, armed_at_start, bindings, human_combo
from traytrader.ui.menu_model import Action

READY = EngineState.READY


def press(gate: HotkeyGate, now: int, action: Action = Action.BUY, **kw: object):
    args = {"unlocked": True, "state": READY, "armed": True, "label": "Ctrl+B"} | kw
    return gate.press(action, now, **args)  # type: ignore[arg-type]


def test_sends_when_unlocked_ready_and_armed() -> None:
    assert press(HotkeyGate(500), 0).send


@pytest.mark.parametrize(("kw", "words"), [
    ({"unlocked": False}, "vault is locked"),
    ({"armed": False}, "disarmed"),
    ({"state": EngineState.CONNECTING}, "connecting, not ready"),
    ({"state": EngineState.DISCONNECTED}, "disconnected"),
    ({"state": EngineState.ERROR}, "error"),
])
def test_refuses_and_says_why(kw: dict, words: str) -> None:
    decision = press(HotkeyGate(500), 0, **kw)
    assert not decision.send
    assert decision.reason.startswith("Ignored Ctrl+B: ") and words in decision.reason
    assert decision.reason.endswith(".")


def test_second_press_inside_cooldown_sends_nothing_even_after_the_answer() -> None:
    gate = HotkeyGate(500)
    assert press(gate, 1000).send
    gate.settled()
    refused = press(gate, 1499, Action.SELL, label="Ctrl+S")
    assert not refused.send and "500 ms cooldown" in refused.reason and "Ctrl+S" in refused.reason
    assert press(gate, 1500).send


def test_press_while_in_flight_is_refused_past_the_cooldown() -> None:
    gate = HotkeyGate(500, in_flight_limit_ms=5000)
    assert press(gate, 0).send
    refused = press(gate, 900)
    assert not refused.send and "still in flight" in refused.reason
    gate.settled()
    assert press(gate, 901).send


def test_in_flight_guard_expires_so_a_lost_answer_never_locks_the_keys() -> None:
    gate = HotkeyGate(500, in_flight_limit_ms=2000)
    assert press(gate, 0).send
    assert not press(gate, 1999).send
    assert press(gate, 2000).send


def test_refused_press_does_not_restart_the_cooldown() -> None:
    gate = HotkeyGate(500)
    assert press(gate, 0).send
    gate.settled()
    assert not press(gate, 400).send
    assert press(gate, 500).send


def test_xdotool_repeat_five_sends_one() -> None:
    gate = HotkeyGate(500)
    sent = [press(gate, t).send for t in (0, 20, 40, 60, 80)]
    assert sent == [True, False, False, False, False]


def test_cancel_is_not_in_flight_but_keeps_the_cooldown() -> None:
    gate = HotkeyGate(500)
    assert press(gate, 0, Action.CANCEL_ALL).send
    assert not press(gate, 100).send
    assert press(gate, 500).send


def test_toggle_action_bar_always_allowed_and_cycle_needs_unlock_and_arm() -> None:
    gate = HotkeyGate(500)
    assert press(gate, 0, Action.TOGGLE_ACTION_BAR, unlocked=False, armed=False).send
    assert not press(gate, 0, Action.CYCLE_PROFILE, unlocked=False).send
    assert not press(gate, 0, Action.CYCLE_PROFILE, armed=False).send
    assert press(gate, 0, Action.CYCLE_PROFILE, state=EngineState.CONNECTING).send


def test_repeat_never_sends() -> None:
    decision = HotkeyGate.repeat("Ctrl+B")
    assert not decision.send and "key repeat" in decision.reason


def test_live_always_starts_disarmed() -> None:
    armed = HotkeySettings(armed_on_start=True)
    assert armed_at_start(Environment.LIVE, armed) is False
    assert armed_at_start(Environment.SIM, armed) is True
    assert armed_at_start("testnet", armed) is True
    assert armed_at_start(Environment.TESTNET, HotkeySettings(armed_on_start=False)) is False


def test_bindings_defaults_and_mac() -> None:
    assert bindings(HotkeySettings(), "linux") == {"<ctrl>+b": Action.BUY, "<ctrl>+s": Action.SELL}
    assert bindings(HotkeySettings(), "darwin") == {"<cmd>+b": Action.BUY, "<cmd>+s": Action.SELL}
    custom = HotkeySettings(buy="<ctrl>+<alt>+b", sell="<ctrl>+s", flatten="<f9>", close="<ctrl>+<alt>+c",
                            cycle_profile="<ctrl>+<alt>+p", toggle_action_bar="<ctrl>+<alt>+a")
    mac = bindings(custom, "darwin")
    assert mac["<ctrl>+<alt>+b"] is Action.BUY  # explicit keys are not translated
    assert mac["<cmd>+s"] is Action.SELL
    assert mac["<f9>"] is Action.FLATTEN
    assert set(mac.values()) == {Action.BUY, Action.SELL, Action.FLATTEN, Action.CLOSE, Action.CYCLE_PROFILE,
                                 Action.TOGGLE_ACTION_BAR}


def test_human_combo() -> None:
    assert human_combo("<ctrl>+b") == "Ctrl+B"
    assert human_combo("<ctrl>+<alt>+<f9>") == "Ctrl+Alt+F9"


CHORDS = {frozenset({"ctrl", "b"}): Action.BUY, frozenset({"ctrl", "s"}): Action.SELL,
          frozenset({"ctrl", "shift", "b"}): Action.FLATTEN}


def test_chord_fires_once_on_the_completing_press() -> None:
    tracker = ChordTracker(CHORDS)
    assert tracker.press("ctrl") is None
    assert tracker.press("b") == (Action.BUY, False)
    tracker.release("b")
    assert tracker.press("b") == (Action.BUY, False)  # a new press while Ctrl is held


def test_held_key_autorepeat_is_reported_as_repeat() -> None:
    tracker = ChordTracker(CHORDS)
    tracker.press("ctrl")
    assert tracker.press("b") == (Action.BUY, False)
    assert tracker.press("b") == (Action.BUY, True)
    assert tracker.press("b") == (Action.BUY, True)


def test_modifier_repeat_does_not_fire_a_chord_without_its_key() -> None:
    tracker = ChordTracker(CHORDS)
    assert tracker.press("ctrl") is None
    assert tracker.press("ctrl") is None


def test_largest_chord_wins_and_extra_modifiers_are_tolerated() -> None:
    tracker = ChordTracker(CHORDS)
    tracker.press("ctrl")
    tracker.press("shift")
    assert tracker.press("b") == (Action.FLATTEN, False)
    only_ctrl_b = ChordTracker({frozenset({"ctrl", "b"}): Action.BUY})
    only_ctrl_b.press("ctrl")
    only_ctrl_b.press("alt")
    assert only_ctrl_b.press("b") == (Action.BUY, False)


def test_release_and_reset() -> None:
    tracker = ChordTracker(CHORDS)
    tracker.press("ctrl")
    tracker.release("ctrl")
    assert tracker.press("b") is None
    tracker.press("ctrl")
    tracker.reset()
    assert tracker.press("s") is None


def test_bindings_include_breakeven_add_and_close_parts() -> None:
    from traytrader.ui.hotkey_gate import hotkey_arguments

    settings = HotkeySettings(breakeven="<ctrl>+e", add="<ctrl>+a",
                              close_parts=((25, "<ctrl>+2"), (50, "<ctrl>+5")))
    combos = bindings(settings, "linux")
    assert combos["<ctrl>+e"] is Action.BREAKEVEN and combos["<ctrl>+a"] is Action.ADD
    assert combos["<ctrl>+2"] is Action.CLOSE and combos["<ctrl>+5"] is Action.CLOSE
    assert hotkey_arguments(settings) == {"<ctrl>+2": "25%", "<ctrl>+5": "50%"}


def test_a_chord_starts_with_the_first_press_of_one_of_its_keys() -> None:
    tracker = ChordTracker(CHORDS)
    assert tracker.starts_chord("ctrl")
    tracker.press("ctrl")
    assert not tracker.starts_chord("ctrl")   # held: key repeat starts nothing
    assert not tracker.starts_chord("x")      # in no chord
    tracker.release("ctrl")
    assert tracker.starts_chord("ctrl")
    assert not ChordTracker({}).starts_chord("ctrl")


def test_a_walk_through_the_gate_records_nothing() -> None:
    gate = HotkeyGate(500)
    assert press(gate, 0, record=False).send
    assert press(gate, 1).send            # no cooldown was started by the walk
    assert not press(gate, 2, record=False).send   # and a walk sees the real cooldown
    gate.settled()
    assert press(gate, 501).send
