"""The 60-pixel action bar (tkinter): BUY / SELL buttons and the facts a trader glances at.

Lives on the Tk thread (``tk_thread``). ``show_state`` may be called from any thread: it hands the
snapshot to the Tk thread. Fully keyboard-usable: Tab moves between the buttons, Enter or Space
presses the focused one, ``b`` buys, ``s`` sells, ``p`` cycles the profile, Escape hides the bar.
Clicks and keys only call ``on_action`` (which enqueues into the app).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from traytrader.core import display
from traytrader.engine.api import EngineState
from traytrader.ui.menu_model import Action, UiState, open_positions, stop_text
from traytrader.ui.tk_thread import TkThread

log = logging.getLogger(__name__)

HEIGHT = 60
WIDTH = 870
MARGIN = 24          # from the work area's edge
PANEL_GUESS = 48     # room left for a panel when the desktop does not say where its panels are
BUY_GREEN = "#16a34a"
SELL_RED = "#dc2626"
BACKGROUND = "#0f172a"
TEXT = "#e2e8f0"
MUTED = "#94a3b8"
GAIN = "#4ade80"
LOSS = "#f87171"
ARMED_YELLOW = "#facc15"
DOT_COLOURS = {
    EngineState.READY: "#22c55e",
    EngineState.CONNECTING: "#f59e0b",
    EngineState.DISCONNECTED: "#ef4444",
    EngineState.ERROR: "#ef4444",
    EngineState.LOCKED: "#64748b",
    EngineState.STOPPED: "#64748b",
}
MODIFIER_MASK = 0x4 | 0x8 | 0x40   # Control, Mod1 (Alt), Mod4 (Super) in an X key event's state
GAP = "  "  # between two segments of a line (measured in the line's font)


@dataclass(frozen=True)
class Segment:
    """One run of text on the bar: what it says, how much it matters (0 first), how it looks."""

    text: str
    priority: int
    colour: str = TEXT
    bold: bool = False
    group: str = ""  # the symbol of a position shown in several segments (dropped together)


def facts(ui: UiState) -> dict[str, str]:
    """The bar's plain facts (pure; tested without a display)."""
    status = ui.status
    state = status.state if ui.unlocked else EngineState.LOCKED
    return {
        "profile": ui.active_profile or "no profile",
        "stop": _stop_label(stop_text(status)),
        "latency": f"last {display.milliseconds(status.last_latency_us)}",
        "state": state.value + ("" if ui.armed else " · disarmed"),
        "dot": DOT_COLOURS.get(state, "#64748b"),
    }


def pnl_colour(value: object) -> str:
    return GAIN if value > 0 else LOSS if value < 0 else TEXT  # type: ignore[operator]


def lines(ui: UiState) -> tuple[list[Segment], list[Segment]]:
    """The bar's two lines (pure), most important first. First: the active symbol's position
    (or ``flat``) with its uPnL, its stop and the mark. Second: the hotkey state, every other
    open position with its uPnL, the profile and the last latency."""
    status = ui.status
    positions = open_positions(status)
    active = [p for p in positions if p.symbol == status.symbol]
    first: list[Segment] = []
    if active:
        p = active[0]
        first.append(Segment(f"{p.symbol} {display.direction(p.quantity)} "
                             f"{display.quantity(abs(p.quantity), p.step_size)} @ "
                             f"{display.price(p.entry_price, p.tick_size)}", 0, TEXT, bold=True))
        first.append(Segment(f"uPnL {display.usdt(p.unrealized_pnl, signed=True)}", 0,
                             pnl_colour(p.unrealized_pnl), bold=True))
        first.append(Segment(_short_stop(stop_text(status)), 1, TEXT))
    else:
        first.append(Segment(f"{status.symbol or 'no symbol'} flat", 0, MUTED, bold=True))
    if status.mark_price is not None and status.symbol:
        first.append(Segment(f"mark {display.price(status.mark_price, status.tick_size)}", 9, MUTED))
    texts = facts(ui)
    armed = ui.armed and ui.unlocked
    second = [Segment(f"{texts['state']} · armed" if armed else texts["state"], 0,
                      ARMED_YELLOW if armed else MUTED)]
    for rank, p in enumerate(q for q in positions if q.symbol != status.symbol):
        second.append(Segment(f"{p.symbol} {display.direction(p.quantity)} "
                              f"{display.quantity(abs(p.quantity), p.step_size)}", 2 + rank, TEXT,
                              bold=True, group=p.symbol))
        second.append(Segment(display.usdt(p.unrealized_pnl, signed=True), 2 + rank,
                              pnl_colour(p.unrealized_pnl), bold=True, group=p.symbol))
    second += [Segment(texts["profile"], 30, TEXT), Segment(texts["latency"], 31, MUTED)]
    return first, second


def fit(segments: list[Segment], width: float, measure: Callable[[str], float] = len) -> list[Segment]:
    """The segments that fit ``width``, chosen by priority (``core.display.elide``): whole
    segments are dropped, the least important first; the one that must stay is shortened at a
    word if it alone is too wide. Never a cut in the middle of a word. Positions that do not fit
    are counted instead (``+2 more positions``), never shown in part."""
    dropped: list[str] = []
    while True:
        rest = [s for s in segments if s.group not in dropped]
        if dropped:
            more = Segment(f"+{display.plural(len(dropped), 'more position')}", 1, MUTED)
            last = max([0, *(i for i, s in enumerate(rest) if s.group)])   # after the shown positions
            rest.insert(last + 1, more)
        kept = _fit(rest, width, measure)
        partial = [s.group for s in rest if s.group and s not in kept]
        if not partial:
            return kept
        dropped += [group for group in dict.fromkeys(partial) if group not in dropped]


def _fit(segments: list[Segment], width: float, measure: Callable[[str], float]) -> list[Segment]:
    kept = [segments[i] for i in display.elide([(s.text, s.priority) for s in segments], width, measure, GAP)]
    if len(kept) == 1 and measure(kept[0].text) > width:
        kept = [replace(kept[0], text=display.shorten(kept[0].text, width, measure))]
    return kept


def _short_stop(text: str) -> str:
    """``stop → 75,391.1 (hard, 2% below entry)`` → ``stop → 75,391.1 (hard)``: the bar has room
    for the level and its kind; the tooltip and the notification keep the whole sentence."""
    head, paren, tail = text.partition(" (")
    if paren:
        head = f"{head} ({tail.split(',')[0].rstrip(')')})"
    return _stop_label(head)


def _stop_label(text: str) -> str:
    return text if text.startswith("stop") else f"stop: {text}"


def work_area(screen: tuple[int, int]) -> tuple[int, int, int, int, bool]:
    """(x, y, width, height, known) of the desktop's work area: the screen less its panels, from
    ``_NET_WORKAREA`` on X11; the whole screen (``known`` False) when the desktop does not say."""
    if os.environ.get("DISPLAY"):
        try:
            from Xlib import X
            from Xlib import display as xdisplay

            connection = xdisplay.Display()
            try:
                root = connection.screen().root
                area = root.get_full_property(connection.intern_atom("_NET_WORKAREA"), X.AnyPropertyType)
                if area is not None and len(area.value) >= 4:
                    x, y, w, h = (int(v) for v in area.value[:4])
                    if w > 0 and h > 0:
                        return x, y, w, h, True
            finally:
                connection.close()
        except Exception as exc:  # no python-xlib, no X server: the guess below is safe
            log.debug("no _NET_WORKAREA: %s", exc)
    return 0, 0, screen[0], screen[1], False


def default_position(area: tuple[int, int, int, int, bool]) -> tuple[int, int]:
    """Bottom left of the work area: clear of the panels (the work area excludes them; without
    one, ``PANEL_GUESS`` pixels are kept free) and of the corners where notification servers draw
    (top right: dunst, XFCE, macOS; bottom right: KDE, Windows; top centre: GNOME)."""
    x, y, _width, h, known = area
    bottom = y + h - (0 if known else PANEL_GUESS)
    return x + MARGIN, max(y, bottom - HEIGHT - MARGIN)


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
        self._fonts: dict[bool, Any] = {}
        self.shown: tuple[str, ...] = ()  # the lines as last drawn (what a user reads; tests)
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
        import tkinter.font as tkfont

        win = tk.Toplevel(root, background=BACKGROUND)
        win.title("traytrader")
        win.resizable(False, False)
        screen = (root.winfo_screenwidth(), root.winfo_screenheight())
        if self._position == (screen[0] - 840 - MARGIN, MARGIN):
            self._position = None   # the old default (top right, under the tray panel), not a choice
        x, y = self._position or default_position(work_area(screen))
        win.geometry(f"{WIDTH}x{HEIGHT}+{x}+{y}")
        win.attributes("-topmost", True)
        win.protocol("WM_DELETE_WINDOW", lambda: self._on_action(Action.TOGGLE_ACTION_BAR, ""))
        dot = tk.Canvas(win, width=16, height=16, background=BACKGROUND, highlightthickness=0)
        dot.create_oval(2, 2, 14, 14, fill="#64748b", outline="", tags="dot")
        dot.pack(side="left", padx=(10, 4))
        button = {"font": ("DejaVu Sans", 14, "bold"), "foreground": "white", "width": 4, "relief": "flat",
                  "activeforeground": "white", "takefocus": True, "highlightthickness": 2,
                  "highlightcolor": "#facc15"}
        buy = tk.Button(win, text="BUY", background=BUY_GREEN, activebackground="#15803d",
                        command=lambda: self._on_action(Action.BUY, ""), **button)
        sell = tk.Button(win, text="SELL", background=SELL_RED, activebackground="#b91c1c",
                         command=lambda: self._on_action(Action.SELL, ""), **button)
        buy.pack(side="left", padx=4, pady=8, fill="y")
        sell.pack(side="left", padx=4, pady=8, fill="y")
        text = tk.Canvas(win, background=BACKGROUND, highlightthickness=0, height=HEIGHT)
        text.pack(side="left", padx=(10, 8), fill="both", expand=True)
        self._fonts = {False: tkfont.Font(root=root, family="DejaVu Sans", size=10),
                       True: tkfont.Font(root=root, family="DejaVu Sans", size=10, weight="bold")}
        for key, action in (("b", Action.BUY), ("s", Action.SELL), ("p", Action.CYCLE_PROFILE)):
            win.bind(f"<KeyPress-{key}>", lambda e, a=action: self._plain_key(e, a))
        win.bind("<Escape>", lambda _e: self._on_action(Action.TOGGLE_ACTION_BAR, ""))
        for widget in (buy, sell):
            widget.bind("<Return>", lambda e: e.widget.invoke())
        win.bind("<Configure>", self._moved)
        self._window = win
        win.update_idletasks()
        self._window_id = int(win.winfo_id())
        self._widgets = {"dot": dot, "buy": buy, "sell": sell, "text": text}
        self._render(self._ui)

    def _render(self, ui: UiState) -> None:
        if self._window is None:
            return
        self._widgets["dot"].itemconfigure("dot", fill=facts(ui)["dot"])
        canvas = self._widgets["text"]
        canvas.delete("all")
        canvas.update_idletasks()
        width = (canvas.winfo_width() if canvas.winfo_width() > 10 else WIDTH - 280) - 4
        gap = self._fonts[False].measure(GAP)
        shown: list[str] = []
        for row, (segments, y) in enumerate(zip(lines(ui), (18, 42), strict=True)):
            x = 0
            bold = {s.text: s.bold for s in segments}

            def measure(text: str, bold: dict[str, bool] = bold) -> float:
                return self._fonts[bold.get(text, True)].measure(text)  # unknown (shortened): bold

            kept = fit(segments, width, measure)
            for segment in kept:
                canvas.create_text(x, y, text=segment.text, anchor="w", fill=segment.colour,
                                   font=self._fonts[segment.bold], tags=(f"row{row}",))
                x += self._fonts[segment.bold].measure(segment.text) + gap
            shown.append(GAP.join(segment.text for segment in kept))
        self.shown = tuple(shown)

    def _plain_key(self, event: Any, action: Action) -> None:
        """``b``/``s``/``p`` alone. Tk also matches them with Ctrl or Alt held, and Ctrl+S with the
        bar focused is the global sell hotkey already: acting on it here too would sell twice."""
        if not int(getattr(event, "state", 0)) & MODIFIER_MASK:
            self._on_action(action, "")

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
