"""The ASL ladder on real BTCUSDT series (long and short) and on hand-made situations."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from asl_exchange_model import (
    SERIES_1M_MAY08,
    SERIES_1M_MAY21,
    SERIES_5M_OCT10,
    Harness,
    candle_path,
    load_candles,
)

from traytrader.core import asl
from traytrader.core.models import AslSettings, AslTier, PositionSide, Side, WorkingType

D = Decimal
QTY = D("0.010")


# --- an independent reference for the series: the ideal ladder with instant placements ----------


@dataclass
class Reference:
    tier_at: dict[int, int] = field(default_factory=dict)   # tier -> candle index
    exit_index: int | None = None
    exit_price: Decimal | None = None


def reference(prices: list[tuple[int, Decimal]], entry: Decimal, d: int, settings: AslSettings) -> Reference:
    ref, tick = Reference(), D("0.1")
    raw = entry * (1 - d * settings.hard_stop_pct / 100)
    steps = (raw / tick).to_integral_value(rounding="ROUND_CEILING" if d > 0 else "ROUND_FLOOR")
    level, extreme, callback, tier = steps * tick, None, None, 0
    for index, price in prices:
        if extreme is not None:
            extreme = max(extreme, price) if d > 0 else min(extreme, price)
            level = extreme * (1 - d * callback / 100)
        if d * (price - level) <= 0:
            ref.exit_index, ref.exit_price = index, price
            return ref
        profit = d * (price - entry) / entry * 100
        reached = sum(1 for t in settings.tiers if profit >= t.profit_pct)
        if reached > tier:
            tier = reached
            candidate_cb = settings.tiers[tier - 1].callback_pct
            if d * (price * (1 - d * candidate_cb / 100) - level) > 0:
                extreme, callback, level = price, candidate_cb, price * (1 - d * candidate_cb / 100)
                ref.tier_at[tier] = index
    return ref


@dataclass
class Run:
    harness: Harness
    moves: list[tuple[int, asl.Notify]]
    exit_index: int | None
    exit_price: Decimal | None
    max_live: int


def run_series(path, entry_index: int, d: int, settings: AslSettings | None = None) -> tuple[Run, Reference]:
    candles = load_candles(path)
    entry_price = candles[entry_index].close
    h = Harness(settings, mark=entry_price)
    h.now = candles[entry_index].open_ms + 59_000
    h.fill(d * QTY)
    h.drain()
    prices = [(i, p) for i in range(entry_index + 1, len(candles)) for p in candle_path(candles[i])]
    ref = reference(prices, entry_price, d, h.settings)

    moves: list[tuple[int, asl.Notify]] = []
    seen = 0
    best: Decimal | None = None
    max_live = 0
    exit_index = exit_price = None
    confirmed_once = False
    for step, (index, price) in enumerate(prices):
        h.now = candles[index].open_ms + (step % 4) * 15_000
        h.mark(price)
        while h.queue:  # one delivery at a time, checking the invariants after each
            h.feed(h.queue.pop(0))
            live = h.exchange.protective()
            max_live = max(max_live, len(live))
            if h.exchange.position == 0:
                continue
            confirmed_once = confirmed_once or h.ladder.active_stop is not None
            if confirmed_once:
                assert 1 <= len(live) <= 2, f"{len(live)} live stops at candle {index}"
                if len(live) == 2:  # the overlap: the new one placed, the old one not yet cancelled
                    assert h.ladder.phase in (asl.StopPhase.REPLACING, asl.StopPhase.CANCELLING_OLD)
            level = h.exchange.best_level()
            if level is not None:
                assert best is None or d * (level - best) >= 0, f"the stop loosened at candle {index}"
                best = level
        h.tick()
        h.drain()
        for _, notice in h.notices[seen:]:
            if notice.kind is asl.NoticeKind.STOP_MOVED:
                moves.append((index, notice))
        seen = len(h.notices)
        if h.exchange.position == 0:
            exit_index, exit_price = index, h.exchange.fills[-1][1]
            break
    if h.exchange.position == 0:
        assert h.exchange.stops == {}, "stops left behind after the position closed"
    else:
        assert len(h.exchange.protective()) == 1
    return Run(h, moves, exit_index, exit_price, max_live), ref


SERIES = [
    # (path, entry at the close of this candle, direction, tiers reached, exits within the series)
    pytest.param(SERIES_1M_MAY21, 116, 1, {1, 2, 3}, True, id="may21-long-from-the-low"),     # +5.5%
    pytest.param(SERIES_1M_MAY21, 1534, -1, {1, 2, 3}, True, id="may21-short-from-the-high"),  # -4.2%
    pytest.param(SERIES_1M_MAY08, 108, 1, {1, 2, 3}, True, id="may08-long"),                   # +5.4%
    pytest.param(SERIES_1M_MAY08, 1171, -1, {1}, False, id="may08-short-after-the-peak"),      # -1.9%
    pytest.param(SERIES_5M_OCT10, 208, -1, {1, 2, 3}, True, id="oct10-short-the-crash"),       # -18%
    pytest.param(SERIES_5M_OCT10, 152, 1, set(), True, id="oct10-long-into-the-crash"),        # hard stop
    pytest.param(SERIES_5M_OCT10, 544, 1, set(), True, id="oct10-long-at-the-low-gaps"),       # slippage
]


@pytest.mark.parametrize(("path", "entry_index", "d", "tiers", "exits"), SERIES)
def test_real_series_tiers_exit_and_invariants(path, entry_index, d, tiers, exits):
    run, ref = run_series(path, entry_index, d)
    moved = {notice.tier: index for index, notice in run.moves if notice.tier > 0}
    assert set(moved) == tiers == set(ref.tier_at)
    assert moved == ref.tier_at, "tier changes at other candles than the series implies"
    assert run.exit_index == ref.exit_index and run.exit_price == ref.exit_price
    assert (run.exit_index is not None) == exits
    stopped = [n for _, n in run.harness.notices if n.kind is asl.NoticeKind.STOPPED_OUT]
    assert [n.exit_price for n in stopped] == ([ref.exit_price] if exits else [])
    assert run.max_live <= 2
    if not tiers:
        first = run.moves[0][1]
        assert first.tier == 0 and first.style is asl.StopStyle.STOP_MARKET


def test_series_entry_points_match_the_documented_moves():
    may21 = load_candles(SERIES_1M_MAY21)
    assert may21[116].low == D("106085.3") and may21[1534].high == D("111959.5")
    oct10 = load_candles(SERIES_5M_OCT10)
    assert oct10[152].high == D("123740.1")


# --- hand-made situations -----------------------------------------------------------------------


def ladder(settings: AslSettings | None = None, side: PositionSide = PositionSide.BOTH) -> asl.Ladder:
    return asl.Ladder("BTCUSDT", side, settings or AslSettings(), D("0.1"))


def places(actions) -> list[asl.StopSpec]:
    return [a.spec for a in actions if isinstance(a, asl.PlaceStop)]


def cancels(actions) -> list[str]:
    return [a.client_algo_id for a in actions if isinstance(a, asl.CancelStop)]


def opened(lad: asl.Ladder, qty: str | Decimal = "0.01", entry: str | Decimal = "100000",
           now: int = 1000) -> asl.StopSpec:
    qty, entry = D(qty), D(entry)
    lad.handle(asl.MarkPrice(entry, now))
    (spec,) = places(lad.handle(asl.PositionUpdate(qty, entry, now)))
    return spec


def fixed_listing(client_algo_id: str, trigger: str, side: Side = Side.SELL) -> asl.ExistingStop:
    return asl.ExistingStop(client_algo_id, side, asl.StopStyle.STOP_MARKET, D("0.01"), D(trigger))


def confirm(lad: asl.Ladder, spec: asl.StopSpec, now: int) -> list:
    return lad.handle(asl.PlaceResult(spec.client_algo_id, asl.Outcome.CONFIRMED, now))


@pytest.mark.parametrize(("qty", "side", "trigger"), [
    (D("0.01"), Side.SELL, D("98000")), (D("-0.01"), Side.BUY, D("102000"))])
def test_hard_stop_on_fill_two_percent_against_entry(qty, side, trigger):
    lad = ladder()
    spec = opened(lad, qty)
    assert (spec.side, spec.style, spec.trigger_price, spec.quantity, spec.tier) == \
        (side, asl.StopStyle.STOP_MARKET, trigger, D("0.01"), 0)
    assert spec.client_algo_id.startswith("ttasl-h0-") and len(spec.client_algo_id) <= 36
    assert lad.phase is asl.StopPhase.PLACING
    out = confirm(lad, spec, 1010)
    assert lad.phase is asl.StopPhase.PROTECTED
    (note,) = [a for a in out if isinstance(a, asl.Notify)]
    assert note.text == f"BTCUSDT {'long' if qty > 0 else 'short'}: stop → {trigger:,.1f} (hard, 2% " \
        f"{'below' if qty > 0 else 'above'} entry)"


def test_trigger_rounds_towards_the_market():
    lad = ladder()
    spec = opened(lad, D("0.01"), D("100000.35"))  # 98000.343 → 98000.4 for a long
    assert spec.trigger_price == D("98000.4")
    short = ladder()
    spec = opened(short, D("-0.01"), D("100000.35"))  # 102000.357 → 102000.3 for a short
    assert spec.trigger_price == D("102000.3")


def test_upgrade_is_make_before_break_and_text_names_the_tier():
    lad = ladder()
    hard = opened(lad)
    confirm(lad, hard, 1010)
    out = lad.handle(asl.MarkPrice(D("102000"), 2000))  # +2%: straight to tier 2
    (trail,) = places(out)
    assert cancels(out) == [] and lad.phase is asl.StopPhase.REPLACING
    assert (trail.style, trail.callback_pct, trail.tier) == (asl.StopStyle.TRAILING, D("1.50"), 2)
    # confirmed by the user-data stream before the response arrives
    out = lad.handle(asl.AlgoUpdate(trail.client_algo_id, asl.AlgoStatus.NEW, 2010))
    assert cancels(out) == [hard.client_algo_id]
    texts = [a.text for a in out if isinstance(a, asl.Notify)]
    assert texts == ["BTCUSDT long: stop → trailing 1.5% (tier 2)"]
    assert lad.phase is asl.StopPhase.CANCELLING_OLD
    late = asl.PlaceResult(trail.client_algo_id, asl.Outcome.CONFIRMED, 2011)
    assert lad.handle(late) == []  # the response arrives late: nothing more to do
    lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.CONFIRMED, 2020))
    assert lad.phase is asl.StopPhase.PROTECTED and lad.active_stop == trail


def test_tiers_only_move_forward_and_come_from_the_settings():
    settings = AslSettings(hard_stop_pct=D("3"),
                           tiers=(AslTier(D("0.5"), D("0.8")), AslTier(D("3"), D("0.3"))))
    lad = ladder(settings)
    hard = opened(lad)
    assert hard.trigger_price == D("97000")
    confirm(lad, hard, 1010)
    (t1,) = places(lad.handle(asl.MarkPrice(D("100500"), 2000)))
    assert (t1.tier, t1.callback_pct) == (1, D("0.80"))
    confirm(lad, t1, 2010)
    lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.CONFIRMED, 2020))
    assert places(lad.handle(asl.MarkPrice(D("100100"), 3000))) == []  # profit fell: no step back
    assert lad.tier == 1 and lad.active_stop == t1


def test_a_worse_stop_is_never_placed():
    """Tier 2's 1.5% trail from 101000 (99485) is worse than tier 1's trail from a 102000 peak
    (99960): not placed until the mark makes it better."""
    settings = AslSettings(tiers=(AslTier(D("1"), D("2")), AslTier(D("3"), D("1.5"))))
    lad = ladder(settings)
    confirm(lad, hard := opened(lad), 1010)
    (t1,) = places(lad.handle(asl.MarkPrice(D("102000"), 2000)))
    confirm(lad, t1, 2010)
    lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.CONFIRMED, 2020))
    assert places(lad.handle(asl.MarkPrice(D("103100"), 3000)))  # tier 2 and better: placed
    lad2 = ladder(settings)
    confirm(lad2, hard := opened(lad2), 1010)
    (t1,) = places(lad2.handle(asl.MarkPrice(D("102000"), 2000)))
    confirm(lad2, t1, 2010)
    lad2.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.CONFIRMED, 2020))
    lad2.handle(asl.MarkPrice(D("108000"), 2500))  # peak: trail at 105840
    assert lad2.tier == 2
    # the tier-2 candidate from 103000 would be 101455: worse than 105840, so nothing is placed
    assert places(lad2.handle(asl.MarkPrice(D("103000"), 3000))) == []
    assert lad2.effective_price() == D("108000") * D("0.98")


def test_failed_placement_keeps_the_old_stop_and_retries_with_backoff():
    lad = ladder()
    confirm(lad, hard := opened(lad), 1010)
    (t1,) = places(lad.handle(asl.MarkPrice(D("101000"), 2000)))
    out = lad.handle(asl.PlaceResult(t1.client_algo_id, asl.Outcome.REJECTED, 2010, -1008, "throttled"))
    assert cancels(out) == [] and lad.active_stop == hard
    assert any(isinstance(a, asl.Notify) and a.kind is asl.NoticeKind.WARNING for a in out)
    assert places(lad.handle(asl.Tick(2200))) == []           # backoff 250 ms
    (again,) = places(lad.handle(asl.Tick(2260)))
    lad.handle(asl.PlaceResult(again.client_algo_id, asl.Outcome.REJECTED, 2270, -1008))
    assert places(lad.handle(asl.Tick(2700))) == []           # then 500 ms
    assert places(lad.handle(asl.Tick(2770)))


def test_unknown_cancel_is_reconciled_by_client_id():
    lad = ladder()
    confirm(lad, hard := opened(lad), 1010)
    (t1,) = places(lad.handle(asl.MarkPrice(D("101000"), 2000)))
    confirm(lad, t1, 2010)
    out = lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.UNKNOWN, 2020))
    assert [type(a) for a in out] == [asl.QueryStops]
    still = fixed_listing(hard.client_algo_id, "98000")
    listed = asl.ExistingStop(t1.client_algo_id, Side.SELL, asl.StopStyle.TRAILING, D("0.01"),
                              callback_pct=D("2"))
    out = lad.handle(asl.OpenStops((still, listed), 2030, 2040))
    assert cancels(out) == [hard.client_algo_id]               # still there: cancel again
    assert lad.phase is asl.StopPhase.CANCELLING_OLD
    lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.UNKNOWN, 2050))
    out = lad.handle(asl.OpenStops((listed,), 2060, 2070))     # the old one is gone after all
    assert hard.client_algo_id not in lad.known_ids() and lad.phase is asl.StopPhase.PROTECTED


def test_unknown_placement_is_confirmed_by_a_snapshot():
    lad = ladder()
    hard = opened(lad)
    out = lad.handle(asl.PlaceResult(hard.client_algo_id, asl.Outcome.UNKNOWN, 1100))
    assert [type(a) for a in out] == [asl.QueryStops]
    listed = fixed_listing(hard.client_algo_id, "98000")
    lad.handle(asl.OpenStops((listed,), 1110, 1120))
    assert lad.phase is asl.StopPhase.PROTECTED and lad.active_stop == hard


def test_unknown_placement_absent_from_the_snapshot_is_placed_again():
    lad = ladder()
    hard = opened(lad)
    lad.handle(asl.PlaceResult(hard.client_algo_id, asl.Outcome.UNKNOWN, 1100))
    (again,) = places(lad.handle(asl.OpenStops((), 1110, 1120)))
    assert again.client_algo_id != hard.client_algo_id and again.trigger_price == hard.trigger_price


def test_adding_resizes_and_partial_close_resizes():
    lad = ladder()
    confirm(lad, hard := opened(lad), 1010)
    lad.handle(asl.MarkPrice(D("100500"), 1500))
    # add 0.01 at 100500 → entry 100250 → hard 98245 (tighter than 98000): new size, new price
    (bigger,) = places(lad.handle(asl.PositionUpdate(D("0.02"), D("100250"), 2000)))
    assert (bigger.quantity, bigger.trigger_price) == (D("0.02"), D("98245"))
    assert cancels(confirm(lad, bigger, 2010)) == [hard.client_algo_id]
    lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.CONFIRMED, 2020))
    # add at a lower price → entry 99500 → 97510 would loosen: the stop is held at 98245
    lad.handle(asl.MarkPrice(D("99000"), 2500))
    (held,) = places(lad.handle(asl.PositionUpdate(D("0.04"), D("99625"), 3000)))
    assert (held.quantity, held.trigger_price, held.label) == (D("0.04"), D("98245"), "held")
    assert cancels(confirm(lad, held, 3010)) == [bigger.client_algo_id]
    lad.handle(asl.CancelResult(bigger.client_algo_id, asl.Outcome.CONFIRMED, 3020))
    (smaller,) = places(lad.handle(asl.PositionUpdate(D("0.01"), D("99625"), 4000)))  # partial close
    assert smaller.quantity == D("0.01") and smaller.trigger_price == D("98245")


def test_resizing_a_trailing_stop_holds_its_level():
    lad = ladder()
    confirm(lad, hard := opened(lad), 1010)
    (t1,) = places(lad.handle(asl.MarkPrice(D("101000"), 2000)))
    confirm(lad, t1, 2010)
    lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.CONFIRMED, 2020))
    lad.handle(asl.MarkPrice(D("101900"), 2500))     # trail: 101900 * 0.98 = 99862
    lad.handle(asl.MarkPrice(D("101500"), 2600))
    (held,) = places(lad.handle(asl.PositionUpdate(D("0.02"), D("100750"), 3000)))
    assert (held.style, held.trigger_price, held.tier) == (asl.StopStyle.STOP_MARKET, D("99862"), 1)
    confirm(lad, held, 3010)
    lad.handle(asl.CancelResult(t1.client_algo_id, asl.Outcome.CONFIRMED, 3020))
    # once a fresh 2% trail from the mark beats the held level, the trailing stop returns
    assert places(lad.handle(asl.MarkPrice(D("101800"), 3500))) == []   # 99764 < 99862
    (trail,) = places(lad.handle(asl.MarkPrice(D("102000"), 3600)))    # 99960 > 99862
    assert trail.style is asl.StopStyle.TRAILING and trail.quantity == D("0.02")


def test_reverse_replaces_the_whole_ladder_and_close_leaves_no_stop():
    lad = ladder()
    confirm(lad, hard := opened(lad), 1010)
    out = lad.handle(asl.PositionUpdate(D("-0.01"), D("99000"), 2000))
    assert cancels(out) == [hard.client_algo_id]
    (short,) = places(out)
    assert (short.side, short.trigger_price) == (Side.BUY, D("100980"))
    out = lad.handle(asl.PositionUpdate(D("0"), D("0"), 2100))   # closed by hand before confirmation
    assert lad.phase is asl.StopPhase.IDLE and cancels(out) == []
    assert cancels(confirm(lad, short, 2110)) == [short.client_algo_id]  # cancelled once it lands
    lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.CONFIRMED, 2120))
    lad.handle(asl.CancelResult(short.client_algo_id, asl.Outcome.REJECTED, 2130, -2011))
    assert lad.known_ids() == frozenset()


def test_watchdog_safety_stop_when_placement_hangs():
    lad = ladder()
    hard = opened(lad, now=1000)
    assert places(lad.handle(asl.Tick(2500))) == []
    (safety,) = places(lad.handle(asl.Tick(3000)))            # grace 2000 ms
    assert (safety.label, safety.tier, safety.trigger_price) == ("safety", -1, D("90000"))
    out = confirm(lad, safety, 3010)
    assert any(isinstance(a, asl.Notify) and a.kind is asl.NoticeKind.SAFETY for a in out)
    assert lad.phase is asl.StopPhase.REPLACING                # the hard stop is still in flight
    assert cancels(confirm(lad, hard, 3020)) == [safety.client_algo_id]   # the better one stays


def test_a_hard_stop_that_would_trigger_closes_the_position_at_once():
    """The price is already through the hard stop (-2021): what the stop would have done is done
    now, a reduce-only close, rather than waiting for the 10% safety stop (issue 12, item 7)."""
    lad = ladder()
    hard = opened(lad, now=1000)
    lad.handle(asl.MarkPrice(D("85000"), 1100))
    out = lad.handle(asl.PlaceResult(hard.client_algo_id, asl.Outcome.REJECTED, 1110, -2021))
    closes = [a for a in out if isinstance(a, asl.ClosePosition)]
    assert closes == [asl.ClosePosition("BTCUSDT", PositionSide.BOTH, D("0.01"))]
    assert lad.phase is asl.StopPhase.CLOSING and places(out) == []
    (note,) = [a for a in out if isinstance(a, asl.Notify)]
    assert note.kind is asl.NoticeKind.SAFETY and "closed at market" in note.text and "hard stop" in note.text
    lad.handle(asl.CloseResult(asl.Outcome.CONFIRMED, 1150))
    assert places(lad.handle(asl.Tick(1200))) == []            # no stop for a position being closed
    lad.handle(asl.PositionUpdate(D("0"), D("0"), 1160))
    assert lad.phase is asl.StopPhase.IDLE


def test_a_close_that_leaves_part_of_the_position_protects_the_rest_after_the_grace():
    lad = ladder()
    hard = opened(lad, now=1000)
    lad.handle(asl.MarkPrice(D("85000"), 1100))
    lad.handle(asl.PlaceResult(hard.client_algo_id, asl.Outcome.REJECTED, 1110, -2021))
    lad.handle(asl.CloseResult(asl.Outcome.CONFIRMED, 1150))
    lad.handle(asl.PositionUpdate(D("0.004"), D("100000"), 1160))
    assert lad.phase is not asl.StopPhase.CLOSING        # never stuck closing (issue 12, item 9)
    later = places(lad.handle(asl.Tick(1150 + 2000)))
    assert later and later[0].quantity == D("0.004")


def test_recovery_adopts_our_stops_and_continues_at_the_profit_tier():
    lad = ladder()
    ours = asl.ExistingStop("ttasl-t1-abcd-lx0-1", Side.SELL, asl.StopStyle.TRAILING, D("0.01"),
                            callback_pct=D("2"))
    theirs = asl.ExistingStop("web_123", Side.SELL, asl.StopStyle.STOP_MARKET, D("0.01"), D("90000"))
    out = lad.handle(asl.Recover(D("0.01"), D("100000"), D("104500"), (ours, theirs), 5000))
    assert lad.tier == 3 and lad.active_stop is not None
    (upgrade,) = places(out)
    assert (upgrade.tier, upgrade.callback_pct) == (3, D("1.00"))
    assert cancels(out) == []                                   # never someone else's order
    assert cancels(confirm(lad, upgrade, 5010)) == [ours.client_algo_id]


def test_recovery_cancels_our_stops_of_a_closed_position_and_ignores_external_positions():
    lad = ladder()
    orphan = fixed_listing("ttasl-h0-abcd-lx0-2", "98000")
    out = lad.handle(asl.Recover(D("0"), D("0"), D("100000"), (orphan,), 5000))
    assert cancels(out) == [orphan.client_algo_id]
    external = ladder()
    assert external.handle(asl.Recover(D("0.5"), D("100000"), D("100000"), (), 5000)) == []
    assert external.phase is asl.StopPhase.IDLE
    adopting = ladder(AslSettings(protect_external_positions=True))
    (spec,) = places(adopting.handle(asl.Recover(D("0.5"), D("100000"), D("100000"), (), 5000)))
    assert spec.quantity == D("0.5")


def test_stopped_out_then_closed_leaves_nothing():
    lad = ladder()
    confirm(lad, hard := opened(lad), 1010)
    lad.handle(asl.AlgoUpdate(hard.client_algo_id, asl.AlgoStatus.TRIGGERED, 2000))
    finished = asl.AlgoUpdate(hard.client_algo_id, asl.AlgoStatus.FINISHED, 2001, D("97990"), D("0.01"))
    out = lad.handle(finished)
    assert places(out) == []                     # waits for the position update, no stray stop
    (note,) = [a for a in out if isinstance(a, asl.Notify)]
    assert note.kind is asl.NoticeKind.STOPPED_OUT and note.exit_price == D("97990")
    assert lad.handle(asl.PositionUpdate(D("0"), D("0"), 2002)) == []
    assert lad.phase is asl.StopPhase.IDLE and lad.known_ids() == frozenset()


def test_working_type_comes_from_settings_and_hedge_side_is_kept():
    lad = ladder(AslSettings(working_type=WorkingType.CONTRACT_PRICE), PositionSide.SHORT)
    spec = opened(lad, D("-0.01"))
    assert spec.position_side is PositionSide.SHORT and spec.position_qty == D("-0.01")
    assert lad.settings.working_type is WorkingType.CONTRACT_PRICE


def test_malformed_input_raises_and_changes_nothing():
    lad = ladder()
    confirm(lad, opened(lad), 1010)
    before = (lad.phase, lad.known_ids(), lad.active_stop)
    with pytest.raises(ValueError):
        lad.handle(asl.MarkPrice(D("-1"), 2000))
    with pytest.raises(ValueError):
        lad.handle(asl.PositionUpdate(D("0.01"), D("0"), 2000))
    assert (lad.phase, lad.known_ids(), lad.active_stop) == before


def test_an_unexpected_transition_keeps_the_input_and_reconciles(monkeypatch):
    lad = ladder()
    confirm(lad, hard := opened(lad), 1010)
    # Forbid PROTECTED → REPLACING on a mark price: the input still applies (nothing from the
    # exchange is dropped) and a snapshot of the open stops is asked for.
    monkeypatch.setitem(asl.TRANSITIONS, (asl.StopPhase.PROTECTED, asl.MarkPrice),
                        frozenset({asl.StopPhase.PROTECTED}))
    out = lad.handle(asl.MarkPrice(D("101000"), 2000))
    assert "from protected to replacing" in lad.unexpected
    assert asl.QueryStops("BTCUSDT") in out and len(places(out)) == 1
    assert lad.phase is asl.StopPhase.REPLACING and hard.client_algo_id in lad.known_ids()
    assert lad.tier == 1


def test_transition_table_covers_every_phase_and_input():
    kinds = (asl.PositionUpdate, asl.MarkPrice, asl.AlgoUpdate, asl.PlaceResult, asl.CancelResult,
             asl.CloseResult, asl.OpenStops, asl.Tick, asl.Recover)
    for phase in asl.StopPhase:
        for kind in kinds:
            assert phase in asl.TRANSITIONS[(phase, kind)] or kind is asl.Recover
    assert asl.StopPhase.CLOSING not in asl.TRANSITIONS[(asl.StopPhase.PROTECTED, asl.MarkPrice)]


def test_reconnect_keeps_protecting_our_position_and_ignores_older_snapshots():
    lad = ladder()
    hard = opened(lad, now=1000)
    lad.handle(asl.PlaceResult(hard.client_algo_id, asl.Outcome.UNKNOWN, 1500))   # lost with the link
    # the engine reconnects: the stop never reached the exchange; the position is still ours
    (again,) = places(lad.handle(asl.Recover(D("0.01"), D("100000"), D("100000"), (), 1600)))
    assert lad.phase is asl.StopPhase.PLACING and again.trigger_price == hard.trigger_price
    # still watched from the first fill: 2 s after it (not after the reconnect) the hard stop's
    # retry goes out with the safety stop beside it
    lad.handle(asl.PlaceResult(again.client_algo_id, asl.Outcome.REJECTED, 1700, -1008))
    assert [s.label for s in places(lad.handle(asl.Tick(2900)))] == ["hard"]
    assert [s.label for s in places(lad.handle(asl.Tick(3000)))] == ["safety"]
    # a snapshot asked for before the reconnect lists a stop since cancelled: ignored
    stale = fixed_listing("ttasl-h0-zzzz-old-9", "97000")
    assert lad.handle(asl.OpenStops((stale,), 1550, 3100)) == []
    assert "ttasl-h0-zzzz-old-9" not in lad.known_ids()


def test_a_stop_that_landed_late_is_adopted_and_one_of_the_two_cancelled():
    lad = ladder()
    first = opened(lad, now=1000)
    lad.handle(asl.PlaceResult(first.client_algo_id, asl.Outcome.UNKNOWN, 1100))
    (second,) = places(lad.handle(asl.OpenStops((), 1150, 1200)))       # not there (yet): placed again
    confirm(lad, second, 1300)
    listed = (fixed_listing(first.client_algo_id, "98000"), fixed_listing(second.client_algo_id, "98000"))
    out = lad.handle(asl.OpenStops(listed, 1400, 1500))                  # the first one landed after all
    assert len(cancels(out)) == 1 and lad.phase is asl.StopPhase.CANCELLING_OLD
    assert lad.active_stop is not None and lad.active_stop.client_algo_id not in cancels(out)


def test_rejection_by_algo_update_before_the_answer_retries():
    lad = ladder()
    hard = opened(lad, now=1000)
    rejected = asl.AlgoUpdate(hard.client_algo_id, asl.AlgoStatus.REJECTED, 1010, reason="Reduce Only reject")
    out = lad.handle(rejected)
    assert any(isinstance(a, asl.Notify) and "Reduce Only reject" in a.text for a in out)
    assert lad.phase is asl.StopPhase.UNPROTECTED and places(lad.handle(asl.Tick(1300)))


def test_failed_close_is_reported_and_the_watchdog_tries_again():
    lad = ladder()
    hard = opened(lad, now=1000)
    lad.handle(asl.MarkPrice(D("85000"), 1100))
    lad.handle(asl.PlaceResult(hard.client_algo_id, asl.Outcome.REJECTED, 1110, -2021))
    out = lad.handle(asl.CloseResult(asl.Outcome.REJECTED, 3020, -1008, "throttled"))
    assert lad.phase in (asl.StopPhase.UNPROTECTED, asl.StopPhase.PLACING)
    assert any(isinstance(a, asl.Notify) and "closing the position failed" in a.text for a in out)


def test_an_external_position_becomes_ours_when_we_add_to_it():
    lad = ladder()
    assert lad.handle(asl.PositionUpdate(D("0.5"), D("100000"), 1000, ours=False)) == []
    (spec,) = places(lad.handle(asl.PositionUpdate(D("0.6"), D("100000"), 2000, ours=True)))
    assert spec.quantity == D("0.6") and lad.phase is asl.StopPhase.PLACING


def test_something_that_is_not_an_input_is_refused():
    with pytest.raises(ValueError):
        ladder().handle(object())  # type: ignore[arg-type]


def test_disabled_asl_places_nothing():
    lad = ladder(AslSettings(enabled=False))
    lad.handle(asl.MarkPrice(D("100000"), 1000))
    assert lad.handle(asl.PositionUpdate(D("0.01"), D("100000"), 1000)) == []
    assert lad.handle(asl.Tick(5000)) == [] and lad.phase is asl.StopPhase.IDLE


def test_the_stop_table_answers_every_status_and_event():
    """h11's rule: every input is valid in every state; nothing is left undefined."""
    from traytrader.core.asl_table import STOP_TABLE, StopEvent, StopStatus

    assert set(STOP_TABLE) == {(status, event) for status in StopStatus for event in StopEvent}
    # A firing stop stays firing whatever else arrives: the exchange is closing the position.
    assert {STOP_TABLE[(StopStatus.FIRING, event)][0] for event in StopEvent} == {StopStatus.FIRING}


def test_an_unexpected_stop_event_is_applied_and_reconciled():
    lad = ladder()
    hard = opened(lad, now=1000)
    confirm(lad, hard, 1010)
    # A cancel result for a stop we never asked to cancel: ignored; a second ALGO_UPDATE NEW
    # for a live stop is a duplicate (expected). A CANCEL failure report for a live stop is not.
    out = lad.handle(asl.CancelResult(hard.client_algo_id, asl.Outcome.REJECTED, 1020, -1000))
    assert out == [] and lad.unexpected == ""
    out = lad.handle(asl.AlgoUpdate(hard.client_algo_id, asl.AlgoStatus.TRIGGERING, 1030))
    assert lad.phase is asl.StopPhase.PROTECTED and lad.unexpected == ""


def test_an_addition_that_puts_the_average_entry_past_its_stop_closes_the_whole_position():
    """Found by the model test: a short of 0.002 stopped at 98,042.8 doubles at a lower price,
    so 2% above the new average is below the market. The tighter stop is refused with -2021:
    the whole position is closed at market, never left with a stop for half of it."""
    lad = ladder()
    first = opened(lad, "-0.002", "96120.4")
    confirm(lad, first, 1010)
    lad.handle(asl.MarkPrice(D("97500"), 1100))
    (resize,) = places(lad.handle(asl.PositionUpdate(D("-0.004"), D("95399.5"), 1200)))
    assert resize.quantity == D("0.004") and resize.trigger_price < D("97500")
    out = lad.handle(asl.PlaceResult(resize.client_algo_id, asl.Outcome.REJECTED, 1210, -2021))
    assert [a for a in out if isinstance(a, asl.ClosePosition)] == [
        asl.ClosePosition("BTCUSDT", PositionSide.BOTH, D("0.004"))]
    assert lad.phase is asl.StopPhase.CLOSING


def test_a_reconnect_during_a_better_replacement_lets_it_land_and_keeps_the_better_stop():
    """F16 (the reliability harness): a resync while a better stop was on its way retired it and
    kept the worse one; the better was cancelled when it landed and placed again, over and over.
    A placement still in flight for the same position now goes on."""
    lad = ladder()
    old = opened(lad, "0.01", "100000", now=1000)
    confirm(lad, old, 1010)
    (better,) = places(lad.handle(asl.PositionUpdate(D("0.01"), D("100050"), 1100)))
    assert better.trigger_price > old.trigger_price
    listed = asl.ExistingStop(old.client_algo_id, Side.SELL, asl.StopStyle.STOP_MARKET, D("0.01"),
                              old.trigger_price)
    out = lad.handle(asl.Recover(D("0.01"), D("100050"), D("100050"), (listed,), 1200, ours=True))
    assert places(out) == [] and cancels(out) == []          # nothing placed twice, nothing dropped
    out = confirm(lad, better, 1210)
    assert cancels(out) == [old.client_algo_id] and lad.active_stop.client_algo_id == better.client_algo_id
