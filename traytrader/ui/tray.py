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
from typing import Any

from traytrader.ui.icon import draw_icon
from traytrader.ui.menu_model import Action, MenuEntry, UiState, build_menu, icon_state, tooltip

log = logging.getLogger(__name__)

ActionCallback = Callable[[Action, str], None]

GTK_BACKENDS = ("gtk", "appindicator")


def choose_backend(platform: str = sys.platform, environ: dict[str, str] | None = None) -> str | None:
    """The pystray backend to ask for: the user's ``PYSTRAY_BACKEND``, else ``appindicator`` on Linux
    (falls back to an XEmbed icon without a StatusNotifierWatcher), else pystray's native choice."""
    environ = os.environ if environ is None else environ
    if environ.get("PYSTRAY_BACKEND"):
        return environ["PYSTRAY_BACKEND"]
    if platform.startswith("linux") or "bsd" in platform:
        return "appindicator"
    return None


class Tray:
    """One tray icon. ``show_state`` may be called from any thread (gtk marshals to its loop)."""

    def __init__(self, on_action: ActionCallback, *, backend: str | None = None, size: int = 64) -> None:
        self.backend = backend if backend is not None else choose_backend()
        if self.backend:
            os.environ["PYSTRAY_BACKEND"] = self.backend
        if self.backend in GTK_BACKENDS:
            from gi.repository import GLib

            GLib.set_prgname("traytrader")  # WM_CLASS of the icon and its menu (not "python3")
        import pystray

        self._pystray = pystray
        self._on_action = on_action
        self._size = size
        self._menu: tuple[MenuEntry, ...] = ()
        self._look: tuple[Any, bool] | None = None
        self._title = ""
        self.ready = False
        first = draw_icon(icon_state(UiState()), size)
        self.icon = pystray.Icon("traytrader", icon=first, title="traytrader")
        self.ui = UiState()

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

        GLib.idle_add(lambda: status_icon.set_tooltip_text(text) and False)

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
