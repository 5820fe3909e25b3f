"""The 60-pixel action bar (tkinter): BUY / SELL buttons and the facts a trader glances at.

Lives on the Tk thread (``tk_thread``). ``show_state`` may be called from any thread: it hands the
snapshot to the Tk thread. Fully keyboard-usable: Tab moves between the buttons, Enter or Space
presses the focused one, ``b`` buys, ``s`` sells, ``p`` cycles the profile, Escape hides the bar.
Clicks and keys only call ``on_action`` (which enqueues into the app).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from traytrader.engine.api import EngineState
from traytrader.ui.menu_model import Action, UiState, position_text, stop_text
from traytrader.ui.tk_thread import TkThread

HEIGHT = 60
WIDTH = 840
BUY_GREEN = "#16a34a"
SELL_RED = "#dc2626"
BACKGROUND = "#0f172a"
TEXT = "#e2e8f0"
DOT_COLOURS = {
    EngineState.READY: "#22c55e",
    EngineState.CONNECTING: "#f59e0b",
    EngineState.DISCONNECTED: "#ef4444",
    EngineState.ERROR: "#ef4444",
    EngineState.LOCKED: "#64748b",
    EngineState.STOPPED: "#64748b",
}


def facts(ui: UiState) -> dict[str, str]:
    """The bar's label texts (pure; tested without a display)."""
    status = ui.status
    latency = "—" if status.last_latency_us is None else f"{status.last_latency_us / 1000:.1f} ms"
    state = status.state if ui.unlocked else EngineState.LOCKED
    return {
        "profile": ui.active_profile or "no profile",
        "position": position_text(status),
        "stop": _stop_label(stop_text(status)),
        "latency": f"last {latency}",
        "state": state.value + ("" if ui.armed else " · disarmed"),
        "dot": DOT_COLOURS.get(state, "#64748b"),
    }


def _stop_label(text: str) -> str:
    return text if text.startswith("stop") else f"stop: {text}"


class ActionBar:
    """Create with ``ActionBar(tk, on_action, on_moved)``; then ``set_visible`` / ``show_state``."""

    def __init__(self, tk: TkThread, on_action: Callable[[Action, str], None],
                 on_moved: Callable[[tuple[int, int]], None],
                 position: tuple[int, int] | None = None) -> None:
        self._tk = tk
        self._on_action = on_action
        self._on_moved = on_moved
        self._position = position
        self._window: Any = None
        self._widgets: dict[str, Any] = {}
        self._ui = UiState()
        self.visible = False
        self._window_id: int | None = None
        tk.on_close(self._forget)

    # --- any thread ----------------------------------------------------------------------------

    def set_visible(self, visible: bool) -> None:
        self._tk.call(lambda root: self._set_visible(root, visible))

    def show_state(self, ui: UiState) -> None:
        self._ui = ui
        if self._window is not None:
            self._tk.call(lambda _root: self._render(ui))

    def window_id(self) -> int | None:
        """The X window id (for xdotool in tests), once shown."""
        return self._window_id

    # --- Tk thread -----------------------------------------------------------------------------

    def _set_visible(self, root: Any, visible: bool) -> None:
        if visible and self._window is None:
            self._build(root)
        if self._window is None:
            return
        if visible:
            self._window.deiconify()
            self._window.lift()
            self._window.attributes("-topmost", True)
            self._window.update_idletasks()
            self._widgets["buy"].focus_set()
        else:
            self._window.withdraw()
        self.visible = visible

    def _build(self, root: Any) -> None:
        import tkinter as tk

        win = tk.Toplevel(root, background=BACKGROUND)
        win.title("traytrader")
        win.resizable(False, False)
        x, y = self._position or (root.winfo_screenwidth() - WIDTH - 24, 24)
        win.geometry(f"{WIDTH}x{HEIGHT}+{x}+{y}")
        win.attributes("-topmost", True)
        win.protocol("WM_DELETE_WINDOW", lambda: self._on_action(Action.TOGGLE_ACTION_BAR, ""))
        dot = tk.Canvas(win, width=16, height=16, background=BACKGROUND, highlightthickness=0)
        dot.create_oval(2, 2, 14, 14, fill="#64748b", outline="", tags="dot")
        dot.pack(side="left", padx=(10, 4))
        button = {"font": ("DejaVu Sans", 14, "bold"), "foreground": "white", "width": 5, "relief": "flat",
                  "activeforeground": "white", "takefocus": True, "highlightthickness": 2,
                  "highlightcolor": "#facc15"}
        buy = tk.Button(win, text="BUY", background=BUY_GREEN, activebackground="#15803d",
                        command=lambda: self._on_action(Action.BUY, ""), **button)
        sell = tk.Button(win, text="SELL", background=SELL_RED, activebackground="#b91c1c",
                         command=lambda: self._on_action(Action.SELL, ""), **button)
        buy.pack(side="left", padx=4, pady=8, fill="y")
        sell.pack(side="left", padx=4, pady=8, fill="y")
        labels = {}
        column = tk.Frame(win, background=BACKGROUND)
        column.pack(side="left", padx=10, fill="both", expand=True)
        top = tk.Frame(column, background=BACKGROUND)
        top.pack(side="top", fill="x")
        bottom = tk.Frame(column, background=BACKGROUND)
        bottom.pack(side="top", fill="x")
        for name, parent, bold in (("profile", top, True), ("state", top, False), ("latency", top, False),
                                   ("stop", top, False), ("position", bottom, False)):
            font = ("DejaVu Sans", 10, "bold" if bold else "normal")
            labels[name] = tk.Label(parent, text="", background=BACKGROUND, foreground=TEXT, font=font,
                                    anchor="w")
            labels[name].pack(side="left", padx=(0, 12))
        for key, action in (("b", Action.BUY), ("s", Action.SELL), ("p", Action.CYCLE_PROFILE)):
            win.bind(f"<KeyPress-{key}>", lambda _e, a=action: self._on_action(a, ""))
        win.bind("<Escape>", lambda _e: self._on_action(Action.TOGGLE_ACTION_BAR, ""))
        for widget in (buy, sell):
            widget.bind("<Return>", lambda e: e.widget.invoke())
        win.bind("<Configure>", self._moved)
        self._window = win
        win.update_idletasks()
        self._window_id = int(win.winfo_id())
        self._widgets = {"dot": dot, "buy": buy, "sell": sell, **labels}
        self._render(self._ui)

    def _render(self, ui: UiState) -> None:
        if self._window is None:
            return
        texts = facts(ui)
        self._widgets["dot"].itemconfigure("dot", fill=texts.pop("dot"))
        for name, text in texts.items():
            self._widgets[name].configure(text=text)

    def _moved(self, event: Any) -> None:
        if event.widget is self._window:
            position = (self._window.winfo_x(), self._window.winfo_y())
            if position != self._position:
                self._position = position
                self._on_moved(position)

    def _forget(self) -> None:
        self._window = None
        self._widgets = {}

    def destroy(self) -> None:
        def gone(_root: Any) -> None:
            if self._window is not None:
                self._window.destroy()
                self._window = None

        self._tk.call(gone)
