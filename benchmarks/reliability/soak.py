"""The soak: a real BTCUSDT 1-minute series replayed fast (``--soak-market`` seconds of market, an hour
by default, at ``--speed``× real time), random keypresses and random faults for the whole time,
invariants checked as it goes and RSS sampled every second to show memory stays flat."""

from __future__ import annotations

import random
import time
from pathlib import Path

from benchmarks.reliability import metrics
from benchmarks.reliability.runner import EngineOptions, Harness
from traytrader.engine.api import CommandKind
from traytrader.sim import SimOptions

ROOT = Path(__file__).resolve().parents[2]
KLINES = (
    ROOT / "tests" / "data" / "real" / "klines" / "binance_usdm_btcusdt_1m_2025-05-08T12_to_2025-05-09T12.csv"
)
FAULTS = (
    ("drop_before_reply", "order.place"),
    ("drop_after_reply", "order.place"),
    ("drop_before_execute", "order.place"),
    ("unknown_503", "order.place"),
    ("delay", "order.place"),
    ("drop_before_reply", "algoOrder.place"),
    ("drop_before_reply", "algoOrder.cancel"),
    ("close_all", "*"),
    ("expire_listen_key", "*"),
)
KEYS = (CommandKind.BUY, CommandKind.SELL, CommandKind.BUY, CommandKind.SELL, CommandKind.CLOSE)


def soak_plan(
    wall_s: float | None, market_s: float | None, speed: float | None
) -> tuple[float, float, float]:
    """(wall seconds, market seconds, speed) from any two of them; market defaults to an hour.

    ``--soak 60`` → an hour of market at 60×; ``--soak-market 3600 --speed 60`` → 60 s of wall time."""
    if wall_s is not None and speed is not None:
        if market_s is not None and abs(market_s - wall_s * speed) > 1e-6 * market_s:
            raise SystemExit("Give at most two of --soak, --soak-market and --speed (they disagree).")
        market_s = wall_s * speed
    market_s = 3600.0 if market_s is None else market_s
    if speed is None:
        speed = market_s / max(wall_s or 600.0, 1.0)
    if speed <= 0 or market_s <= 0:
        raise SystemExit("--soak-market and --speed must be positive.")
    wall_s = market_s / speed if wall_s is None else wall_s
    return wall_s, market_s, speed


def soak_options(speed: float, seed: int) -> tuple[SimOptions, EngineOptions]:
    """The simulator replays the real BTCUSDT CSV at ``speed``× (at 60× one 1-minute candle a second)."""
    return SimOptions(seed=seed, prices_csv=str(KLINES), speed=max(1.0, speed)), EngineOptions()


def soak_act(seconds: float, fault_rate: float = 0.05) -> object:
    """The act of one long run: keys and faults until ``seconds`` have passed.

    ``fault_rate`` is the chance of a fault before each keypress: 0.05 is one fault every ~5 s. Much
    more (0.25) drives the exchange's weight limit into a 418 ban, see docs/reliability.md (F10)."""

    def act(h: Harness, rng: random.Random) -> None:
        started = time.monotonic()
        next_sample = started
        samples: list[tuple[float, float]] = []  # this process: engine + harness
        sim_samples: list[tuple[float, float]] = []  # the simulator subprocess
        checks = violations = 0
        start_ms = h.sim.server_ms()
        while (now := time.monotonic()) - started < seconds:
            if now >= next_sample:
                samples.append((now - started, metrics.rss_bytes() / 2**20))
                if h.sim.pid is not None:
                    sim_samples.append((now - started, metrics.rss_bytes(h.sim.pid) / 2**20))
                next_sample += 1.0
            if rng.random() < fault_rate:
                kind, method = rng.choice(FAULTS)
                ms = h.options.request_timeout_ms + rng.randint(100, 600) if kind == "delay" else 0
                h.sim.fault(kind, method, 1, ms)
            h.press(rng.choice(KEYS))
            # Keep only what the figures need, so the RSS samples measure the engine, not the harness.
            h.presses[-1] = h.presses[-1].compact()
            h.recorder.trim(h.recorder.mark())
            if len(h.presses) % 10 == 0:  # the invariant holds throughout, not only at the end
                checks += 1
                window = metrics.since(h.sim.state()["orders"], start_ms)
                violations += metrics.duplicates(window) > 0
            time.sleep(rng.uniform(0.05, 0.4))
        h.sim.clear_faults()
        h.scratch["rss"] = samples
        h.scratch["sim_rss"] = sim_samples
        h.notes.append(
            f"soak: {len(samples)} RSS samples, {checks} mid-run duplicate checks, {violations} failed"
        )

    return act
