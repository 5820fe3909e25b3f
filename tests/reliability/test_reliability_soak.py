"""The soak's plumbing (``benchmarks/reliability/soak.py``, ``engine_proc.py``): the engine runs as
``traytrader run --console`` in its own process, keys go in on its stdin, outcomes come back as its
console lines, and the RSS figures are that process's. A 12 s soak against a ``traytrader sim``
subprocess, plus the verdict and bounded-series arithmetic."""

from __future__ import annotations

import os

from relkit import ROOT  # noqa: F401  (repo root on sys.path)

from benchmarks.reliability import soak as soak_module
from benchmarks.reliability.__main__ import unprotected_bound_ms
from benchmarks.reliability.soak import (
    FLAT_SLOPE_MIB_PER_MIN,
    FLAT_VERDICT_MIN_WALL_S,
    Series,
    rss_lines,
    run_soak,
    soak_failures,
)


def test_short_soak_runs_the_engine_in_its_own_process() -> None:
    seen_pids: list[int | None] = []
    original = soak_module.Soak.sample

    def spy(self: soak_module.Soak, at: float) -> None:
        seen_pids.append(self.engine.pid)
        original(self, at)

    soak_module.Soak.sample = spy  # type: ignore[method-assign]
    try:
        totals = run_soak(12.0, seed=3, fault_rate=0.1, speed=60.0, progress=False)
    finally:
        soak_module.Soak.sample = original  # type: ignore[method-assign]
    assert seen_pids and all(pid not in (None, os.getpid()) for pid in seen_pids)
    assert totals["keypresses"] >= 20 and totals["orders"] >= 10, totals
    assert totals["duplicates"] == 0 and totals["undetermined"] == 0, totals["notes"]
    assert totals["orphans"] == 0
    assert totals["asl_installed"], "no STOP line and no algo order: the ASL did not run"
    assert totals["max_unprotected_ms"] <= unprotected_bound_ms(None, "soak"), totals
    assert totals["engine_exit"] == 0 and not totals["engine_traceback"], totals["notes"]
    assert totals["checks"] >= 2 and totals["check_violations"] == 0
    # the engine process alone: a fresh Python with the app, far below harness + engine
    assert totals["rss_engine_samples"] >= 8
    assert 20 < totals["rss_engine_mib_start"] < 200
    assert totals["memory_flat"] in (True, False)
    assert not soak_failures(totals), "a 12 s soak never fails on memory (too short to judge)"
    assert any(line.startswith("Soak memory flat: ") for line in rss_lines(totals))


def test_verdict_fails_only_long_soaks() -> None:
    base = {"rss_engine_slope_mib_per_min": 0.5, "memory_flat": False, "engine_exit": 0}
    assert soak_failures({**base, "soak_wall_s": FLAT_VERDICT_MIN_WALL_S - 1}) == []
    long = soak_failures({**base, "soak_wall_s": FLAT_VERDICT_MIN_WALL_S})
    assert len(long) == 1 and "not flat" in long[0]
    flat = {**base, "memory_flat": True, "rss_engine_slope_mib_per_min": FLAT_SLOPE_MIB_PER_MIN}
    assert soak_failures({**flat, "soak_wall_s": 3600}) == []
    died = soak_failures({**flat, "soak_wall_s": 10, "engine_exit": None})
    assert len(died) == 1 and "exited" in died[0]
    crashed = soak_failures({**flat, "soak_wall_s": 10, "engine_traceback": True})
    assert len(crashed) == 1 and "traceback" in crashed[0]
    assert soak_module.flat_verdict(FLAT_SLOPE_MIB_PER_MIN) and not soak_module.flat_verdict(0.11)


def test_series_stays_bounded_and_keeps_the_trend() -> None:
    series = Series(limit=100)
    for second in range(10_000):
        series.add(float(second), 50.0 + second / 60)  # +1 MiB/min
    figures = series.figures()
    assert len(series.samples) < 100
    assert figures["mib_start"] == 50.0
    assert abs(figures["slope_mib_per_min"] - 1.0) < 1e-6
    assert figures["mib_last_third"] > figures["mib_first_third"]
