"""The journal: an append-only SQLite file (WAL) of every command, request, response, stream event
and latency, so that what happened can always be reconstructed.

The hot path pays a list append (< 1 µs) per row: rows are encoded (JSON, redaction) by a loop
callback ``HANDOFF_DELAY_S`` later — after the frame went out and its answer was handled — and
handed to one writer thread, which commits them in small WAL transactions and
holds the GIL as little as possible. A request is recorded *before* its frame is sent and its
response when it arrives; ``flush()`` waits until everything recorded is on disk. Rows recorded
outside an event loop are handed over at once.
Append-only is enforced by the database itself (triggers refuse UPDATE and DELETE).

Redaction happens twice: by key (``apiKey``, ``signature``, ``secret``, ``listenKey``, private keys
are replaced by ``"<redacted>"``) and by value (any registered secret string is scrubbed from the
serialised row), so a secret that slipped into an error text still never reaches the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

REDACTED = "<redacted>"
# Rows wait this long on the loop before being encoded and handed to the writer, so that neither
# the encoding nor the writer thread (which needs the GIL and, on 2 cores, a core the exchange
# or simulator is using) competes with an order in flight: an order's frame, answer and stream
# events all fall inside one window. At 2 ms the writer ran in the middle of the next round trip
# and added ~250 µs to it (bench_engine, 2025-11-25); 20 ms is longer than a round trip to the
# simulator and short against a trader's next keypress. A crash can lose at most this window
# plus one commit.
HANDOFF_DELAY_S = 0.02
SECRET_KEYS = frozenset({"apikey", "signature", "secret", "secretkey", "listenkey", "privatekey",
                         "private_key", "password", "api_key"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    symbol TEXT NOT NULL DEFAULT '',
    client_id TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '',
    latency_us REAL
);
CREATE INDEX IF NOT EXISTS journal_client_id ON journal(client_id);
CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""

_COLUMNS = "seq, at_ms, kind, symbol, client_id, request_id, text, data, latency_us"
_INSERT = ("INSERT INTO journal (at_ms, kind, symbol, client_id, request_id, text, data, latency_us) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    at_ms: int
    kind: str
    symbol: str
    client_id: str
    request_id: str
    text: str
    data: str
    latency_us: float | None


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-named key's value replaced by ``<redacted>``."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in SECRET_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


_SECRET_NEEDLES = tuple(f'"{key}"' for key in SECRET_KEYS)


def _encode(data: Any) -> str:
    """``data`` as compact JSON with secret-named keys redacted. Most rows (stream events, order
    answers) hold no such key: encode once and look for the quoted names in the lowered text
    (each secret key, at any depth, appears there as ``"name"``) before walking the structure."""
    text = json.dumps(data, default=_default, separators=(",", ":"))
    lowered = text.lower()
    if any(needle in lowered for needle in _SECRET_NEEDLES):
        text = json.dumps(redact(data), default=_default, separators=(",", ":"))
    return text


class Journal:
    """``record(...)`` from the engine loop; ``close()`` flushes and stops the writer thread."""

    def __init__(self, path: str | Path | None, *, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path) if path is not None else None
        self._secrets = tuple(s for s in secrets if s and len(s) >= 8)
        self._queue: queue.SimpleQueue[list[tuple[Any, ...]] | threading.Event | None] = queue.SimpleQueue()
        self._pending: list[tuple[Any, ...]] = []
        self._handoff_scheduled = False
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if self.path is not None:
            # Private from the first byte: directory 0700, file 0600 (SQLite gives -wal and -shm
            # the main file's mode), whatever the umask.
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            connection = self._connect()   # fail early, on the caller's thread, with a clear error
            connection.close()
            self._thread = threading.Thread(target=self._writer, name="journal-writer", daemon=True)
            self._thread.start()

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self._secrets = self._secrets + tuple(s for s in secrets if s and len(s) >= 8)

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        connection = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        # An append-only writer needs little page cache; a small fixed one keeps a long-running
        # engine's memory flat (SQLite's default grows to 2 MiB per connection).
        connection.execute("PRAGMA cache_size=-256")
        connection.executescript(_SCHEMA)
        return connection

    def record(self, kind: str, text: str = "", *, symbol: str = "", client_id: str = "",
               request_id: object = "", data: Any = None, latency_us: float | None = None) -> None:
        """Record one row; never blocks and never raises (a journal failure must not stop trading)."""
        if self._thread is None:
            return
        self._pending.append((int(time.time() * 1000), kind, symbol, client_id,
                              "" if request_id is None else str(request_id), text, data, latency_us))
        if self._handoff_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._handoff()
            return
        self._handoff_scheduled = True
        loop.call_later(HANDOFF_DELAY_S, self._handoff)

    def _handoff(self) -> None:
        """Encode the pending rows (on the caller's thread) and pass them to the writer."""
        self._handoff_scheduled = False
        items, self._pending = self._pending, []
        if items:
            rows = []
            for item in items:
                try:
                    rows.append(self._row(item))
                except Exception:  # an unencodable row is dropped, never the trading loop
                    continue
            self._queue.put(rows)

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until everything recorded so far is committed."""
        if self._thread is None:
            return True
        self._handoff()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        if self._thread is None:
            return
        self._handoff()
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def recent_orders(self, symbol: str, limit: int = 200) -> list[dict[str, Any]]:
        """The latest orders of ``symbol`` as this journal recorded them (order answers and
        ORDER_TRADE_UPDATEs), shaped like ``allOrders`` rows, for ``core.ownership``. What was
        recorded by an earlier run: rows still waiting for the writer are not read."""
        if self.path is None or not self.path.exists():
            return []
        try:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=2)
            try:
                rows = connection.execute(
                    "SELECT kind, text, data FROM journal WHERE symbol = ? AND kind IN ('response', "
                    "'resolution') ORDER BY seq DESC LIMIT ?", (symbol, limit)).fetchall()
                rows += connection.execute(
                    "SELECT kind, text, data FROM journal WHERE kind = 'stream' "
                    "AND text = 'ORDER_TRADE_UPDATE' AND data LIKE ? ORDER BY seq DESC LIMIT ?",
                    (f'%"s":"{symbol}"%', limit)).fetchall()
            finally:
                connection.close()
        except sqlite3.Error:
            return []
        return [order for order in map(_order_row, rows) if order is not None]

    def trailing_extremes(self, limit: int = 2000) -> dict[str, Decimal]:
        """clientAlgoId -> the latest tracked extreme an earlier run persisted (``asl-extreme``
        rows, newest wins), so a restart never thinks a trailing stop looser than it is."""
        if self.path is None or not self.path.exists():
            return {}
        try:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=2)
            try:
                rows = connection.execute("SELECT data FROM journal WHERE kind = 'asl-extreme' "
                                          "ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
            finally:
                connection.close()
        except sqlite3.Error:
            return {}
        found: dict[str, Decimal] = {}
        for (data,) in rows:
            try:
                body = json.loads(data)
                client_id, extreme = str(body["client_algo_id"]), Decimal(str(body["extreme"]))
            except (ValueError, KeyError, TypeError, ArithmeticError):
                continue
            if extreme.is_finite() and extreme > 0:
                found.setdefault(client_id, extreme)
        return found

    def _row(self, item: tuple[Any, ...]) -> tuple[Any, ...]:
        at_ms, kind, symbol, client_id, request_id, text, data, latency_us = item
        data_text = "" if data is None else _encode(data)
        for secret in self._secrets:
            if secret in data_text:
                data_text = data_text.replace(secret, REDACTED)
            if secret in text:
                text = text.replace(secret, REDACTED)
        return (at_ms, kind, symbol, client_id, request_id, text, data_text, latency_us)

    def _writer(self) -> None:
        connection = self._connect()
        try:
            running = True
            while running:
                batch: list[tuple[Any, ...]] = []
                waiters: list[threading.Event] = []
                item = self._queue.get()
                while True:
                    if item is None:
                        running = False
                    elif isinstance(item, threading.Event):
                        waiters.append(item)
                    else:
                        batch.extend(item)
                    if not running or len(batch) >= 256:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    try:
                        with connection:
                            connection.executemany(_INSERT, batch)
                    except sqlite3.Error as exc:  # keep trading; the error is reported on read
                        self._error = exc
                for waiter in waiters:
                    waiter.set()
        finally:
            with contextlib.suppress(sqlite3.Error):
                connection.close()


def _order_row(row: tuple[str, str, str]) -> dict[str, Any] | None:
    """A journal row as an ``allOrders``-shaped order, or None when it is not an order's report."""
    kind, text, data = row
    try:
        body = json.loads(data) if data else None
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if kind == "stream":
        order = body.get("o")
        if not isinstance(order, dict):
            return None
        return {"clientOrderId": order.get("c"), "side": order.get("S"), "status": order.get("X"),
                "executedQty": order.get("z"), "positionSide": order.get("ps"),
                "reduceOnly": order.get("R"), "updateTime": order.get("T")}
    if "clientOrderId" in body and (text.startswith("order.place") or kind == "resolution"):
        return body
    return None


def read_journal(path: str | Path, *, last: int | None = None) -> list[JournalEntry]:
    """The journal's rows in order; ``last``: only the newest ``last`` of them."""
    file = Path(path)
    if not file.exists():
        return []
    connection = sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=5)
    try:
        if last is not None:
            rows = connection.execute(
                f"SELECT * FROM (SELECT {_COLUMNS} FROM journal ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                (int(last),)).fetchall()
        else:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM journal ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()
    return [JournalEntry(*row) for row in rows]


# --- trade review (issue 18): additive record kinds and readers -----------------------------------

#: Mark prices are journalled (kind ``mark``, text = the price) only while a position is open on
#: the symbol, at most one row per ``MARK_INTERVAL_MS`` per symbol, and while the price stands
#: still at most one per ``MARK_IDLE_MS``: a day-long position costs at most ~86 k small rows.
MARK_INTERVAL_MS = 1_000
MARK_IDLE_MS = 15_000


class MarkRecorder:
    """A market listener (``Session.market_listeners``) that journals the mark-price path of open
    positions for trade pictures. ``has_position(symbol)`` says whether one is open; ``now_ms``
    is for tests. Costs a dict lookup per mark price, and a list append when it records."""

    def __init__(self, journal: Journal, has_position: Any, *, now_ms: Any = None,
                 interval_ms: int | None = None, idle_ms: int | None = None) -> None:
        self.journal = journal
        self.has_position = has_position
        self.now_ms = now_ms or (lambda: time.monotonic_ns() // 1_000_000)
        self.interval_ms = MARK_INTERVAL_MS if interval_ms is None else interval_ms
        self.idle_ms = MARK_IDLE_MS if idle_ms is None else idle_ms
        self._last: dict[str, tuple[int, str]] = {}   # symbol -> (ms, price text) of the last row

    def __call__(self, message: Mapping[str, Any]) -> None:
        if message.get("e") != "markPriceUpdate":
            return
        symbol, price = message.get("s"), message.get("p")
        if not isinstance(symbol, str) or not isinstance(price, str):
            return
        if not self.has_position(symbol):
            self._last.pop(symbol, None)   # the next position's first mark is recorded at once
            return
        now = self.now_ms()
        last = self._last.get(symbol)
        if last is not None and (now - last[0] < self.interval_ms or
                                 (price == last[1] and now - last[0] < self.idle_ms)):
            return
        self._last[symbol] = (now, price)
        self.journal.record("mark", price, symbol=symbol)


class FillRecorder:
    """A user-data listener (``Session.user_listeners``) that journals each execution again as a
    compact ``fill`` row (``core.trades.FILL_ROW_FIELDS``: side, quantity, price, fee and its
    asset, realised PnL ``rp``, …) next to the full stream event the session journals: the trades
    table reads these without parsing JSON."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def __call__(self, message: Mapping[str, Any]) -> None:
        order = message.get("o")
        if message.get("e") != "ORDER_TRADE_UPDATE" or not isinstance(order, Mapping) or \
                order.get("x") != "TRADE":
            return
        from traytrader.core.trades import fill_row_text

        self.journal.record("fill", fill_row_text(order), symbol=str(order.get("s", "")),
                            client_id=str(order.get("c", "")))


def _connect_read_only(file: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=5)


# The rows ``core.trades`` reads, picked out by SQLite: of the stream events only trades, and algo
# updates that name an order or a take-profit; of the ASL's notices only stop placements. The
# derivation over these rows equals the one over all rows (tests/review/test_review_trades.py
# checks it on every recorded flow); ``benchmarks/bench_journal_trades.py`` times it.
class TradeRow(NamedTuple):
    """A journal row as ``read_trade_rows`` gives it: ``JournalEntry``'s fields in a tuple, which
    is several times cheaper to make than the frozen dataclass for the ~5 rows a trade needs."""

    seq: int
    at_ms: int
    kind: str
    symbol: str
    client_id: str
    request_id: str
    text: str
    data: str
    latency_us: float | None


def read_trade_rows(path: str | Path, *, with_marks: bool = True, from_seq: int = 0,
                    marks_since_ms: int = 0) -> list[TradeRow]:
    """The rows ``core.trades`` reads, in order: fills (``fill`` rows, and in journals from before
    them ``ORDER_TRADE_UPDATE`` trades), algo
    updates that name an order or a take-profit, the ASL's stop placements, commands, and
    (``with_marks``) mark prices. A journal a crashed run left
    behind reads up to its last committed row (SQLite ignores a torn WAL tail); a file that is no
    journal reads as empty. ``from_seq``: only rows from that one on (a range of the table, read
    without a scan of what comes before). ``marks_since_ms``: mark prices only from then on (the
    pictures of the newest trades need no mark path of years before)."""
    file = Path(path)
    if not file.exists():
        return []
    marks = f" OR (kind = 'mark' AND at_ms >= {int(marks_since_ms)})" if with_marks else ""
    # Executions from the full stream events only before the first ``fill`` row (older journals;
    # the first fill row's own stream event is read too, and counted once).
    query = (
        f"SELECT {_COLUMNS} FROM journal WHERE seq >= ? AND ("
        "(kind = 'stream' AND text = 'ORDER_TRADE_UPDATE' AND seq < ? "
        "    AND instr(data, '\"x\":\"TRADE\"') > 0) OR kind = 'fill' "
        "OR (kind = 'stream' AND text = 'ALGO_UPDATE' AND (instr(data, '\"ai\":\"\"') = 0 "
        "    OR instr(data, 'TAKE_PROFIT') > 0)) "
        "OR (kind = 'asl' AND (instr(data, '\"notice\":\"stop_moved\"') > 0 "
        "    OR instr(data, '\"notice\":\"safety\"') > 0)) "
        f"OR kind = 'command'{marks}) ORDER BY seq")
    connection = _connect_read_only(file)
    try:
        first = connection.execute("SELECT seq FROM journal WHERE seq >= ? AND kind = 'fill' "
                                   "ORDER BY seq LIMIT 1", (from_seq,)).fetchone()
        connection.row_factory = lambda _, row: TradeRow(*row)
        return connection.execute(query, (from_seq, first[0] if first else 2**62)).fetchall()
    except sqlite3.DatabaseError:
        return []
    finally:
        connection.close()
