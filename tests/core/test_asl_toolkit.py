"""The toolkit's pure rules (``core/asl_toolkit.py``, ``core/asl_takeprofit.py``) with the real
BTCUSDT exchangeInfo filters: breakeven level with fees, partial-close rounding and its refusals,
risk-based size, take-profit levels long and short, and the take-profit manager leaving nothing
behind; plus a property: whatever breakeven, partial closes, adds and price moves come, the stop
the ladder relies on never loosens and never sits below the breakeven floor once it is set."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from asl_exchange_model import Harness
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from traytrader.core import asl
from traytrader.core.asl_takeprofit import CancelTakeProfit, PlaceTakeProfit, TakeProfits
from traytrader.core.asl_toolkit import (
    add_quantity,
    breakeven_price,
    breakeven_refusal,
    parse_fraction,
    partial_close_quantity,
    risk_amount,
    risk_notional,
    risk_quantity,
    take_profit_levels,
)
from traytrader.core.errors import CommandRefused
from traytrader.core.filters import parse_symbol_filters
from traytrader.core.models import PositionSide, TakeProfit

D = Decimal
REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "exchange_info"
BTC = parse_symbol_filters(json.loads(
    (REAL / "unattributed_PRODUCTION_btcusdt_symbol_entry_2026-09-15.json").read_text()))
# BTCUSDT, production: tick 0.1, MARKET step and minimum 0.001, MIN_NOTIONAL 50 USDT.
RATE = D("0.0005")


# --- breakeven ------------------------------------------------------------------------------------


@pytest.mark.parametrize("qty", [D("0.01"), D("-0.01"), D("0.537"), D("-2.5")])
@pytest.mark.parametrize("entry", [D("100000"), D("61234.5"), D("3.3")])
def test_breakeven_level_loses_nothing_and_one_tick_closer_would(qty: Decimal, entry: Decimal) -> None:
    fees_paid = abs(qty) * entry * RATE
    level = breakeven_price(qty, entry, fees_paid, RATE, BTC.tick_size)
    assert level % BTC.tick_size == 0
    d = 1 if qty > 0 else -1

    def net(exit_price: Decimal) -> Decimal:   # PnL of closing at exit_price, all fees paid
        return d * (exit_price - entry) * abs(qty) - fees_paid - RATE * exit_price * abs(qty)

    assert net(level) >= 0
    assert net(level - d * BTC.tick_size) < 0
    assert d * (level - entry) > 0


def test_breakeven_long_example() -> None:
    # 0.01 BTC at 100000: 0.5 USDT in, ~0.5 out; 1000.5 / 0.009995 = 100100.05... → up to 100100.1.
    assert breakeven_price(D("0.01"), D("100000"), D("0.5"), RATE, D("0.1")) == D("100100.1")
    assert breakeven_price(D("-0.01"), D("100000"), D("0.5"), RATE, D("0.1")) == D("99900.0")


def test_breakeven_refusals() -> None:
    level = D("100100.2")
    assert "not yet above" in breakeven_refusal(D("0.01"), level, D("100100.2"), D("98000"))
    assert "not yet below" in breakeven_refusal(D("-0.01"), D("99900"), D("99900"), D("102000"))
    assert "already at or better" in breakeven_refusal(D("0.01"), level, D("101000"), D("100500"))
    assert "no mark price" in breakeven_refusal(D("0.01"), level, None, None)
    assert breakeven_refusal(D("0.01"), level, D("100100.3"), D("98000")) is None
    assert breakeven_refusal(D("0.01"), level, D("101000"), None) is None
    with pytest.raises(CommandRefused):
        breakeven_price(D(0), D("100000"), D(0), RATE, D("0.1"))


# --- partial close --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("50%", D("0.5")), ("25", D("0.25")), ("0.5", D("0.5")),
                                             ("100%", D("1")), ("33.3%", D("0.333"))])
def test_parse_fraction(text: str, value: Decimal) -> None:
    assert parse_fraction(text) == value


@pytest.mark.parametrize("text", ["half", "0%", "150%", "-5", "nan", ""])
def test_parse_fraction_refuses_what_is_not_a_part(text: str) -> None:
    with pytest.raises(CommandRefused):
        parse_fraction(text)


def test_partial_close_rounds_down_to_the_step() -> None:
    part = partial_close_quantity(D("0.015"), D("0.5"), BTC, D("100000"))
    assert (part.quantity, part.remainder) == (D("0.007"), D("0.008"))
    short = partial_close_quantity(D("-0.015"), D("0.25"), BTC, D("100000"))
    assert (short.quantity, short.remainder) == (D("0.003"), D("0.012"))
    whole = partial_close_quantity(D("0.015"), D("1"), BTC, D("100000"))
    assert (whole.quantity, whole.remainder) == (D("0.015"), D(0))


def test_partial_close_refusals_offer_the_whole_close() -> None:
    with pytest.raises(CommandRefused, match=r"below the minimum quantity.*close the whole position"):
        partial_close_quantity(D("0.001"), D("0.5"), BTC, D("100000"))   # half of one step
    with pytest.raises(CommandRefused, match=r"minimum notional of 50.00 USDT; close the whole position"):
        partial_close_quantity(D("0.002"), D("0.5"), BTC, D("40000"))    # leaves 40 USDT


def test_add_quantity() -> None:
    assert add_quantity(D("0.015"), D("0.5"), BTC) == D("0.007")
    assert add_quantity(D("-0.01"), D("1"), BTC) == D("0.01")
    assert add_quantity(D("0.001"), D("0.5"), BTC) == 0


# --- risk-based size ------------------------------------------------------------------------------


def test_risk_size_is_risk_over_stop_distance_times_price() -> None:
    # 10 USDT at a 2% stop: 500 USDT of notional; at 61234.5 → 0.00816.. → 0.008 BTC.
    assert risk_notional(D("10"), D("2"), D("100000")) == D("500")
    qty = risk_quantity(D("10"), D("2"), D("61234.5"), BTC, D("100000"))
    assert qty == D("0.008")
    assert qty * D("61234.5") * D("0.02") <= 10 < (qty + D("0.001")) * D("61234.5") * D("0.02")


def test_risk_size_is_capped_by_max_notional() -> None:
    assert risk_notional(D("1000"), D("1"), D("2000")) == D("2000")
    assert risk_quantity(D("1000"), D("1"), D("100000"), BTC, D("2000")) == D("0.02")


def test_risk_below_the_minimum_says_what_risk_would_reach_it() -> None:
    # 0.5 USDT at 2%: 25 USDT, below BTCUSDT's 50 USDT minimum (0.001 BTC at 100000 = 100 USDT).
    with pytest.raises(CommandRefused) as refused:
        risk_quantity(D("0.5"), D("2"), D("100000"), BTC, D("100000"))
    assert "a risk of at least 2.00 USDT would reach it" in str(refused.value)
    assert risk_quantity(D("2"), D("2"), D("100000"), BTC, D("100000")) == D("0.001")


def test_risk_pct_needs_the_wallet() -> None:
    assert risk_amount(None, D("1"), D("2500")) == D("25")
    assert risk_amount(D("7"), None, None) == D("7")
    with pytest.raises(CommandRefused, match="wallet balance"):
        risk_amount(None, D("1"), None)


# --- take-profit ----------------------------------------------------------------------------------

TARGETS = (TakeProfit(D("2"), D("0.5")), TakeProfit(D("4"), D("0.5")))


def test_take_profit_levels_long_and_short() -> None:
    long = take_profit_levels(D("0.015"), D("61234.56"), TARGETS, BTC)
    assert [(x.trigger, x.quantity) for x in long] == [(D("62459.3"), D("0.007")), (D("63684.0"), D("0.007"))]
    short = take_profit_levels(D("-0.015"), D("61234.56"), TARGETS, BTC)
    assert [(x.trigger, x.quantity) for x in short] == [(D("60009.8"), D("0.007")),
                                                        (D("58785.1"), D("0.007"))]
    # Never more than the position in total.
    assert sum(x.quantity for x in take_profit_levels(D("0.003"), D("100"), TARGETS, BTC)) <= D("0.003")


def _tp() -> TakeProfits:
    return TakeProfits("BTCUSDT", PositionSide.BOTH, TARGETS, salt="t")


def test_take_profits_wait_for_the_stop_then_follow_and_leave_nothing() -> None:
    tp = _tp()
    assert tp.sync(D("0.02"), D("100000"), False, BTC, 1) == []            # no stop yet: nothing
    placed = tp.sync(D("0.02"), D("100000"), True, BTC, 2)
    assert [(a.level, a.quantity, a.trigger_price) for a in placed] == [
        (1, D("0.01"), D("102000.0")), (2, D("0.01"), D("104000.0"))]
    assert all(a.client_algo_id.startswith("ttasl-p") for a in placed)
    for a in placed:
        tp.on_place_result(a.client_algo_id, asl.Outcome.CONFIRMED)
    # TP 1 fires: the other level stays as it is (sized on the position before it fired).
    first, second = (a.client_algo_id for a in placed)
    tp.on_update(first, asl.AlgoStatus.FINISHED, D("0.01"))
    assert tp.sync(D("0.01"), D("100000"), True, BTC, 3) == []
    # Half of what is left is closed by hand: level 2 resized (cancelled, placed again).
    resized = tp.sync(D("0.005"), D("100000"), True, BTC, 4)
    assert [type(a) for a in resized] == [CancelTakeProfit, PlaceTakeProfit]
    assert resized[1].quantity == D("0.005") and resized[1].level == 2
    tp.on_cancel_result(second, asl.Outcome.CONFIRMED, None)
    tp.on_place_result(resized[1].client_algo_id, asl.Outcome.CONFIRMED)
    # Closed: every take-profit of ours is cancelled.
    gone = tp.sync(D(0), D(0), False, BTC, 5)
    assert gone == [CancelTakeProfit(resized[1].client_algo_id)]
    tp.on_cancel_result(resized[1].client_algo_id, asl.Outcome.REJECTED, -2011)
    assert tp.known() == frozenset()


def test_a_take_profit_placed_with_an_unknown_outcome_is_cancelled_not_left() -> None:
    tp = _tp()
    placed = tp.sync(D("0.02"), D("100000"), True, BTC, 1)
    out = tp.on_place_result(placed[0].client_algo_id, asl.Outcome.UNKNOWN)
    assert out == [CancelTakeProfit(placed[0].client_algo_id)]
    # The position closes while the other placement is in flight: cancelled once it answers.
    tp.sync(D(0), D(0), False, BTC, 2)
    assert tp.on_place_result(placed[1].client_algo_id, asl.Outcome.CONFIRMED) == \
        [CancelTakeProfit(placed[1].client_algo_id)]


def test_recovery_adopts_ours_with_a_position_and_cancels_them_without() -> None:
    tp = _tp()
    listed = {"ttasl-p2-t-abc-1": (D("0.01"), D("104000"))}
    assert tp.recover(listed, D("0.01"), 1) == []
    assert tp.done == {1}   # level 1 is not listed: it fired before the restart
    flat = _tp()
    assert flat.recover(listed, D(0), 1) == [CancelTakeProfit("ttasl-p2-t-abc-1")]


# --- the property ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["mark", "mark", "mark", "breakeven", "partial", "add"]),
                          st.integers(-300, 300)), min_size=1, max_size=80),
       st.sampled_from([1, -1]))
def test_the_stop_never_loosens_whatever_toolkit_keys_and_prices_come(steps, side):
    h = Harness(mark=D("100000"))
    h.now = 1_000
    h.fill(D("0.02") * side)
    h.drain()
    best: Decimal | None = None
    floor: Decimal | None = None
    for kind, move in steps:
        h.now += 1_000
        qty = h.exchange.position
        if kind == "mark":
            h.mark((h.exchange.mark * (1 + D(move) / 10_000)).quantize(D("0.1")))
        elif kind == "breakeven":
            level = breakeven_price(qty, h.ladder.entry, abs(qty) * h.ladder.entry * RATE, RATE, D("0.1"))
            if breakeven_refusal(qty, level, h.exchange.mark, h.ladder.effective_price()) is None:
                h.feed(asl.Floor(level, h.now))
                floor = level if floor is None or side * (level - floor) > 0 else floor
                event("breakeven set")
        elif kind == "partial":
            part = (abs(qty) * D("0.5")).quantize(D("0.001"), "ROUND_FLOOR")
            if 0 < part < abs(qty):
                h.fill(-part * side)
        elif abs(qty) < D("0.1"):
            h.fill(D("0.01") * side)
        h.tick()
        h.drain()
        if h.exchange.position == 0:
            break
        (stop,) = h.exchange.protective()
        assert stop.spec.quantity == abs(h.exchange.position)   # resized to the position
        level = h.exchange.best_level()
        assert best is None or side * (level - best) >= 0, f"loosened from {best} to {level}"
        assert floor is None or side * (level - floor) >= 0, f"below the breakeven floor {floor}"
        best = level
    if h.exchange.position:
        h.fill(-h.exchange.position)
        h.drain()
    assert h.exchange.stops == {}
