"""Reliability under faults (issue 8): ``python -m benchmarks.reliability``; see ``__main__``."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and print the table; the exit code is 1 when an invariant failed."""
    from benchmarks.reliability.__main__ import main as run

    return run(argv)
