"""Benchmark: the engine's hot path and order round trip, beside the official SDK, ccxt and a
hand-written floor, all in ONE run against the SAME simulator.

The simulator runs in a separate process (limits raised out of the way), sharing neither loop nor
the GIL with the clients. Each client sends alternating MARKET BUY/SELL orders of 0.002 BTCUSDT
(newOrderRespType RESULT), one at a time, after a warm-up.

(1) command accepted → frame written (traytrader ``OrderFilled.to_wire_us``): ``Command`` created
    on the engine loop and executed (the hot path itself), and submitted from another thread as the
    tray/hotkeys do (adds the cross-thread wake-up). Goal: ≤ 50 µs HMAC, ≤ 90 µs Ed25519 median.
(2) order round trip, command → fill event (traytrader) or call → parsed answer (peers).
    Goal: traytrader within 1.2× of the floor and at most half the SDK's time.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--orders N]``. Prints median and p99 (µs).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import SimProcess, credentials, median_p99, sim_config, wait_until_ready
from traytrader.core.models import AppConfig, AslSettings, Profile, SafetySettings
from traytrader.engine.api import Command, CommandKind, CommandRejected, Event, OrderFilled
from traytrader.sim import DEMO_API_KEY, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM, DEMO_SECRET

LISTENER_CODE = """
import asyncio, json, sys, urllib.request
import websockets
rest, stream, key = sys.argv[1:4]
request = urllib.request.Request(rest + "/fapi/v1/listenKey", method="POST", headers={"X-MBX-APIKEY": key})
listen_key = json.loads(urllib.request.urlopen(request).read())["listenKey"]
async def main():
    async with websockets.connect(f"{stream}/private/ws/{listen_key}", compression=None) as ws:
        print("listening", flush=True)
        reader = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        drain = asyncio.ensure_future(ws.recv())
        while not reader.done():
            done, _ = await asyncio.wait({reader, drain}, return_when=asyncio.FIRST_COMPLETED)
            if drain in done:
                drain = asyncio.ensure_future(ws.recv())
        drain.cancel()
    try:
        await drain
    except (asyncio.CancelledError, websockets.ConnectionClosed):
        pass
asyncio.run(main())
"""
QUANTITY = "0.002"
SIM_PREFIX: list[str] = []
# Pause between orders for every client: a keypress comes when the previous order's events are in,
# not 50 µs after its answer (back to back, the simulator's user-stream burst for the previous
# order would collide with the next order on the same machine).
GAP_S = 0.0


class UserStreamListener:
    """A passive user-data stream for a peer's account, in its own process: every client then has
    one listener, as a real trading client would, so the simulator does the same work for all."""

    def __init__(self, sim: SimProcess, api_key: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LISTENER_CODE, sim.rest_url, sim.stream_url, api_key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "listening":
            raise SystemExit("the user-stream listener did not start")

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def config_for(sim: SimProcess) -> AppConfig:
    profile = Profile("btc", "BTCUSDT", 5, quantity=Decimal(QUANTITY))
    safety = SafetySettings(max_notional_usdt=Decimal(10**6), max_orders_per_minute=10**6, cooldown_ms=0)
    return sim_config(sim, profile, safety=safety, asl=AslSettings(enabled=False))


# --- traytrader -------------------------------------------------------------------------------------


def bench_traytrader(
    sim: SimProcess, ed25519: bool, orders: int, warmup: int, use_journal: bool = True
) -> dict[str, list[float]]:
    from traytrader.engine.handle import Engine

    journal = Path(tempfile.mkdtemp(prefix="tt-bench-")) / "journal.sqlite3" if use_journal else None
    engine = Engine(config_for(sim), credentials(ed25519), journal_path=journal, enable_asl=False)
    fills: list[tuple[OrderFilled, int]] = []
    arrived = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, CommandRejected):
            print(f"rejected: {event.text}", file=sys.stderr)
        if isinstance(event, OrderFilled):
            fills.append((event, time.perf_counter_ns()))
            arrived.set()

    engine.subscribe(on_event)
    engine.start()
    wait_until_ready(engine)
    out: dict[str, list[float]] = {
        "to_wire_loop": [],
        "rtt_loop": [],
        "to_wire_thread": [],
        "rtt_thread": [],
        "ready_loop": [],
    }

    settled: dict[str, asyncio.Event] = {}

    def on_user(message: dict[str, Any]) -> None:
        order = message.get("o") or {}
        if message.get("e") == "ORDER_TRADE_UPDATE" and order.get("X") == "FILLED":
            settled.setdefault(str(order.get("c")), asyncio.Event()).set()

    assert engine.session is not None
    engine.session.user_listeners.append(on_user)

    async def quiet(client_id: str) -> None:
        """Like a trader's next keypress: after the previous order's stream events arrived."""
        await asyncio.wait_for(settled.setdefault(client_id, asyncio.Event()).wait(), 5)
        await asyncio.sleep(GAP_S)

    async def in_loop() -> None:
        dispatcher, profile = engine.dispatcher, engine.active_profile
        assert dispatcher is not None
        for i in range(warmup + orders):
            command = Command(CommandKind.BUY if i % 2 == 0 else CommandKind.SELL, source="bench")
            before = len(fills)
            await dispatcher.execute(command, profile)
            if len(fills) != before + 1:
                raise SystemExit("an order did not fill")
            event, at_ns = fills[-1]
            await quiet(event.client_order_id)
            if i >= warmup:
                out["ready_loop"].append((dispatcher.frame_ready_ns - command.accepted_ns) / 1000)
                out["to_wire_loop"].append(event.to_wire_us)
                out["rtt_loop"].append((at_ns - command.accepted_ns) / 1000)

    assert engine._loop is not None
    gc.collect()
    asyncio.run_coroutine_threadsafe(in_loop(), engine._loop).result(600)
    gc.collect()
    for i in range(warmup + orders):
        arrived.clear()
        command = Command(CommandKind.BUY if i % 2 == 0 else CommandKind.SELL, source="bench")
        engine.submit(command)
        if not arrived.wait(5):
            raise SystemExit("no fill from a submitted command")
        event, at_ns = fills[-1]
        asyncio.run_coroutine_threadsafe(quiet(event.client_order_id), engine._loop).result(10)
        if i >= warmup:
            out["to_wire_thread"].append(event.to_wire_us)
            out["rtt_thread"].append((at_ns - command.accepted_ns) / 1000)
    engine.stop(3)
    return out


# --- peers --------------------------------------------------------------------------------------------


async def timed(call: Callable[[int], Awaitable[Any]], orders: int, warmup: int) -> list[float]:
    values = []
    gc.collect()
    for i in range(warmup + orders):
        start = time.perf_counter_ns()
        await call(i)
        if i >= warmup:
            values.append((time.perf_counter_ns() - start) / 1000)
        await asyncio.sleep(GAP_S)
    return values


async def bench_floor(sim: SimProcess, orders: int, warmup: int) -> list[float]:
    """A minimal hand-written client: build, sign (HMAC), send, await and decode the answer."""
    import websockets

    mac = hmac.new(DEMO_SECRET.encode(), digestmod=hashlib.sha256)
    async with websockets.connect(sim.ws_api_url, compression=None) as ws:

        async def order(i: int) -> None:
            params = {
                "apiKey": DEMO_API_KEY,
                "newOrderRespType": "RESULT",
                "quantity": QUANTITY,
                "side": "BUY" if i % 2 == 0 else "SELL",
                "symbol": "BTCUSDT",
                "timestamp": int(time.time() * 1000),
                "type": "MARKET",
            }
            signer = mac.copy()
            signer.update("&".join(f"{k}={v}" for k, v in params.items()).encode())
            params["signature"] = signer.hexdigest()
            await ws.send(json.dumps({"id": str(i), "method": "order.place", "params": params}))
            answer = json.loads(await ws.recv())
            if answer.get("status") != 200:
                raise SystemExit(f"floor order failed: {answer}")

        return await timed(order, orders, warmup)


async def bench_sdk(sim: SimProcess, ed25519: bool, orders: int, warmup: int) -> list[float]:
    import logging

    from binance_common.configuration import ConfigurationWebSocketAPI
    from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
        DerivativesTradingUsdsFutures,
    )

    logging.getLogger("binance_common").setLevel(logging.WARNING)
    config = ConfigurationWebSocketAPI(
        api_key=DEMO_ED25519_API_KEY if ed25519 else DEMO_API_KEY,
        api_secret=None if ed25519 else DEMO_SECRET,
        private_key=DEMO_ED25519_PRIVATE_KEY_PEM if ed25519 else None,
        stream_url=sim.ws_api_url,
    )
    client = DerivativesTradingUsdsFutures(config_ws_api=config)
    connection = await client.websocket_api.create_connection()
    try:

        async def order(i: int) -> None:
            response = await connection.new_order(
                symbol="BTCUSDT",
                side="BUY" if i % 2 == 0 else "SELL",
                type="MARKET",
                quantity=float(QUANTITY),
                new_order_resp_type="RESULT",
            )
            response.data()

        return await timed(order, orders, warmup)
    finally:
        await connection.close_connection(close_session=True)


def _retarget(obj: Any, sim: SimProcess) -> Any:
    if isinstance(obj, dict):
        return {k: _retarget(v, sim) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_retarget(v, sim) for v in obj]
    if isinstance(obj, str):
        return (
            obj.replace("https://fapi.binance.com", sim.rest_url)
            .replace("wss://ws-fapi.binance.com/ws-fapi/v1", sim.ws_api_url)
            .replace("wss://fstream.binance.com", sim.stream_url)
        )
    return obj


async def bench_ccxt(sim: SimProcess, websocket: bool, orders: int, warmup: int) -> list[float]:
    import ccxt.pro

    exchange = ccxt.pro.binanceusdm(
        {
            "apiKey": DEMO_API_KEY,
            "secret": DEMO_SECRET,
            "enableRateLimit": False,
            "options": {
                "fetchMarkets": {"types": ["linear"]},
                "adjustForTimeDifference": False,
                "fetchMargins": False,
                "fetchCurrencies": False,
            },
        }
    )
    exchange.has["fetchCurrencies"] = False
    exchange.urls["api"] = _retarget(exchange.urls["api"], sim)
    try:
        await exchange.load_markets()
        create = exchange.create_order_ws if websocket else exchange.create_order

        async def order(i: int) -> None:
            await create("BTC/USDT:USDT", "market", "buy" if i % 2 == 0 else "sell", float(QUANTITY))

        return await timed(order, orders, warmup)
    finally:
        await exchange.close()


# --- report -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400, help="measured orders per client (400)")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured orders first (40)")
    parser.add_argument("--no-journal", action="store_true", help="run the engine without its journal")
    parser.add_argument("--only-traytrader", action="store_true", help="skip the peers")
    parser.add_argument("--gap-ms", type=float, default=0.0,
                        help="pause between orders, like a trader's sporadic keys (default 0: back to back)")
    args = parser.parse_args(argv)
    global GAP_S
    GAP_S = args.gap_ms / 1000
    sim = SimProcess()
    try:
        results: dict[str, list[float]] = {}
        for ed in (False, True):
            key = "Ed25519" if ed else "HMAC"
            got = bench_traytrader(sim, ed, args.orders, args.warmup, not args.no_journal)
            results[f"traytrader {key}: accepted→frame ready (on loop)"] = got["ready_loop"]
            results[f"traytrader {key}: accepted→wire (on loop)"] = got["to_wire_loop"]
            results[f"traytrader {key}: accepted→wire (submit from thread)"] = got["to_wire_thread"]
            results[f"traytrader {key}: command→fill (on loop)"] = got["rtt_loop"]
            results[f"traytrader {key}: command→fill (submit from thread)"] = got["rtt_thread"]
        listeners = [UserStreamListener(sim, DEMO_API_KEY), UserStreamListener(sim, DEMO_ED25519_API_KEY)]
        floor_name = "floor: hand-written websockets (HMAC)"
        results[floor_name] = asyncio.run(bench_floor(sim, args.orders, args.warmup))
        peers: dict[str, Callable[[], Awaitable[list[float]]]] = {
            "official SDK WS API new_order (HMAC)": lambda: bench_sdk(sim, False, args.orders, args.warmup),
            "official SDK WS API new_order (Ed25519)": lambda: bench_sdk(sim, True, args.orders, args.warmup),
            "ccxt binanceusdm create_order_ws (HMAC)": lambda: bench_ccxt(
                sim, True, args.orders, args.warmup
            ),
            "ccxt binanceusdm create_order REST (HMAC)": lambda: bench_ccxt(
                sim, False, args.orders, args.warmup
            ),
        }
        for name, run in peers.items():
            if args.only_traytrader and "SDK" not in name:
                continue
            results[name] = asyncio.run(run())  # type: ignore[arg-type]
        for listener in listeners:
            listener.stop()
    finally:
        sim.stop()

    floor = median_p99(results["floor: hand-written websockets (HMAC)"])[0]
    print(
        f"\nbench_engine: {args.orders} orders each (+{args.warmup} warm-up), simulator in its own process\n"
    )
    print(f"{'measurement':<58} {'median µs':>10} {'p99 µs':>10} {'× floor':>8}")
    print("-" * 90)
    for name, values in results.items():
        median, p99 = median_p99(values)
        ratio = "" if "accepted" in name else f"{median / floor:.2f}"
        print(f"{name:<58} {median:>10.1f} {p99:>10.1f} {ratio:>8}")
    goals = []
    for key, limit in (("HMAC", 50.0), ("Ed25519", 90.0)):
        median = median_p99(results[f"traytrader {key}: accepted→wire (on loop)"])[0]
        verdict = "met" if median <= limit else "MISSED"
        goals.append(f"accepted→wire {key} {median:.0f} µs (goal ≤ {limit:.0f}): {verdict}")
        rtt = median_p99(results[f"traytrader {key}: command→fill (on loop)"])[0]
        sdk = median_p99(results[f"official SDK WS API new_order ({key})"])[0]
        goals.append(
            f"command→fill {key} {rtt:.0f} µs = {rtt / floor:.2f}× floor (goal ≤ 1.20), "
            f"{rtt / sdk:.2f}× SDK (goal ≤ 0.50; the floor itself is {floor / sdk:.2f}× the SDK)"
        )
    if GAP_S:
        goals.append(f"(the goals are for back-to-back orders; these had {args.gap_ms:g} ms between them)")
    print("\n" + "\n".join(goals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
