"""Desktop notifications on a worker thread of their own (never the engine loop, never the tray).

plyer talks D-Bus (or ``notify-send``) and can block for as long as the bus lets it, so every call
happens here. When there is no notification service, the first failure logs ONE warning, and from
then on each message goes to the log and to ``on_fallback`` (the app shows it in the tooltip);
delivery is still attempted, so a service that starts later is used.
"""

from __future__ import annotations

import logging
import queue
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

from traytrader.ui.messages import Notification

log = logging.getLogger(__name__)

APP_NAME = "traytrader"

SendFn = Callable[[Notification], None]


def plyer_send(note: Notification) -> None:
    """Deliver through plyer (dbus-python on Linux, native on Windows/macOS)."""
    from plyer import notification  # imported here: plyer picks its backend at first use

    # Without dbus-python plyer warns (three lines) and uses notify-send: the tray's one sentence
    # about the Linux extra already covers it.
    warnings.filterwarnings("ignore", message="The Python dbus package is not installed",
                            category=UserWarning)

    # The picture (trade review, issue 18) goes in the freedesktop ``image-path`` hint, which
    # plyer's D-Bus backend passes on; servers that show no images ignore it.
    hints = {"image-path": Path(note.image).resolve().as_uri()} if note.image else {}
    notification.notify(title=note.title, message=note.body, app_name=APP_NAME,
                        timeout=10 if note.urgent else 5, hints=hints)


class Notifier:
    """``post()`` is thread-safe and returns at once; a daemon worker delivers in order."""

    def __init__(self, send: SendFn = plyer_send, *,
                 on_fallback: Callable[[Notification], None] | None = None,
                 on_delivered: Callable[[Notification], None] | None = None) -> None:
        self._send = send
        self._on_fallback = on_fallback
        self._on_delivered = on_delivered
        self._queue: queue.Queue[Notification | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="traytrader-notify", daemon=True)
        self.warned = False
        self.degraded = False
        self.delivered = 0

    def start(self) -> Notifier:
        self._thread.start()
        return self

    def post(self, note: Notification) -> None:
        self._queue.put(note)

    def stop(self, timeout: float = 0.5) -> None:
        """Deliver what is queued if it is quick, then end the worker."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while (note := self._queue.get()) is not None:
            self._deliver(note)

    def _deliver(self, note: Notification) -> None:
        try:
            self._send(note)
        except Exception as exc:  # any backend failure: D-Bus, missing notify-send, portal
            self.degraded = True
            if not self.warned:
                self.warned = True
                log.warning("Desktop notifications are unavailable (%s: %s); messages go to the log "
                            "and the tray tooltip instead.", type(exc).__name__, exc)
            log.info("%s: %s", note.title, note.body)
            if self._on_fallback is not None:
                self._on_fallback(note)
            return
        self.degraded = False
        self.delivered += 1
        if self._on_delivered is not None:
            self._on_delivered(note)
