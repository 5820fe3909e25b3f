"""Simulator benchmark: sustained ``order.place`` throughput over several WS API connections.

The clients run in a separate process (so the server has its own core); the server measures its own
processing time per order (frame received -> reply built, signature check included) and its RSS
before and after the measured run. Goals (issues 4 and 13): >= 5,000 orders/s, <= 200 us median on
2 cores, memory flat over 100,000 orders, with the depth book (orders walk finite levels) as with the
simple one (every order fills whole at the touch).

    .venv/bin/python benchmarks/bench_sim.py [--orders 100000] [--connections 4] [--window 64]
                                             [--book depth|simple]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import statistics
import time
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client_process(url: str, orders: int, connections: int, window: int, tag: str, out: mp.Queue) -> None:
    """Send ``orders`` MARKET orders (alternating BUY/SELL) over ``connections`` sockets; report timing."""
    import aiohttp

    from traytrader.sim import DEMO_API_KEY, DEMO_SECRET

    secret = DEMO_SECRET.encode()

    def frame(n: int) -> str:
        p = {
            "apiKey": DEMO_API_KEY,
            "newClientOrderId": f"{tag}{n}",
            "quantity": "0.002",
            "side": "BUY" if n % 2 == 0 else "SELL",
            "symbol": "BTCUSDT",
            "timestamp": int(time.time() * 1000),
            "type": "MARKET",
        }
        payload = "&".join(f"{k}={v}" for k, v in sorted(p.items()))
        p["signature"] = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
        return json.dumps({"id": n, "method": "order.place", "params": p})

    async def one(session: aiohttp.ClientSession, ids: range, counts: dict[str, int]) -> None:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            sent = done = 0
            total = len(ids)
            while done < total:
                while sent < total and sent - done < window:
                    await ws.send_str(frame(ids[sent]))
                    sent += 1
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(str(msg.type))
                status = json.loads(msg.data)["status"]
                counts["ok" if status == 200 else "err"] += 1
                done += 1

    async def main() -> None:
        counts = {"ok": 0, "err": 0}
        per = orders // connections
        async with aiohttp.ClientSession() as session:
            t0 = time.perf_counter()
            await asyncio.gather(
                *(one(session, range(i * per, (i + 1) * per), counts) for i in range(connections))
            )
            elapsed = time.perf_counter() - t0
        out.put({"elapsed": elapsed, **counts})

    asyncio.run(main())


async def run(orders: int, connections: int, window: int, warmup: int, history_limit: int, book: str) -> dict:
    from traytrader.sim import SimOptions, start_sim

    sim = await start_sim(
        SimOptions(rate_limits=False, measure=True, history_limit=history_limit, seed=1, book=book)
    )
    ctx = mp.get_context("spawn")
    try:

        async def batch(n: int, tag: str) -> dict:
            q: mp.Queue = ctx.Queue()
            proc = ctx.Process(target=client_process, args=(sim.ws_api_url, n, connections, window, tag, q))
            proc.start()
            result = await asyncio.to_thread(q.get)
            await asyncio.to_thread(proc.join)
            return result

        await batch(warmup, "w")  # fills the bounded order history, JIT-free but cache-warm
        del sim.server.timings_ns[:]
        rss_before = rss_mb()
        result = await batch(orders, "m")
        rss_after = rss_mb()
        timings = sorted(sim.server.timings_ns)
    finally:
        await sim.stop()
    return {**result, "timings": timings, "rss_before": rss_before, "rss_after": rss_after}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--window", type=int, default=64, help="requests in flight per connection")
    ap.add_argument("--warmup", type=int, default=20_000)
    ap.add_argument("--history-limit", type=int, default=10_000)
    ap.add_argument("--book", choices=("depth", "simple"), default="depth")
    args = ap.parse_args(argv)
    r = asyncio.run(
        run(args.orders, args.connections, args.window, args.warmup, args.history_limit, args.book)
    )
    t = r["timings"]
    median_us = statistics.median(t) / 1000
    p99_us = t[int(len(t) * 0.99) - 1] / 1000
    rate = r["ok"] / r["elapsed"]
    print(
        f"sim order.place: {r['ok']} ok, {r['err']} errors, {args.connections} connections, "
        f"window {args.window}, {args.book} book"
    )
    print(f"  throughput      {rate:,.0f} orders/s (goal >= 5,000)")
    print(f"  server time     median {median_us:.1f} us, p99 {p99_us:.1f} us (goal median <= 200 us)")
    print(
        f"  server RSS      {r['rss_before']:.1f} MB -> {r['rss_after']:.1f} MB "
        f"({r['rss_after'] - r['rss_before']:+.1f} MB over {args.orders:,} orders, "
        f"history {args.history_limit})"
    )
    return 0 if r["err"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
