"""One format per kind of number (core/display.py), and the front ends that use it.

Prices at the tick, quantities at the step, money with two decimals and its unit, thousands
separators everywhere; elision by priority, never mid-word.
"""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from traytrader.core import display
from traytrader.engine.api import Command, CommandKind, EngineState, PositionSnapshot, Status
from traytrader.ui.console import format_status, parse_line
from traytrader.ui.menu_model import UiState, open_positions, staying_text, tooltip

D = Decimal
BTC_TICK, BTC_STEP = D("0.10"), D("0.001")


def test_prices_quantities_and_money_each_have_one_format() -> None:
    assert display.price(D("76936.10000000"), BTC_TICK) == "76,936.1"
    assert display.price(D("76929.6"), BTC_TICK) == "76,929.6"
    assert display.price(D("75391"), BTC_TICK) == "75,391.0"
    assert display.price(D("0.051123"), D("0.00001")) == "0.05112"
    assert display.price(D("3000"), D("0.01")) == "3,000.00"
    assert display.price(D("104523.1")) == "104,523.1"           # no tick yet: its own digits
    assert display.quantity(D("0.0020"), BTC_STEP) == "0.002"
    assert display.quantity(D("1500"), D("1")) == "1,500"
    assert display.quantity(D("-0.5"), D("0.1")) == "-0.5"
    assert display.usdt(D("3.1249"), signed=True) == "+3.12 USDT"
    assert display.usdt(D("-12.5"), signed=True) == "-12.50 USDT"
    assert display.usdt(D("12345.678")) == "12,345.68 USDT"
    assert display.usdt(D("-0.001"), signed=True) == "0.00 USDT"   # never "-0.00", never "+0.00"
    assert display.pct(D("1.50")) == "1.5%"
    assert display.milliseconds(210) == "0.21 ms" and display.milliseconds(3200) == "3.2 ms"
    assert display.milliseconds(None) == "—"


def test_places_of_a_grid() -> None:
    assert [display.places(D(x)) for x in ("0.10", "0.001", "1", "10", "0.5", "1E-8")] == [1, 3, 0, 0, 1, 8]
    assert display.places(None) is None and display.places(D(0)) is None


def test_plural_agreement() -> None:
    assert display.plural(1, "key") == "1 key"
    assert display.plural(2, "key") == "2 keys"
    assert display.plural(0, "open position") == "0 open positions"


GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d+)?$")


@given(st.decimals(min_value=D("-1e12"), max_value=D("1e12"), allow_nan=False, allow_infinity=False,
                   places=8),
       st.sampled_from([D("0.1"), D("0.01"), D("0.00001"), D("1"), D("0.5")]))
def test_any_price_is_grouped_at_the_tick_within_half_a_tick(value: Decimal, tick: Decimal) -> None:
    text = display.price(value, tick)
    assert GROUPED.match(text), text
    decimals = len(text.partition(".")[2])
    assert decimals == display.places(tick)
    assert abs(D(text.replace(",", "")) - value) <= D(1).scaleb(-decimals) / 2


def test_elision_drops_whole_segments_by_priority_never_mid_word() -> None:
    segments = [("eth-limit", 3), ("ready", 2), ("BTCUSDT long 0.002 @ 76,929.6", 0), ("uPnL +3.12 USDT", 0),
                ("stop 75,391.1", 1), ("last 2.1 ms", 4)]
    everything = display.elide(segments, 1000)
    assert everything == [0, 1, 2, 3, 4, 5]
    narrow = display.elide(segments, 62)
    shown = [segments[i][0] for i in narrow]
    assert shown == ["BTCUSDT long 0.002 @ 76,929.6", "uPnL +3.12 USDT", "stop 75,391.1"]
    assert len("  ".join(shown)) <= 62
    assert [segments[i][0] for i in display.elide(segments, 60)][-1] == "uPnL +3.12 USDT"
    # the most important segment survives any width; shorten() cuts it at a word
    assert display.elide(segments, 5) == [2]
    assert display.shorten("BTCUSDT long 0.002 @ 76,929.6", 20) == "BTCUSDT long 0.002…"
    assert display.shorten("word", 10) == "word"


@given(st.lists(st.tuples(st.text("abc ", min_size=1, max_size=12), st.integers(0, 5)),
                min_size=1, max_size=8),
       st.integers(1, 80))
def test_elision_keeps_what_fits_and_the_most_important(segments: list[tuple[str, int]], width: int) -> None:
    kept = display.elide(segments, width)
    assert kept == sorted(kept)
    if kept:
        best = min(p for t, p in segments if t)
        assert any(segments[i][1] == best for i in kept)
        if len(kept) > 1:
            assert len("  ".join(segments[i][0] for i in kept)) <= width
        dropped = [i for i, (t, _) in enumerate(segments) if t and i not in kept]
        # whatever was dropped mattered no more than anything kept
        assert all(segments[d][1] >= max(segments[k][1] for k in kept) for d in dropped)


def status(**fields: object) -> Status:
    base: dict[str, object] = dict(state=EngineState.READY, profile="btc-100", symbol="BTCUSDT",
                                   tick_size=BTC_TICK, step_size=BTC_STEP)
    base.update(fields)
    return Status(**base)  # type: ignore[arg-type]


def test_console_status_line_uses_the_same_formats() -> None:
    line = format_status(status(position_qty=D("0.002"), entry_price=D("76929.6"),
                                unrealized_pnl=D("0.0130000"), mark_price=D("76936.10000000")))
    assert "position=0.002 entry=76,929.6 uPnL=\"+0.01 USDT\" mark=76,936.1" in line
    flat = format_status(status(mark_price=D("76936.10000000")))
    assert "position=0.000" in flat and "mark=76,936.1" in flat and "uPnL" not in flat


BOTH = (PositionSnapshot("BTCUSDT", D("0.002"), D("76929.6"), D("1.5"), None, BTC_TICK, BTC_STEP),
        PositionSnapshot("ETHUSDT", D("-1.5"), D("3000"), D("-3"), None, D("0.01"), D("0.001")))


def test_every_open_position_is_listed_and_the_active_symbol_first() -> None:
    snap = status(symbol="ETHUSDT", position_qty=D("-1.5"), positions=BOTH)
    assert [p.symbol for p in open_positions(snap)] == ["ETHUSDT", "BTCUSDT"]
    lines = tooltip(UiState(status=snap, unlocked=True, active_profile="eth")).splitlines()
    assert "also BTCUSDT long 0.002 (uPnL +1.50 USDT)" in lines
    assert 'others="BTCUSDT long 0.002 (uPnL +1.50 USDT)"' in format_status(snap)


def test_quitting_with_positions_says_they_stay_with_their_stops() -> None:
    assert staying_text(status()) == ""
    one = staying_text(status(position_qty=D("0.002"), entry_price=D("76929.6")))
    assert one.startswith("1 open position (BTCUSDT long 0.002) stays on the exchange with its stop")
    two = staying_text(status(positions=BOTH))
    assert two.startswith("2 open positions (BTCUSDT long 0.002, ETHUSDT short 1.500) stay on the exchange "
                          "with their stops")


def test_buy_and_sell_refuse_arguments_instead_of_ignoring_them() -> None:
    for line in ("buy 5", "b 0.01", "sell 2x", "flatten now", "reverse 1"):
        refusal = parse_line(line)
        assert isinstance(refusal, str) and refusal.startswith("error: nothing was sent"), line
    assert "takes no argument ('5')" in str(parse_line("buy 5"))
    buy = parse_line("buy")
    assert isinstance(buy, Command) and buy.kind is CommandKind.BUY
