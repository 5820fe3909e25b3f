"""Which global-hotkey backend this session gets, and the words for when it gets none (pure).

* X11, Windows, macOS: pynput (``hotkeys.py``) sees every key press.
* Wayland: pynput sees only keys typed into X11 (XWayland) windows, so the actions are registered
  with the desktop through ``org.freedesktop.portal.GlobalShortcuts`` (``portal_shortcuts.py``):
  KDE Plasma 5.27+/6, GNOME 48+ and Hyprland implement it.
* Wayland without that portal (sway, Cinnamon, older GNOME): the user binds ``traytrader send``
  in the compositor; ``fallback_sentence`` says exactly what to write, in one sentence.

Nothing here does I/O or reads a clock: the environment comes in as a mapping.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from traytrader.core.models import HotkeySettings
from traytrader.ui.hotkey_gate import HOTKEY_FIELDS, bindings, human_combo
from traytrader.ui.menu_model import Action


class Backend(StrEnum):
    PYNPUT = "pynput"
    PORTAL = "portal"
    NONE = "none"


# What each action is called in the portal's list (the shortcut id) and in the desktop's settings.
DESCRIPTIONS: dict[Action, str] = {
    Action.BUY: "Buy (the active profile's preset order)",
    Action.SELL: "Sell (the active profile's preset order)",
    Action.CLOSE: "Close the position",
    Action.FLATTEN: "Flatten: close everything and cancel orders",
    Action.CYCLE_PROFILE: "Switch to the next profile",
    Action.TOGGLE_ACTION_BAR: "Show or hide the action bar",
    Action.BREAKEVEN: "Move the stop to breakeven (entry plus fees)",
    Action.ADD: "Add to the position",
}

# ``traytrader send`` words (ui/control_socket.py); actions without one have no compositor binding.
SEND_WORDS: dict[Action, str] = {Action.BREAKEVEN: "breakeven", Action.ADD: "add",
                                 Action.BUY: "buy", Action.SELL: "sell", Action.CLOSE: "close",
                                 Action.FLATTEN: "flatten", Action.CANCEL_ALL: "cancel"}

_PORTAL_MODIFIERS = {"ctrl": "CTRL", "alt": "ALT", "alt_gr": "ALT", "shift": "SHIFT", "cmd": "LOGO",
                     "super": "LOGO"}
# pynput key names → XKB keysym names (the portal's trigger syntax, the XDG shortcuts spec).
_KEYSYMS = {"space": "space", "enter": "Return", "tab": "Tab", "esc": "Escape", "backspace": "BackSpace",
            "delete": "Delete", "insert": "Insert", "home": "Home", "end": "End", "page_up": "Prior",
            "page_down": "Next", "up": "Up", "down": "Down", "left": "Left", "right": "Right",
            "pause": "Pause", "print_screen": "Print", "menu": "Menu"}
_PUNCTUATION = {",": "comma", ".": "period", "/": "slash", ";": "semicolon", "'": "apostrophe",
                "[": "bracketleft", "]": "bracketright", "-": "minus", "=": "equal", "`": "grave",
                "\\": "backslash"}
_EXAMPLE_KEYS = {Action.BUY: "b", Action.SELL: "s", Action.CLOSE: "c", Action.FLATTEN: "f",
                 Action.CYCLE_PROFILE: "p", Action.TOGGLE_ACTION_BAR: "a"}
_DISPLAY_NAMES = {"gnome": "GNOME", "kde": "KDE Plasma", "cinnamon": "Cinnamon", "hyprland": "Hyprland",
                  "xfce": "Xfce", "mate": "MATE", "lxqt": "LXQt"}
_SWAY_MODIFIERS = {"ctrl": "Ctrl", "alt": "Alt", "alt_gr": "Mod5", "shift": "Shift", "cmd": "Mod4",
                   "super": "Mod4"}


def is_wayland(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("WAYLAND_DISPLAY")) or environ.get("XDG_SESSION_TYPE") == "wayland"


def choose_backend(platform: str = sys.platform, environ: Mapping[str, str] | None = None) -> Backend:
    """pynput on X11/Windows/macOS, the portal on Wayland, none without a display."""
    environ = {} if environ is None else environ
    if platform in ("win32", "darwin"):
        return Backend.PYNPUT
    if is_wayland(environ):
        return Backend.PORTAL
    if environ.get("DISPLAY"):
        return Backend.PYNPUT
    return Backend.NONE


def desktop_name(environ: Mapping[str, str]) -> str:
    """``sway``, ``gnome``, ``kde``, ``hyprland``, ``cinnamon``… (lower case), or ``""``."""
    if environ.get("SWAYSOCK"):
        return "sway"
    if environ.get("HYPRLAND_INSTANCE_SIGNATURE"):
        return "hyprland"
    current = environ.get("XDG_CURRENT_DESKTOP", "") or environ.get("XDG_SESSION_DESKTOP", "")
    names = [part.strip().lower() for part in current.split(":") if part.strip()]
    for known in ("sway", "hyprland", "kde", "gnome", "cinnamon", "x-cinnamon", "xfce", "mate", "lxqt"):
        if known in names:
            return "cinnamon" if known == "x-cinnamon" else known
    return names[0] if names else ""


def _parts(combo: str) -> tuple[list[str], str]:
    """``<ctrl>+<alt>+b`` → (["ctrl", "alt"], "b"); side-specific modifiers lose their side."""
    names = [part.strip() for part in combo.lower().split("+") if part.strip()]
    modifiers, key = [], ""
    for name in names:
        bare = name.strip("<>")
        base = bare[:-2] if bare.endswith(("_l", "_r")) else bare
        if name.startswith("<") and base in _PORTAL_MODIFIERS:
            modifiers.append(base)
        else:
            key = bare
    return modifiers, key


def portal_trigger(combo: str) -> str:
    """pynput ``<ctrl>+b`` → the portal's ``preferred_trigger`` ``CTRL+B`` (modifiers, then a keysym)."""
    modifiers, key = _parts(combo)
    if not key:
        return ""
    if len(key) == 1:
        keysym = _PUNCTUATION.get(key, key.upper())
    elif key.startswith("f") and key[1:].isdigit():
        keysym = key.upper()
    else:
        keysym = _KEYSYMS.get(key, key.capitalize())
    return "+".join([*(_PORTAL_MODIFIERS[m] for m in modifiers), keysym])


def sway_keys(combo: str) -> str:
    """pynput ``<ctrl>+b`` → sway's ``Ctrl+b``."""
    modifiers, key = _parts(combo)
    keysym = _PUNCTUATION.get(key, key) if len(key) == 1 else _KEYSYMS.get(key, key.capitalize())
    if key.startswith("f") and key[1:].isdigit():
        keysym = key.upper()
    return "+".join([*(_SWAY_MODIFIERS[m] for m in modifiers), keysym])


@dataclass(frozen=True)
class PortalShortcut:
    """One action as the portal sees it: ``id`` is the action's config name (``buy``)."""

    id: str
    action: Action
    description: str
    trigger: str   # preferred_trigger, "" when the config gives the action no key
    label: str     # what messages call the key (``Ctrl+B``), or the action name when it has none


def portal_shortcuts(settings: HotkeySettings, platform: str = sys.platform) -> list[PortalShortcut]:
    """Every hotkey action, keyed or not: the desktop's settings let the user give a key to the rest."""
    by_action = {action: combo for combo, action in bindings(settings, platform).items()}
    result = []
    for name, action in HOTKEY_FIELDS:
        combo = by_action.get(action, "")
        result.append(PortalShortcut(name, action, DESCRIPTIONS.get(action, name),
                                     portal_trigger(combo) if combo else "",
                                     human_combo(combo) if combo else name.replace("_", " ")))
    return result


def send_command(word: str, executable: str, socket_arg: str = "") -> str:
    """The shell command a compositor runs for one action."""
    return f"{executable} send {word}{socket_arg}"


def fallback_sentence(settings: HotkeySettings, environ: Mapping[str, str], executable: str,
                      socket_arg: str = "", reason: str = "") -> str:
    """ONE sentence: global shortcuts are unavailable here, and the exact binding to add instead."""
    keyed = [(combo, SEND_WORDS[action]) for combo, action in bindings(settings, "linux").items()
             if action in SEND_WORDS]
    if not keyed:
        keyed = [("<ctrl>+b", "buy"), ("<ctrl>+s", "sell")]
    desktop = desktop_name(environ)
    why = reason or "this desktop offers no GlobalShortcuts portal"
    where = _DISPLAY_NAMES.get(desktop, desktop) or "this Wayland session"
    head = f"Global hotkeys are unavailable in {where} ({why}), so bind the keys in "
    if desktop == "sway":
        lines = "; ".join(f"bindsym {sway_keys(c)} exec {send_command(w, executable, socket_arg)}"
                          for c, w in keyed)
        return f"{head}~/.config/sway/config: {lines}."
    if desktop == "hyprland":
        lines = "; ".join(f"bind = {', '.join(_hypr(c))}, exec, {send_command(w, executable, socket_arg)}"
                          for c, w in keyed)
        return f"{head}~/.config/hypr/hyprland.conf: {lines}."
    pairs = ", ".join(f"{human_combo(c)} runs `{send_command(w, executable, socket_arg)}`" for c, w in keyed)
    if desktop == "gnome":
        return f"{head}Settings → Keyboard → Keyboard Shortcuts → Custom Shortcuts: {pairs}."
    if desktop == "cinnamon":
        return f"{head}System Settings → Keyboard → Shortcuts → Custom Shortcuts: {pairs}."
    return f"{head}your desktop's keyboard settings as custom shortcuts: {pairs}."


def _hypr(combo: str) -> tuple[str, str]:
    modifiers, key = _parts(combo)
    return " ".join(m.upper() if m != "cmd" else "SUPER" for m in modifiers), key.upper()


def unkeyed_advice(settings: HotkeySettings, backend: Backend, executable: str = "traytrader") -> list[str]:
    """For each hotkey action without a key: what the user must do to get one (one sentence each)."""
    advice = []
    for shortcut in portal_shortcuts(settings):
        if shortcut.trigger:
            continue
        name, action = shortcut.id, shortcut.action
        send = (f", or bind `{send_command(SEND_WORDS[action], executable)}` in your desktop"
                if action in SEND_WORDS else "")
        if backend is Backend.PORTAL:
            advice.append(f"{name} has no key: give it one in the desktop's shortcut settings (listed under "
                          f"traytrader) or set hotkeys.{name} in the config{send}.")
        else:
            advice.append(f"{name} has no key: set hotkeys.{name} in the config (for example "
                          f"\"<ctrl>+<alt>+{_EXAMPLE_KEYS.get(action, 'k')}\"){send}.")
    return advice


def report_lines(settings: HotkeySettings, platform: str, environ: Mapping[str, str], portal_problem: str,
                 executable: str = "traytrader") -> list[str]:
    """``traytrader check``'s hotkey lines: the active backend, then what to do for each unkeyed
    action. ``portal_problem`` is ``portal_shortcuts.probe()``'s answer ("" = the portal works)."""
    backend = choose_backend(platform, environ)
    keyed = ", ".join(f"{s.id} {s.label}" for s in portal_shortcuts(settings, platform) if s.trigger)
    if backend is Backend.PORTAL and portal_problem:
        sentence = fallback_sentence(settings, environ, executable, reason=portal_problem)
        return [f"warn  hotkeys: none; {sentence}"]
    if backend is Backend.NONE:
        return ["note  hotkeys: none (no display here); `traytrader run --console` reads commands, and "
                "`traytrader send` drives a running instance"]
    if backend is Backend.PORTAL:
        lines = [f"ok    hotkeys: the desktop's GlobalShortcuts portal (Wayland): {keyed or 'no keys set'}"]
    else:
        where = {"win32": "Windows", "darwin": "macOS"}.get(platform, "X11")
        lines = [f"ok    hotkeys: pynput ({where}): {keyed or 'no keys set'}"]
        if platform == "darwin":
            lines.append("note  hotkeys: macOS asks once to allow traytrader under Privacy & Security → "
                         "Accessibility (Input Monitoring)")
    return lines + [f"note  hotkeys: {advice}" for advice in unkeyed_advice(settings, backend, executable)]
