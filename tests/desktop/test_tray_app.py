"""The whole desktop app with real parts: Xvfb, trayer, D-Bus notifications, pynput, gtk tray,
the real engine and the real simulator on loopback.

Key presses come from ``xdotool`` (through the X server and pynput's RECORD listener, as a user's
would); orders are checked in the simulator's ``/sim/state``; notifications in the recording
server. The app runs in this process (gtk in a background thread is fine on Linux), so the test
can also run pystray menu items exactly as a click would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from desktop_kit import Watcher

from traytrader.engine.api import EngineState
from traytrader.ui.menu_model import Action

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parents[2]
COOLDOWN_MS = 300  # shorter than the example's 500 ms, longer than xdotool's 3 x 20 ms repeat


def after_cooldown() -> None:
    """The cooldown is a timer: waiting for it to run out is the condition itself."""
    time.sleep(COOLDOWN_MS / 1000 + 0.05)


def wait_until(fn: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll an external condition (the simulator's HTTP state) until true or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


@dataclass
class Running:
    app: Any
    tray_app: Any
    sim: Any
    watcher: Watcher
    thread: threading.Thread
    socket_path: Path
    desktop: Any
    baseline: set[threading.Thread]
    notes_start: int  # notifications before this module (the server is shared by the session)

    def sim_state(self) -> dict:
        with urllib.request.urlopen(self.sim.rest_url + "/sim/state", timeout=5) as response:
            return json.loads(response.read())

    def orders(self) -> list[dict]:
        return [o for o in self.sim_state()["orders"] if o["kind"] == "order"]

    def position(self, symbol: str = "BTCUSDT") -> str:
        for account in self.sim_state()["accounts"]:
            for position in account["positions"]:
                if position["symbol"] == symbol:
                    return position["positionAmt"]
        return "0"


@pytest.fixture(scope="module")
def running(desktop) -> Iterator[Running]:
    from traytrader.commands.demo_cmd import demo_config, demo_credentials
    from traytrader.sim import SimOptions, SimThread
    from traytrader.ui.app import DesktopApp
    from traytrader.ui.notify import plyer_send
    from traytrader.ui.tray_app import DesktopOptions, TrayApp, engine_factory

    sim = SimThread(SimOptions(port=0, seed=7)).start()
    baseline = set(threading.enumerate())
    notes_start = len(desktop.notifications.received)
    config = demo_config(sim.rest_url, sim.ws_api_url, sim.stream_url)
    config = dataclasses.replace(config, safety=dataclasses.replace(config.safety, cooldown_ms=COOLDOWN_MS))
    # The trader's toolkit on keys of its own (issue 16): breakeven, add, close half.
    toolkit_keys = {"breakeven": "<ctrl>+<alt>+e", "add": "<ctrl>+<alt>+a",
                    "close_parts": ((50, "<ctrl>+<alt>+5"),)}
    config = dataclasses.replace(config, hotkeys=dataclasses.replace(config.hotkeys, **toolkit_keys))
    journal = desktop.tmp / "journal.sqlite3"
    socket_path = desktop.tmp / "ctl" / "control.sock"
    app = DesktopApp(config, engine_factory(config, journal), preset_credentials=demo_credentials(),
                     demo=True, journal_path=journal)
    watcher = Watcher()
    app.add_view(watcher)
    tray_app = TrayApp(app, DesktopOptions(backend="gtk", socket_path=socket_path, send=plyer_send))
    thread = threading.Thread(target=tray_app.run, name="test-tray-main")
    thread.start()
    try:
        assert tray_app.ready.wait(30), "the tray never became ready"
        watcher.wait(lambda ui: ui.unlocked and ui.status.state is EngineState.READY, timeout=30)
        yield Running(app, tray_app, sim, watcher, thread, socket_path, desktop, baseline, notes_start)
    finally:
        tray_app.quit()
        thread.join(3)
        sim.stop()


def test_ctrl_b_sends_an_order_and_a_fill_notification_arrives(running: Running) -> None:
    notes = running.desktop.notifications
    start = len(notes.received)
    before = len(running.orders())
    running.desktop.xdotool("key", "ctrl+b")
    orders = wait_until(lambda: running.orders()[before:], what="an order in the simulator")
    assert orders[0]["side"] == "BUY" and orders[0]["symbol"] == "BTCUSDT" and orders[0]["type"] == "MARKET"
    fill = notes.wait_for(lambda r: r.summary.startswith("Bought "), start=start)
    # BTCUSDT's step is 0.001 and its tick 0.10: the quantity and the price read at them
    assert fill.summary == "Bought 0.002 BTCUSDT" and fill.app_name == "traytrader"
    assert re.fullmatch(r"at \d{2,3},\d{3}\.\d( · fee \d+\.\d\d USDT)? · [\d.]+ ms \([\d.]+ ms to send\)",
                        fill.body), fill.body
    running.watcher.wait(lambda ui: ui.status.position_qty > 0)
    position = running.tray_app.tray.icon.title.splitlines()[1]
    assert re.fullmatch(r"BTCUSDT long 0\.002 @ \d{2,3},\d{3}\.\d · uPnL [+-]?\d+\.\d\d USDT",
                        position), position


def test_holding_ctrl_walks_the_key_path_until_it_goes_up_and_sends_nothing(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl is the first key of Ctrl+B: while it is held the engine walks the key path every
    millisecond (``EntryArming.prime_key_path``); when it goes up the walks stop."""
    from traytrader.engine import entry_arming

    monkeypatch.setattr(entry_arming, "PRIMED_FOR_S", 600.0)   # only Ctrl going up can stop them
    dispatcher = running.app.engine.dispatcher
    orders_before = len(running.orders())
    running.desktop.xdotool("keydown", "ctrl")
    try:
        wait_until(lambda: dispatcher._priming is not None, what="walks while Ctrl is held")
    finally:
        running.desktop.xdotool("keyup", "ctrl")
    wait_until(lambda: dispatcher._priming is None, what="the walks stopped when Ctrl went up")
    assert len(running.orders()) == orders_before


def test_a_stop_follows_the_fill(running: Running) -> None:
    """The newcomer's promise: within seconds of the fill, a stop-loss sits on the exchange and a
    notification says so (the ASL driver, engine/asl_driver.py, places it)."""
    notes = running.desktop.notifications
    stop = notes.wait_for(lambda r: r.summary.startswith("BTCUSDT stop"), start=running.notes_start,
                          timeout=10)
    assert stop.summary == "BTCUSDT stop placed"   # the first stop is placed; later ones move
    assert re.fullmatch(r"BTCUSDT long: stop → \d{2,3},\d{3}\.\d \(hard, .*\)", stop.body), stop.body
    algos = [o for o in running.sim_state()["orders"] if o["kind"] == "algo" and o["status"] == "NEW"]
    assert algos and algos[0]["side"] == "SELL"


def test_repeat_inside_cooldown_sends_nothing_and_says_so(running: Running) -> None:
    notes = running.desktop.notifications
    after_cooldown()
    start = len(notes.received)
    before = len(running.orders())
    running.desktop.xdotool("key", "--repeat", "3", "--delay", "20", "ctrl+s")
    refused = notes.wait_for(lambda r: r.summary == "Not sent", start=start)
    assert "Ctrl+S" in refused.body
    orders = wait_until(lambda: running.orders()[before:], what="the one SELL")
    # the SELL closed the long: the notification says so, with the realised PnL in USDT
    closed = notes.wait_for(lambda r: r.summary.startswith("Closed "), start=start)
    assert closed.summary == "Closed BTCUSDT long 0.002", closed.summary
    pattern = (r"at \d{2,3},\d{3}\.\d · realised PnL [+-]?\d+\.\d\d USDT( \(fee \d+\.\d\d USDT\))? · "
               r"[\d.]+ ms \([\d.]+ ms to send\)")
    assert re.fullmatch(pattern, closed.body), closed.body
    assert len(running.orders()[before:]) == 1 and orders[0]["side"] == "SELL"


def test_tray_menu_profile_switch_disarm_and_flatten(running: Running) -> None:
    tray = running.tray_app.tray
    notes = running.desktop.notifications
    # profile switch through the pystray radio item
    assert tray.activate(Action.SELECT_PROFILE, "sol-qty")
    running.watcher.wait(lambda ui: ui.active_profile == "sol-qty" and ui.status.profile == "sol-qty")
    assert tray.activate(Action.SELECT_PROFILE, "btc-100")
    running.watcher.wait(lambda ui: ui.status.profile == "btc-100")
    # disarm: Ctrl+B now sends nothing and says so
    assert tray.activate(Action.TOGGLE_ARMED)
    running.watcher.wait(lambda ui: not ui.armed)
    start, before = len(notes.received), len(running.orders())
    running.desktop.xdotool("key", "ctrl+b")
    refused = notes.wait_for(lambda r: r.summary == "Not sent", start=start)
    assert "disarmed" in refused.body and len(running.orders()) == before
    assert tray.activate(Action.TOGGLE_ARMED)
    running.watcher.wait(lambda ui: ui.armed)
    after_cooldown()
    # open a position, then flatten from the menu
    running.desktop.xdotool("key", "ctrl+b")
    wait_until(lambda: running.position() not in ("0", "0.000"), what="a position")
    running.watcher.wait(lambda ui: ui.status.position_qty != 0)
    assert tray.activate(Action.FLATTEN)
    wait_until(lambda: running.position() in ("0", "0.000"), what="flat after Flatten")


def test_action_bar_buttons_are_clickable(running: Running) -> None:
    tray = running.tray_app.tray
    assert tray.activate(Action.TOGGLE_ACTION_BAR)
    running.watcher.wait(lambda ui: ui.action_bar)
    bar = wait_until(lambda: running.tray_app.bar, what="the action bar object")
    window = wait_until(bar.window_id, what="the action bar window")
    running.desktop.xdotool("search", "--sync", "--onlyvisible", "--name", "^traytrader$")
    geometry = running.desktop.xdotool("getwindowgeometry", str(window))
    assert "x60" in geometry  # 60 px high
    after_cooldown()
    before = len(running.orders())
    # the BUY button sits right of the connection dot
    running.desktop.xdotool("mousemove", "--window", str(window), "85", "30", "click", "1")
    orders = wait_until(lambda: running.orders()[before:], what="an order from the BUY button")
    assert orders[0]["side"] == "BUY"
    after_cooldown()
    before = len(running.orders())
    running.desktop.xdotool("mousemove", "--window", str(window), "195", "30", "click", "1")
    orders = wait_until(lambda: running.orders()[before:], what="an order from the SELL button")
    assert orders[0]["side"] == "SELL"


def geometry(running: Running, window: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of an X window, from xdotool."""
    out = running.desktop.xdotool("getwindowgeometry", window)
    x, y = re.search(r"Position: (-?\d+),(-?\d+)", out).groups()  # type: ignore[union-attr]
    w, h = re.search(r"Geometry: (\d+)x(\d+)", out).groups()      # type: ignore[union-attr]
    return int(x), int(y), int(w), int(h)


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_action_bar_shows_every_position_and_sits_clear_of_tray_and_notifications(running: Running) -> None:
    """Two positions (SOLUSDT from the sol-qty profile, BTCUSDT from the active btc-100): the bar
    reads both, the active one first with its uPnL; it is not under trayer (the tray panel, top
    right) nor in the right-hand column where notification servers draw."""
    bar, tray = running.tray_app.bar, running.tray_app.tray
    running.watcher.wait(lambda ui: ui.action_bar)
    assert tray.activate(Action.SELECT_PROFILE, "sol-qty")
    running.watcher.wait(lambda ui: ui.status.profile == "sol-qty")
    after_cooldown()
    running.app.do(Action.BUY, "", "actionbar")
    wait_until(lambda: running.position("SOLUSDT") not in ("0", "0.0", "0.00"), what="a SOLUSDT position")
    assert tray.activate(Action.SELECT_PROFILE, "btc-100")
    running.watcher.wait(lambda ui: ui.status.profile == "btc-100")
    after_cooldown()
    running.app.do(Action.BUY, "", "actionbar")
    running.watcher.wait(lambda ui: ui.status.position_qty > 0 and len(ui.status.positions) == 2)
    shown = wait_until(lambda: bar.shown if "SOLUSDT" in " ".join(bar.shown)
                       and bar.shown[0].startswith("BTCUSDT long") else None, what="both positions")
    first, second = shown
    assert re.match(r"BTCUSDT long 0\.\d{3} @ \d{2,3},\d{3}\.\d  uPnL [+-]?\d+\.\d\d USDT", first), first
    assert re.search(r"SOLUSDT long [\d.]+  [+-]?\d+\.\d\d USDT", second), second
    assert "ready · armed" in second
    window = geometry(running, str(bar.window_id()))
    trayer = geometry(running, running.desktop.xdotool("search", "--class", "trayer").split()[0])
    assert not overlap(window, trayer), (window, trayer)
    screen_width = 1280
    assert window[0] + window[2] <= screen_width - 380, window   # dunst, KDE, Windows: a 380 px column
    assert window[1] > 800 // 2, window                          # bottom half: GNOME's banners are on top


def test_action_bar_is_keyboard_usable_and_escape_only_hides_it(running: Running) -> None:
    bar = running.tray_app.bar
    running.watcher.wait(lambda ui: ui.action_bar)
    window = str(bar.window_id())
    after_cooldown()
    before = len(running.orders())
    running.desktop.xdotool("windowfocus", "--sync", window)
    running.desktop.xdotool("key", "b")
    orders = wait_until(lambda: running.orders()[before:], what="an order from the b key")
    assert orders[0]["side"] == "BUY"
    # Ctrl+B with the bar focused is the global hotkey alone: one order, not one more from "b"
    after_cooldown()
    notes = running.desktop.notifications
    start, before = len(notes.received), len(running.orders())
    running.desktop.xdotool("windowfocus", "--sync", window)
    running.desktop.xdotool("key", "ctrl+b")
    notes.wait_for(lambda r: r.summary.startswith(("Bought ", "Closed ", "Reduced ")), start=start)
    running.app.refresh()
    assert len(running.orders()) == before + 1, running.orders()[before:]
    assert not [r for r in notes.received[start:] if r.summary in ("Not sent", "Order refused")]
    after_cooldown()
    before = len(running.orders())
    running.desktop.xdotool("windowfocus", "--sync", window)
    running.desktop.xdotool("key", "Tab", "Return")  # focus moves BUY → SELL; Enter presses it
    orders = wait_until(lambda: running.orders()[before:], what="an order from Tab + Enter")
    assert orders[0]["side"] == "SELL"
    running.desktop.xdotool("windowfocus", "--sync", window)
    running.desktop.xdotool("key", "Escape")
    running.watcher.wait(lambda ui: not ui.action_bar)
    assert running.app.ui.status.state is EngineState.READY and running.app.engine is not None
    assert running.tray_app.tray.activate(Action.TOGGLE_ACTION_BAR)  # back, for the menu test
    running.watcher.wait(lambda ui: ui.action_bar)


def test_the_real_gtk_menu_hides_the_action_bar(running: Running) -> None:
    """Right-click the icon docked in trayer (top right), walk the menu with the keyboard."""
    running.watcher.wait(lambda ui: ui.action_bar)
    running.desktop.xdotool("mousemove", "1264", "16", "click", "3")
    running.desktop.xdotool("search", "--sync", "--onlyvisible", "--class", "traytrader")
    # Lock, Profiles, Arm hotkeys, Action bar (the first Down selects the first item)
    running.desktop.xdotool("key", "--delay", "30", "Down", "Down", "Down", "Down", "Return")
    running.watcher.wait(lambda ui: not ui.action_bar)


def send(running: Running, *words: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "traytrader", "send", *words, "--socket", str(running.socket_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=20, cwd=ROOT,
                          env=os.environ.copy())


def test_traytrader_send_round_trip(running: Running) -> None:
    after_cooldown()
    status = send(running, "status")
    assert status.returncode == 0 and "sim ready armed" in status.stdout
    before = len(running.orders())
    bought = send(running, "buy")
    assert bought.returncode == 0, bought.stderr
    assert "BUY" in bought.stdout and "filled" in bought.stdout
    assert len(running.orders()) == before + 1
    bad = send(running, "profile", "nope")
    assert bad.returncode == 1 and bad.stderr.startswith("traytrader: There is no profile named 'nope'")


def set_price(running: Running, price: str) -> None:
    request = urllib.request.Request(running.sim.rest_url + "/sim/price", method="POST",
                                     data=json.dumps({"symbol": "BTCUSDT", "price": price}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


def our_stops(running: Running) -> list[dict]:
    return [o for o in running.sim_state()["orders"] if o["kind"] == "algo" and o["status"] == "NEW"
            and o["clientAlgoId"].startswith("ttasl") and o["symbol"] == "BTCUSDT"]


def test_the_toolkit_keys_add_close_half_and_move_the_stop_to_breakeven(running: Running) -> None:
    """Issue 16: the new hotkeys, pressed as a trader would under Xvfb, change the exchange as
    stated (read back from the simulator) and each says so in a notification."""
    notes = running.desktop.notifications
    btc = next(p.name for p in running.app.config.profiles if p.symbol == "BTCUSDT")
    assert send(running, "profile", btc).returncode == 0
    after_cooldown()
    assert send(running, "flatten").returncode == 0          # start flat, whatever came before
    wait_until(lambda: (Decimal(running.position()) == 0 and not our_stops(running)) or None, what="flat")
    after_cooldown()
    start = len(notes.received)
    running.desktop.xdotool("key", "ctrl+b")
    notes.wait_for(lambda r: r.summary.startswith("Bought "), start=start)
    base = Decimal(wait_until(lambda: running.position() if Decimal(running.position()) > 0 else None,
                              what="a long position"))
    after_cooldown()
    running.desktop.xdotool("key", "ctrl+alt+a")          # add: the profile's size again
    grown = Decimal(wait_until(lambda: running.position() if Decimal(running.position()) > base else None,
                               what="the added size"))
    after_cooldown()
    start = len(notes.received)
    running.desktop.xdotool("key", "ctrl+alt+5")          # close half
    half = Decimal(wait_until(lambda: running.position() if Decimal(running.position()) < grown else None,
                              what="half closed"))
    assert 0 < half < grown
    notes.wait_for(lambda r: r.summary.startswith("Reduced "), start=start)
    wait_until(lambda: [o for o in our_stops(running) if Decimal(o["quantity"]) == half] or None,
               what="the stop resized to the remainder")
    entry = next(Decimal(p["entryPrice"]) for p in running.sim_state()["accounts"][0]["positions"]
                 if p["symbol"] == "BTCUSDT")
    above = (entry * Decimal("1.015")).quantize(Decimal("0.1"))
    set_price(running, str(above))                         # past breakeven (entry plus fees)
    running.watcher.wait(lambda ui: (ui.status.mark_price or 0) >= above)   # the mark comes once a second
    after_cooldown()
    start = len(notes.received)
    running.desktop.xdotool("key", "ctrl+alt+e")
    note = notes.wait_for(lambda r: "breakeven" in (r.summary + r.body).lower(), start=start)
    assert "refused" not in (note.summary + note.body).lower(), (note.summary, note.body)
    stops = wait_until(lambda: [o for o in our_stops(running) if o["type"] == "STOP_MARKET"
                                and Decimal(o["triggerPrice"]) >= entry] or None,
                       what=f"a stop at or above the entry (said: {note.summary} | {note.body})")
    assert Decimal(stops[0]["quantity"]) == half


def test_lock_refuses_hotkeys_and_unlock_warms_up_again(running: Running) -> None:
    tray, notes = running.tray_app.tray, running.desktop.notifications
    start = len(notes.received)
    assert tray.activate(Action.LOCK)
    running.watcher.wait(lambda ui: not ui.unlocked)
    notes.wait_for(lambda r: r.summary == "Vault locked", start=start)
    assert running.app.engine is None
    before = len(running.orders())
    running.desktop.xdotool("key", "ctrl+b")
    refused = notes.wait_for(lambda r: r.summary == "Not sent" and "locked" in r.body, start=start)
    assert "Ctrl+B" in refused.body and len(running.orders()) == before
    assert tray.activate(Action.UNLOCK)  # the demo's credentials: no dialog
    running.watcher.wait(lambda ui: ui.unlocked and ui.status.state is EngineState.READY, timeout=30)


def test_quit_stops_everything_within_a_second(running: Running) -> None:
    notes = running.desktop.notifications
    start = len(notes.received)
    assert running.app.ui.status.positions, "the tests before leave positions open"
    started = time.monotonic()
    assert running.tray_app.tray.activate(Action.QUIT)
    running.thread.join(2)
    elapsed = time.monotonic() - started
    staying = notes.wait_for(lambda r: r.summary == "Positions stay open", start=start, timeout=2)
    assert "on the exchange with" in staying.body and "BTCUSDT long" in staying.body, staying.body
    assert not running.thread.is_alive()
    assert elapsed < 1.0, f"shutdown took {elapsed:.2f} s"
    leftover = [t.name for t in set(threading.enumerate()) - running.baseline
                if t.is_alive() and t is not threading.current_thread()]
    assert leftover == []  # engine, dispatcher, pynput, control socket, notifier, Tk: all gone
    assert not running.socket_path.exists()

