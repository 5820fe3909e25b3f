"""The unlock dialog with a real vault: a wrong password says so clearly, the right one starts the
engine against the simulator. Typing goes through the X server (xdotool), as a user's would."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from desktop_kit import Watcher

from traytrader.engine.api import EngineState

pytestmark = pytest.mark.desktop

PASSWORD = "correct horse battery"


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    event = threading.Event()
    # Tk state is only read on the Tk thread; poll through it so the read is safe
    deadline = threading.Timer(timeout, event.set)
    deadline.start()
    try:
        while not event.is_set():
            if predicate():
                return
            event.wait(0.02)
        raise AssertionError("condition not reached")
    finally:
        deadline.cancel()


def test_wrong_then_right_password(desktop) -> None:
    from traytrader.commands.demo_cmd import demo_config, demo_credentials
    from traytrader.sim import SimOptions, SimThread
    from traytrader.ui.app import DesktopApp
    from traytrader.ui.tk_thread import TkThread
    from traytrader.ui.tray_app import engine_factory, vault_unlocker
    from traytrader.ui.unlock_dialog import UnlockDialog
    from traytrader.vault import Vault

    vault_path = desktop.tmp / "vault" / "vault.bin"
    vault_path.parent.mkdir(mode=0o700)
    vault = Vault(vault_path, iterations=200_000)  # ~0.1 s: the progress note still shows
    unlocked = vault.create(PASSWORD)
    unlocked.add(demo_credentials())
    vault.save(unlocked, PASSWORD)

    with SimThread(SimOptions(port=0, seed=3)) as sim:
        config = demo_config(sim.rest_url, sim.ws_api_url, sim.stream_url)
        app = DesktopApp(config, engine_factory(config, desktop.tmp / "unlock-journal.sqlite3"),
                         unlocker=vault_unlocker(config, vault_path))
        watcher = Watcher()
        app.add_view(watcher)
        tk = TkThread().start()
        dialog = UnlockDialog(tk, app.unlock_with_password)
        app.ask_password = dialog.open
        app.start()
        try:
            from traytrader.ui.menu_model import Action

            app.do(Action.UNLOCK)
            wait_for(lambda: dialog.window_id() is not None)
            window = str(dialog.window_id())
            desktop.xdotool("search", "--sync", "--onlyvisible", "--name", "^Unlock traytrader$")
            desktop.xdotool("windowfocus", "--sync", window)
            desktop.xdotool("type", "--delay", "5", "not the password")
            desktop.xdotool("key", "Return")
            wait_for(lambda: bool(dialog.last_error))
            assert "password" in dialog.last_error.lower() and dialog.last_error.endswith(".")
            assert dialog.is_open and not watcher.ui.unlocked
            desktop.xdotool("windowfocus", "--sync", window)
            desktop.xdotool("type", "--delay", "5", PASSWORD)
            desktop.xdotool("key", "Return")
            watcher.wait(lambda ui: ui.unlocked and ui.status.state is EngineState.READY, timeout=30)
            wait_for(lambda: not dialog.is_open)
        finally:
            app.stop(1.0)
            tk.stop()
