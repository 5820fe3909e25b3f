"""Trade review on the desktop: the result notification of a closed trade, with its picture, and
the trades page that "Open journal" shows.

After an event that may close a trade (a fill, a stop-out, a safety action) a worker thread reads
the journal until the closed trade is there (its rows land a few tens of ms after the event),
draws its picture, and hands a notification to the app ("BTCUSDT long closed by trailing stop:
+41.20 USDT, +2.1%, 1.3 R", the picture in the freedesktop ``image-path`` hint). A stop-out's
own notification waits for that one and is sent as it was if the trade does not show up in
``wait_s``: the trader always hears of a stop-out.

"Open journal" writes ``trades.html`` next to the journal (the latest trade's picture, every trade
in a table, the newest raw rows) and opens it with the desktop's browser (``xdg-open``, else
Python's ``webbrowser``); the opener is waited for, so no ``<defunct>`` child is left, and when
nothing can open it a notification says where the page is.
"""

from __future__ import annotations

import html
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from traytrader.core import display
from traytrader.core.trades import ExitReason, Trade
from traytrader.engine.api import Event, OrderFilled, SafetyAction, StoppedOut
from traytrader.ui.messages import Notification

log = logging.getLogger(__name__)

THUMB_SIZE = (360, 180)     # the notification's picture: the compact layout
PAGE_PICTURES = 12          # pictures on the page: the newest trades
_URGENT = (ExitReason.HARD_STOP, ExitReason.SAFETY_STOP, ExitReason.SAFETY_CLOSE, ExitReason.LIQUIDATION)
_TradeKey = tuple[int, str, str]


def _key(trade: Trade) -> _TradeKey:
    return (trade.opened_ms, trade.symbol, trade.position_side)


@dataclass(frozen=True)
class _Kick:
    """An event after which the journal may show a closed trade."""

    at: float                               # time.monotonic() of the event
    wait_s: float                           # how long to look for the trade
    symbol: str
    fallback: Notification | None = None    # a stop-out's own note: sent if no result comes


def result_notification(trade: Trade, image: Path | None) -> Notification:
    """Title: who closed what; body: the result sentence and the exit."""
    summary = trade.summary()
    head, _, result = summary.partition(": ")
    body = summary if not result else \
        f"{result} · exit {display.price(trade.exit_price)} · fees {display.usdt(trade.fees)}"
    return Notification(head, body, urgent=trade.exit_reason in _URGENT, image=str(image) if image else "")


class TradeReview:
    """Owned by the desktop app. ``on_event`` runs on the app's dispatcher thread and returns the
    notification to post now (None when it is deferred); ``post`` receives result notifications
    from the worker thread (the app re-queues them onto its dispatcher)."""

    def __init__(self, journal_path: Path, post: Callable[[Notification], None], *,
                 theme: str = "dark", wait_s: float = 3.0, fill_wait_s: float = 0.5,
                 poll_s: float = 0.05) -> None:
        self.journal_path = Path(journal_path)
        self.directory = self.journal_path.parent / "trades"
        self.page = self.journal_path.parent / "trades.html"
        self.post = post
        self.theme = theme
        self.wait_s = wait_s              # after a stop-out or safety action
        self.fill_wait_s = fill_wait_s    # after a fill (a close key, flatten, reverse)
        self.poll_s = poll_s
        self._seen: set[_TradeKey] | None = None
        # Reading goes on from the last point where every position was flat: each read after a
        # fill costs the rows since then, not the whole journal (the engine shares our GIL).
        self._from_seq = 0
        self._numbered = 0           # trades before ``_from_seq``
        self._stopping = threading.Event()
        self._kicks: queue.Queue[_Kick | None] = queue.Queue()   # None: stop
        self._posted: dict[str, float] = {}   # symbol → monotonic time of its last result
        self._thread = threading.Thread(target=self._run, name="traytrader-review", daemon=True)
        self.notified: list[Notification] = []   # result notifications posted (tests, tooltip)

    def start(self) -> TradeReview:
        self._thread.start()
        return self

    def stop(self, timeout: float = 0.5) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._kicks.put(None)
            self._thread.join(timeout)

    # --- dispatcher thread ---------------------------------------------------------------------

    def on_event(self, event: Event, note: Notification | None) -> Notification | None:
        now = time.monotonic()
        if isinstance(event, StoppedOut):
            # Sent by the worker: the result, or this note if no result for the symbol comes.
            self._kicks.put(_Kick(now, self.wait_s, event.symbol, note))
            return None
        if isinstance(event, SafetyAction):
            self._kicks.put(_Kick(now, self.wait_s, event.symbol))
        elif isinstance(event, OrderFilled):
            # Most fills open or add to a position: look briefly, the rows land in ~50 ms.
            self._kicks.put(_Kick(now, self.fill_wait_s, event.symbol))
        return note

    # --- worker thread ---------------------------------------------------------------------------

    def _load(self, *, with_marks: bool, recent: bool = False) -> list[Trade]:
        """The journal's trades; ``recent``: only those since the last flat point (and move that
        point on when everything is flat again)."""
        from traytrader.core.trades import trades_from_rows
        from traytrader.engine.journal import read_trade_rows

        start, numbered = (self._from_seq, self._numbered) if recent else (0, 0)
        rows = read_trade_rows(self.journal_path, with_marks=with_marks, from_seq=start)
        trades = trades_from_rows(rows, with_marks=with_marks, first_number=numbered + 1)
        if recent and rows and all(t.closed for t in trades):
            self._from_seq, self._numbered = rows[-1].seq + 1, numbered + len(trades)
        return trades

    def _closed_keys(self) -> set[_TradeKey]:
        return {_key(t) for t in self._load(with_marks=False, recent=True) if t.closed}

    def _run(self) -> None:
        try:
            self._seen = self._closed_keys()   # trades closed before this run are not news
        except Exception:
            log.exception("trade review: cannot read the journal")
            self._seen = set()
        while (kick := self._kicks.get()) is not None:
            try:
                self._review(kick)
            except Exception:
                log.exception("trade review failed")
                if kick.fallback is not None:
                    self.post(kick.fallback)

    def _review(self, kick: _Kick) -> None:
        deadline = kick.at + kick.wait_s
        seen = self._seen if self._seen is not None else set()
        start, numbered = self._from_seq, self._numbered
        while True:
            self._from_seq, self._numbered = start, numbered
            new = [t for t in self._load(with_marks=False, recent=True) if t.closed and _key(t) not in seen]
            if new or time.monotonic() >= deadline:
                break
            # The journal is another thread's file, written ~20 ms after the event: poll it briefly.
            if self._stopping.wait(self.poll_s):
                return
        if not new:
            # An earlier look (after the stop's fill) may have found and posted this result already.
            if kick.fallback is not None and self._posted.get(kick.symbol, -1e9) < kick.at - kick.wait_s:
                self.post(kick.fallback)
            return
        self._from_seq, self._numbered = start, numbered
        pictured = {_key(t): t for t in self._load(with_marks=True, recent=True)}
        for trade in new:
            seen.add(_key(trade))
            image = self._picture(pictured.get(_key(trade), trade), thumb=True)
            note = result_notification(trade, image)
            self.notified.append(note)
            self._posted[trade.symbol] = time.monotonic()
            self.post(note)

    def _picture(self, trade: Trade, *, thumb: bool = False) -> Path | None:
        from traytrader.trade_chart import save_trade_png

        name = f"trade-{trade.number}{'-thumb' if thumb else ''}.png"
        width, height = THUMB_SIZE if thumb else (800, 400)
        try:
            return save_trade_png(trade, self.directory / name, width=width, height=height, theme=self.theme)
        except OSError as exc:
            log.warning("Could not write the trade picture %s: %s", name, exc)
            return None

    # --- "Open journal" (a worker thread of the app) -------------------------------------------

    def write_page(self) -> Path:
        """Write ``trades.html`` (and the newest trades' pictures); returns its path."""
        from traytrader.core.trades import trades_from_rows
        from traytrader.engine.journal import read_journal, read_trade_rows

        trades = self._load(with_marks=False)
        newest = trades[-PAGE_PICTURES:]
        if newest:   # their mark paths only: a long journal's older marks are not read at all
            since = min(t.opened_ms for t in newest)
            trades = trades_from_rows(read_trade_rows(self.journal_path, marks_since_ms=since))
        pictures = {t.number: self._picture(t) for t in trades[-PAGE_PICTURES:]}
        events = read_journal(self.journal_path, last=30)
        self.page.parent.mkdir(parents=True, exist_ok=True)
        self.page.write_text(page_html(trades, pictures, events, self.journal_path), encoding="utf-8")
        return self.page

    def open_page(self, notify: Callable[[Notification], None]) -> bool:
        """Write the page and open it in the browser; say where it is when nothing opens it."""
        try:
            page = self.write_page()
        except OSError as exc:
            notify(Notification("Cannot write the trades page", f"{self.page}: {exc}", urgent=True))
            return False
        if open_in_browser(page):
            return True
        notify(Notification("Trades page written", f"No browser could open it; it is at {page}."))
        return False


def open_in_browser(path: Path, *, timeout_s: float = 20.0) -> bool:
    """Open ``path`` with the desktop's opener, waiting for the opener so it leaves no zombie; then
    Python's ``webbrowser``. False when neither could."""
    if sys.platform.startswith("linux") and shutil.which("xdg-open"):
        try:
            process = subprocess.Popen(["xdg-open", str(path)], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        except OSError as exc:
            log.warning("xdg-open failed: %s", exc)
        else:
            try:
                if process.wait(timeout_s) == 0:
                    return True
            except subprocess.TimeoutExpired:   # an opener that runs the viewer in the foreground
                threading.Thread(target=process.wait, name="traytrader-reap", daemon=True).start()
                return True
    try:
        return bool(webbrowser.open(path.resolve().as_uri()))
    except webbrowser.Error:
        return False


def _cell(text: object) -> str:
    return f"<td>{html.escape(str(text))}</td>"


def page_html(trades: list[Trade], pictures: dict[int, Path | None], events: list, journal: Path) -> str:
    """The trades page: the latest trade's picture, the table (newest first), the newest raw rows."""
    from traytrader.trade_table import COLUMNS, format_trades, trade_cells

    def rel(picture: Path) -> str:
        return html.escape(os.path.relpath(picture, journal.parent).replace(os.sep, "/"))

    closed = [t for t in trades if t.closed]
    latest = closed[-1] if closed else None
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>traytrader trades</title>",
             "<style>body{font-family:sans-serif;background:#16181d;color:#e6e9ef;margin:24px}"
             "table{border-collapse:collapse;font-size:13px}"
             "td,th{padding:3px 8px;border-bottom:1px solid #2b2f38;text-align:right}"
             "td:nth-child(4),td:nth-child(5),td:last-child{text-align:left}"
             ".win{color:#2ecc71}.loss{color:#ff5c5c}img{max-width:100%;border:1px solid #2b2f38}"
             "pre{font-size:12px;color:#8b93a1;overflow-x:auto}a{color:#4c9aff}</style></head><body>",
             f"<h1>Trades</h1><p>From the journal {html.escape(str(journal))}, written "
             f"{html.escape(time.strftime('%Y-%m-%d %H:%M:%S'))}.</p>"]
    if latest is not None:
        picture = pictures.get(latest.number)
        parts.append(f"<h2>Latest: {html.escape(latest.summary())}</h2>")
        if picture is not None:
            parts.append(f"<p><img src='{rel(picture)}' alt='trade {latest.number}' width='800'></p>")
    else:
        parts.append("<p>No closed trades in the journal yet.</p>")
    if trades:
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS) + "</tr>")
        for trade in reversed(trades):
            style = "" if not trade.closed else (" class='win'" if trade.net_pnl >= 0 else " class='loss'")
            cells = [_cell(c) for c in trade_cells(trade)]
            picture = pictures.get(trade.number)
            if picture is not None:
                cells[0] = f"<td><a href='{rel(picture)}'>{trade.number}</a></td>"
            parts.append(f"<tr{style}>" + "".join(cells) + "</tr>")
        parts.append("</table>")
        parts.append("<pre>" + html.escape("\n".join(format_trades(trades)[-2:])) + "</pre>")
    parts.append("<h2>Newest journal rows</h2>")
    rows = [f"{time.strftime('%H:%M:%S', time.localtime(e.at_ms / 1000))}  {e.kind:<9} {e.symbol:<9} "
            f"{e.text}" for e in events]
    parts.append("<pre>" + html.escape("\n".join(rows) or "(none)") + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
