"""Which hotkey backend a session gets, the portal's key syntax, the one-sentence fallback, key
repeat over the portal, and the tray backend choice (pure parts; the real portal and compositor
are in tests/desktop/wayland/)."""

from __future__ import annotations

import dataclasses

import pytest

from traytrader.core.models import HotkeySettings
from traytrader.ui.hotkey_backends import (
    Backend,
    choose_backend,
    desktop_name,
    fallback_sentence,
    portal_shortcuts,
    portal_trigger,
    sway_keys,
    unkeyed_advice,
)
from traytrader.ui.menu_model import Action
from traytrader.ui.portal_shortcuts import HeldShortcuts, PortalShortcuts, PortalUnavailable
from traytrader.ui.tray import TrayFacts
from traytrader.ui.tray import choose_backend as tray_backend

EXE = "/home/u/traytrader/.venv/bin/traytrader"


@pytest.mark.parametrize(("platform", "environ", "expected"), [
    ("linux", {"DISPLAY": ":0"}, Backend.PYNPUT),
    ("linux", {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, Backend.PORTAL),  # XWayland too
    ("linux", {"XDG_SESSION_TYPE": "wayland"}, Backend.PORTAL),
    ("linux", {}, Backend.NONE),
    ("win32", {}, Backend.PYNPUT),
    ("darwin", {"WAYLAND_DISPLAY": "x"}, Backend.PYNPUT),
])
def test_backend_per_session(platform, environ, expected) -> None:
    assert choose_backend(platform, environ) is expected


@pytest.mark.parametrize(("combo", "trigger", "sway"), [
    ("<ctrl>+b", "CTRL+B", "Ctrl+b"),
    ("<ctrl_l>+<alt>+<f5>", "CTRL+ALT+F5", "Ctrl+Alt+F5"),
    ("<cmd>+<shift>+s", "LOGO+SHIFT+S", "Mod4+Shift+s"),
    ("<ctrl>+,", "CTRL+comma", "Ctrl+comma"),
    ("<ctrl>+<space>", "CTRL+space", "Ctrl+space"),
    ("<alt>+1", "ALT+1", "Alt+1"),
])
def test_key_syntax_for_the_portal_and_sway(combo, trigger, sway) -> None:
    assert portal_trigger(combo) == trigger
    assert sway_keys(combo) == sway


def test_every_hotkey_action_is_registered_and_only_configured_keys_are_preferred() -> None:
    settings = HotkeySettings(close="<ctrl>+<alt>+c")
    shortcuts = {s.id: s for s in portal_shortcuts(settings, "linux")}
    assert set(shortcuts) == {"buy", "sell", "close", "flatten", "cycle_profile", "toggle_action_bar",
                              "breakeven", "add"}
    assert shortcuts["buy"].trigger == "CTRL+B" and shortcuts["buy"].action is Action.BUY
    assert shortcuts["close"].trigger == "CTRL+ALT+C" and shortcuts["close"].label == "Ctrl+Alt+C"
    assert shortcuts["flatten"].trigger == "" and shortcuts["flatten"].description


@pytest.mark.parametrize(("environ", "where", "start"), [
    ({"XDG_CURRENT_DESKTOP": "sway"}, "sway", f"~/.config/sway/config: bindsym Ctrl+b exec {EXE} send buy"),
    ({"SWAYSOCK": "/run/sway"}, "sway", "~/.config/sway/config: bindsym Ctrl+b exec"),
    ({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, "GNOME", "Settings → Keyboard → Keyboard Shortcuts"),
    ({"XDG_CURRENT_DESKTOP": "X-Cinnamon"}, "Cinnamon", "System Settings → Keyboard → Shortcuts"),
    ({"HYPRLAND_INSTANCE_SIGNATURE": "x"}, "Hyprland", "~/.config/hypr/hyprland.conf: bind = CTRL, B, exec"),
    ({}, "this Wayland session", "your desktop's keyboard settings"),
])
def test_fallback_is_one_sentence_with_the_exact_binding(environ, where, start) -> None:
    sentence = fallback_sentence(HotkeySettings(), environ, EXE, " --socket /tmp/s")
    assert sentence.startswith(f"Global hotkeys are unavailable in {where} (")
    assert f"so bind the keys in {start}" in sentence
    assert sentence.endswith(".") and ". " not in sentence
    assert f"{EXE} send buy --socket /tmp/s" in sentence and f"{EXE} send sell --socket /tmp/s" in sentence


def test_fallback_lists_every_keyed_order_action_and_skips_those_without_a_send_word() -> None:
    settings = HotkeySettings(flatten="<ctrl>+<alt>+f", cycle_profile="<ctrl>+<alt>+p")
    sentence = fallback_sentence(settings, {"XDG_CURRENT_DESKTOP": "sway"}, "traytrader")
    assert "bindsym Ctrl+Alt+f exec traytrader send flatten" in sentence
    assert "cycle" not in sentence
    assert desktop_name({"XDG_CURRENT_DESKTOP": "KDE"}) == "kde"


def test_actions_without_a_key_get_one_sentence_of_advice_each() -> None:
    advice = unkeyed_advice(HotkeySettings(), Backend.PORTAL)
    assert len(advice) == 6  # close, flatten, cycle_profile, toggle_action_bar, breakeven, add
    close = next(a for a in advice if a.startswith("close"))
    assert "desktop's shortcut settings" in close and "`traytrader send close`" in close
    assert all(a.endswith(".") for a in advice)
    pynput = unkeyed_advice(dataclasses.replace(HotkeySettings(), sell=""), Backend.PYNPUT)
    assert any(a.startswith("sell has no key: set hotkeys.sell") for a in pynput)


def test_held_shortcut_repeats_are_key_repeat_until_released() -> None:
    held = HeldShortcuts(hold_refresh_s=1.0)
    assert held.activated("buy", 10.0) is False
    assert held.activated("buy", 10.65) is True   # KWin's first repeat after ~0.65 s
    assert held.activated("buy", 10.69) is True
    assert held.activated("sell", 10.70) is False  # another shortcut is its own press
    held.deactivated("buy")
    assert held.activated("buy", 10.8) is False    # released, pressed again
    assert held.activated("buy", 12.0) is False    # a stale hold (lost release) expires


def test_no_session_bus_is_one_reason_not_a_traceback() -> None:
    portal = PortalShortcuts(portal_shortcuts(HotkeySettings(), "linux"), lambda *a: None,
                             bus_address="unix:path=/nonexistent/bus")
    with pytest.raises(PortalUnavailable, match="no session D-Bus"):
        portal.start(timeout=5)
    assert not portal.alive


@pytest.mark.parametrize(("facts", "expected"), [
    (TrayFacts(gtk=True, appindicator=True, watcher=True), "appindicator"),
    (TrayFacts(gtk=True, appindicator=True, watcher=False), "gtk"),   # no AppIndicator XEmbed fallback
    (TrayFacts(gtk=True, appindicator=False, watcher=True), "gtk"),
    (TrayFacts(), "xorg"),                                             # pip install traytrader, no extras
])
def test_tray_backend(facts, expected) -> None:
    assert tray_backend("linux", {}, facts) == expected
    assert tray_backend("linux", {"PYSTRAY_BACKEND": "gtk"}, facts) == "gtk"
    assert tray_backend("win32", {}, facts) is None


def test_check_lines_name_the_backend_and_the_missing_keys() -> None:
    from traytrader.ui.hotkey_backends import report_lines

    x11 = report_lines(HotkeySettings(), "linux", {"DISPLAY": ":0"}, "")
    assert x11[0] == "ok    hotkeys: pynput (X11): buy Ctrl+B, sell Ctrl+S"
    assert [line.split(":")[1].split()[0] for line in x11[1:]] == ["flatten", "close", "cycle_profile",
                                                                  "toggle_action_bar", "breakeven", "add"]
    portal = report_lines(HotkeySettings(), "linux", {"WAYLAND_DISPLAY": "w"}, "")
    assert portal[0].startswith("ok    hotkeys: the desktop's GlobalShortcuts portal (Wayland)")
    assert "desktop's shortcut settings" in portal[1]
    missing = report_lines(HotkeySettings(), "linux", {"WAYLAND_DISPLAY": "w", "SWAYSOCK": "s"},
                           "this desktop offers no GlobalShortcuts portal")
    assert len(missing) == 1 and missing[0].startswith("warn  hotkeys: none; Global hotkeys are unavailable")
    assert report_lines(HotkeySettings(), "linux", {}, "")[0].startswith("note  hotkeys: none (no display")
    assert "Accessibility" in report_lines(HotkeySettings(), "darwin", {}, "")[1]
