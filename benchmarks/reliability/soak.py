"""The soak: a real BTCUSDT 1-minute series replayed fast (``--soak-market`` seconds of market, an hour
by default, at ``--speed``× real time), random keypresses and random faults for the whole time,
invariants checked as it goes and RSS sampled every second to show memory stays flat.

Three processes, as a user has them: the exchange (``traytrader sim``), the app (``traytrader run
--console`` with a config file and a vault, ``engine_proc.py``) and this harness, which types the
keys, injects the faults over ``/sim/fault`` and reads every figure from the exchange's record and
the engine's own console lines. The RSS figures are of the app's process alone.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.reliability import metrics
from benchmarks.reliability.engine_proc import SETATTR_ENV, EngineProcess, undetermined
from benchmarks.reliability.runner import (
    CLIENT_PREFIX,
    LATE_AFTER_MS,
    STOP_PREFIX,
    EngineOptions,
    RunFigures,
    merge,
    poll,
)
from benchmarks.reliability.simctl import SimControl
from traytrader.sim import DEMO_API_KEY, SimOptions

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
KEYS = ("buy", "sell", "buy", "sell", "close")
CHECK_EVERY = 10  # keys between mid-run duplicate checks
# Each mid-run check reads the orders of the last CHECK_WINDOW_MS (exchange clock; checks overlap),
# so what the harness parses stays bounded; the final check reads the whole record once.
CHECK_WINDOW_MS = 60_000
HOLD_S = 4.0
# Memory verdict (docs/reliability.md, "Is memory flat?"): the least-squares RSS slope of the
# engine's process over the last two thirds of the soak (the first third is warm-up: caches,
# allocator arenas, the journal's WAL reaching its checkpoint size).
FLAT_SLOPE_MIB_PER_MIN = 0.1
FLAT_VERDICT_MIN_WALL_S = 600.0  # shorter soaks are too noisy for a non-flat engine to be a FAIL
MAX_SAMPLES = 4000  # per series; older samples are thinned so the harness's memory stays bounded
MAX_NOTES = 20


class Series:
    """(seconds, MiB) samples, thinned to every other one when full: bounded for any soak length."""

    def __init__(self, limit: int = MAX_SAMPLES) -> None:
        self.samples: list[tuple[float, float]] = []
        self.limit = limit
        self.stride = 1
        self._seen = 0

    def add(self, at: float, mib: float) -> None:
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        self.samples.append((at, mib))
        if len(self.samples) >= self.limit:
            self.samples = self.samples[::2]
            self.stride *= 2

    def figures(self) -> dict[str, float]:
        """start/end, first/last third means, slope over the last two thirds (MiB, MiB/min)."""
        series = self.samples
        if not series:
            return {}
        third = max(1, len(series) // 3)
        return {
            "mib_start": round(series[0][1], 1),
            "mib_end": round(series[-1][1], 1),
            "mib_first_third": round(sum(v for _, v in series[:third]) / third, 1),
            "mib_last_third": round(sum(v for _, v in series[-third:]) / third, 1),
            "slope_mib_per_min": round(metrics.slope_per_minute(series[third:]), 3),
            "samples": len(series),
        }


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


def open_positions(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for a in state["accounts"] if a["apiKey"] == DEMO_API_KEY for p in a["positions"]
            if Decimal(p["positionAmt"]) != 0]


def open_algos(state: Mapping[str, Any]) -> list[Any]:
    return [i for a in state["accounts"] if a["apiKey"] == DEMO_API_KEY for i in a["openAlgoOrders"]]


class Soak:
    """One soak: the keys-and-faults loop, then hold, flatten, and the figures."""

    def __init__(self, sim: SimControl, engine: EngineProcess, rng: random.Random, fault_rate: float,
                 request_timeout_ms: int) -> None:
        self.sim, self.engine, self.rng = sim, engine, rng
        self.key_windows: list[tuple[float, float]] = []  # late orders (~16 B a key: bounded by the soak)
        self.fault_rate = fault_rate
        self.request_timeout_ms = request_timeout_ms
        self.keys = self.answered_undetermined = self.checks = self.violations = 0
        self.notes: list[str] = []
        self.rss = {"engine": Series(), "engine_anon": Series(), "sim": Series(), "harness": Series()}

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def sample(self, at: float) -> None:
        for name, pid in (("engine", self.engine.pid), ("sim", self.sim.pid), ("harness", None)):
            if name == "harness" or pid is not None:
                self.rss[name].add(at, metrics.rss_bytes(pid) / 2**20)
        if self.engine.pid is not None:
            self.rss["engine_anon"].add(at, metrics.rss_anon_bytes(self.engine.pid) / 2**20)

    def press(self, word: str, *, counted: bool = True) -> Any:
        now_ms = time.time() * 1000   # the key's moment on the wall clock (the simulator's, unskewed)
        self.key_windows.append((now_ms, now_ms))
        answer = self.engine.press(word)
        if counted:
            self.keys += 1
            if answer is None or undetermined(answer.text):
                self.answered_undetermined += 1
                self.note(f"undetermined {word}: {answer.text if answer else 'no terminal line'}")
        return answer

    def loop(self, seconds: float, progress: bool) -> None:
        start_ms = self.sim.server_ms()
        started = time.monotonic()
        next_sample = started
        while (now := time.monotonic()) - started < seconds:
            if now >= next_sample:
                self.sample(now - started)
                next_sample += 1.0
                if progress and int(now - started) % 10 == 0:
                    print(f"  soak {now - started:.0f}/{seconds:.0f} s, {self.keys} keys",
                          file=sys.stderr, end="\r", flush=True)
            if self.rng.random() < self.fault_rate:
                kind, method = self.rng.choice(FAULTS)
                ms = self.request_timeout_ms + self.rng.randint(100, 600) if kind == "delay" else 0
                self.sim.fault(kind, method, 1, ms)
            self.press(self.rng.choice(KEYS))
            if self.keys % CHECK_EVERY == 0:  # the invariant holds throughout, not only at the end
                self.checks += 1
                now_ms = self.sim.server_ms()
                window = self.sim.state(since_ms=max(start_ms, now_ms - CHECK_WINDOW_MS))["orders"]
                found = metrics.duplicates(window)
                if found:
                    self.violations += 1
                    self.note(f"mid-run check {self.checks}: {found} duplicate(s)")
            time.sleep(self.rng.uniform(0.05, 0.4))
        if progress:
            print(file=sys.stderr)

    def finish(self) -> int:
        """Hold until the exchange shows a stop (or HOLD_S), clear faults, flatten; the orphan stops."""
        self.engine.wait_ready()
        poll(lambda: not open_positions(s := self.sim.state(orders=False)) or bool(open_algos(s)), HOLD_S)
        self.sim.clear_faults()
        self.engine.wait_ready()
        for _ in range(5):
            if not open_positions(self.sim.state(orders=False)):
                break
            self.engine.wait_ready()
            answer = self.press("flatten", counted=False)
            if answer is not None and answer.tag in ("FILL", "DONE"):
                poll(lambda: not open_positions(self.sim.state(orders=False)), 5.0)
            else:
                self.note(f"flatten retried: {answer.text if answer else 'no answer'}")
        if poll(lambda: not open_algos(self.sim.state(orders=False)), 3.0):
            return 0
        orphans = len(open_algos(self.sim.state(orders=False)))
        self.press("cancel", counted=False)
        return orphans

    def figures(self, state: Mapping[str, Any]) -> RunFigures:
        """Per-run figures from the exchange's whole record (the simulator is this soak's own)."""
        orders = state["orders"]
        figures = RunFigures(keypresses=self.keys)
        figures.orders = len(metrics.user_orders(orders, CLIENT_PREFIX))
        figures.duplicates = metrics.duplicates(orders) + self.violations
        first = min((int(o.get("createTime") or 0) for o in orders), default=0)
        figures.max_unprotected_ms = metrics.max_unprotected_ms(orders, int(state["serverTime"]), first)
        with self.engine.cond:
            safety_seen = self.engine.tags["SAFETY"] > 0
        skew_ms = int(state.get("clockSkewMs") or 0)
        figures.late_orders = metrics.late_orders(orders, self.key_windows, skew_ms, LATE_AFTER_MS,
                                                  CLIENT_PREFIX, exempt_reduce_only=safety_seen)
        figures.looser_stops = metrics.looser_replacements(orders, STOP_PREFIX)
        if figures.late_orders:
            self.note(f"{figures.late_orders} order(s) sent > {LATE_AFTER_MS} ms after any key")
        if figures.looser_stops:
            self.note(f"{figures.looser_stops} stop(s) replaced by a looser STOP_MARKET")
        with self.engine.cond:
            told = self.engine.tags["FILL"] + self.engine.tags["ACCEPT"]
            safety = self.engine.tags["SAFETY"] > 0
            stray = self.engine.stray_undetermined_count
            strays = list(self.engine.stray_undetermined)
            figures.reconnect_ms = list(self.engine.outage_ms)
        # An order that executed while the user was never told: more orders of ours live or filled on
        # the exchange than FILL/ACCEPT lines (the watchdog's reduce-only closes are its SAFETY lines).
        executed = [o for o in metrics.user_orders(orders, CLIENT_PREFIX)
                    if o.get("status") in ("FILLED", "NEW", "PARTIALLY_FILLED")
                    and not (safety and o.get("reduceOnly"))]
        untold = max(0, len(executed) - told)
        if untold:
            self.note(f"{len(executed)} orders executed on the exchange, {told} FILL/ACCEPT lines")
        for text in strays:
            self.note(f"engine said: {text}")
        figures.undetermined = self.answered_undetermined + stray + untold
        figures.notes = self.notes
        return figures


def flat_verdict(slope_mib_per_min: float) -> bool:
    return slope_mib_per_min <= FLAT_SLOPE_MIB_PER_MIN


def run_soak(seconds: float, seed: int, fault_rate: float = 0.05, speed: float | None = None, *,
             progress: bool = True, tracemalloc_path: Path | None = None) -> dict[str, Any]:
    """``seconds`` of wall time with the market replayed at ``speed``× (default: an hour of market)."""
    speed = speed if speed is not None else 3600.0 / max(seconds, 1.0)
    sim_options, engine_options = soak_options(speed, seed)
    sim = SimControl(sim_options, subprocess=True)
    engine: EngineProcess | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="traytrader-soak-") as tmp:
            engine = EngineProcess(sim, engine_options, Path(tmp), tracemalloc_path=tracemalloc_path).start()
            soak = Soak(sim, engine, random.Random(seed), fault_rate, engine_options.request_timeout_ms)
            soak.loop(seconds, progress)
            orphans = soak.finish()
            state = sim.state()
            figures = soak.figures(state)
            figures.orphans = orphans
            stops = engine.tags["STOP"]
            code = engine.stop()
            engine_stderr = engine.stderr_tail()
    finally:
        if engine is not None and engine.process is not None and engine.process.poll() is None:
            engine.process.kill()
        sim.stop()
    totals = merge([figures])
    algos = metrics.algo_orders(state["orders"])
    totals["asl_installed"] = stops > 0 and bool(algos)
    totals["engine_exit"] = code
    totals["engine_traceback"] = "Traceback" in engine_stderr
    if code != 0 or "Traceback" in engine_stderr:
        totals["notes"].append(f"the engine process exited with {code}: {engine_stderr[-500:]}")
    totals.update(
        soak_wall_s=round(seconds, 1),
        soak_market_s=round(seconds * sim_options.speed, 1),
        soak_speed=sim_options.speed,
        checks=soak.checks,
        check_violations=soak.violations,
    )
    for name, series in soak.rss.items():
        for key, value in series.figures().items():
            totals[f"rss_{name}_{key}"] = value
    engine_samples = soak.rss["engine"].samples
    step = max(1, len(engine_samples) // 60)  # for --json: the engine's RSS curve, ≤ ~60 points
    totals["rss_engine_curve"] = [(round(t), round(v, 2)) for t, v in engine_samples[::step]]
    anon_samples = soak.rss["engine_anon"].samples
    totals["rss_engine_anon_curve"] = [(round(t), round(v, 2)) for t, v in anon_samples[::step]]
    slope = totals.get("rss_engine_slope_mib_per_min")
    totals["memory_flat"] = None if slope is None or tracemalloc_path else flat_verdict(slope)
    if os.environ.get(SETATTR_ENV):
        totals["notes"].append(f"diagnosis: {SETATTR_ENV}={os.environ[SETATTR_ENV]} (not the product as is)")
    if tracemalloc_path:
        totals["notes"].append(f"tracemalloc in the engine (RSS not the product's): {tracemalloc_path}")
    totals["notes"].insert(0, f"{soak.rss['engine'].figures().get('samples', 0)} RSS samples, "
                              f"{soak.checks} mid-run duplicate checks, {soak.violations} failed")
    return totals


def rss_lines(soak: Mapping[str, Any]) -> list[str]:
    """The report's RSS lines and the verdict."""
    out = []
    for name, who in (("engine", "engine process (traytrader run --console)"),
                      ("engine_anon", "engine process, anonymous pages only (RssAnon)"),
                      ("sim", "simulator process"), ("harness", "harness process (not measured)")):
        k = f"rss_{name}_"
        if f"{k}mib_start" not in soak:
            continue
        out.append(
            f"Soak RSS, {who}: start {soak[k + 'mib_start']} MiB, end {soak[k + 'mib_end']} MiB; "
            f"{soak[k + 'mib_first_third']} MiB (first third) → "
            f"{soak[k + 'mib_last_third']} MiB (last third), "
            f"slope {soak[k + 'slope_mib_per_min']} MiB/min over the last two thirds"
        )
    if soak.get("memory_flat") is not None:
        word = "yes" if soak["memory_flat"] else "no"
        out.append(
            f"Soak memory flat: {word} (engine slope {soak['rss_engine_slope_mib_per_min']} MiB/min, "
            f"threshold ≤ {FLAT_SLOPE_MIB_PER_MIN} MiB/min over the last two thirds; a FAIL only for soaks "
            f"≥ {FLAT_VERDICT_MIN_WALL_S:.0f} s wall)"
        )
    return out


def soak_failures(soak: Mapping[str, Any]) -> list[str]:
    """Soak-only failures: a non-flat engine (long soaks only), the engine process dying."""
    out = []
    if soak.get("memory_flat") is False and soak.get("soak_wall_s", 0) >= FLAT_VERDICT_MIN_WALL_S:
        out.append(
            f"soak: the engine's memory is not flat (slope {soak['rss_engine_slope_mib_per_min']} MiB/min "
            f"> {FLAT_SLOPE_MIB_PER_MIN} MiB/min over the last two thirds)."
        )
    if "engine_exit" in soak and soak["engine_exit"] != 0:
        out.append(f"soak: the engine process exited with {soak.get('engine_exit')} (expected 0 after quit).")
    if soak.get("engine_traceback"):
        out.append("soak: the engine process printed a traceback on stderr (see the notes).")
    return out
