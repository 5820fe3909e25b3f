"""The harness's own arithmetic (``benchmarks/reliability/metrics.py``): duplicates, unprotected time
from the exchange's timestamps, percentiles, slopes. Example tables, each able to fail."""

from __future__ import annotations

from typing import Any

import pytest
from relkit import ROOT  # noqa: F401  (repo root on sys.path)

from benchmarks.reliability import metrics
from benchmarks.reliability.runner import Recorder, outages
from traytrader.engine.api import EngineState, StateChanged


def fill(t: int, side: str, qty: str = "0.01", cid: str = "tt-1", **kw: Any) -> dict[str, Any]:
    return {
        "kind": "order",
        "apiKey": "k",
        "symbol": "BTCUSDT",
        "positionSide": "BOTH",
        "side": side,
        "executedQty": qty,
        "status": "FILLED",
        "clientOrderId": cid,
        "createTime": t,
        "updateTime": t,
        "algoId": None,
        **kw,
    }


def algo(t0: int, side: str, status: str = "NEW", end: int = 0, cid: str = "sl-1") -> dict[str, Any]:
    return {
        "kind": "algo",
        "apiKey": "k",
        "symbol": "BTCUSDT",
        "positionSide": "BOTH",
        "side": side,
        "status": status,
        "clientAlgoId": cid,
        "createTime": t0,
        "updateTime": end or t0,
        "triggerTime": 0,
    }


@pytest.mark.parametrize(
    ("orders", "end", "expected"),
    [
        ([fill(100, "BUY"), algo(103, "SELL")], 1000, 3),  # one round trip to the stop
        ([fill(100, "BUY")], 1000, 900),  # never protected
        ([fill(100, "BUY"), algo(100, "BUY")], 1000, 900),  # wrong side protects nothing
        ([fill(100, "BUY"), algo(101, "SELL", "CANCELED", 500)], 1000, 500),  # stop gone at 500
        ([fill(100, "BUY"), algo(101, "SELL", "CANCELED", 500), algo(499, "SELL", cid="sl-2")], 1000, 1),
        ([fill(100, "BUY"), algo(101, "SELL"), fill(300, "SELL")], 1000, 1),  # closed at 300
        (
            [fill(100, "SELL"), algo(110, "BUY"), fill(200, "BUY"), fill(400, "BUY")],
            1000,
            600,
        ),  # reversed long
        ([], 1000, 0),
    ],
)
def test_max_unprotected(orders: list[dict[str, Any]], end: int, expected: float) -> None:
    assert metrics.max_unprotected_ms(orders, end) == expected


def test_longest_stretch_not_the_sum() -> None:
    orders = [fill(0, "BUY"), algo(10, "SELL", "CANCELED", 100), algo(130, "SELL")]
    [exposure] = metrics.exposures(orders, 1000)
    assert exposure.max_gap_ms == 30 and exposure.total_ms == 40 and exposure.open_ms == 1000


def test_orders_before_the_window_are_ignored() -> None:
    assert metrics.max_unprotected_ms([fill(50, "BUY"), fill(60, "SELL")], 1000, start_ms=100) == 0


def test_duplicates_count_client_ids_seen_twice_plain_and_algo() -> None:
    orders = [
        fill(1, "BUY", cid="a"),
        fill(2, "BUY", cid="a"),
        fill(3, "BUY", cid="a"),
        fill(4, "BUY", cid="b"),
        algo(1, "SELL", cid="s"),
        algo(2, "SELL", cid="s"),
        fill(5, "SELL", cid="s", algoId=7),
    ]  # the order a triggered algo created is not ours
    assert metrics.duplicates(orders) == 3
    assert len(metrics.user_orders(orders, "a")) == 3


def test_percentile_and_slope() -> None:
    assert metrics.percentile([], 50) is None
    assert metrics.percentile([5, 1, 3], 50) == 3
    assert metrics.percentile(list(range(1, 101)), 99) == 99
    assert metrics.slope_per_minute([(0, 10), (60, 10)]) == 0
    assert metrics.slope_per_minute([(0, 10), (30, 11), (60, 12)]) == pytest.approx(2)
    assert metrics.rss_bytes() > 0


def test_outages_pair_each_loss_with_the_next_ready() -> None:
    rec = Recorder()
    events = [
        (0.0, StateChanged("", state=EngineState.READY)),
        (1.0, StateChanged("", state=EngineState.CONNECTING)),
        (1.2, StateChanged("", state=EngineState.CONNECTING)),
        (1.5, StateChanged("", state=EngineState.READY)),
        (3.0, StateChanged("", state=EngineState.DISCONNECTED)),
    ]
    rec.events = list(events)
    assert outages(rec.since(0)) == [pytest.approx(500)]


def test_recorder_keeps_absolute_indexes_and_running_figures_across_trim() -> None:
    from traytrader.core.models import Side
    from traytrader.engine.api import OrderFilled

    rec = Recorder()
    rec(StateChanged("", state=EngineState.READY))
    rec(StateChanged("", state=EngineState.CONNECTING))
    rec(OrderFilled("filled", symbol="BTCUSDT", side=Side.BUY, client_order_id="tt-1"))
    rec.trim(rec.mark())
    assert rec.mark() == 3 and rec.since(0) == [] and rec.told == {"tt-1"}
    rec(StateChanged("", state=EngineState.READY))
    assert rec.mark() == 4 and len(rec.since(3)) == 1 and len(rec.outage_ms) == 1
    assert rec.wait(lambda e: isinstance(e, StateChanged), 0.1, after=3) is not None
    assert rec.wait(lambda e: isinstance(e, OrderFilled), 0.01, after=0) is None  # trimmed away


def stop(t0: int, side: str, trigger: str, cid: str, kind: str = "STOP_MARKET") -> dict[str, Any]:
    return {**algo(t0, side, cid=cid), "type": kind, "triggerPrice": trigger}


@pytest.mark.parametrize(
    ("orders", "expected"),
    [
        # long: hard stop 98, then a tighter 99 (trailing up), then back to a looser 97.5
        ([fill(100, "BUY"), stop(101, "SELL", "98", "ttasl-1"), stop(200, "SELL", "99", "ttasl-2"),
          stop(300, "SELL", "97.5", "ttasl-3")], 1),
        # short: a stop replaced by a higher (looser) one
        ([fill(100, "SELL"), stop(101, "BUY", "102", "ttasl-1"), stop(200, "BUY", "103", "ttasl-2")], 1),
        # only tighter: none
        ([fill(100, "SELL"), stop(101, "BUY", "102", "ttasl-1"), stop(200, "BUY", "101", "ttasl-2")], 0),
        # a new position after going flat may have any stop
        ([fill(100, "BUY"), stop(101, "SELL", "98", "ttasl-1"), fill(150, "SELL", cid="tt-2"),
          fill(160, "BUY", cid="tt-3"), stop(161, "SELL", "90", "ttasl-2")], 0),
        # not ours, or trailing stops: not compared
        ([fill(100, "BUY"), stop(101, "SELL", "98", "ttasl-1"), stop(200, "SELL", "90", "other-2")], 0),
        ([fill(100, "BUY"), stop(101, "SELL", "98", "ttasl-1"),
          stop(200, "SELL", "0", "ttasl-2", "TRAILING_STOP_MARKET")], 0),
    ],
)
def test_looser_replacements(orders: list[dict[str, Any]], expected: int) -> None:
    assert metrics.looser_replacements(orders, "ttasl-") == expected


def test_late_orders_are_those_outside_every_key_window() -> None:
    orders = [fill(1_000, "BUY", cid="tt-1"), fill(3_500, "BUY", cid="tt-2"),
              fill(9_000, "SELL", cid="tt-3", reduceOnly=True), fill(9_000, "BUY", cid="other")]
    keys = [(900.0, 900.0), (1_400.0, 1_400.0)]   # tt-2 is 2100 ms after the last key
    assert metrics.late_orders(orders, keys, 0, 2000, "tt-") == 2   # tt-2 and the unasked close
    assert metrics.late_orders(orders, keys, 0, 2000, "tt-", exempt_reduce_only=True) == 1
    assert metrics.late_orders(orders, [*keys, (3_000.0, 8_000.0)], 0, 2000, "tt-") == 0  # a CLI's lifetime
    assert metrics.late_orders(orders, [(k - 500, k - 500) for k, _ in keys], 500, 2000, "tt-") == 2  # skew
