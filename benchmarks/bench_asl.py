"""Benchmark: the Advanced Stop Loss reacting to a mark price, over a real WS-API connection.

The simulator runs in its own process (limits raised). The ASL driver (``engine/asl_driver.py``
on the pure ladder ``core/asl.py``) talks to it through a gateway made of the engine's real parts:
``exchange.ws_api.WsApi`` with ``core.frames.FrameBuilder`` signing HMAC frames. One iteration:

1. a long position of ours is reported → the hard stop is placed and confirmed;
2. a mark price 2.1% above the entry arrives (tier 2) → ``on_mark_price`` is called at t0;
3. the driver places the trailing stop, confirms it, then cancels the hard stop;
4. the position is reported closed → the trailing stop is cancelled (not measured).

Measured: (a) mark price received → replacement request on the wire (the WS-API client's stamp
right after the frame is handed to the transport), goal ≤ 1 ms p99; (b) the full replacement,
mark → new stop confirmed and old stop cancelled, in round trips (goal: 2) and in time.

Run: ``.venv/bin/python benchmarks/bench_asl.py [--iterations N]``. Prints median and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import SimProcess, credentials, median_p99, sim_config
from traytrader.core.asl import StopPhase
from traytrader.core.frames import FrameBuilder
from traytrader.core.models import PositionMode, PositionSide, Profile
from traytrader.engine.api import Event, StopMoved
from traytrader.engine.asl_driver import AslDriver
from traytrader.exchange.ws_api import WsApi

SYMBOL = "BTCUSDT"
QUANTITY = Decimal("0.002")


class WireGateway:
    """``AslGateway`` over one real WS-API connection; records when each request hit the wire."""

    def __init__(self, ws: WsApi) -> None:
        self.ws = ws
        self.wire: list[tuple[str, int]] = []   # (method, perf_counter_ns after the send)

    @property
    def position_mode(self) -> PositionMode:
        return PositionMode.ONE_WAY

    def tick_size(self, symbol: str) -> Decimal:
        return Decimal("0.1")

    def step_size(self, symbol: str) -> Decimal:
        return Decimal("0.001")

    async def place_algo(self, params: Mapping[str, str]) -> dict[str, Any]:
        reply = await self.ws.call("algoOrder.place", params)
        self.wire.append(("place", reply.wire_ns))
        return reply.result

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> dict[str, Any]:
        reply = await self.ws.call("algoOrder.cancel", {"symbol": symbol, "clientAlgoId": client_algo_id})
        self.wire.append(("cancel", reply.wire_ns))
        return reply.result

    async def open_algo_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        raise SystemExit("the benchmark should never need to reconcile")

    async def close_position(self, symbol: str, position_side: PositionSide,
                             quantity: Decimal) -> dict[str, Any]:
        raise SystemExit("the benchmark should never close a position")


def now_ms() -> int:
    return int(time.time() * 1000)


async def until(condition: Any, what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0)


async def run(sim: SimProcess, iterations: int, warmup: int) -> dict[str, list[float]]:
    ws = WsApi(sim.ws_api_url, FrameBuilder(credentials(), 5000), now_ms=now_ms)
    await ws.open()
    entry = sim.set_price("100000")
    await ws.call("order.place", {"symbol": SYMBOL, "side": "BUY", "type": "MARKET",
                                  "quantity": str(QUANTITY)})
    gateway = WireGateway(ws)
    moved: list[StopMoved] = []

    def emit(event: Event) -> None:
        if isinstance(event, StopMoved):
            moved.append(event)

    config = sim_config(sim, Profile("btc", SYMBOL, 5, quantity=QUANTITY))
    driver = AslDriver(config, gateway, emit, None, min_query_interval_ms=10**9)
    out: dict[str, list[float]] = {"to_wire": [], "full": [], "round_trips": []}
    gc.collect()
    key = (SYMBOL, PositionSide.BOTH)
    for i in range(warmup + iterations):
        driver.on_mark_price(SYMBOL, entry, now_ms())
        driver.on_position(SYMBOL, PositionSide.BOTH, QUANTITY, entry, now_ms(), ours=True)
        await until(lambda: driver.ladders[key].phase is StopPhase.PROTECTED, "the hard stop")
        mark = len(gateway.wire)
        t0 = time.perf_counter_ns()
        driver.on_mark_price(SYMBOL, entry * Decimal("1.021"), now_ms())
        await until(lambda: driver.ladders[key].phase is StopPhase.PROTECTED and driver.ladders[key].tier == 2
                    and len(driver.ladders[key].known_ids()) == 1, "the replacement")
        done = time.perf_counter_ns()
        requests = gateway.wire[mark:]
        if i >= warmup:
            out["to_wire"].append((requests[0][1] - t0) / 1000)
            out["full"].append((done - t0) / 1000)
            out["round_trips"].append(len(requests))
        driver.on_position(SYMBOL, PositionSide.BOTH, Decimal(0), Decimal(0), now_ms(), ours=True)
        await until(lambda: not driver.ladders[key].known_ids(), "the clean-up")
    await ws.close()
    if len(moved) != 2 * (warmup + iterations):
        raise SystemExit(f"expected two stop moves per iteration, got {len(moved)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)
    sim = SimProcess()
    try:
        out = asyncio.run(run(sim, args.iterations, args.warmup))
    finally:
        sim.stop()
    wire_median, wire_p99 = median_p99(out["to_wire"])
    full_median, full_p99 = median_p99(out["full"])
    trips = Counter(int(n) for n in out["round_trips"])
    print(f"ASL, {args.iterations} replacements (hard stop → trailing 1.5%) against the simulator, HMAC")
    print(f"{'measurement':<62} {'median µs':>10} {'p99 µs':>10}")
    print("-" * 84)
    rows = [("mark price received → replacement request on the wire", wire_median, wire_p99),
            ("full replacement (new confirmed, old cancelled)", full_median, full_p99)]
    for name, median, p99 in rows:
        print(f"{name:<62} {median:>10.1f} {p99:>10.1f}")
    print(f"round trips per full replacement: {dict(sorted(trips.items()))}")
    ok_wire = wire_p99 <= 1000
    ok_trips = set(trips) == {2}
    print(f"goal: mark → wire p99 ≤ 1000 µs: {'met' if ok_wire else 'MISSED'} ({wire_p99:.1f} µs)")
    print(f"goal: 2 round trips per replacement: {'met' if ok_trips else 'MISSED'}")
    return 0 if ok_wire and ok_trips else 1


if __name__ == "__main__":
    raise SystemExit(main())
