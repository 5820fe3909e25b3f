"""Tk in a thread of its own, so the tray can own the main thread and a closed window never stops
the engine.

Tk is not thread-safe: only this thread touches widgets. Other threads hand it work with
``call(fn)``; the Tk loop picks calls up every ``POLL_MS`` (a 100 ms idle poll costs well under
0.1% of a core). ``DISPLAY`` must be set before tkinter is imported, so the import is in ``_run``.
On macOS Tk insists on the main thread, which the tray owns: there the windows are unavailable
in-process (see ``docs/desktop.md``).
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

POLL_MS = 100

TkCall = Callable[[Any], None]  # receives the (withdrawn) Tk root


class TkThread:
    def __init__(self) -> None:
        self._calls: queue.Queue[TkCall] = queue.Queue()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traytrader-tk", daemon=True)
        self._cleanups: list[Callable[[], None]] = []
        self.error: BaseException | None = None

    def start(self, timeout: float = 5.0) -> TkThread:
        """Start the thread and wait until Tk is up; raises if Tk could not start."""
        self._thread.start()
        self._ready.wait(timeout)
        if self.error is not None:
            raise RuntimeError(f"Tk could not start: {self.error}") from self.error
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` on the Tk thread at shutdown: windows drop their widget references there.

        Tcl aborts the process ("Tcl_AsyncDelete: async handler deleted by the wrong thread") when
        the last reference to a Tk object dies on another thread, so none may outlive this thread.
        """
        self._cleanups.append(cleanup)

    def call(self, fn: TkCall) -> None:
        """Run ``fn(root)`` on the Tk thread soon; returns at once."""
        self._calls.put(fn)

    def _run(self) -> None:
        try:
            import tkinter

            root = tkinter.Tk(className="traytrader")
            root.withdraw()
        except Exception as exc:  # no display, no Tk: reported by start()
            self.error = exc
            self._ready.set()
            return
        self._ready.set()

        self._serve(root)
        root = None  # the last reference to Tk objects dies here, on this thread
        while not self._calls.empty():  # queued calls may hold widgets in their closures
            self._calls.get_nowait()
        gc.collect()  # Tk objects in reference cycles must die on this thread too

    def _serve(self, root: Any) -> None:
        def poll() -> None:
            while True:
                try:
                    fn = self._calls.get_nowait()
                except queue.Empty:
                    break
                try:
                    fn(root)
                except Exception:
                    log.exception("Tk call failed")
            root.after(POLL_MS, poll)

        root.after(POLL_MS, poll)
        try:
            root.mainloop()
        finally:
            for cleanup in self._cleanups:
                try:
                    cleanup()
                except Exception:
                    log.exception("Tk cleanup failed")
            try:
                root.destroy()
            except Exception:
                log.debug("Tk root already gone", exc_info=True)

    def stop(self, timeout: float = 0.5) -> None:
        if self._thread.is_alive():
            self.call(lambda root: root.quit())
            self._thread.join(timeout)
