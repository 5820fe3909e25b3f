"""When a hotkey (or a ``traytrader send`` line) may send, and the words when it may not (pure).

Rules (issue 7):
* order actions (buy, sell, close, flatten, cancel) need the vault unlocked, the engine READY and
  hotkeys armed;
* a second order press inside the cooldown, or while the previous order is still in flight, sends
  nothing and says so (``xdotool key --repeat 5`` fires five times: the app must absorb that);
* key-repeat from a held key never sends;
* ``live`` always starts disarmed; ``sim`` and ``testnet`` follow ``[hotkeys] armed_on_start``;
* cycle profile needs the vault unlocked and hotkeys armed; toggling the action bar is always allowed.

Time comes in as ``now_ms`` (a monotonic clock read by the caller).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from traytrader.core.models import Environment, HotkeySettings
from traytrader.engine.api import EngineState
from traytrader.ui.menu_model import Action

ORDER_ACTIONS = frozenset({Action.BUY, Action.SELL, Action.CLOSE, Action.FLATTEN, Action.CANCEL_ALL,
                           Action.BREAKEVEN, Action.ADD})

# Which HotkeySettings field binds which action; an empty string leaves it unbound.
HOTKEY_FIELDS: tuple[tuple[str, Action], ...] = (
    ("buy", Action.BUY),
    ("sell", Action.SELL),
    ("flatten", Action.FLATTEN),
    ("close", Action.CLOSE),
    ("cycle_profile", Action.CYCLE_PROFILE),
    ("toggle_action_bar", Action.TOGGLE_ACTION_BAR),
    ("breakeven", Action.BREAKEVEN),
    ("add", Action.ADD),
)

# The defaults are Ctrl+B / Ctrl+S; on macOS users expect Cmd (issue 7).
_MAC_DEFAULTS = {"<ctrl>+b": "<cmd>+b", "<ctrl>+s": "<cmd>+s"}


def bindings(settings: HotkeySettings, platform: str = sys.platform) -> dict[str, Action]:
    """pynput combination → action. Defaults become Cmd+B / Cmd+S on macOS; explicit keys stay."""
    result: dict[str, Action] = {}
    defaults = HotkeySettings()
    for name, action in HOTKEY_FIELDS:
        combo = getattr(settings, name).strip().lower()
        if not combo:
            continue
        if platform == "darwin" and combo == getattr(defaults, name) and combo in _MAC_DEFAULTS:
            combo = _MAC_DEFAULTS[combo]
        result[combo] = action
    for _, combo in settings.close_parts:   # close_25 = "<ctrl>+2": close 25% of the position
        result[combo.strip().lower()] = Action.CLOSE
    return result


def hotkey_arguments(settings: HotkeySettings) -> dict[str, str]:
    """pynput combination → the command's argument, for the keys that carry one (``close_25``)."""
    return {combo.strip().lower(): f"{percent}%" for percent, combo in settings.close_parts}


def human_combo(combo: str) -> str:
    """``<ctrl>+b`` → ``Ctrl+B`` for messages."""
    parts = []
    for part in combo.split("+"):
        part = part.strip("<>")
        parts.append(part.capitalize() if len(part) > 1 else part.upper())
    return "+".join(parts)


def armed_at_start(environment: Environment | str, settings: HotkeySettings) -> bool:
    """``live`` is always disarmed at start, whatever the config says."""
    if Environment(environment) is Environment.LIVE:
        return False
    return settings.armed_on_start


@dataclass(frozen=True)
class Decision:
    send: bool
    reason: str = ""  # one sentence when ``send`` is False


SEND = Decision(True)


class HotkeyGate:
    """Decides each press; remembers the last order sent so that repeats inside the cooldown are absorbed."""

    def __init__(self, cooldown_ms: int, in_flight_limit_ms: int = 5000) -> None:
        self.cooldown_ms = cooldown_ms
        self.in_flight_limit_ms = max(in_flight_limit_ms, cooldown_ms)
        self._last_sent_ms: int | None = None
        self._in_flight = False

    def press(self, action: Action, now_ms: int, *, unlocked: bool, state: EngineState, armed: bool,
              label: str = "", record: bool = True) -> Decision:
        """Whether to send ``action`` now. ``label`` names the key (``Ctrl+B``) in the reason.
        ``record=False`` decides without remembering a send (a walk ahead of the key: nothing
        changes)."""
        name = label or action.value
        if action is Action.TOGGLE_ACTION_BAR:
            return SEND
        if not unlocked:
            return Decision(False, f"Ignored {name}: the vault is locked; unlock it from the tray menu.")
        if not armed:
            return Decision(False, f"Ignored {name}: hotkeys are disarmed; arm them from the tray menu.")
        if action not in ORDER_ACTIONS:
            return SEND
        if state is not EngineState.READY:
            return Decision(False, f"Ignored {name}: the engine is {state.value}, not ready.")
        if self._last_sent_ms is not None:
            since = now_ms - self._last_sent_ms
            if self._in_flight and since < self.in_flight_limit_ms:
                return Decision(False, f"Ignored {name}: the previous order is still in flight.")
            if since < self.cooldown_ms:
                return Decision(False, f"Ignored {name}: pressed again within the "
                                       f"{self.cooldown_ms} ms cooldown.")
        if record:
            self._last_sent_ms = now_ms
            self._in_flight = action in (Action.BUY, Action.SELL, Action.CLOSE, Action.FLATTEN)
        return SEND

    def settled(self) -> None:
        """The engine answered the order in flight (filled, accepted, rejected or done)."""
        self._in_flight = False

    @staticmethod
    def repeat(label: str) -> Decision:
        """A key-repeat press from a held key: never sends."""
        return Decision(False, f"Ignored {label}: key repeat from a held key sends nothing.")


class ChordTracker:
    """Turns raw key presses/releases into chord activations, telling first presses from key repeat.

    Keys are whatever hashable objects the listener gives (pynput canonical keys; strings in tests).
    A press completes a chord when the chord's keys are all held and the pressed key is one of them;
    extra held keys are tolerated (X reports Ctrl+Shift+B to a Ctrl+B binding too). A press of a key
    that is already held is key repeat.
    """

    def __init__(self, chords: dict[frozenset[object], Action]) -> None:
        self._chords = chords
        self._held: set[object] = set()
        self._keys: frozenset[object] = frozenset().union(*chords) if chords else frozenset()

    def starts_chord(self, key: object) -> bool:
        """Whether pressing ``key`` now is a first press of a key some chord needs (a modifier of a
        bound chord going down, typically): a chord may follow."""
        return key in self._keys and key not in self._held

    def press(self, key: object) -> tuple[Action, bool] | None:
        """``(action, is_repeat)`` for the largest chord this press completes, else ``None``."""
        repeat = key in self._held
        self._held.add(key)
        best: frozenset[object] | None = None
        for chord in self._chords:
            if key in chord and chord <= self._held and (best is None or len(chord) > len(best)):
                best = chord
        if best is None:
            return None
        return self._chords[best], repeat

    def release(self, key: object) -> None:
        self._held.discard(key)

    def reset(self) -> None:
        self._held.clear()
