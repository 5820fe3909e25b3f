"""Trade review on a real desktop session: the app (its dispatcher, the notifier through plyer and
dbus-python, the engine) against the simulator on loopback, under Xvfb with a real D-Bus session
bus and the recording notification server. A stop-out produces the result notification whose
freedesktop ``image-path`` hint points at the trade's PNG; "Open journal" writes the trades page and
hands it to the desktop's opener (``xdg-open`` here is a recording stand-in on PATH: there is no
browser in the test), which is waited for: no ``<defunct>`` child is left."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from desktop_kit import Watcher
from PIL import Image

from traytrader.engine.api import EngineState
from traytrader.ui.menu_model import Action

pytestmark = pytest.mark.desktop


def wait_until(fn: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll an external condition (the simulator's HTTP state, a file) until true or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


def zombies() -> list[str]:
    """Our own children that have exited and not been waited for."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat_line.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append(stat_line)
    return found


@dataclasses.dataclass
class App:
    app: Any
    sim: Any
    watcher: Watcher
    journal: Path
    opened: Path

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.sim.rest_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def position(self) -> Decimal:
        rows = self.request("GET", "/sim/state")["accounts"][0]["positions"]
        return sum((Decimal(r["positionAmt"]) for r in rows if r["symbol"] == "BTCUSDT"), Decimal(0))

    def our_stops(self) -> list[dict]:
        return [o for o in self.request("GET", "/sim/state")["orders"]
                if o["kind"] == "algo" and o["status"] == "NEW"]


@pytest.fixture(scope="module")
def running(desktop) -> Iterator[App]:
    from traytrader.commands.demo_cmd import demo_config, demo_credentials
    from traytrader.sim import SimOptions, SimThread
    from traytrader.ui.app import DesktopApp
    from traytrader.ui.notify import Notifier, plyer_send
    from traytrader.ui.tray_app import engine_factory

    sim = SimThread(SimOptions(port=0, seed=11, mark_interval_ms=100)).start()
    home = desktop.tmp / "review"
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    opened = home / "opened.txt"
    opener = bin_dir / "xdg-open"   # stands in for the desktop's opener: records what it was given
    opener.write_text(f"#!/bin/sh\necho \"$1\" >> {opened}\nexit 0\n")
    opener.chmod(opener.stat().st_mode | stat.S_IEXEC)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{old_path}"
    config = demo_config(sim.rest_url, sim.ws_api_url, sim.stream_url)
    config = dataclasses.replace(config, safety=dataclasses.replace(config.safety, cooldown_ms=0))
    journal = home / "journal.sqlite3"
    app = DesktopApp(config, engine_factory(config, journal), preset_credentials=demo_credentials(),
                     demo=True, journal_path=journal)
    notifier = Notifier(plyer_send, on_fallback=app.notification_failed).start()
    app.notify = notifier.post
    watcher = Watcher()
    app.add_view(watcher)
    app.start()
    try:
        watcher.wait(lambda ui: ui.unlocked and ui.status.state is EngineState.READY, timeout=30)
        yield App(app, sim, watcher, journal, opened)
    finally:
        app.stop(2.0)
        notifier.stop()
        sim.stop()
        os.environ["PATH"] = old_path


def test_a_stop_out_notifies_the_result_with_the_trades_picture(running: App, desktop) -> None:
    notes = desktop.notifications
    start = len(notes.received)
    running.request("POST", "/sim/price", {"symbol": "BTCUSDT", "price": "60000"})
    running.app.do(Action.BUY)
    wait_until(lambda: running.position() > 0, what="a long position")
    stop = wait_until(running.our_stops, what="the hard stop on the exchange")[0]
    trigger = Decimal(stop["triggerPrice"])
    for k in range(1, 5):   # down to the stop in steps: a path for the picture
        price = Decimal("60000") - (Decimal("60000") - trigger) * k / 4
        running.request("POST", "/sim/price", {"symbol": "BTCUSDT", "price": f"{price:.1f}"})
    running.request("POST", "/sim/price", {"symbol": "BTCUSDT", "price": str(trigger - 50)})
    wait_until(lambda: running.position() == 0, what="stopped out")
    result = notes.wait_for(lambda r: "closed by hard stop" in r.summary, start=start, timeout=15)
    assert result.summary == "BTCUSDT long closed by hard stop" and result.app_name == "traytrader"
    assert result.body.startswith("-") and "USDT" in result.body and " R" in result.body
    uri = result.hints.get("image-path", "")
    assert uri.startswith("file://"), result.hints
    picture = Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    assert picture.is_file() and picture.parent == running.journal.parent / "trades"
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size == (360, 180)
    # The stop-out's own notification was not sent as well: the result replaced it.
    assert not [r for r in notes.received[start:] if r.summary == "BTCUSDT stopped out"]


def test_open_journal_opens_the_trades_page_and_leaves_no_zombie(running: App) -> None:
    before = set(threading.enumerate())
    running.app.do(Action.OPEN_JOURNAL)
    page = Path(wait_until(lambda: running.opened.exists() and running.opened.read_text().strip(),
                           what="the opener to be called"))
    assert page == running.journal.parent / "trades.html"
    text = page.read_text()
    assert "closed by hard stop" in text and "<img src='trades/trade-1.png'" in text
    assert (running.journal.parent / "trades" / "trade-1.png").is_file()
    wait_until(lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
               what="the opening worker to finish")
    assert zombies() == []
