"""Invariants and figures computed from what the exchange itself recorded (pure, no I/O).

Everything here reads the simulator's ``GET /sim/state`` document (``orders``: every order and algo
order ever accepted, with the exchange's own ``createTime`` / ``updateTime`` / ``triggerTime``), so a
figure never depends on what the engine *believes* happened:

* duplicates: an order placed twice under one client id (``clientOrderId`` or ``clientAlgoId``);
* unprotected time: the longest stretch during which a position was open on the exchange and no
  protective algo order (opposite side, status NEW) existed for it, computed on the exchange's
  clock from fills and algo lifetimes rather than by sampling;
* percentiles for reconnect times, and RSS from ``/proc`` for the soak.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# Algo statuses after which the algo order no longer protects anything (protocol notes §4:
# NEW → TRIGGERING → TRIGGERED → FINISHED, or CANCELED / REJECTED / EXPIRED).
_ALGO_ENDED = frozenset(
    {"TRIGGERING", "TRIGGERED", "FINISHED", "CANCELED", "CANCELLED", "REJECTED", "EXPIRED"}
)
INF = math.inf


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except (InvalidOperation, ValueError):
        return Decimal(0)


def plain_orders(orders: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Matching-engine orders (``kind`` "order"), including those created by a triggered algo."""
    return [o for o in orders if o.get("kind") != "algo"]


def algo_orders(orders: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in orders if o.get("kind") == "algo"]


def since(orders: Iterable[Mapping[str, Any]], start_ms: int) -> list[Mapping[str, Any]]:
    """Orders created at or after ``start_ms`` on the exchange clock."""
    return [o for o in orders if int(o.get("createTime") or 0) >= start_ms]


def user_orders(orders: Iterable[Mapping[str, Any]], prefix: str = "") -> list[Mapping[str, Any]]:
    """Orders the client placed itself (not created by a triggered algo), optionally by id prefix."""
    return [
        o
        for o in plain_orders(orders)
        if o.get("algoId") in (None, "", 0) and str(o.get("clientOrderId", "")).startswith(prefix)
    ]


def duplicates(orders: Iterable[Mapping[str, Any]]) -> int:
    """Orders accepted more than once under one client id: Σ (count − 1), plain and algo orders."""
    orders = list(orders)
    plain = Counter(str(o.get("clientOrderId")) for o in user_orders(orders) if o.get("clientOrderId"))
    algos = Counter(str(o.get("clientAlgoId")) for o in algo_orders(orders) if o.get("clientAlgoId"))
    return sum(n - 1 for n in plain.values() if n > 1) + sum(n - 1 for n in algos.values() if n > 1)


@dataclass(frozen=True)
class Exposure:
    """Unprotected time of one position key (account, symbol, positionSide) on the exchange clock."""

    key: tuple[str, str, str]
    max_gap_ms: float  # the longest contiguous unprotected stretch
    total_ms: float  # all unprotected time added up
    open_ms: float  # how long the position was open at all


def _algo_end_ms(algo: Mapping[str, Any]) -> float:
    status = str(algo.get("status", ""))
    if status in _ALGO_ENDED:
        trigger = int(algo.get("triggerTime") or 0)
        return float(trigger or int(algo.get("updateTime") or 0))
    return INF


def exposures(orders: Sequence[Mapping[str, Any]], end_ms: int, start_ms: int = 0) -> list[Exposure]:
    """Unprotected stretches per position, from fills and algo lifetimes at or after ``start_ms``.

    A position is protected at time t when an algo order on the opposite side (SELL for a long,
    BUY for a short) of the same account, symbol and positionSide was accepted at or before t and had
    not yet ended (cancelled, triggered, rejected, expired). The position is assumed flat at
    ``start_ms`` (the runner flattens between runs); ``end_ms`` closes still-open stretches.
    """
    fills: dict[tuple[str, str, str], list[tuple[int, Decimal]]] = {}
    for order in plain_orders(orders):
        executed = _dec(order.get("executedQty"))
        at = int(order.get("updateTime") or order.get("createTime") or 0)
        if executed <= 0 or at < start_ms:
            continue
        key = (
            str(order.get("apiKey", "")),
            str(order.get("symbol", "")),
            str(order.get("positionSide", "BOTH")),
        )
        signed = executed if order.get("side") == "BUY" else -executed
        fills.setdefault(key, []).append((at, signed))
    stops: dict[tuple[str, str, str], list[tuple[float, float, str]]] = {}
    for algo in algo_orders(orders):
        begin = int(algo.get("createTime") or 0)
        end = _algo_end_ms(algo)
        if end < start_ms:
            continue
        key = (
            str(algo.get("apiKey", "")),
            str(algo.get("symbol", "")),
            str(algo.get("positionSide", "BOTH")),
        )
        stops.setdefault(key, []).append((float(begin), end, str(algo.get("side", ""))))
    result = []
    for key, rows in fills.items():
        rows.sort(key=lambda r: r[0])
        windows = stops.get(key, [])
        cuts = sorted(
            {float(t) for t, _ in rows}
            | {b for b, _, _ in windows}
            | {e for _, e, _ in windows if e != INF}
            | {float(end_ms)}
        )
        qty = Decimal(0)
        index = 0
        gap = longest = total = opened = 0.0
        for left, right in itertools.pairwise(cuts):
            while index < len(rows) and rows[index][0] <= left:
                qty += rows[index][1]
                index += 1
            span = right - left
            if qty == 0 or span <= 0:
                gap = 0.0 if qty == 0 else gap
                continue
            opened += span
            needed = "SELL" if qty > 0 else "BUY"
            covered = any(b <= left and e > left and side == needed for b, e, side in windows)
            if covered:
                gap = 0.0
            else:
                gap += span
                total += span
                longest = max(longest, gap)
        result.append(Exposure(key, longest, total, opened))
    return result


def max_unprotected_ms(orders: Sequence[Mapping[str, Any]], end_ms: int, start_ms: int = 0) -> float:
    return max((e.max_gap_ms for e in exposures(orders, end_ms, start_ms)), default=0.0)


def late_orders(
    orders: Iterable[Mapping[str, Any]],
    key_windows_ms: Sequence[tuple[float, float]],
    skew_ms: int = 0,
    allowance_ms: float = 2000,
    prefix: str = "tt-",
    *,
    exempt_reduce_only: bool = False,
) -> int:
    """Orders of ours that reached the exchange more than ``allowance_ms`` after every key.

    ``key_windows_ms``: wall-clock ``(from, to)`` per key: a hotkey's press (from = to), a CLI
    command's launch to exit. An order is on time when its ``createTime`` (the exchange clock, minus
    ``skew_ms``, the simulator's injected skew) lies in some ``[from, to + allowance_ms]``: the engine
    refuses a command that reaches it more than 2 s after its key, so an order outside every window
    is one the user no longer expects. Stops (algo orders) and what a triggered stop creates are not
    keys' orders; ``exempt_reduce_only`` leaves out reduce-only closes when the engine announced a
    safety action of its own (a close at market after -2021), which no key asked for.
    """
    windows = sorted(key_windows_ms)
    begins = [begin for begin, _ in windows]
    latest_end = list(itertools.accumulate((end for _, end in windows), max))  # over windows begun so far
    late = 0
    for order in user_orders(orders, prefix):
        if exempt_reduce_only and order.get("reduceOnly") in (True, "true"):
            continue
        at = int(order.get("createTime") or 0) - skew_ms
        begun = bisect.bisect_right(begins, at + 5)  # 5 ms: the two clocks round differently
        if not begun or latest_end[begun - 1] + allowance_ms < at:
            late += 1
    return late


Key = tuple[str, str, str]


def _position_key(order: Mapping[str, Any]) -> Key:
    """(account, symbol, positionSide): one position on the exchange."""
    return str(order.get("apiKey", "")), str(order.get("symbol", "")), str(order.get("positionSide", "BOTH"))


def _fills_by_key(orders: Sequence[Mapping[str, Any]]) -> dict[Key, list[tuple[int, Decimal]]]:
    fills: dict[Key, list[tuple[int, Decimal]]] = {}
    for order in plain_orders(orders):
        executed = _dec(order.get("executedQty"))
        if executed <= 0:
            continue
        at = int(order.get("updateTime") or order.get("createTime") or 0)
        signed = executed if order.get("side") == "BUY" else -executed
        fills.setdefault(_position_key(order), []).append((at, signed))
    for rows in fills.values():
        rows.sort(key=lambda r: r[0])
    return fills


def _episode(rows: Sequence[tuple[int, Decimal]], at: int) -> tuple[int, int]:
    """(episode number, sign) of the position at ``at``: the number changes whenever the position
    goes flat or flips side, so two stops of one episode protect the same position."""
    qty = Decimal(0)
    episode, sign = 0, 0
    for t, signed in rows:
        if t > at:
            break
        qty += signed
        now = (qty > 0) - (qty < 0)
        if now != sign:
            episode += 1
            sign = now
    return episode, sign


def looser_replacements(orders: Sequence[Mapping[str, Any]], prefix: str = "ttasl-") -> int:
    """STOP_MARKET stops of ours placed looser than the STOP_MARKET stop of ours before them for the
    same position ("a stop never loosens"): for a long (SELL stops) a lower trigger, for a short
    (BUY stops) a higher one. Same position = same account, symbol and positionSide, and the
    position neither went flat nor flipped between the two placements (from the fills on record).
    Trailing stops are not compared (their trigger moves with the market)."""
    orders = list(orders)
    fills = _fills_by_key(orders)
    stops: dict[Key, list[Mapping[str, Any]]] = {}
    for algo in algo_orders(orders):
        ours = str(algo.get("clientAlgoId", "")).startswith(prefix)
        if ours and str(algo.get("type")) == "STOP_MARKET":
            stops.setdefault(_position_key(algo), []).append(algo)
    looser = 0
    for key, rows in stops.items():
        rows.sort(key=lambda a: (int(a.get("createTime") or 0), int(a.get("algoId") or 0)))
        history = fills.get(key, [])
        for before, after in itertools.pairwise(rows):
            if before.get("side") != after.get("side"):
                continue
            first = _episode(history, int(before.get("createTime") or 0))
            second = _episode(history, int(after.get("createTime") or 0))
            if first != second or first[1] == 0:
                continue
            old, new = _dec(before.get("triggerPrice")), _dec(after.get("triggerPrice"))
            if (after.get("side") == "SELL" and new < old) or (after.get("side") == "BUY" and new > old):
                looser += 1
    return looser


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (p50 = median of an odd count); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process from /proc (Linux); 0 where it cannot be read."""
    path = f"/proc/{pid or os.getpid()}/statm"
    try:
        with open(path, encoding="ascii") as handle:
            resident_pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def rss_anon_bytes(pid: int | None = None) -> int:
    """The anonymous part of the resident set (heap, stacks: ``RssAnon`` in /proc/PID/status), without
    file-backed pages such as shared-library code touched for the first time; 0 where unknown."""
    try:
        with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def slope_per_minute(samples: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) samples, per minute; 0 for fewer than two samples."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    return cov / var * 60
