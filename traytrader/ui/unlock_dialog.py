"""The unlock dialog (tkinter): a password field, Enter submits, a clear message on a wrong password.

The key derivation (PBKDF2, ~0.3–1 s) runs on a worker thread while the dialog shows a progress
note, so the Tk thread never freezes. The password lives in the entry widget and one local
variable only; the field is cleared as soon as it is read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from traytrader.core.errors import TraytraderError
from traytrader.ui.tk_thread import TkThread

PROGRESS_NOTE = "Deriving the key from your password (about a second)…"


class UnlockDialog:
    """``open()`` from any thread; ``unlock(password)`` runs on a worker and raises on failure."""

    def __init__(self, tk: TkThread, unlock: Callable[[str], Any], *,
                 title: str = "Unlock traytrader") -> None:
        self._tk = tk
        self._unlock = unlock
        self._title = title
        self._window: Any = None
        self._widgets: dict[str, Any] = {}
        self.last_error = ""
        self._window_id: int | None = None
        tk.on_close(self._forget)

    def _forget(self) -> None:
        self._window = None
        self._widgets = {}

    def open(self) -> None:
        self._tk.call(self._open)

    def window_id(self) -> int | None:
        return self._window_id

    @property
    def is_open(self) -> bool:
        return self._window is not None

    def _open(self, root: Any) -> None:
        import tkinter as tk
        from tkinter import ttk

        if self._window is not None:
            self._window.lift()
            self._widgets["entry"].focus_force()
            return
        win = tk.Toplevel(root)
        win.title(self._title)
        win.resizable(False, False)
        win.attributes("-topmost", True)
        frame = ttk.Frame(win, padding=16)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text="Vault password:").pack(anchor="w")
        entry = ttk.Entry(frame, show="•", width=36)
        entry.pack(fill="x", pady=(4, 8))
        message = ttk.Label(frame, text="Press Enter to unlock, Escape to cancel.", foreground="#475569",
                            wraplength=320)
        message.pack(anchor="w")
        progress = ttk.Progressbar(frame, mode="indeterminate", length=320)
        entry.bind("<Return>", lambda _e: self._submit())
        win.bind("<Escape>", lambda _e: self._close())
        win.protocol("WM_DELETE_WINDOW", self._close)
        self._window = win
        self._widgets = {"entry": entry, "message": message, "progress": progress}
        win.update_idletasks()
        self._window_id = int(win.winfo_id())
        entry.focus_force()

    def _submit(self) -> None:
        entry = self._widgets["entry"]
        password = entry.get()
        entry.delete(0, "end")
        if not password:
            self._show_error("Type the vault password, then press Enter.")
            return
        entry.state(["disabled"])
        self._widgets["message"].configure(text=PROGRESS_NOTE, foreground="#475569")
        self._widgets["progress"].pack(fill="x", pady=(8, 0))
        self._widgets["progress"].start(15)
        threading.Thread(target=self._derive, args=(password,), name="traytrader-unlock", daemon=True).start()

    def _derive(self, password: str) -> None:
        try:
            self._unlock(password)
        except TraytraderError as exc:
            error = str(exc)
            self._tk.call(lambda _root: self._show_error(error))
            return
        except Exception as exc:  # an unexpected failure must still leave a usable dialog
            error = f"Could not unlock the vault: {exc}."
            self._tk.call(lambda _root: self._show_error(error))
            return
        self._tk.call(lambda _root: self._close())

    def _show_error(self, text: str) -> None:
        self.last_error = text
        if self._window is None:
            return
        self._widgets["progress"].stop()
        self._widgets["progress"].pack_forget()
        self._widgets["message"].configure(text=text, foreground="#b91c1c")
        entry = self._widgets["entry"]
        entry.state(["!disabled"])
        entry.focus_force()

    def _close(self) -> None:
        if self._window is not None:
            self._window.destroy()
            self._window = None
            self._window_id = None
            self._widgets = {}
