"""Global hotkeys with pynput: a thin adapter over ``ChordTracker`` (pure, in ``hotkey_gate``).

Callbacks run on pynput's listener thread; ``on_chord`` must never block (``DesktopApp.hotkey``
submits an order key there in microseconds, or enqueues it). ``DISPLAY`` must be
set before pynput is imported on X, so the import happens in ``start()``. On X the keystroke is
not swallowed: the focused program receives it too (see ``docs/desktop.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from traytrader.ui.hotkey_gate import ChordTracker
from traytrader.ui.menu_model import Action

log = logging.getLogger(__name__)

ChordCallback = Callable[[Action, str, bool], None]  # action, combo, is_repeat


class HotkeyListener:
    """Listens for ``combos`` (pynput syntax → action) and reports each activation."""

    def __init__(self, combos: dict[str, Action], on_chord: ChordCallback,
                 on_prime: Callable[[], None] | None = None,
                 on_unprime: Callable[[], None] | None = None) -> None:
        self._combos = combos
        self._on_chord = on_chord
        self._on_prime = on_prime       # a chord's first key went down (see ``_press``)
        self._on_unprime = on_unprime   # ... and went up again
        self._priming_key: object = None
        self._listener: Any = None
        self._tracker: ChordTracker | None = None
        self._actions: dict[object, Action] = {}   # chord → action (close_25 and close_50 are both CLOSE)

    def start(self) -> None:
        """Start the listener thread and wait until it receives events (~40 ms on X)."""
        from pynput import keyboard

        chords: dict[frozenset[object], Action] = {}
        for combo, action in self._combos.items():
            chord = frozenset(keyboard.HotKey.parse(combo))
            chords[chord] = combo  # type: ignore[assignment]   # the tracker reports the combo
            self._actions[combo] = action
        self._tracker = ChordTracker(chords)
        self._listener = keyboard.Listener(on_press=self._press, on_release=self._release)
        self._listener.daemon = True
        self._listener.start()
        self._listener.wait()

    def _press(self, key: Any) -> None:
        if self._tracker is None or key is None:
            return
        canonical = self._listener.canonical(key)
        starts = self._tracker.starts_chord(canonical)
        hit = self._tracker.press(canonical)
        if hit is not None:
            combo, repeat = hit
            self._on_chord(self._actions[combo], str(combo), repeat)
        elif starts and self._on_prime is not None and self._priming_key is None:
            # A modifier went down (Ctrl of Ctrl+B): a trader's key follows tens of ms later, and
            # the key path runs warm instead of cold (``DesktopApp.prime``) until it goes up.
            self._priming_key = canonical
            self._on_prime()

    def _release(self, key: Any) -> None:
        if self._tracker is not None and key is not None:
            canonical = self._listener.canonical(key)
            self._tracker.release(canonical)
            if canonical == self._priming_key:
                self._priming_key = None
                if self._on_unprime is not None:
                    self._on_unprime()

    @property
    def alive(self) -> bool:
        return self._listener is not None and self._listener.is_alive()

    def stop(self, timeout: float = 0.5) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.stop()
        listener.join(min(0.05, timeout))
        if listener.is_alive():
            _wake_xorg_listener(listener)
            listener.join(timeout)
        if listener.is_alive():
            log.warning("The hotkey listener did not stop within %.1f s.", timeout)


def _wake_xorg_listener(listener: Any) -> None:
    """pynput 1.8's X listener sends its RECORD "disable" on the display blocked in
    ``record_enable_context`` without flushing it, so ``stop()`` waits for the next key or mouse
    event. Sending the same request on the listener's second display (and flushing) ends the wait.
    """
    display = getattr(listener, "_display_stop", None)
    context = getattr(listener, "_context", None)
    if display is None or context is None:
        return
    try:
        display.record_disable_context(context)
        display.flush()
    except Exception:  # already closed: the thread is ending anyway
        log.debug("hotkey listener wake-up failed", exc_info=True)
