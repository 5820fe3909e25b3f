"""Fuzzed exchange messages: the engine logs, keeps running and keeps its state.

REST and the WebSocket API go to the real simulator; the engine's stream URL points at a small
loopback WebSocket server of our own (``fuzz_streams.py``) that delivers malformed JSON, non-objects,
unknown event types, missing fields, wrong types and huge numbers to the engine's real stream
clients (user data and market). Then: is the engine still READY, is its position what the exchange
says, do valid frames still move its prices, does a keypress still trade exactly once?
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fuzz_streams import ABSURD_PRICE_FRAMES, FuzzStreamServer, market_frames, user_frames
from relkit import ROOT  # noqa: F401  (repo root on sys.path)

from benchmarks.reliability.runner import Recorder
from benchmarks.reliability.simctl import SimControl
from traytrader.core.models import (
    ApiCredentials,
    AppConfig,
    AslSettings,
    Environment,
    ExchangeSettings,
    HotkeySettings,
    KeyType,
    Profile,
    SafetySettings,
)
from traytrader.engine.api import (
    Command,
    CommandDone,
    CommandKind,
    CommandRejected,
    EngineState,
    OrderAccepted,
    OrderFilled,
    StateChanged,
)
from traytrader.engine.handle import Engine
from traytrader.sim import DEMO_API_KEY, DEMO_SECRET, SimOptions

SYMBOL = "BTCUSDT"
TERMINAL = (OrderFilled, OrderAccepted, CommandRejected, CommandDone)


def poll(condition: Callable[[], bool], timeout: float, action: Callable[[], object] | None = None) -> bool:
    """Re-check (re-doing ``action`` every 200 ms, e.g. re-sending a sentinel) until true or timeout."""
    deadline = time.monotonic() + timeout
    next_action = 0.0
    while time.monotonic() < deadline:
        if action is not None and time.monotonic() >= next_action:
            action()
            next_action = time.monotonic() + 0.2
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def start_engine(rest_url: str, ws_api_url: str, stream_url: str, tmp_path: Path) -> tuple[Engine, Recorder]:
    """A started engine (one 200 USDT BTCUSDT profile, demo HMAC key) on these URLs, and its events."""
    exchange = ExchangeSettings(Environment.SIM, "demo", rest_url, ws_api_url, stream_url,
                                recv_window_ms=1000, request_timeout_ms=1000)
    config = AppConfig("<fuzz>", exchange, HotkeySettings(), SafetySettings(cooldown_ms=0), AslSettings(),
                       (Profile("btc", SYMBOL, 5, notional_usdt=Decimal("200")),), "btc")
    engine = Engine(config, ApiCredentials("demo", KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET),
                    journal_path=tmp_path / "journal.sqlite3")
    recorder = Recorder()
    engine.subscribe(recorder)
    engine.start()
    return engine, recorder


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.sim = SimControl(SimOptions(seed=11))
        self.fuzz = FuzzStreamServer().start()
        self.engine, self.recorder = start_engine(self.sim.rest_url, self.sim.ws_api_url, self.fuzz.url,
                                                  tmp_path)
        ready = self.recorder.wait(
            lambda e: isinstance(e, StateChanged) and e.state in (EngineState.READY, EngineState.ERROR), 20
        )
        assert isinstance(ready, StateChanged) and ready.state is EngineState.READY, ready
        assert poll(lambda: all(self.fuzz.connections.values()), 10), self.fuzz.accepted
        self.seen: list[tuple[dict[str, Any], Any, Any]] = []
        self._seen_cond = threading.Condition()
        session = self.engine.session
        assert session is not None
        session.market_listeners.append(self._on_market)  # runs on the engine thread, after the update

    def _on_market(self, message: dict[str, Any]) -> None:
        session = self.engine.session
        assert session is not None
        with self._seen_cond:
            self.seen.append((message, session.books.get(SYMBOL), session.tracker.marks.get(SYMBOL)))
            self._seen_cond.notify_all()

    def press(self, kind: CommandKind) -> Any:
        mark = self.recorder.mark()
        self.engine.submit(Command(kind, source="test"))
        return self.recorder.wait(lambda e: isinstance(e, TERMINAL), 20, after=mark)

    def orders(self) -> int:
        return sum(
            1 for o in self.sim.state()["orders"] if o.get("kind") != "algo" and o.get("algoId") is None
        )

    def exchange_position(self) -> Decimal:
        state = self.sim.state()
        return sum(
            (
                Decimal(p["positionAmt"])
                for a in state["accounts"]
                if a["apiKey"] == DEMO_API_KEY
                for p in a["positions"]
                if p["symbol"] == SYMBOL
            ),
            Decimal(0),
        )

    def engine_position(self) -> Decimal:
        session = self.engine.session
        assert session is not None
        return sum((p.quantity for p in session.tracker.open_positions(SYMBOL)), Decimal(0))

    def reconnects(self) -> dict[str, int]:
        session = self.engine.session
        assert session is not None and session.user_stream is not None
        return {
            "user": session.user_stream.connection.reconnects,
            "market": sum(s.reconnects for s in session.market_streams),
        }

    def close(self) -> None:
        self.engine.stop(3)
        self.fuzz.stop()
        self.sim.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()


def _user_sentinel(world: World, tag: str) -> bool:
    """An ORDER_TRADE_UPDATE NEW for another symbol; seen once it is in the engine's open orders."""
    frame = json.dumps(
        {
            "e": "ORDER_TRADE_UPDATE",
            "E": 1,
            "T": 1,
            "o": {
                "s": "SOLUSDT",
                "c": tag,
                "X": "NEW",
                "x": "NEW",
                "S": "BUY",
                "o": "LIMIT",
                "q": "1",
                "p": "1",
                "i": 1,
            },
        }
    )
    session = world.engine.session
    assert session is not None
    return poll(
        lambda: tag in session.open_orders.get("SOLUSDT", {}), 10, lambda: world.fuzz.send("private", frame)
    )


def test_fuzzed_user_data_frames_keep_engine_and_position(world: World) -> None:
    """Each fuzzed frame on its own, followed by a sentinel: which frames drop the user stream (every
    event in flight behind them is lost until the resync) and which change the position."""
    filled = world.press(CommandKind.BUY)
    assert isinstance(filled, OrderFilled), filled
    position = world.exchange_position()
    assert position > 0 and world.engine_position() == position
    dropped, changed = [], []
    for i, frame in enumerate(user_frames(SYMBOL)):
        before = world.reconnects()["user"]
        world.fuzz.send("private", frame)
        assert _user_sentinel(world, f"fuzz-{i}"), f"the user stream stopped delivering after {frame!r:.80}"
        if world.reconnects()["user"] != before:
            dropped.append(frame)
        if world.engine_position() != position:
            changed.append(frame)
            world.fuzz.send(
                "private",
                json.dumps(  # put the truth back for the next frame
                    {
                        "e": "ACCOUNT_UPDATE",
                        "E": 1,
                        "T": 1,
                        "a": {
                            "m": "ORDER",
                            "B": [],
                            "P": [
                                {
                                    "s": SYMBOL,
                                    "ps": "BOTH",
                                    "pa": str(position),
                                    "ep": str(filled.avg_price),
                                    "up": "0",
                                }
                            ],
                        },
                    }
                ),
            )
            poll(lambda: world.engine_position() == position, 5)
    assert world.engine._thread is not None and world.engine._thread.is_alive()
    assert world.engine.status().state is EngineState.READY
    count = world.orders()
    again = world.press(CommandKind.BUY)  # a keypress still trades exactly once
    assert isinstance(again, OrderFilled), again
    assert world.orders() == count + 1
    report = (
        f"{len(changed)} frame(s) changed the position, e.g. {[f'{c!s:.90}' for c in changed[:3]]}; "
        f"{len(dropped)} frame(s) dropped the user stream, e.g. {[f'{d!s:.90}' for d in dropped[:3]]}"
    )
    assert not changed and not dropped, report


def test_fuzzed_market_frames_keep_prices_sane(world: World) -> None:
    session = world.engine.session
    assert session is not None
    bid, ask = session.books[SYMBOL]
    for frame in market_frames(SYMBOL):
        world.fuzz.send("public", frame)
        world.fuzz.send("market", frame)
    sentinel_bid = bid - Decimal("0.1")
    book_frame = json.dumps(
        {"e": "bookTicker", "s": SYMBOL, "b": str(sentinel_bid), "a": str(ask), "B": "1", "A": "1"}
    )
    assert poll(
        lambda: session.books.get(SYMBOL) == (sentinel_bid, ask),
        10,
        lambda: world.fuzz.send("public", book_frame),
    ), "valid book frames no longer move the price"
    mark = world.sim.state()["quotes"][SYMBOL]["mark"]
    mark_frame = json.dumps({"e": "markPriceUpdate", "s": SYMBOL, "p": mark, "E": 1})
    assert poll(
        lambda: session.tracker.marks.get(SYMBOL) == Decimal(mark),
        10,
        lambda: world.fuzz.send("market", mark_frame),
    ), "valid mark frames no longer move the mark"
    assert world.engine.status().state is EngineState.READY
    filled = world.press(CommandKind.BUY)
    assert isinstance(filled, OrderFilled), filled
    assert filled.quantity * filled.avg_price <= Decimal("200") * Decimal("1.05")
    assert world.reconnects()["market"] == 0, "malformed market frames made a stream reconnect"


@pytest.mark.parametrize("frame", ABSURD_PRICE_FRAMES, ids=range(len(ABSURD_PRICE_FRAMES)))
def test_absurd_prices_never_become_the_engines_prices(world: World, frame: str) -> None:
    """NaN, infinite, negative or 400-digit prices must not replace the last good book and mark."""
    kind = "market" if "markPrice" in frame else "public"
    marker = json.loads(frame.replace("1e400", '"1e400"'))
    with world._seen_cond:
        start = len(world.seen)
    world.fuzz.send(kind, frame)
    with world._seen_cond:
        assert world._seen_cond.wait_for(
            lambda: any(
                m.get("e") == marker["e"] and str(m.get("p", m.get("b"))) != "" and m.get("s") == SYMBOL
                for m, _, _ in world.seen[start:]
            ),
            10,
        )
        _, book, mark = next(x for x in world.seen[start:] if x[0].get("e") == marker["e"])
    for value in (*(book or ()), mark):
        assert value is not None and value.is_finite() and value > 0 and value < Decimal("1e12"), (book, mark)


def _garbler(queue: dict[str, list[Any]]) -> dict[str, Callable[[Any], Any]]:
    """Per path: answer the next queued garbage body instead of the real one, until the queue is empty."""

    def make(path: str) -> Callable[[Any], Any]:
        return lambda _real: queue[path].pop(0) if queue[path] else None

    return {path: make(path) for path in queue}


class RestFuzzWorld:
    """The engine with REST through a garbling proxy (WS API and streams straight to the simulator)."""

    def __init__(self, tmp_path: Path, queue: dict[str, list[Any]]) -> None:
        from rest_proxy import RewritingRestProxy

        self.queue = queue
        self.sim = SimControl(SimOptions(seed=12))
        self.proxy = RewritingRestProxy(self.sim.rest_url, _garbler(queue)).start()
        self.engine, self.recorder = start_engine(self.proxy.url, self.sim.ws_api_url, self.sim.stream_url,
                                                  tmp_path)

    def settled(self, timeout: float = 30) -> Any:
        return self.recorder.wait(
            lambda e: isinstance(e, StateChanged) and e.state in (EngineState.READY, EngineState.ERROR),
            timeout,
        )

    def close(self) -> None:
        self.engine.stop(3)
        self.proxy.stop()
        self.sim.stop()


def test_garbled_exchange_info_during_warm_up_is_retried_not_fatal(tmp_path: Path) -> None:
    """A garbled exchangeInfo body (truncated JSON, wrong shapes) is the exchange's transient problem:
    the engine says it is retrying and gets READY once the body is good again."""
    world = RestFuzzWorld(tmp_path, {"/fapi/v1/exchangeInfo": [b"{", {"symbols": "x"}, [1, 2]]})
    try:
        ready = world.settled()
        assert isinstance(ready, StateChanged) and ready.state is EngineState.READY, ready
        retries = [
            e.text
            for _, e in world.recorder.events
            if isinstance(e, StateChanged) and "retrying" in e.text.lower()
        ]
        assert len(retries) >= 3 and all("Traceback" not in t for t in retries), retries
    finally:
        world.close()


def test_garbled_position_rows_in_a_resync_never_change_the_position(tmp_path: Path) -> None:
    """Garbage positionRisk / openAlgoOrders bodies during the reconnect resync: the engine keeps
    running and keeps the position the exchange really has."""
    queue: dict[str, list[Any]] = {"/fapi/v2/positionRisk": [], "/fapi/v1/openAlgoOrders": []}
    world = RestFuzzWorld(tmp_path, queue)
    try:
        ready = world.settled()
        assert isinstance(ready, StateChanged) and ready.state is EngineState.READY, ready
        mark = world.recorder.mark()
        world.engine.submit(Command(CommandKind.BUY, source="test"))
        assert isinstance(world.recorder.wait(lambda e: isinstance(e, TERMINAL), 20, after=mark), OrderFilled)
        session = world.engine.session
        assert session is not None
        held = sum((p.quantity for p in session.tracker.open_positions(SYMBOL)), Decimal(0))
        assert held > 0
        queue["/fapi/v2/positionRisk"] += [
            [{"symbol": SYMBOL, "positionSide": "BOTH", "positionAmt": "abc", "entryPrice": "x"}],
            [{"symbol": SYMBOL, "positionSide": "BOTH", "positionAmt": ["1"], "entryPrice": None}],
        ]
        queue["/fapi/v1/openAlgoOrders"] += [{"not": "a list"}, [None, 5, "x"]]
        mark = world.recorder.mark()
        world.sim.restart()  # every connection drops: the reconnect resync reads the garbage
        back = world.recorder.wait(
            lambda e: isinstance(e, StateChanged) and e.state is EngineState.READY, 20, after=mark
        )
        assert back is not None
        assert poll(lambda: not queue["/fapi/v2/positionRisk"], 10), "the resync never read positions"
        assert world.engine._thread is not None and world.engine._thread.is_alive()
        after = sum((p.quantity for p in session.tracker.open_positions(SYMBOL)), Decimal(0))
        assert after == held, f"garbage positionRisk rows changed the engine's position: {held} → {after}"
    finally:
        world.close()
