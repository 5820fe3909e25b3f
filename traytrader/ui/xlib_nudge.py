"""Waking pystray's Xlib icon when python-xlib leaves one of its threads asleep.

pystray's ``xorg`` backend (a plain install, without PyGObject) runs its X event loop on the
main thread, and a property set from another thread (the dispatcher's title or icon update) is
sent there as a client message followed by a ``flush()`` on the same connection. python-xlib 0.33's
``send_and_recv`` has a path that returns without waking the threads waiting for it: a thread
that is sending but not receiving returns early when the socket is readable, and never releases
the lock a thread waiting for a reply sleeps on. When a redraw's ``get_geometry`` meets an update
from the dispatcher, the main thread sleeps for good and the dispatcher with it (it waits for the
main thread to apply the update): ``traytrader send`` then answers "busy", and the keys stop
(seen in ``tests/desktop/test_plain_install.py``, about one start in three, with a ``py-spy dump``
showing the main thread in ``Display.send_and_recv``'s ``wait_lock.acquire()`` and no thread doing
the I/O it waits for).

The nudge: once a second, if a thread waits for an event or a reply while no thread is sending or
receiving, flush from here. That flush takes the receiver's part, reads what is there, and on its
way out wakes the waiters, as python-xlib's normal path does. It does nothing otherwise.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

NUDGE_EVERY_S = 1.0


def stuck(protocol: Any) -> bool:
    """Whether a thread waits on ``protocol`` (an ``Xlib.protocol.display.Display``) while no thread
    does the I/O that would wake it."""
    waiting = getattr(protocol, "request_waiting", 0) or getattr(protocol, "event_waiting", 0)
    busy = getattr(protocol, "send_active", 1) or getattr(protocol, "recv_active", 1)
    return bool(waiting) and not busy


class XlibNudge:
    """A daemon thread nudging one ``Xlib.display.Display`` (see the module docstring)."""

    def __init__(self, display: Any) -> None:
        self._display = display
        self._stop = threading.Event()
        self.nudges = 0
        self._thread = threading.Thread(target=self._run, name="tray-xlib-nudge", daemon=True)

    def start(self) -> XlibNudge:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def nudge_if_stuck(self) -> bool:
        """One check; True when it flushed."""
        protocol = getattr(self._display, "display", None)
        if protocol is None or not stuck(protocol):
            return False
        self.nudges += 1
        log.debug("waking pystray's Xlib event loop (python-xlib left a thread waiting)")
        self._display.flush()
        return True

    def _run(self) -> None:
        while not self._stop.wait(NUDGE_EVERY_S):
            try:
                self.nudge_if_stuck()
            except Exception:   # the connection closed (the icon stopped): nothing left to wake
                log.debug("the Xlib nudge stopped", exc_info=True)
                return
