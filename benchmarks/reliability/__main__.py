"""Reliability under faults: ``python -m benchmarks.reliability [--fast] [--soak SECONDS]`` (repo root).

Runs every scenario of issue 8 against the simulator (in-process, loopback sockets) with a real
engine and the ASL, prints one table (scenario, runs, keypresses, orders, duplicates, undetermined
outcomes, orphan stops, max unprotected ms, reconnect p50/p99), and exits 1 if an invariant failed:
a duplicate, an undetermined outcome, or a position unprotected beyond the documented bound.

    python -m benchmarks.reliability                 # the full run (documented in docs/reliability.md)
    python -m benchmarks.reliability --fast          # the CI subset (a few runs per scenario)
    python -m benchmarks.reliability --soak 600      # plus a 10-minute soak (an hour of market at 6x)
    python -m benchmarks.reliability --only-soak --soak-market 3600 --speed 60   # the soak alone, 60 s
    python -m benchmarks.reliability --scenario b-drop-before-reply --runs 50
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/reliability``: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.reliability import report
from benchmarks.reliability.runner import Harness, RunFigures, merge
from benchmarks.reliability.scenarios import SCENARIOS, Scenario, by_name
from benchmarks.reliability.soak import rss_lines, run_soak, soak_failures, soak_plan
from traytrader.engine.outcome import CLOCK_MARGIN_MS

# Scenarios where the fault hides a fill from the engine until it reconnects and resolves the order
# by client id (engine/outcome.py waits out recvWindow + margin before asking).
HIDDEN_FILL = frozenset(
    {
        "b-drop-before-reply",
        "server-restart",
        "unknown-503",
        "reply-delayed",
        "ed25519-drop-before-reply",
        "flatten-during-unknown",
        "status-unknown",
        "soak",
    }
)
RECONNECT_ALLOWANCE_MS = 500


def unprotected_bound_ms(scenario: Scenario | None, name: str) -> float:
    """The documented bound on the longest time an open position may have no stop on the exchange.

    Every position: the ASL's own grace window (the first stop is one round trip after the fill;
    the watchdog acts only after ``grace_ms``). Where the fault hides the fill from the engine:
    plus one watchdog period, the outcome resolution wait (recvWindow + clock margin) and a
    reconnect allowance.
    """
    from benchmarks.reliability.runner import EngineOptions

    options = scenario.engine if scenario is not None else EngineOptions()
    bound = float(options.asl.grace_ms)
    if name in HIDDEN_FILL:
        bound += options.asl.watchdog_ms + options.recv_window_ms + CLOCK_MARGIN_MS + RECONNECT_ALLOWANCE_MS
    return bound


def run_scenario(scenario: Scenario, runs: int, seed: int, progress: bool = True) -> dict[str, Any]:
    harness = Harness(scenario.sim, scenario.engine, seed=seed)
    figures: list[RunFigures] = []
    try:
        harness.start()
        for i in range(runs):
            figures.append(
                harness.run_once(
                    scenario.act,
                    scenario.prepare,
                    scenario.cleanup,
                    hold_s=scenario.hold_s,
                    after_clear=scenario.after_clear,
                )
            )
            if progress:
                print(f"  {scenario.name} run {i + 1}/{runs}", file=sys.stderr, end="\r", flush=True)
        totals = merge(figures)
        totals["asl_installed"] = harness.asl_installed
    finally:
        harness.close()
    if progress:
        print(file=sys.stderr)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reliability", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--fast", action="store_true", help="the CI subset: few runs, fast scenarios only")
    parser.add_argument("--runs", type=int, help="runs per scenario (default: each scenario's own)")
    parser.add_argument("--scenario", action="append", default=[], help="only this scenario (repeatable)")
    parser.add_argument("--seed", type=int, default=8, help="seed of the random timing (default 8)")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="also run a soak of this wall time")
    parser.add_argument("--soak-market", type=float, metavar="SECONDS",
                        help="simulated market time the soak replays (default 3600: an hour)")
    parser.add_argument("--speed", type=float, metavar="X",
                        help="replay speed of the soak's market (e.g. 60: an hour of market in 60 s)")
    parser.add_argument(
        "--soak-fault-rate",
        type=float,
        default=0.05,
        metavar="P",
        help="chance of a fault before each soak keypress (default 0.05: one every ~5 s)",
    )
    parser.add_argument("--only-soak", action="store_true", help="run the soak alone (no fault scenarios)")
    parser.add_argument("--soak-tracemalloc", type=Path, metavar="PATH",
                        help="diagnosis: run the soak's engine with tracemalloc, top growth written to PATH")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the totals as JSON here")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the table as Markdown here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log engine warnings")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.verbose else logging.CRITICAL,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    chosen = (
        by_name(args.scenario) if args.scenario else [s for s in SCENARIOS if not args.fast or s.fast_runs]
    )
    if args.only_soak:
        chosen = []
    results: dict[str, dict[str, Any]] = {}
    bounds: dict[str, float] = {}
    started = time.monotonic()
    for index, scenario in enumerate(chosen):
        runs = args.runs or (scenario.fast_runs if args.fast else scenario.runs)
        results[scenario.name] = run_scenario(scenario, runs, args.seed + index)
        bounds[scenario.name] = unprotected_bound_ms(scenario, scenario.name)
    if args.soak or args.soak_market or args.speed or args.only_soak:
        name = "soak"
        wall_s, _, speed = soak_plan(args.soak, args.soak_market, args.speed)
        results[name] = run_soak(wall_s, args.seed, args.soak_fault_rate, speed,
                                 tracemalloc_path=args.soak_tracemalloc)
        bounds[name] = unprotected_bound_ms(None, name)
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join(["python -m benchmarks.reliability", *given])
    rows = [report.row(name, totals) for name, totals in results.items()]
    text = report.header(command) + "\n\n" + report.table(rows)
    bound_lines = [f"- {name}: {bound:.0f} ms" for name, bound in bounds.items()]
    problems = report.failures(results, bounds)
    if not all(t.get("asl_installed", True) for t in results.values()):
        problems.append(
            "The ASL driver (traytrader/engine/asl_driver.py) is not installed: no stops are placed."
        )
    print(text)
    print("\nUnprotected-time bounds:\n" + "\n".join(bound_lines))
    soak = results.get("soak")
    if soak is not None:
        problems += soak_failures(soak)
        for line in rss_lines(soak):
            print(line)
    if soak is not None and "soak_market_s" in soak:
        print(f"Soak: {soak['soak_market_s']:.0f} s of market replayed at {soak['soak_speed']:g}× "
              f"in {soak['soak_wall_s']:.0f} s")
    for scenario in chosen:
        totals = results[scenario.name]
        if scenario.measures and totals.get("measured_max_ms") is not None:
            print(f"{scenario.name}: {scenario.measures}: p50 {totals['measured_p50_ms']:.0f} ms, "
                  f"max {totals['measured_max_ms']:.0f} ms")
    for name, totals in results.items():
        for note in totals["notes"][:8]:
            print(f"  note {name}: {note}")
    print(f"\n{len(problems)} invariant failure(s); {time.monotonic() - started:.0f} s")
    for problem in problems:
        print(f"  FAIL {problem}")
    if args.json:
        args.json.write_text(
            json.dumps({"results": results, "bounds": bounds, "problems": problems}, indent=2, default=str)
        )
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
