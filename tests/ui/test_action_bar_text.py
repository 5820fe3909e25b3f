"""What the action bar says and where it opens (pure: no display).

Every open position, the active one first with its uPnL coloured; facts dropped whole by
priority, positions counted when they do not fit; never a word cut in half; placed clear of the
panels and the notification corners.
"""

from __future__ import annotations

from decimal import Decimal

from traytrader.engine.api import EngineState, PositionSnapshot, Status
from traytrader.ui.action_bar import (
    GAIN,
    HEIGHT,
    LOSS,
    MARGIN,
    PANEL_GUESS,
    WIDTH,
    default_position,
    fit,
    lines,
)
from traytrader.ui.menu_model import UiState

D = Decimal
BTC = PositionSnapshot("BTCUSDT", D("0.002"), D("76929.6"), D("3.1234"), D("76936.1"), D("0.10"), D("0.001"))
ETH = PositionSnapshot("ETHUSDT", D("-1.5"), D("3000.12"), D("-12.5"), None, D("0.01"), D("0.001"))
SOL = PositionSnapshot("SOLUSDT", D("10"), D("180.12"), D("1.5"), None, D("0.01"), D("1"))


def ui(*positions: PositionSnapshot, symbol: str = "BTCUSDT", armed: bool = True) -> UiState:
    active = next((p for p in positions if p.symbol == symbol), None)
    status = Status(state=EngineState.READY, profile="btc-100", symbol=symbol,
                    position_qty=active.quantity if active else D(0), mark_price=D("76936.1"),
                    tick_size=D("0.10"), step_size=D("0.001"), positions=positions, last_latency_us=2100,
                    stop_tier=0 if active else None,
                    stop_text="BTCUSDT long: stop → 75,391.1 (hard, 2% below entry)" if active else "")
    return UiState(status=status, unlocked=True, armed=armed, active_profile="btc-100")


def texts(segments: list) -> list[str]:
    return [s.text for s in segments]


def test_the_active_position_leads_with_coloured_upnl_and_every_other_follows() -> None:
    first, second = lines(ui(BTC, ETH, SOL))
    assert texts(first) == ["BTCUSDT long 0.002 @ 76,929.6", "uPnL +3.12 USDT", "stop → 75,391.1 (hard)",
                            "mark 76,936.1"]
    assert first[1].colour == GAIN and first[0].priority == first[1].priority == 0
    assert texts(second) == ["ready · armed", "ETHUSDT short 1.500", "-12.50 USDT", "SOLUSDT long 10",
                             "+1.50 USDT", "btc-100", "last 2.1 ms"]
    assert second[2].colour == LOSS


def test_flat_active_symbol_still_lists_the_others() -> None:
    first, second = lines(ui(ETH, armed=False))
    assert texts(first)[0] == "BTCUSDT flat"
    assert texts(second)[:3] == ["ready · disarmed", "ETHUSDT short 1.500", "-12.50 USDT"]


def test_what_does_not_fit_is_dropped_whole_least_important_first() -> None:
    first, _ = lines(ui(BTC, ETH, SOL))
    everything = "  ".join(texts(first))
    assert texts(fit(first, len(everything))) == texts(first)
    assert texts(fit(first, len(everything) - 1)) == texts(first)[:3]             # the mark goes first
    assert texts(fit(first, 48)) == ["BTCUSDT long 0.002 @ 76,929.6", "uPnL +3.12 USDT"]
    narrow = fit(first, 20)                                                        # only the position,
    assert texts(narrow) == ["BTCUSDT long 0.002…"]                                # cut at a word


def test_positions_that_do_not_fit_are_counted_not_cut() -> None:
    _, second = lines(ui(BTC, ETH, SOL))
    shown = texts(fit(second, 66))
    assert shown == ["ready · armed", "ETHUSDT short 1.500", "-12.50 USDT", "+1 more position"]
    assert texts(fit(second, 80))[-2:] == ["SOLUSDT long 10", "+1.50 USDT"]   # before the profile
    assert texts(fit(second, 32)) == ["ready · armed", "+2 more positions"]
    for width in range(10, 120):
        kept = texts(fit(second, width))
        # a position is shown with its uPnL or not at all; no text is a fragment of a segment
        assert ("SOLUSDT long 10" in kept) == ("+1.50 USDT" in kept)
        assert all(t in texts(second) or t.startswith("+") or t.endswith("…") for t in kept)


def test_opens_bottom_left_of_the_work_area_clear_of_panels() -> None:
    # a known work area (a 32 px top panel, a 48 px bottom panel on 1920x1080)
    assert default_position((0, 32, 1920, 1000, True)) == (MARGIN, 32 + 1000 - HEIGHT - MARGIN)
    # unknown: keep room for a panel at the bottom
    x, y = default_position((0, 0, 1280, 800, False))
    assert (x, y) == (MARGIN, 800 - PANEL_GUESS - HEIGHT - MARGIN)
    assert x + WIDTH <= 1280 - 380      # the right-hand column where notifications appear stays free
