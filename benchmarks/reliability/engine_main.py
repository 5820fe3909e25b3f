"""``python -m benchmarks.reliability.engine_main ARGS`` is ``python -m traytrader ARGS`` with
tracemalloc on: for finding what grows in the engine's process during a soak (F13).

With ``TRAYTRADER_SOAK_TRACEMALLOC=PATH`` set, a daemon thread writes, every ``INTERVAL_S``, the
current RSS and the 25 allocation sites that grew most since the first snapshot (taken
``BASELINE_S`` after start, once warm-up is over) to ``PATH`` (rewritten each time). The soak uses
it with ``--soak-tracemalloc PATH``; tracemalloc's own overhead makes that run's RSS figures
meaningless, so it is for diagnosis only.

``TRAYTRADER_SOAK_SETATTR="module:Class.NAME=INT[,...]"`` sets class constants before the app
starts, to try a suggested cap in the real process before its owner changes the code (for example
``traytrader.engine.position_ledger:OrderFills.LIMIT=128``). Diagnosis only; the soak never sets it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc

BASELINE_S = 20.0
SETATTR_ENV = "TRAYTRADER_SOAK_SETATTR"
INTERVAL_S = 30.0


def _rss_mib() -> float:
    try:
        with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _snapshot() -> tracemalloc.Snapshot:
    """Without tracemalloc's own bookkeeping and the import system (the baseline is kept alive)."""
    return tracemalloc.take_snapshot().filter_traces((
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    ))


def _dump_loop(path: str) -> None:
    time.sleep(BASELINE_S)
    baseline = _snapshot()
    rss0 = _rss_mib()
    started = time.monotonic()
    while True:
        time.sleep(INTERVAL_S)
        snapshot = _snapshot()
        stats = snapshot.compare_to(baseline, "lineno")
        traced, _ = tracemalloc.get_traced_memory()
        lines = [f"after {time.monotonic() - started:.0f} s: RSS {_rss_mib():.1f} MiB "
                 f"(baseline {rss0:.1f}), traced {traced / 2**20:.2f} MiB, "
                 f"Δ traced {sum(s.size_diff for s in stats) / 2**20:+.3f} MiB"]
        lines += [str(stat) for stat in stats[:25]]
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(tmp, path)


def _set_attributes(spec: str) -> None:
    import importlib

    for item in filter(None, (part.strip() for part in spec.split(","))):
        target, _, value = item.partition("=")
        module_name, _, dotted = target.partition(":")
        owner_name, _, attribute = dotted.rpartition(".")
        owner = importlib.import_module(module_name)
        for name in filter(None, owner_name.split(".")):
            owner = getattr(owner, name)
        setattr(owner, attribute, int(value))
        print(f"engine_main: {target} = {value} (diagnosis)", file=sys.stderr)


def main() -> int:
    spec = os.environ.get(SETATTR_ENV)
    if spec:
        _set_attributes(spec)
    path = os.environ.get("TRAYTRADER_SOAK_TRACEMALLOC")
    if path:
        tracemalloc.start(8)
        threading.Thread(target=_dump_loop, args=(path,), name="tracemalloc-dump", daemon=True).start()
    from traytrader.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
