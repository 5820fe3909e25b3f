"""The desktop app's dispatcher with the real engine and simulator, no display needed: hotkey and
`send` requests go through the gate to the engine and back as one reply line."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from traytrader.engine.api import EngineState
from traytrader.ui.app import DesktopApp
from traytrader.ui.menu_model import Action, UiState
from traytrader.ui.messages import Notification

COOLDOWN_MS = 300


class Watcher:
    def __init__(self) -> None:
        self.ui = UiState()
        self.notes: list[Notification] = []
        self._cond = threading.Condition()

    def show_state(self, ui: UiState) -> None:
        with self._cond:
            self.ui = ui
            self._cond.notify_all()

    def notify(self, note: Notification) -> None:  # the app's notification hook
        with self._cond:
            self.notes.append(note)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout), f"not reached; ui={self.ui} notes={self.notes}"


@pytest.fixture(scope="module")
def sim() -> Iterator[object]:
    from traytrader.sim import SimOptions, SimThread

    with SimThread(SimOptions(port=0, seed=5)) as running:
        yield running


@pytest.fixture
def app(sim, tmp_path: Path) -> Iterator[tuple[DesktopApp, Watcher]]:
    from traytrader.commands.demo_cmd import demo_config, demo_credentials
    from traytrader.ui.tray_app import engine_factory

    config = demo_config(sim.rest_url, sim.ws_api_url, sim.stream_url)
    config = dataclasses.replace(config, safety=dataclasses.replace(config.safety, cooldown_ms=COOLDOWN_MS))
    desktop = DesktopApp(config, engine_factory(config, tmp_path / "journal.sqlite3"),
                         preset_credentials=demo_credentials(), demo=True)
    watcher = Watcher()
    desktop.add_view(watcher)
    desktop.notify = watcher.notify
    desktop.start()
    watcher.wait(lambda: watcher.ui.unlocked and watcher.ui.status.state is EngineState.READY, 30)
    yield desktop, watcher
    desktop.stop(1.0)


def test_send_buy_replies_with_the_fill_then_refuses_inside_the_cooldown(app) -> None:
    desktop, _ = app
    reply = desktop.socket_request(Action.BUY, "")
    assert reply.startswith("ok BUY ") and "BTCUSDT filled at" in reply and reply.endswith("\n")
    again = desktop.socket_request(Action.SELL, "")
    assert again.startswith("refused Ignored 'send sell': pressed again within the 300 ms cooldown")


def test_send_profile_switches_and_unknown_profile_is_refused(app) -> None:
    desktop, watcher = app
    assert desktop.socket_request(Action.SELECT_PROFILE, "sol-qty").startswith("ok ")
    watcher.wait(lambda: watcher.ui.status.profile == "sol-qty" and watcher.ui.active_profile == "sol-qty")
    bad = desktop.socket_request(Action.SELECT_PROFILE, "nope")
    assert bad == ("refused There is no profile named 'nope'; the profiles are: btc-100, eth-limit, sol-qty, "
                   "btc-risk.\n")


def test_held_key_repeat_is_said_once(app) -> None:
    desktop, watcher = app
    desktop.hotkey(Action.BUY, "<ctrl>+b", False)
    for _ in range(5):
        desktop.hotkey(Action.BUY, "<ctrl>+b", True)
    # the press is submitted on this thread; the fill may be told before or after the repeats
    watcher.wait(lambda: any(n.title.startswith("Bought ") for n in watcher.notes)
                 and any("key repeat" in n.body for n in watcher.notes))
    assert desktop.socket_request(None, "").startswith("ok ")  # handled after every repeat above
    repeats = [n for n in watcher.notes if "key repeat" in n.body]
    assert len(repeats) == 1 and repeats[0].body.startswith("Ignored Ctrl+B: key repeat")


def test_disarmed_hotkey_and_send_are_refused_but_status_answers(app) -> None:
    desktop, watcher = app
    desktop.do(Action.TOGGLE_ARMED)
    watcher.wait(lambda: not watcher.ui.armed)
    desktop.hotkey(Action.SELL, "<ctrl>+s", False)
    watcher.wait(lambda: any("disarmed" in n.body for n in watcher.notes))
    refused = desktop.socket_request(Action.SELL, "")
    assert refused.startswith("refused Ignored 'send sell': hotkeys are disarmed")
    assert desktop.socket_request(None, "").startswith("ok sim ready disarmed; profile btc-100")


def test_close_part_hotkey_and_send_close_50_close_that_part(app) -> None:
    """``close_50 = "<ctrl>+5"`` in [hotkeys]: the key closes half the position; `send close 25%` a
    quarter; `send breakeven` answers with its own sentence (refused: not beyond breakeven yet)."""
    desktop, watcher = app
    hotkeys = dataclasses.replace(desktop.config.hotkeys, close_parts=((50, "<ctrl>+5"),))
    desktop.config = dataclasses.replace(desktop.config, hotkeys=hotkeys)
    assert desktop.socket_request(Action.BUY, "").startswith("ok BUY ")
    watcher.wait(lambda: watcher.ui.status.position_qty > 0)
    bought = watcher.ui.status.position_qty
    time.sleep(COOLDOWN_MS / 1000)   # the gate's rule is a time: a key within it is refused
    desktop.hotkey(Action.CLOSE, "<ctrl>+5", False)
    half = bought - (bought / 2).quantize(Decimal("0.001"), "ROUND_FLOOR")
    watcher.wait(lambda: watcher.ui.status.position_qty == half)
    assert dict(watcher.ui.close_parts)["btc-risk"] == ("25%", "50%")
    time.sleep(COOLDOWN_MS / 1000)
    refused = desktop.socket_request(Action.BREAKEVEN, "")
    assert refused.startswith("refused ") and "breakeven" in refused.lower()


def spy_on_submit(desktop: DesktopApp) -> list[str]:
    """The kinds of the commands that reach the real engine from now on."""
    engine = desktop.engine
    assert engine is not None
    submitted: list[str] = []
    real = engine.submit

    def submit(command) -> None:
        submitted.append(command.kind.value)
        real(command)

    engine.submit = submit  # type: ignore[method-assign]
    return submitted


def test_a_key_right_after_disarming_is_never_sent(app) -> None:
    """The hotkey fast path decides on the listener's thread: it must still see a disarm that was
    asked for before the key, however close behind it the key comes."""
    desktop, watcher = app
    submitted = spy_on_submit(desktop)
    for _ in range(30):
        desktop.do(Action.TOGGLE_ARMED)                  # disarm...
        desktop.hotkey(Action.BUY, "<ctrl>+b", False)    # ...and the key at once
        assert desktop.socket_request(None, "").startswith("ok sim ready disarmed")
        desktop.do(Action.TOGGLE_ARMED)                  # armed again for the next round
    assert submitted == []
    assert any(n.body.startswith("Ignored Ctrl+B: hotkeys are disarmed") for n in watcher.notes)


def test_a_send_that_timed_out_is_never_sent_later(app, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung view stalls the dispatcher: the waiting `send` gives up saying nothing was sent, and
    when the dispatcher comes back the command is dropped, not executed late (issue 12 item 4)."""
    import traytrader.ui.app as app_module

    desktop, _ = app
    monkeypatch.setattr(app_module, "SOCKET_REPLY_TIMEOUT_S", 0.3)
    submitted = spy_on_submit(desktop)
    release = threading.Event()

    class HungView:
        def show_state(self, ui: UiState) -> None:
            release.wait(10)

    desktop.add_view(HungView())
    desktop.do(Action.TOGGLE_ACTION_BAR)   # the dispatcher publishes, and hangs in the view
    try:
        reply = desktop.socket_request(Action.BUY, "")
    finally:
        release.set()
    assert reply == ("error traytrader was busy for 0.3 s and did not take the command; "
                     "nothing was sent.\n")
    assert desktop.socket_request(None, "").startswith("ok ")   # handled after the abandoned BUY
    assert submitted == []
