"""Helpers shared by the desktop tests (a uniquely named module, so importing it never picks up
another directory's ``conftest``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from traytrader.ui.menu_model import UiState


class Watcher:
    """A view that lets the test wait for a UiState condition (no sleeping)."""

    def __init__(self) -> None:
        self.ui = UiState()
        self._cond = threading.Condition()

    def show_state(self, ui: UiState) -> None:
        with self._cond:
            self.ui = ui
            self._cond.notify_all()

    def wait(self, predicate: Callable[[UiState], bool], timeout: float = 10.0) -> UiState:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.ui), timeout):
                raise AssertionError(f"UI state not reached within {timeout} s: {self.ui}")
            return self.ui
