"""The pystray adapter: draws ``UiState`` into a tray icon and turns clicks into ``Action``s.

Thin on purpose (it cannot be unit-tested well): the menu, tooltip and icon choice come from
``menu_model``, the drawing from ``icon``. On Linux the menu needs the ``gtk`` or ``appindicator``
backend (PyGObject); pystray's ``xorg`` backend has no menu. ``PYSTRAY_BACKEND`` must be set
before pystray is imported, so the import happens in ``Tray.__init__``. ``run()`` blocks the
calling thread, which must be the main thread on macOS.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from traytrader.ui.icon import draw_icon
from traytrader.ui.menu_model import Action, MenuEntry, UiState, build_menu, icon_state, tooltip

log = logging.getLogger(__name__)

ActionCallback = Callable[[Action, str], None]

GTK_BACKENDS = ("gtk", "appindicator")

# One sentence for a Linux desktop without PyGObject (a plain `pip install traytrader`).
FULL_MENU_HINT = ('for the full tray menu install PyGObject: sudo apt install libgirepository1.0-dev '
                  'libcairo2-dev pkg-config python3-dev gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1, '
                  'then pip install "traytrader[linux]" (see the README for Fedora and Arch)')


class TrayUnavailable(Exception):
    """No tray icon can be shown here; ``str()`` is one sentence (the caller uses the console)."""


@dataclass(frozen=True)
class TrayFacts:
    """What a Linux session offers the tray (gathered by ``linux_tray_facts``)."""

    gtk: bool = False            # PyGObject with the Gtk 3 typelib
    appindicator: bool = False   # the (Ayatana) AppIndicator typelib
    watcher: bool = False        # a StatusNotifierWatcher on the session bus (KDE, GNOME's extension…)


def choose_backend(platform: str = sys.platform, environ: dict[str, str] | None = None,
                   facts: TrayFacts | None = None) -> str | None:
    """The pystray backend: the user's ``PYSTRAY_BACKEND``; on Linux ``appindicator`` when a
    StatusNotifierWatcher listens (KDE, GNOME's AppIndicator extension), else ``gtk`` (an XEmbed
    icon; AppIndicator's own XEmbed fallback prints a Gdk-CRITICAL at start), else, without
    PyGObject, ``xorg`` (an icon with no menu); elsewhere pystray's native choice."""
    environ = os.environ if environ is None else environ
    if environ.get("PYSTRAY_BACKEND"):
        return environ["PYSTRAY_BACKEND"]
    if not (platform.startswith("linux") or "bsd" in platform):
        return None
    facts = linux_tray_facts() if facts is None else facts
    if not facts.gtk:
        return "xorg"
    if facts.appindicator and facts.watcher:
        return "appindicator"
    return "gtk"


def linux_tray_facts() -> TrayFacts:
    try:
        import gi

        gi.require_version("Gtk", "3.0")
    except (ImportError, ValueError):
        return TrayFacts()
    appindicator = False
    for name in ("AyatanaAppIndicator3", "AppIndicator3"):
        try:
            gi.require_version(name, "0.1")
            appindicator = True
            break
        except ValueError:
            continue
    return TrayFacts(gtk=True, appindicator=appindicator, watcher=appindicator and _has_watcher())


def _has_watcher() -> bool:
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "NameHasOwner", GLib.Variant("(s)", ("org.kde.StatusNotifierWatcher",)),
                              GLib.VariantType("(b)"), Gio.DBusCallFlags.NONE, 500, None)
        return bool(reply.unpack()[0])
    except Exception:  # no session bus: no watcher
        return False


class Tray:
    """One tray icon. ``show_state`` may be called from any thread (gtk marshals to its loop)."""

    def __init__(self, on_action: ActionCallback, *, backend: str | None = None, size: int = 64) -> None:
        self.backend = backend if backend is not None else choose_backend()
        if self.backend:
            os.environ["PYSTRAY_BACKEND"] = self.backend
        plain = self.backend == "xorg" and not backend and sys.platform.startswith("linux")
        if plain and not os.environ.get("DISPLAY"):
            raise TrayUnavailable(f"There is no tray icon without PyGObject on Wayland (pystray's Xlib icon "
                                  f"needs X); {FULL_MENU_HINT}.")
        try:
            if self.backend in GTK_BACKENDS:
                from gi.repository import GLib

                GLib.set_prgname("traytrader")  # WM_CLASS of the icon and its menu (not "python3")
            import pystray
        except Exception as exc:  # no X display for xorg, a broken GTK: the caller uses the console
            raise TrayUnavailable(f"The tray cannot start here ({type(exc).__name__}: {exc}); "
                                  f"{FULL_MENU_HINT}.") from None

        if plain:
            log.warning("The tray icon has no menu because PyGObject is not installed (quit with "
                        "Ctrl+C); %s.", FULL_MENU_HINT)
        self._pystray = pystray
        self._on_action = on_action
        self._size = size
        self._menu: tuple[MenuEntry, ...] = ()
        self._look: tuple[Any, bool] | None = None
        self._title = ""
        self._nudge: Any = None   # ui/xlib_nudge.py, for the xorg backend
        self.ready = False
        first = draw_icon(icon_state(UiState()), size)
        self.icon = pystray.Icon("traytrader", icon=first, title="traytrader")
        self.ui = UiState()
        remove_file = getattr(self.icon, "_remove_fs_icon", None)
        if remove_file is not None and hasattr(self.icon, "_finalize"):
            # pystray's gtk finalize also closes pystray's own notification (we never show one) with a
            # blocking D-Bus call: it raised without a notification service and hung on a stuck one.
            self.icon._finalize = lambda: _quietly(remove_file)

    # --- state in ------------------------------------------------------------------------------

    def show_state(self, ui: UiState) -> None:
        self.ui = ui
        look = (icon_state(ui), ui.armed)
        if look != self._look:
            self._look = look
            self.icon.icon = draw_icon(look[0], self._size, armed=look[1])
        menu = build_menu(ui)
        if menu != self._menu:
            self._menu = menu
            self.icon.menu = self._pystray.Menu(*(self._item(entry) for entry in menu))
        title = tooltip(ui, max_len=127 if sys.platform == "win32" else 0)
        if self.backend == "xorg":  # pystray's Xlib icon sets WM_NAME, which is Latin-1 only
            title = title.replace("→", "->").encode("latin-1", "replace").decode("latin-1")
        if title != self._title:
            self._title = title
            self.icon.title = title
            self._set_gtk_tooltip(title)

    def _item(self, entry: MenuEntry) -> Any:
        pystray = self._pystray
        if entry.is_separator:
            return pystray.Menu.SEPARATOR
        if entry.children:
            return pystray.MenuItem(entry.label, pystray.Menu(*(self._item(c) for c in entry.children)),
                                    enabled=entry.enabled)
        checked = None if entry.checked is None else (lambda _item, value=entry.checked: value)
        action, argument = entry.action, entry.argument

        def activate(_icon: Any, _item: Any) -> None:
            if action is not None:
                self._on_action(action, argument)

        return pystray.MenuItem(entry.label, activate, checked=checked, radio=entry.radio,
                                default=entry.default, enabled=entry.enabled)

    def _set_gtk_tooltip(self, text: str) -> None:
        # pystray's gtk backend sets only the StatusIcon *title*; the hover text is the tooltip.
        status_icon = getattr(self.icon, "_status_icon", None)
        if status_icon is None:
            return
        from gi.repository import GLib

        # the "tooltip-text" property: StatusIcon.set_tooltip_text() warns that it is deprecated
        GLib.idle_add(lambda: status_icon.set_property("tooltip-text", text) and False)

    # --- menu access for tests and the action bar ----------------------------------------------

    def activate(self, action: Action, argument: str = "") -> bool:
        """Run the pystray item bound to ``action`` exactly as a click would; False if absent/disabled."""
        menu = self.icon.menu
        item = _find_item(menu.items if menu else (), self._menu, action, argument)
        if item is None or not item.enabled:
            return False
        item(self.icon)
        return True

    # --- lifecycle -----------------------------------------------------------------------------

    def run(self, on_ready: Callable[[], None], on_signal: Callable[[], None]) -> None:
        """Block in the toolkit's loop until ``stop()``; SIGINT/SIGTERM call ``on_signal``."""

        def setup(icon: Any) -> None:
            display = getattr(icon, "_display", None)   # pystray's Xlib connection (xorg backend)
            if self.backend == "xorg" and display is not None:
                from traytrader.ui.xlib_nudge import XlibNudge

                self._nudge = XlibNudge(display).start()
            icon.visible = True
            self._install_signals(on_signal)
            self.ready = True
            on_ready()

        if self.backend not in GTK_BACKENDS:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: on_signal())
        self.icon.run(setup=setup)

    def _install_signals(self, on_signal: Callable[[], None]) -> None:
        if self.backend not in GTK_BACKENDS:
            return
        # pystray's gtk loop resets SIGINT to SIG_DFL (instant death, no clean shutdown) and Python
        # handlers would not run while GLib blocks in C; GLib's own signal source does both right.
        from gi.repository import GLib

        def handler() -> bool:
            on_signal()
            return True

        for signum in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, handler)

    def stop(self) -> None:
        if self._nudge is not None:
            self._nudge.stop()
        self.icon.stop()


def _find_item(items: Any, entries: tuple[MenuEntry, ...], action: Action, argument: str) -> Any:
    """The pystray item at the position of the matching ``MenuEntry`` (same tree shape)."""
    for item, entry in zip(items, entries, strict=False):
        if entry.action is action and entry.argument == argument:
            return item
        if entry.children and item.submenu is not None:
            found = _find_item(item.submenu.items, entry.children, action, argument)
            if found is not None:
                return found
    return None


def _quietly(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as exc:  # e.g. no org.freedesktop.Notifications on the bus at exit
        log.debug("tray shutdown: %s", exc)
