"""The desktop front end assembled: tray + hotkeys + notifications + action bar + unlock dialog +
control socket around one ``DesktopApp``. ``run_tray(config, args)`` is what ``traytrader run``
calls; ``traytrader demo`` builds a ``TrayApp`` itself with the simulator's engine factory.

Start-up order matters on Linux: the notifier and D-Bus first (gtk asks D-Bus for notifications
when the icon starts), then the tray loop on the main thread; hotkeys, the control socket and
the engine start from the tray's ready callback, so "tray ready" is never delayed by them.
Shutdown (Quit or Ctrl+C) stops the listeners, then the engine, then the workers, in < 1 s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traytrader.core.errors import ConfigError, TraytraderError, VaultError
from traytrader.core.models import ApiCredentials, AppConfig
from traytrader.ui.app import DesktopApp, EngineFactory, Memory, Remembered
from traytrader.ui.control_socket import ControlServer
from traytrader.ui.hotkey_gate import bindings
from traytrader.ui.menu_model import Action, staying_text
from traytrader.ui.notify import Notifier, SendFn, plyer_send

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET_S = 0.9


@dataclass
class DesktopOptions:
    backend: str | None = None             # pystray backend; None: appindicator on Linux
    socket_path: Path | None = None        # None: no control socket
    hotkeys: bool = True
    action_bar: bool = False               # show the bar at start
    send: SendFn = plyer_send              # how notifications are delivered
    on_ready: Callable[[], None] | None = None


def open_path(path: Path) -> None:
    """Open a file with the desktop's default application (config in an editor, journal in a viewer)."""
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    try:
        subprocess.Popen([opener, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        log.warning("Could not open %s with %s: %s", path, opener, exc)


class TrayApp:
    """Owns every desktop part's lifecycle around a ``DesktopApp``; ``run()`` blocks (main thread)."""

    def __init__(self, app: DesktopApp, options: DesktopOptions | None = None) -> None:
        self.app = app
        self.options = options or DesktopOptions()
        self.tray: Any = None
        self.notifier = Notifier(self.options.send, on_fallback=app.notification_failed)
        self.hotkeys: Any = None
        self.control: ControlServer | None = None
        self.tk: Any = None
        self.bar: Any = None
        self.dialog: Any = None
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.ready_after_s: float | None = None
        self._quitting = threading.Event()
        self._tk_lock = threading.Lock()
        self._tk_said: set[str] = set()

    # --- lifecycle -----------------------------------------------------------------------------

    def run(self) -> int:
        started = time.perf_counter()
        from traytrader.ui.tray import Tray  # imports pystray: DISPLAY/PYSTRAY_BACKEND must be set

        self.notifier.start()
        self.app.notify = self.notifier.post
        self.app.ask_password = self._ask_password
        self.app.set_action_bar = self._set_action_bar
        self.app.quit_hook = self.quit
        try:
            self.tray = Tray(self.app.do, backend=self.options.backend)
        except Exception:  # TrayUnavailable: the caller falls back to the console front end
            self.notifier.stop(0.05)
            raise
        self.app.add_view(self.tray)

        def on_ready() -> None:
            self.ready_after_s = time.perf_counter() - started
            try:
                self._start_parts()
            except TraytraderError as exc:
                log.error("%s", exc)
                self.startup_error = exc
                self.quit()
                return
            self.ready.set()
            if self.options.on_ready is not None:
                self.options.on_ready()

        self.startup_error: TraytraderError | None = None
        try:
            self.tray.run(on_ready, on_signal=self._interrupted)
        finally:
            self._shutdown()
        if self.startup_error is not None:
            raise self.startup_error
        return 0

    def _start_parts(self) -> None:
        if self.options.socket_path is not None:
            # a Unix socket, or loopback TCP with a token where there is none (Windows)
            self.control = ControlServer(self.options.socket_path, self.app.socket_request).start()
        self.app.start()
        if self.options.hotkeys:
            self._start_hotkeys()
        if self.options.action_bar or self.app.bar_at_start:
            self.app.do(Action.TOGGLE_ACTION_BAR, source="start")

    def _start_hotkeys(self) -> None:
        """pynput on X11/Windows/macOS; on Wayland the GlobalShortcuts portal, else one sentence
        with the compositor binding to use (and pynput for XWayland windows when there is X)."""
        from traytrader.ui.hotkey_backends import Backend, choose_backend

        backend = choose_backend(sys.platform, os.environ)
        if backend is Backend.PORTAL:
            if self._start_portal() or not os.environ.get("DISPLAY"):
                return
        elif backend is Backend.NONE:
            return
        self._start_pynput(wayland=backend is Backend.PORTAL)

    def _start_portal(self) -> bool:
        from traytrader.ui.hotkey_backends import fallback_sentence, portal_shortcuts
        from traytrader.ui.messages import Notification
        from traytrader.ui.portal_shortcuts import PortalShortcuts, PortalUnavailable

        try:
            self.hotkeys = PortalShortcuts(portal_shortcuts(self.app.config.hotkeys), self.app.hotkey).start()
        except PortalUnavailable as exc:
            self.hotkeys = None
            sentence = fallback_sentence(self.app.config.hotkeys, os.environ, traytrader_executable(),
                                         self._socket_arg(), reason=str(exc))
            log.warning("%s", sentence)
            self.app.notify(Notification("No global hotkeys", sentence, urgent=True))
            return False
        keys = ", ".join(f"{sid} {trigger}" for sid, trigger in self.hotkeys.bound if trigger)
        log.info("Global hotkeys through the desktop's GlobalShortcuts portal: %s.", keys or "none bound")
        return True

    def _socket_arg(self) -> str:
        from traytrader import paths

        path = self.options.socket_path
        if path is None or path == paths.control_socket_path():
            return ""
        return f" --socket {path}"

    def _start_pynput(self, wayland: bool) -> None:
        from traytrader.ui.messages import Notification

        try:
            from traytrader.ui.hotkeys import HotkeyListener

            self.hotkeys = HotkeyListener(bindings(self.app.config.hotkeys), self.app.hotkey,
                                          self.app.prime, self.app.unprime)
            self.hotkeys.start()
        except Exception as exc:  # no X RECORD, no accessibility permission on macOS
            self.hotkeys = None
            reason = (f"Global hotkeys are unavailable ({type(exc).__name__}: {exc}); bind "
                      "`traytrader send buy` / `traytrader send sell` to keys in your desktop instead.")
            log.warning("%s", reason)
            self.app.notify(Notification("No global hotkeys", reason, urgent=True))
            return
        if wayland:
            log.info("pynput also listens to X11 (XWayland) windows.")

    def _interrupted(self) -> None:
        """Ctrl+C or SIGTERM: the terminal is where the user looks, so say there what stays."""
        if not self._quitting.is_set() and (staying := staying_text(self.app.ui.status)):
            log.warning("%s", staying)
        self.quit()

    def quit(self) -> None:
        """Quit from any thread (menu item, signal, test)."""
        if not self._quitting.is_set():
            self._quitting.set()
            if self.tray is not None:
                self.tray.stop()

    def _shutdown(self) -> None:
        deadline = time.monotonic() + SHUTDOWN_BUDGET_S
        if self.hotkeys is not None:
            self.hotkeys.stop(0.2)
        if self.control is not None:
            self.control.stop(0.2)
        self.app.stop(max(0.2, deadline - time.monotonic() - 0.1))
        self.notifier.stop(0.5)   # waits only while one is being delivered ("Positions stay open")
        if self.tk is not None:
            self.tk.stop(max(0.05, deadline - time.monotonic()))
        self.stopped.set()

    # --- Tk windows, created on first use (dispatcher thread) ----------------------------------

    def _ensure_tk(self) -> Any:
        with self._tk_lock:
            if self.tk is None:
                from traytrader.ui.tk_thread import TkThread

                self.tk = TkThread().start()
            return self.tk

    def _tk_missing(self, what: str, exc: Exception, advice: str) -> None:
        """One sentence, once per window kind, when Tk cannot start (python3-tk missing, no X)."""
        from traytrader.ui.messages import Notification

        sentence = (f"The {what} needs Tk, which could not start ({exc.__cause__ or exc}); install it "
                    f"(Debian/Ubuntu: sudo apt install python3-tk){advice}.")
        if sentence not in self._tk_said:
            self._tk_said.add(sentence)
            log.warning("%s", sentence)
            self.app.notify(Notification(f"No {what}", sentence, urgent=True))

    def _set_action_bar(self, visible: bool) -> None:
        try:
            tk = self._ensure_tk()
        except RuntimeError as exc:
            self._tk_missing("action bar", exc, "; hotkeys and the tray menu work without it")
            return
        if self.bar is None:
            from traytrader.ui.action_bar import ActionBar

            self.bar = ActionBar(tk, lambda action, argument: self.app.do(action, argument, "actionbar"),
                                 self.app.remember_bar_position, self.app.bar_position)
            self.bar.show_state(self.app.ui)
            self.app.add_view(self.bar)
        self.bar.set_visible(visible)

    def _ask_password(self) -> None:
        try:
            tk = self._ensure_tk()
        except RuntimeError as exc:
            self._tk_missing("unlock dialog", exc, ", or start with traytrader run --password-file PATH")
            return
        if self.dialog is None:
            from traytrader.ui.unlock_dialog import UnlockDialog

            self.dialog = UnlockDialog(tk, self.app.unlock_with_password)
        self.dialog.open()


# --- `traytrader run` ------------------------------------------------------------------------------


def vault_unlocker(config: AppConfig, vault_path: Path) -> Callable[[str], ApiCredentials]:
    """password → the credentials named by ``[exchange] key`` (VaultError with one sentence)."""
    from traytrader.vault import Vault

    def unlock(password: str) -> ApiCredentials:
        name = config.exchange.key
        vault = Vault(vault_path)
        if not vault.exists():
            raise VaultError(f"There is no vault at {vault_path}; create one with: traytrader vault init.")
        with vault.unlock(password) as unlocked:
            if name not in unlocked:
                raise VaultError(f"The vault has no key named {name!r}; add it with: "
                                 f"traytrader vault add-key {name} --type hmac.")
            return unlocked.get(name)

    return unlock


def engine_factory(config: AppConfig, journal_path: Path) -> EngineFactory:
    """The real engine (imported lazily: the tray is drawn before the engine's imports load)."""

    def create(credentials: ApiCredentials, profile: str) -> Any:
        from traytrader.engine.handle import Engine

        return Engine(config, credentials, journal_path=journal_path, active_profile=profile)

    return create


def state_file(path: Path) -> Remembered:
    """The app's state file (``state.py``: atomic writes, defaults when unusable) as ``Remembered``."""
    return _StateFile(path)


class _StateFile:
    """Armed state is not restored from it on purpose: ``[hotkeys] armed_on_start`` decides (issue 7)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def load(self) -> Memory:
        from traytrader.state import load_state

        state = load_state(self._path)
        return Memory(state.active_profile, state.action_bar_visible, state.action_bar_position)

    def save(self, memory: Memory) -> None:
        from traytrader.state import load_state, save_state

        state = load_state(self._path)
        state.active_profile = memory.active_profile
        state.action_bar_visible = memory.bar_visible
        if memory.bar_position is not None:
            state.action_bar_position = memory.bar_position
        save_state(self._path, state)


def traytrader_executable() -> str:
    """The absolute path of the ``traytrader`` command (a compositor's PATH may lack ``.venv/bin``)."""
    import shutil

    beside = Path(sys.executable).parent / ("traytrader.exe" if sys.platform == "win32" else "traytrader")
    if beside.exists():
        return str(beside)
    return shutil.which("traytrader") or "traytrader"


def has_display(environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def run_tray(config: AppConfig, args: Any) -> int:
    """``traytrader run`` with a display: the tray; the vault is unlocked through the dialog, or
    up front when ``--password-file`` / ``--password-stdin`` is given."""
    from traytrader import paths

    if not has_display():
        raise ConfigError("No display found; run `traytrader run --console` instead.")
    journal = Path(getattr(args, "journal", None) or paths.journal_path())
    vault = Path(getattr(args, "vault", None) or paths.vault_path())
    socket_path = Path(getattr(args, "socket", None) or paths.control_socket_path())
    profile = config.profile(args.profile).name if getattr(args, "profile", None) else ""
    preset = None
    if getattr(args, "password_file", None) or getattr(args, "password_stdin", False):
        from traytrader.commands.common import read_password

        preset = vault_unlocker(config, vault)(read_password(args))
    app = DesktopApp(config, engine_factory(config, journal), unlocker=vault_unlocker(config, vault),
                     preset_credentials=preset, remembered=state_file(paths.state_path()),
                     open_path=open_path, journal_path=journal, profile=profile)
    options = DesktopOptions(socket_path=socket_path, action_bar=bool(getattr(args, "action_bar", False)))
    if preset is None:
        options.on_ready = lambda: app.do(Action.UNLOCK, source="start")
    with contextlib.suppress(KeyboardInterrupt):
        return TrayApp(app, options).run()
    return 130
