"""The one table issue 8 asks for, as Markdown (it goes into docs/reliability.md and the README)."""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS = (
    "scenario",
    "runs",
    "keys",
    "orders",
    "duplicates",
    "undetermined",
    "orphan stops",
    "max unprotected ms",
    "late orders",
    "looser stops",
    "failed checks",
    "reconnect p50 / p99 ms",
)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def row(name: str, totals: Mapping[str, Any]) -> list[str]:
    return [
        name,
        str(totals["runs"]),
        str(totals["keypresses"]),
        str(totals["orders"]),
        str(totals["duplicates"]),
        str(totals["undetermined"]),
        str(totals.get("orphans", 0)),
        _ms(totals["max_unprotected_ms"]),
        str(totals.get("late_orders", 0)),
        str(totals.get("looser_stops", 0)),
        str(totals.get("failed_checks", 0)),
        f"{_ms(totals['reconnect_p50_ms'])} / {_ms(totals['reconnect_p99_ms'])}",
    ]


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)) + " |"

    out = [line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def machine() -> str:
    import os

    cpus = os.cpu_count() or 0
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"


def header(command: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"Command: `{command}`  \nMachine: {machine()}  \nDate: {stamp}"


def failures(results: Mapping[str, Mapping[str, Any]], bounds: Mapping[str, float]) -> list[str]:
    """Invariant violations, one sentence each: duplicates, undetermined, orphan stops, unprotected
    beyond the bound, late orders, looser replacements, and each scenario's own failed checks."""
    out = []
    for name, totals in results.items():
        if totals["duplicates"]:
            out.append(f"{name}: {totals['duplicates']} duplicate order(s).")
        if totals["undetermined"]:
            out.append(f"{name}: {totals['undetermined']} command(s) without a definite outcome.")
        if totals.get("orphans"):
            out.append(f"{name}: {totals['orphans']} stop(s) left open after the position closed.")
        if totals.get("late_orders"):
            out.append(f"{name}: {totals['late_orders']} order(s) reached the exchange more than 2 s after "
                       "their key.")
        if totals.get("looser_stops"):
            out.append(f"{name}: {totals['looser_stops']} stop(s) replaced by a looser one.")
        if totals.get("failed_checks"):
            checks = [n for n in totals.get("notes", []) if n.startswith("CHECK failed")]
            out.append(f"{name}: {totals['failed_checks']} scenario check(s) failed"
                       + (f" (first: {checks[0][len('CHECK failed: '):]})." if checks else "."))
        for note in totals.get("notes", []):
            if "not detected" in note or "not refused" in note:
                out.append(f"{name}: {note}.")
        bound = bounds.get(name)
        if bound is not None and totals["max_unprotected_ms"] > bound:
            out.append(
                f"{name}: a position was unprotected for {totals['max_unprotected_ms']:.0f} ms "
                f"(bound {bound:.0f} ms)."
            )
    return out
