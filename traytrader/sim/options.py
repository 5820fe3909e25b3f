"""How the simulator runs: ``SimOptions`` (the CLI's flags and what tests and benchmarks tune) and
``market_like``, the market-like defaults of ``traytrader sim`` and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SimOptions:
    """How to run the simulator. The first eight fields are the CLI flags; the rest tune tests/benchmarks."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    prices_csv: str | None = None
    speed: float = 1.0
    accounts_file: str | None = None
    control: bool = True
    session_limit_s: float = 86400.0
    ping_interval_s: float = 180.0
    pong_timeout_s: float = 600.0  # Binance: "no pong within a 10 minute period" closes the connection
    tick_ms: int = 100
    rate_limits: bool = True
    weight_limit_1m: int = 2400
    orders_limit_10s: int = 300
    orders_limit_1m: int = 1200
    history_limit: int = 50_000
    max_frame_bytes: int = 1 << 20
    measure: bool = False
    mark_interval_ms: int = 1000  # markPrice@1s cadence in real time (tests replaying at high speed lower it)
    latency_ms: float = 0.0  # --latency MS[±JITTER]: every reply, REST answer and stream frame this late
    latency_jitter_ms: float = 0.0
    #: "simple" (every order fills whole at the touch; the default for in-process use, tests and
    #: benchmarks that assert exact fills) or "depth" (finite seeded levels, partial fills; the
    #: default of ``traytrader sim`` and the demo).
    book: str = "simple"
    #: Event order of fills (``sim.event_order``): "classic" (in-process default), "lite-first",
    #: "trade-first" or "random" (seeded per order; the CLI's and demo's default).
    event_order: str = "classic"
    #: WS API reply "before" the events it caused (in-process default), "after", or "random".
    reply_order: str = "before"
    #: Market events (all off in-process so exact tests keep exact prices; on for the CLI and demo):
    #: mark and index differ from last by a seeded basis of at most this many basis points, …
    basis_bps: float = 0.0
    #: … the aggTrade/trade streams carry the market's trades at each price move, …
    market_trades: bool = False
    #: … funding is settled every 8 h of simulated time (8 h / speed), …
    funding: bool = False
    #: … and positions past maintenance margin get MARGIN_CALL, then are liquidated.
    liquidation: bool = False
    header_timeout_s: float = 10.0  # a connection must complete its first request's headers within this


#: What ``traytrader sim`` and the demo run: a market that behaves like the live one (depth and partial
#: fills, event orders as seen live, basis, market trades, funding, margin calls and liquidation).
MARKET_LIKE: dict[str, Any] = {
    "book": "depth",
    "event_order": "random",
    "reply_order": "random",
    "basis_bps": 5.0,
    "market_trades": True,
    "funding": True,
    "liquidation": True,
}


def market_like(**overrides: Any) -> SimOptions:
    """``SimOptions`` with every market behaviour on (the CLI's defaults); ``overrides`` win."""
    return SimOptions(**{**MARKET_LIKE, **overrides})
