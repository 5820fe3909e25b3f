"""Position bookkeeping by order identity: every fill counts once, whichever of RESULT,
ORDER_TRADE_UPDATE and ``order.status`` reports it, and ACCOUNT_UPDATE stays authoritative without
counting a fill twice. Property tests drive the tracker with a simulated exchange's messages in any
order the stream and the answers can arrive in, with repeats."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from traytrader.core.models import PositionSide, Side
from traytrader.engine.position_ledger import OrderFills, PositionLedger, blend
from traytrader.engine.positions import PositionTracker

D = Decimal
SYMBOL = "BTCUSDT"
REAL = Path("/work/shared/data/real/user_stream")


def account_update(amount: Decimal, at_ms: int, wallet: int = 0, symbol: str = SYMBOL,
                   position_side: str = "BOTH") -> dict[str, Any]:
    return {"e": "ACCOUNT_UPDATE", "E": at_ms, "T": at_ms,
            "a": {"m": "ORDER", "B": [{"a": "USDT", "wb": str(wallet), "cw": str(wallet), "bc": "0"}],
                  "P": [{"s": symbol, "pa": str(amount), "ep": "100", "up": "0", "ps": position_side}]}}


def order_update(order_id: int, side: Side, last: Decimal, filled: Decimal, at_ms: int,
                 symbol: str = SYMBOL) -> dict[str, Any]:
    return {"e": "ORDER_TRADE_UPDATE", "E": at_ms, "T": at_ms,
            "o": {"s": symbol, "c": f"tt-{order_id}", "S": side.value, "o": "MARKET", "x": "TRADE",
                  "X": "FILLED", "i": order_id, "l": str(last), "z": str(filled), "L": "100", "ap": "100",
                  "T": at_ms, "ps": "BOTH", "R": False}}


def result(tracker: PositionTracker, order_id: int, side: Side, filled: Decimal, at_ms: int) -> Any:
    return tracker.apply_fill(SYMBOL, PositionSide.BOTH, side, filled, D(100), at_ms,
                              order_id=order_id, client_order_id=f"tt-{order_id}")


# --- examples --------------------------------------------------------------------------------------

def test_reverse_in_one_millisecond_shows_the_new_position_at_once() -> None:
    tracker = PositionTracker()
    tracker.load([{"symbol": SYMBOL, "positionAmt": "1", "entryPrice": "100", "positionSide": "BOTH"}], 0)
    assert result(tracker, 1, Side.SELL, D(1), 1_000) is not None           # the close's RESULT
    assert tracker.get(SYMBOL).quantity == 0
    assert result(tracker, 2, Side.SELL, D(1), 1_000) is not None           # the entry's, same ms
    assert tracker.get(SYMBOL).quantity == -1
    # The stream (the simulator's order: update before its order event) catches up.
    for message in (account_update(D(0), 1_000, 1), order_update(1, Side.SELL, D(1), D(1), 1_000),
                    account_update(D(-1), 1_000, 2), order_update(2, Side.SELL, D(1), D(1), 1_000)):
        handler = tracker.on_account_update if message["e"] == "ACCOUNT_UPDATE" else tracker.on_order_update
        handler(message)
        assert tracker.get(SYMBOL).quantity == -1
    assert tracker.confirmed_quantity(SYMBOL) == -1


def test_stream_ahead_of_the_answers_in_one_millisecond() -> None:
    tracker = PositionTracker()
    tracker.load([{"symbol": SYMBOL, "positionAmt": "1", "entryPrice": "100", "positionSide": "BOTH"}], 0)
    tracker.on_account_update(account_update(D(0), 1_000, 1))
    tracker.on_account_update(account_update(D(-1), 1_000, 2))
    assert tracker.get(SYMBOL).quantity == -1
    # Both answers arrive after both updates: each is recognised as already counted.
    assert result(tracker, 1, Side.SELL, D(1), 1_000) is None
    assert result(tracker, 2, Side.SELL, D(1), 1_000) is None
    assert tracker.get(SYMBOL).quantity == -1


def test_the_same_fill_from_three_sources_counts_once() -> None:
    tracker = PositionTracker()
    assert tracker.on_order_update(order_update(7, Side.BUY, D(2), D(2), 500)) is not None
    assert result(tracker, 7, Side.BUY, D(2), 500) is None                  # RESULT
    assert tracker.apply_fill(SYMBOL, PositionSide.BOTH, Side.BUY, D(2), D(100), 500,
                              client_order_id="tt-7") is None              # order.status by client id
    assert tracker.get(SYMBOL).quantity == 2
    assert tracker.get(SYMBOL).ours                                         # the RESULT marked it ours


def test_partial_trades_of_one_market_order() -> None:
    """The 2024-09 NOTUSDT capture: one order, three trades in one millisecond, three updates."""
    tracker = PositionTracker()
    tracker.load([{"symbol": SYMBOL, "positionAmt": "-5706", "entryPrice": "1", "positionSide": "BOTH"}], 0)
    assert result(tracker, 9, Side.SELL, D(5488), 757) is not None
    assert tracker.get(SYMBOL).quantity == -11194
    for amount, last, filled in ((-6671, 965, 965), (-7290, 619, 1584), (-11194, 3904, 5488)):
        tracker.on_account_update(account_update(D(amount), 757, amount))
        assert tracker.get(SYMBOL).quantity == -11194
        tracker.on_order_update(order_update(9, Side.SELL, D(last), D(filled), 757))
        assert tracker.get(SYMBOL).quantity == -11194


def test_repeated_account_update_is_applied_once() -> None:
    tracker = PositionTracker()
    first, second = account_update(D(1), 1_000, 1), account_update(D(0), 1_000, 2)
    tracker.on_account_update(first)
    tracker.on_account_update(second)
    assert tracker.on_account_update(json.loads(json.dumps(first))) == []   # a rollover's overlap
    assert tracker.get(SYMBOL).quantity == 0


def test_foreign_fill_update_before_its_order_event() -> None:
    tracker = PositionTracker()
    tracker.on_account_update(account_update(D(-3), 2_000, 1))               # someone sold 3 on the web
    assert tracker.get(SYMBOL).quantity == -3
    assert tracker.on_order_update(order_update(11, Side.SELL, D(3), D(3), 2_000)) is None
    assert tracker.get(SYMBOL).quantity == -3


def test_fill_newer_than_the_update_is_not_inside_it() -> None:
    tracker = PositionTracker()
    assert result(tracker, 1, Side.BUY, D(1), 1_001) is not None
    tracker.on_account_update(account_update(D(2), 1_000, 1))                 # a foreign buy, 1 ms earlier
    assert tracker.get(SYMBOL).quantity == 3
    tracker.on_account_update(account_update(D(3), 1_001, 2))
    assert tracker.get(SYMBOL).quantity == 3


def test_clock_jump_back_between_orders() -> None:
    """Found by the clock-jump property: +2 at 13 s, then the exchange's clock went back, +1 and
    +1 at 10 s. The first update looks newer than the later fills; the next one, older than the
    first, shows the jump, and from then on amounts alone pair what waits."""
    tracker = PositionTracker()
    result(tracker, 1, Side.BUY, D(2), 13_000)
    result(tracker, 2, Side.BUY, D(1), 10_000)
    tracker.on_order_update(order_update(1, Side.BUY, D(2), D(2), 13_000))
    result(tracker, 3, Side.BUY, D(1), 10_000)
    assert tracker.get(SYMBOL).quantity == 4
    for message in (account_update(D(2), 13_000, 1), account_update(D(3), 10_000, 2),
                    order_update(2, Side.BUY, D(1), D(1), 10_000), account_update(D(4), 10_000, 3),
                    order_update(3, Side.BUY, D(1), D(1), 10_000)):
        handler = tracker.on_account_update if message["e"] == "ACCOUNT_UPDATE" else tracker.on_order_update
        handler(message)
        assert tracker.get(SYMBOL).quantity == 4


def test_hedge_sides_are_separate_ledgers() -> None:
    tracker = PositionTracker()
    tracker.apply_fill(SYMBOL, PositionSide.LONG, Side.BUY, D(1), D(100), 10, order_id=1)
    tracker.apply_fill(SYMBOL, PositionSide.SHORT, Side.SELL, D(2), D(100), 10, order_id=2)
    tracker.on_account_update(account_update(D(-2), 10, 1, position_side="SHORT"))
    assert tracker.get(SYMBOL, PositionSide.LONG).quantity == 1
    assert tracker.get(SYMBOL, PositionSide.SHORT).quantity == -2


def test_malformed_order_updates_change_nothing() -> None:
    tracker = PositionTracker()
    bad = [{"e": "ORDER_TRADE_UPDATE"}, {"o": "x"}, {"o": {"s": SYMBOL, "S": "HOLD", "z": "1"}},
           {"o": {"s": SYMBOL, "S": "BUY", "z": "NaN"}}, {"o": {"s": SYMBOL, "S": "BUY", "z": "0"}},
           {"o": {"s": "", "S": "BUY", "z": "1"}}, {"o": {"s": SYMBOL, "S": "BUY", "z": "1", "ps": "UP"}}]
    for message in bad:
        assert tracker.on_order_update(message) is None
    assert tracker.open_positions() == []


def test_increment_price_and_entry_blend() -> None:
    fills = OrderFills()
    assert fills.increment(SYMBOL, 1, None, D(1), D(100)) == (D(1), D(100))
    assert fills.increment(SYMBOL, 1, None, D(3), D(110)) == (D(2), D(115))   # 330 - 100 over 2
    assert fills.increment(SYMBOL, 1, None, D(3), D(110)) is None
    assert fills.increment(SYMBOL, None, "c", D(1), D(0)) == (D(1), D(0))
    assert blend(D(2), D(100), D(-3), D(90)) == (D(-1), D(90))
    assert blend(D(2), D(100), D(-1), D(90)) == (D(1), D(100))
    assert blend(D(-1), D(100), D(1), D(90)) == (D(0), D(0))


def test_order_memory_is_bounded_and_keeps_the_newest() -> None:
    fills = OrderFills()
    fills.LIMIT = 4
    for order in range(1, 40):
        assert fills.increment(SYMBOL, order, f"c{order}", D(1), D(1)) == (D(1), D(1))
    assert len(fills._orders) <= 2 * fills.LIMIT + 1                       # two keys an order
    assert fills.increment(SYMBOL, 39, "c39", D(1), D(1)) is None           # the newest is known
    assert fills.increment(SYMBOL, None, "c39", D(1), D(1)) is None


def test_order_update_marks_ours_unless_reduce_only() -> None:
    tracker = PositionTracker()
    tracker.on_order_update(order_update(1, Side.BUY, D(1), D(1), 10), ours=True)
    assert tracker.get(SYMBOL).ours
    closing = order_update(2, Side.SELL, D(3), D(3), 11)
    closing["o"]["R"] = True
    tracker.on_order_update(closing, ours=True)
    assert tracker.get(SYMBOL).quantity == -2 and not tracker.get(SYMBOL).ours


def test_load_keeps_credits_and_drops_pending() -> None:
    ledger = PositionLedger()
    ledger.absolute(D(1), D(100), 5)          # a trade at 5 whose report has not come
    ledger.fill(D(2), D(100), 6)              # a later one, reported
    ledger.reset(D(3), D(100))                # the snapshot includes both
    assert ledger.view()[0] == 3
    assert not ledger.fill(D(1), D(100), 5)   # the late report of the first is known
    assert ledger.view()[0] == 3


def test_real_papi_capture_ends_at_the_exchange_positions() -> None:
    """The 2024-09 NexusTrader capture (papi format, same fields): order events and updates merged
    by event time, the updates first within a millisecond (the worse order for a naive tracker)."""
    updates = [json.loads(line) for line in (REAL / "nexustrader_papi_account_update.jsonl").open()]
    orders = [json.loads(line) for line in (REAL / "nexustrader_papi_order_trade_update.jsonl").open()]
    messages = sorted(updates + orders, key=lambda m: (m["E"], m["e"] != "ACCOUNT_UPDATE"))
    tracker = PositionTracker()
    last: dict[str, Decimal] = {}
    for message in messages:
        if message["e"] == "ACCOUNT_UPDATE":
            tracker.on_account_update(message)
            for row in message["a"].get("P", []):
                last[row["s"]] = Decimal(row["pa"])
        else:
            tracker.on_order_update(message)
    assert last and all(tracker.get(symbol).quantity == amount for symbol, amount in last.items())


# --- properties ------------------------------------------------------------------------------------

@dataclass
class Trade:
    order: int
    delta: Decimal          # signed
    at_ms: int
    filled: Decimal         # the order's cumulative filled quantity after this trade


@st.composite
def scenarios(draw: st.DrawFn, strangers: bool) -> tuple[Decimal, list[Trade], list[tuple[str, Any]]]:
    """An exchange history (initial amount, trades) and the messages the tracker receives."""
    start = D(draw(st.integers(-3, 3)))
    trades: list[Trade] = []
    ours: dict[int, bool] = {}
    now = 1_000
    for order in range(1, draw(st.integers(1, 7)) + 1):
        now += draw(st.sampled_from([0, 0, 0, 1, 7]))
        sign = draw(st.sampled_from([1, -1]))
        ours[order] = not strangers or draw(st.booleans())
        filled = D(0)
        for _ in range(draw(st.integers(1, 3))):
            quantity = D(draw(st.integers(1, 3)))
            filled += quantity
            trades.append(Trade(order, sign * quantity, now, filled))
            if not ours[order]:  # a resting foreign order may fill over several milliseconds
                now += draw(st.sampled_from([0, 1]))
    # The stream: per millisecond, any merge of the order events and the updates (each type in
    # exchange order); across milliseconds in time order.
    stream: list[tuple[str, Any]] = []
    amount = start
    by_ms: dict[int, list[int]] = {}
    for index, trade in enumerate(trades):
        by_ms.setdefault(trade.at_ms, []).append(index)
    for at_ms in sorted(by_ms):
        events = [("otu", i) for i in by_ms[at_ms]]
        updates = [("au", i) for i in by_ms[at_ms]]
        while events or updates:
            pick = events if events and (not updates or draw(st.booleans())) else updates
            stream.append(pick.pop(0))
    messages: list[tuple[str, Any]] = []
    for kind, index in stream:
        trade = trades[index]
        if kind == "au":
            amount = start + sum((t.delta for t in trades[:index + 1]), D(0))
            messages.append(("au", (index, account_update(amount, trade.at_ms, wallet=-index))))
        else:
            side = Side.BUY if trade.delta > 0 else Side.SELL
            event = order_update(trade.order, side, abs(trade.delta), trade.filled, trade.at_ms)
            messages.append(("otu", (index, event)))
    # Our answers: one RESULT per order of ours, in order, each anywhere after the previous one.
    position = 0
    for order in sorted(o for o, mine in ours.items() if mine):
        own = [i for i, t in enumerate(trades) if t.order == order]
        final = trades[own[-1]]
        position = draw(st.integers(position, len(messages)))
        messages.insert(position, ("result", (own, order, final)))
        position += 1
    # Repeats: a status answer, an order event again, an update again (two connections overlapping).
    for _ in range(draw(st.integers(0, 4))):
        original = draw(st.integers(0, len(messages) - 1))
        again = draw(st.integers(original + 1, min(len(messages), original + 20)))
        messages.insert(again, messages[original])
    return start, trades, messages


def deliver(tracker: PositionTracker, kind: str, payload: Any) -> list[int]:
    """Hand one message to the tracker; returns the trade indexes it reports."""
    if kind == "au":
        tracker.on_account_update(payload[1])
        return []
    if kind == "otu":
        tracker.on_order_update(payload[1])
        return [payload[0]]
    own, order, final = payload
    side = Side.BUY if final.delta > 0 else Side.SELL
    tracker.apply_fill(SYMBOL, PositionSide.BOTH, side, final.filled, D(100), final.at_ms,
                       order_id=order, client_order_id=f"tt-{order}")
    return own


def run(scenario: tuple[Decimal, list[Trade], list[tuple[str, Any]]], exact: bool) -> None:
    start, trades, messages = scenario
    tracker = PositionTracker()
    tracker.load([{"symbol": SYMBOL, "positionAmt": str(start), "entryPrice": "100"}], 0)
    states = [start + sum((t.delta for t in trades[:k]), D(0)) for k in range(len(trades) + 1)]
    known: set[int] = set()
    applied = 0                                      # updates delivered: the stream's position
    for kind, payload in messages:
        known.update(deliver(tracker, kind, payload))
        if kind == "au":
            applied = max(applied, payload[0] + 1)
        shown = tracker.get(SYMBOL).quantity
        if exact:
            # The exchange's word plus exactly the fills reported beyond it, each once.
            expected = states[applied] + sum((trades[k].delta for k in known if k >= applied), D(0))
            assert shown == expected, (kind, payload)
            assert shown in states                   # a position the exchange had (or has now)
    assert tracker.get(SYMBOL).quantity == states[-1]
    assert tracker.confirmed_quantity(SYMBOL) == states[-1]
    ledger = tracker._ledgers[(SYMBOL, PositionSide.BOTH)]
    assert not ledger.pending and not ledger.credits


@settings(max_examples=400, deadline=None)
@given(scenarios(strangers=False))
def test_our_fills_in_any_interleaving_show_exactly_the_exchange(scenario: Any) -> None:
    run(scenario, exact=True)


@settings(max_examples=400, deadline=None)
@given(scenarios(strangers=True))
def test_foreign_fills_too_end_at_the_exchange_position(scenario: Any) -> None:
    run(scenario, exact=False)


@settings(max_examples=300, deadline=None)
@given(st.integers(-3, 3), st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(1, 3),
                                              st.integers(0, 3)), min_size=1, max_size=8),
       st.randoms(use_true_random=False))
def test_exchange_clock_jumps_still_end_at_the_exchange_position(
        start: int, orders: list[tuple[int, int, int]], rng: Any) -> None:
    """Each trade's update and answers carry the same time, but times jump back and forth (the
    exchange's clock moved); the stream still delivers in exchange order."""
    tracker = PositionTracker()
    tracker.load([{"symbol": SYMBOL, "positionAmt": str(start), "entryPrice": "100"}], 0)
    amount = D(start)
    answers: list[tuple[int, Side, Decimal, int]] = []
    stream: list[dict[str, Any]] = []
    for order, (sign, quantity, clock) in enumerate(orders, start=1):
        at_ms = 10_000 + 3_000 * clock             # 10 s, 13 s, 16 s or 19 s: back and forth
        amount += sign * quantity
        side = Side.BUY if sign > 0 else Side.SELL
        pair = [account_update(amount, at_ms, wallet=order),
                order_update(order, side, D(quantity), D(quantity), at_ms)]
        rng.shuffle(pair)
        stream += pair
        answers.append((order, side, D(quantity), at_ms))
    # Answers in order, merged anywhere into the stream.
    merged: list[Any] = list(stream)
    position = 0
    for answer in answers:
        position = rng.randint(position, len(merged))
        merged.insert(position, answer)
        position += 1
    for message in merged:
        if isinstance(message, tuple):
            order, side, quantity, at_ms = message
            result(tracker, order, side, quantity, at_ms)
        elif message["e"] == "ACCOUNT_UPDATE":
            tracker.on_account_update(message)
        else:
            tracker.on_order_update(message)
    assert tracker.get(SYMBOL).quantity == amount


def test_a_snapshot_older_than_a_reported_fill_does_not_undo_it():
    """Found by the protection model test: a resync's position snapshot, computed before a fill
    the stream reported meanwhile, reset the position to the older amount (the stop then covered
    too little until the next update). A row older than what the streams said is not applied."""
    from traytrader.engine.positions import PositionTracker

    tracker = PositionTracker()
    tracker.load([{"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.002",
                   "entryPrice": "100000", "unRealizedProfit": "0", "updateTime": 1_000}], 0)
    tracker.apply_fill("BTCUSDT", PositionSide.BOTH, Side.BUY, Decimal("0.001"), Decimal("100100"), 2_000,
                       order_id=7)
    assert tracker.get("BTCUSDT").quantity == Decimal("0.003")
    stale = [{"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.002", "entryPrice": "100000",
              "unRealizedProfit": "0", "updateTime": 1_000}]
    tracker.load(stale, 0)
    assert tracker.get("BTCUSDT").quantity == Decimal("0.003")
    fresh = [{"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.003", "entryPrice": "100033.3",
              "unRealizedProfit": "0", "updateTime": 2_000}]
    tracker.load(fresh, 0)
    assert tracker.get("BTCUSDT").quantity == Decimal("0.003")
    tracker.apply_fill("BTCUSDT", PositionSide.BOTH, Side.BUY, Decimal("0.001"), Decimal("100100"), 2_000,
                       order_id=7)   # the same fill reported again: inside the snapshot, not added
    assert tracker.get("BTCUSDT").quantity == Decimal("0.003")


def test_a_snapshot_read_before_a_fill_is_handed_on_as_the_tracker_knows_it_now() -> None:
    """``load_account`` reads positionRisk, then the open orders; a close that fills between the two
    must not reach the ASL as the still-open position of the older rows (the reliability harness
    saw the ASL then replace the stop a flatten had just cancelled)."""
    from traytrader.engine.warmup import known_rows

    tracker = PositionTracker()
    rows = [{"symbol": SYMBOL, "positionSide": "BOTH", "positionAmt": "1", "entryPrice": "100",
             "unRealizedProfit": "0", "markPrice": "101", "updateTime": 1_000},
            {"symbol": "ETHUSDT", "positionSide": "BOTH", "positionAmt": "0", "entryPrice": "0",
             "unRealizedProfit": "0", "updateTime": 0}]
    tracker.load(rows, 1_000)
    tracker.on_account_update(account_update(D(0), 1_005, 1))   # the close fills
    tracker.on_account_update({"e": "ACCOUNT_UPDATE", "E": 1_006, "T": 1_006, "a": {"m": "ORDER", "P": [
        {"s": "SOLUSDT", "pa": "-2", "ep": "80", "ps": "BOTH", "up": "0"}]}})   # opened after the read
    known = known_rows(rows, tracker)
    by_symbol = {row["symbol"]: row for row in known}
    assert D(by_symbol[SYMBOL]["positionAmt"]) == 0 and by_symbol[SYMBOL]["markPrice"] == "101"
    assert D(by_symbol["ETHUSDT"]["positionAmt"]) == 0
    assert (D(by_symbol["SOLUSDT"]["positionAmt"]), D(by_symbol["SOLUSDT"]["entryPrice"])) == (D(-2), D(80))
    assert rows[0]["positionAmt"] == "1"   # the snapshot itself is not rewritten


def test_a_snapshot_that_already_holds_a_fill_is_not_undone_by_that_fills_own_events() -> None:
    """positionRisk answered after the close executed (flat, ``updateTime`` = the close's time);
    then the close's ACCOUNT_UPDATE (no change: the snapshot has it), its ORDER_TRADE_UPDATE and its
    answer arrive. The position stays flat (it was shown as a new short and given a stop)."""
    tracker = PositionTracker()
    tracker.on_account_update(account_update(D(2), 1_000, 1))   # long 2
    close_ms = 1_304
    tracker.load([{"symbol": SYMBOL, "positionSide": "BOTH", "positionAmt": "0", "entryPrice": "0",
                   "unRealizedProfit": "0", "updateTime": close_ms}], close_ms)
    tracker.on_account_update(account_update(D(0), close_ms, 2))
    tracker.on_order_update(order_update(21, Side.SELL, D(2), D(2), close_ms))
    tracker.apply_fill(SYMBOL, PositionSide.BOTH, Side.SELL, D(2), D(100), close_ms, order_id=21)
    assert tracker.get(SYMBOL).quantity == 0
    tracker.on_account_update(account_update(D(1), close_ms - 10, 3))   # a stale update after the read
    assert tracker.get(SYMBOL).quantity == 0
    tracker.on_account_update(account_update(D(-1), close_ms + 5, 4))   # news after the snapshot
    assert tracker.get(SYMBOL).quantity == -1
