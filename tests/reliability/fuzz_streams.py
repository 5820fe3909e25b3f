"""A loopback WebSocket server that speaks just enough of Binance's stream protocol to hand fuzzed
frames to the engine's real stream clients (market under ``/market`` and ``/public``, user data under
``/private/ws/<listenKey>``), plus the frames it sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from typing import Any

from websockets.asyncio.server import ServerConnection, serve


class FuzzStreamServer:
    def __init__(self) -> None:
        self.port = 0
        self.connections: dict[str, list[ServerConnection]] = {"market": [], "public": [], "private": []}
        self.accepted = {"market": 0, "public": 0, "private": 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="fuzz-streams", daemon=True
        )

    def start(self) -> FuzzStreamServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, compression=None, max_size=2**24) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        kind = next((k for k in self.connections if path.startswith(f"/{k}")), "public")
        self.connections[kind].append(ws)
        self.accepted[kind] += 1
        try:
            async for _ in ws:  # SUBSCRIBE and the like: ignored
                pass
        finally:
            self.connections[kind].remove(ws)

    def send(self, kind: str, frame: str | bytes) -> int:
        """Send one raw frame to every open connection of ``kind``; returns how many got it."""

        async def go() -> int:
            sent = 0
            for ws in list(self.connections[kind]):
                with contextlib.suppress(Exception):
                    await ws.send(frame)
                    sent += 1
            return sent

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(go(), self._loop).result(10)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def _j(obj: Any) -> str:
    return json.dumps(obj)


HUGE = "9" * 400


def user_frames(symbol: str, seed: int = 1, mutations: int = 150) -> list[str | bytes]:
    """Malformed JSON, non-objects, unknown events, missing fields, wrong types, huge numbers."""
    fixed: list[str | bytes] = [
        "",
        "{",
        "not json",
        "[1, 2",
        '{"e": "ACCOUNT_UPDATE", "a": ',
        "\x00\xff",
        b"\x80\x81binary",
        "[]",
        "null",
        "42",
        '"text"',
        '[{"e": "ORDER_TRADE_UPDATE"}]',
        '{"stream": "x", "data": "no"}',
        _j({"e": "SOMETHING_NEW_2027", "E": 1}),
        _j({"e": None}),
        _j({"e": ["ACCOUNT_UPDATE"]}),
        _j({"e": "ACCOUNT_UPDATE"}),
        _j({"e": "ACCOUNT_UPDATE", "a": None}),
        _j({"e": "ACCOUNT_UPDATE", "a": []}),
        _j({"e": "ACCOUNT_UPDATE", "a": {"P": "x"}}),
        _j({"e": "ACCOUNT_UPDATE", "a": {"P": [1, "2", None]}}),
        _j({"e": "ACCOUNT_UPDATE", "T": "soon", "a": {"P": []}}),
        _j({"e": "ACCOUNT_UPDATE", "T": 10**30, "a": {"P": []}}),
        _j({"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": symbol, "ps": "MIDDLE", "pa": "1", "ep": "1"}]}}),
        _j({"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": symbol, "ps": "BOTH", "pa": "abc", "ep": "x"}]}}),
        _j({"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": symbol, "ps": "BOTH", "pa": HUGE, "ep": "NaN"}]}}),
        _j({"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": symbol, "ps": "BOTH", "pa": ["1"], "ep": {"x": 1}}]}}),
        _j({"e": "ORDER_TRADE_UPDATE"}),
        _j({"e": "ORDER_TRADE_UPDATE", "o": "str"}),
        _j({"e": "ORDER_TRADE_UPDATE", "o": {"s": symbol, "c": ["list"], "X": {"NEW": 1}}}),
        _j({"e": "ORDER_TRADE_UPDATE", "o": {"s": None, "c": None, "X": "NEW", "q": HUGE}}),
        _j({"e": "ALGO_UPDATE"}),
        _j({"e": "ALGO_UPDATE", "o": []}),
        _j({"e": "ALGO_UPDATE", "o": "x"}),
        _j({"e": "ALGO_UPDATE", "o": {"s": symbol, "caid": 5, "X": "NEW", "tp": "1e999999", "q": "-1"}}),
        _j({"e": "ALGO_UPDATE", "o": {"s": symbol, "caid": None, "X": "UNHEARD_OF"}}),
        _j({"e": "TRADE_LITE", "s": symbol, "q": HUGE, "p": "Infinity"}),
        _j({"e": "ACCOUNT_CONFIG_UPDATE", "ac": "x"}),
        _j({"e": "listenKeyExpired", "listenKey": 5}),
        "{" * 5000 + "}" * 5000,
    ]
    rng = random.Random(seed)
    events = ("ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE", "ALGO_UPDATE", "TRADE_LITE", "UNKNOWN")
    values: list[Any] = [
        None,
        True,
        -1,
        0,
        1.5,
        1e308,
        -1e308,
        10**40,
        "",
        "x",
        "NaN",
        "-Infinity",
        HUGE,
        [],
        {},
        [None],
        {"a": 1},
        symbol,
        "BOTH",
        "LONG",
        "SHORT",
        "NEW",
        "FILLED",
    ]
    keys = ("a", "o", "P", "s", "ps", "pa", "ep", "up", "X", "c", "caid", "q", "T", "E", "x", "m")
    for _ in range(mutations):
        frame: dict[str, Any] = {"e": rng.choice(events), "E": rng.choice(values), "T": rng.choice(values)}
        inner = {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 6))}
        if frame["e"] == "ACCOUNT_UPDATE":
            frame["a"] = rng.choice([inner, {"P": [inner]}, {"P": inner}, {"B": [inner], "P": [inner, None]}])
        else:
            frame["o"] = rng.choice([inner, [inner], None])
        fixed.append(json.dumps(frame))
    return fixed


def market_frames(symbol: str, seed: int = 2, mutations: int = 100) -> list[str | bytes]:
    fixed: list[str | bytes] = [
        "",
        "{",
        "nope",
        "[]",
        "null",
        '{"stream": "btcusdt@bookTicker", "data": 5}',
        _j({"e": "bookTicker"}),
        _j({"e": "bookTicker", "s": symbol, "b": "abc", "a": "def"}),
        _j({"e": "bookTicker", "s": symbol, "b": ["1"], "a": {"x": 1}}),
        _j({"e": "markPriceUpdate"}),
        _j({"e": "markPriceUpdate", "s": symbol, "p": None}),
        _j({"e": "markPriceUpdate", "s": symbol, "p": "x"}),
        _j({"e": "markPriceUpdate", "s": symbol, "p": [1]}),
        _j({"e": "unknownStream", "s": symbol}),
        _j({"e": "bookTicker", "s": 12, "b": "1", "a": "2"}),
        _j({"stream": f"{symbol.lower()}@bookTicker", "data": {"e": "bookTicker", "s": symbol}}),
    ]
    rng = random.Random(seed)
    values: list[Any] = [None, "", "x", -1, 0, 10**40, "1e999999", [], {}, symbol, "FOOUSDT"]
    for _ in range(mutations):
        frame = {"e": rng.choice(["bookTicker", "markPriceUpdate", "aggTrade", "x"])}
        frame.update({k: rng.choice(values) for k in rng.sample(["s", "b", "a", "p", "B", "A", "E", "T"], 4)})
        fixed.append(json.dumps(frame))
    return fixed


# Valid-looking prices a trader would never see, and that must not become the engine's prices.
ABSURD_PRICE_FRAMES: tuple[str, ...] = (
    _j({"e": "bookTicker", "s": "BTCUSDT", "b": "NaN", "a": "NaN", "B": "1", "A": "1"}),
    _j({"e": "bookTicker", "s": "BTCUSDT", "b": "-5", "a": "0", "B": "1", "A": "1"}),
    _j({"e": "bookTicker", "s": "BTCUSDT", "b": HUGE, "a": HUGE, "B": "1", "A": "1"}),
    _j({"e": "markPriceUpdate", "s": "BTCUSDT", "p": "Infinity"}),
    _j({"e": "markPriceUpdate", "s": "BTCUSDT", "p": "-1"}),
    '{"e": "markPriceUpdate", "s": "BTCUSDT", "p": 1e400}',
)
