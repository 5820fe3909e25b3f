"""``traytrader sim``: run the local Binance USDⓈ-M exchange until Ctrl+C."""

from __future__ import annotations

import argparse
import errno
import sys
from typing import TYPE_CHECKING

from traytrader.core.errors import ConfigError

if TYPE_CHECKING:   # the simulator (aiohttp) costs ~135 ms to import: only when it runs
    from traytrader.sim import Sim, SimOptions


#: The port ``environment = "sim"`` connects to (``core/environments.py``, held equal by
#: ``tests/sim/test_sim_cli.py``): a config that names no addresses finds ``traytrader sim`` started
#: with no options. Not imported from there: ``traytrader send`` registers this parser too.
SIM_PORT = 8765


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sim",
        help="run the local Binance USDⓈ-M exchange simulator",
        description="Serve a local Binance USDⓈ-M futures exchange (REST, WebSocket API, streams) on one "
        "loopback port until Ctrl+C. Reference: docs/sim.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=SIM_PORT,
                   help=f"port to bind (default {SIM_PORT}, where environment = \"sim\" looks); 0 picks a "
                        "free one")
    p.add_argument(
        "--seed", type=int, default=1, help="random-walk seed, for reproducible prices (default 1)"
    )
    p.add_argument(
        "--prices",
        metavar="CSV",
        default=None,
        help="replay candles open_time_ms,open,high,low,close,volume for BTCUSDT "
        "(or SYMBOL=CSV[,SYMBOL=CSV])",
    )
    p.add_argument("--speed", type=float, default=1.0, help="price-path speed, times real time (default 1)")
    p.add_argument(
        "--accounts", metavar="FILE", default=None, help="TOML accounts file (default: demo accounts)"
    )
    p.add_argument("--no-control", action="store_true", help="disable the /sim/ test-control API")
    p.add_argument(
        "--session-limit-s",
        type=float,
        default=86400.0,
        help="close WebSocket connections after this many seconds (default 86400, Binance's 24 h)",
    )
    p.add_argument(
        "--latency",
        metavar="MS[±JITTER]",
        default="0",
        help="a home line: delay every WS API reply, REST answer and stream frame by MS ms, "
        "± JITTER drawn per frame from --seed (e.g. 150±50 or 150+-50; default 0)",
    )
    p.add_argument(
        "--book",
        choices=("depth", "simple"),
        default="depth",
        help="depth: finite seeded levels, orders walk them and fill in pieces (default); "
        "simple: every order fills whole at the touch",
    )
    p.add_argument(
        "--event-order",
        choices=("random", "classic", "lite-first", "trade-first"),
        default="random",
        help="order of a fill's user-data events: one of the orders seen live, or a seeded choice "
        "per order (random, default). Reference: docs/sim.md",
    )
    p.add_argument(
        "--reply-order",
        choices=("random", "before", "after"),
        default="random",
        help="WS API reply before or after the events it caused, or a seeded choice per request "
        "(random, default)",
    )
    p.add_argument(
        "--basis-bps",
        type=float,
        default=5.0,
        help="mark and index differ from the last price by a seeded basis of at most this many "
        "basis points (default 5; 0: mark = index = last)",
    )
    p.add_argument(
        "--no-market-events",
        action="store_true",
        help="no market trades on the aggTrade/trade streams, no funding every 8 h (/ --speed), "
        "no margin calls or liquidations",
    )
    p.set_defaults(func=handler)


def options_from(args: argparse.Namespace) -> SimOptions:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a port number (0-65535).")
    if not args.speed > 0:
        raise ConfigError("--speed must be greater than 0.")
    if not 0 <= args.basis_bps <= 100:
        raise ConfigError("--basis-bps must be between 0 and 100.")
    if not args.session_limit_s > 0:
        raise ConfigError("--session-limit-s must be greater than 0.")
    from traytrader.sim import SimOptions
    from traytrader.sim.latency import parse_latency

    try:
        latency_ms, jitter_ms = parse_latency(args.latency)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return SimOptions(
        host=args.host,
        port=args.port,
        seed=args.seed,
        prices_csv=args.prices,
        speed=args.speed,
        accounts_file=args.accounts,
        control=not args.no_control,
        session_limit_s=args.session_limit_s,
        latency_ms=latency_ms,
        latency_jitter_ms=jitter_ms,
        book=args.book,
        event_order=args.event_order,
        reply_order=args.reply_order,
        basis_bps=args.basis_bps,
        market_trades=not args.no_market_events,
        funding=not args.no_market_events,
        liquidation=not args.no_market_events,
    )


def announce(sim: Sim, demo: bool, out: object = sys.stdout) -> None:
    from traytrader.sim import DEMO_API_KEY, DEMO_ED25519_API_KEY, DEMO_SECRET

    lines = [
        f"REST:           {sim.rest_url}",
        f"WebSocket API:  {sim.ws_api_url}",
        f"Market streams: {sim.stream_url}/public  and  {sim.stream_url}/market",
        f"User data:      {sim.stream_url}/private/ws/<listenKey>",
    ]
    if sim.server.options.control:
        lines.append(f"Control API:    {sim.control_url}/state")
    if demo:
        lines += [
            f"Demo HMAC key (DEMO ONLY, this simulator only):    {DEMO_API_KEY}",
            f"Demo HMAC secret (DEMO ONLY, this simulator only): {DEMO_SECRET}",
            f"Demo Ed25519 key (DEMO ONLY): {DEMO_ED25519_API_KEY}"
            " (private key: traytrader.sim.DEMO_ED25519_PRIVATE_KEY_PEM)",
        ]
    lines.append("Serving; press Ctrl+C to stop.")
    print("\n".join(lines), file=out, flush=True)  # type: ignore[arg-type]


def handler(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import logging
    import signal

    from traytrader.sim import run_sim

    options = options_from(args)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
        with contextlib.suppress(asyncio.CancelledError):
            await run_sim(options, lambda sim: announce(sim, options.accounts_file is None))

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        hint = "" if exc.errno != errno.EADDRINUSE or not options.port else (
            " (another `traytrader sim`?); `--port 0` picks a free port: then set the config's rest_url, "
            "ws_api_url and stream_url to the addresses it prints")
        where = f"{options.host}:{options.port}"
        raise ConfigError(f"Cannot serve on {where} ({exc.strerror or exc}){hint}.") from None
    print("Simulator stopped.", flush=True)
    return 0
