"""Global hotkeys on Wayland, for real: ``traytrader demo`` as a process in a headless KDE Plasma
5.27 Wayland session (``wl_stack.py``: kwin_wayland --virtual, xdg-desktop-portal 1.16 and its KDE
backend on a private bus). The app registers its actions through the GlobalShortcuts portal; a
real Ctrl+B injected into the compositor becomes an order on the simulator and a fill
notification. Without the portal (a sway session), the app says in one sentence which binding
to add, and that exact binding's command places the order.

The tray runs on the session's X display (as under XWayland); the keys and the notifications go
through the Wayland session's bus only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_server import NotificationServer
from process_lines import ProcessLines
from wl_stack import StackMissing, WaylandStack, wayland_stack

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parents[3]
TRAYTRADER = Path(sys.executable).parent / "traytrader"


class Demo(ProcessLines):
    """``traytrader demo`` in a process; stdout and stderr collected by reader threads."""

    def __init__(self, env: dict[str, str], socket_path: Path) -> None:
        self.socket_path = socket_path
        super().__init__([str(TRAYTRADER), "demo", "--socket", str(socket_path)], env, cwd=ROOT)

    def wait_line(self, lines: list[str], pattern: str, timeout: float = 20.0) -> str:
        return super().wait_line(lines, pattern, timeout)

    def rest_url(self) -> str:
        line = self.wait_line(self.out, r"simulated exchange at http")
        return re.search(r"(http://[\d.:]+)", line).group(1)

    def orders(self) -> list[dict]:
        with urllib.request.urlopen(self.rest_url() + "/sim/state", timeout=5) as response:
            return [o for o in json.loads(response.read())["orders"] if o["kind"] == "order"]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def wait_until(fn, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(0.02)  # polling the simulator's HTTP state
    return value


def check(env: dict[str, str]) -> str:
    """``traytrader check``'s output (no vault here: it fails, after the config and hotkey lines)."""
    return subprocess.run([str(TRAYTRADER), "check", "--offline", "--password-file", "/dev/null"],
                          capture_output=True, text=True, env=env, timeout=30).stdout


def demo_env(stack: WaylandStack, display: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYSTRAY_BACKEND", "SWAYSOCK")}
    env.update(stack.env, DISPLAY=display, GDK_BACKEND="x11", HOME=str(home), PYTHONUNBUFFERED="1",
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_STATE_HOME=str(home / ".local/state"))
    return env


def stack_with_notifications(**kwargs) -> Iterator[tuple[WaylandStack, NotificationServer]]:
    try:
        with wayland_stack(**kwargs) as stack:
            notes = NotificationServer(stack.bus_address).start()
            try:
                yield stack, notes
            finally:
                notes.stop()
    except StackMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture
def kde(desktop_session) -> Iterator[tuple[WaylandStack, NotificationServer]]:
    yield from stack_with_notifications()


@pytest.fixture
def sway(desktop_session) -> Iterator[tuple[WaylandStack, NotificationServer]]:
    """A Wayland session bus whose xdg-desktop-portal has no GlobalShortcuts backend."""
    yield from stack_with_notifications(portal=False, desktop="sway")


def test_ctrl_b_in_the_compositor_buys_through_the_portal(kde, desktop_session, tmp_path) -> None:
    stack, notes = kde
    assert stack.started_in_s < 3.0, f"the Wayland stack took {stack.started_in_s:.2f} s"
    env = demo_env(stack, desktop_session.display, tmp_path)
    backend = "ok    hotkeys: the desktop's GlobalShortcuts portal (Wayland): buy Ctrl+B, sell Ctrl+S"
    assert backend in check(env)
    demo = Demo(env, tmp_path / "control.sock")
    try:
        notes.wait_for(lambda r: r.summary == "Ready", timeout=30)
        assert demo.orders() == []
        stack.press("LEFTCTRL", "B")  # a real key chord, into KWin, through kglobalaccel and the portal
        orders = wait_until(demo.orders, what="an order on the simulator")
        assert orders[0]["side"] == "BUY" and orders[0]["type"] == "MARKET"
        fill = notes.wait_for(lambda r: r.summary.startswith("Bought ") and "BTCUSDT" in r.summary)
        assert "BTCUSDT" in fill.summary and fill.app_name == "traytrader"
        # held for 1 s, KWin repeats Activated ~9 times: key repeat sends nothing more
        time.sleep(0.6)  # past the 500 ms cooldown, so only the repeat rule can refuse
        stack.press("--hold=1.0", "LEFTCTRL", "S")
        sold = wait_until(lambda: [o for o in demo.orders() if o["side"] == "SELL"], what="the SELL")
        refused = notes.wait_for(lambda r: r.summary == "Not sent" and "key repeat" in r.body)
        assert "Ctrl+S" in refused.body
        assert len(sold) == 1 and len(demo.orders()) == 2
    finally:
        code = demo.stop()
    stderr = "\n".join(demo.err)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "Global hotkeys are unavailable" not in stderr
    assert "CRITICAL" not in stderr and "Warning" not in stderr, stderr


def test_without_the_portal_one_sentence_gives_the_sway_binding_and_it_works(sway, desktop_session,
                                                                             tmp_path) -> None:
    stack, notes = sway
    env = demo_env(stack, desktop_session.display, tmp_path)
    assert "warn  hotkeys: none; Global hotkeys are unavailable in sway (" in check(env)
    demo = Demo(env, tmp_path / "control.sock")
    try:
        notes.wait_for(lambda r: r.summary == "Ready", timeout=30)
        sentence = demo.wait_line(demo.err, "Global hotkeys are unavailable")
        assert [line for line in demo.err if "Global hotkeys" in line] == [sentence]  # said once
        assert sentence.startswith("Global hotkeys are unavailable in sway (this desktop offers no "
                                   "GlobalShortcuts portal), so bind the keys in ~/.config/sway/config: ")
        assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence
        bindings = dict(re.findall(r"bindsym (\S+) exec (.+?)(?:;|\.$)", sentence))
        assert set(bindings) == {"Ctrl+b", "Ctrl+s"}
        note = notes.wait_for(lambda r: r.summary == "No global hotkeys")
        assert note.body == sentence
        # the exact command of the Ctrl+b binding, as sway would run it
        result = subprocess.run(shlex.split(bindings["Ctrl+b"]), capture_output=True, text=True, timeout=20,
                                env=env)
        assert result.returncode == 0, result.stderr
        assert "BUY" in result.stdout and "filled" in result.stdout
        assert [o["side"] for o in demo.orders()] == ["BUY"]
    finally:
        code = demo.stop()
    stderr = "\n".join(demo.err)
    assert code == 0 and "Traceback" not in stderr, stderr
