"""``core.trades`` on journal rows the engine recorded against the simulator
(``tests/data/trade_flows``, made by ``python tests/review/trade_flows.py``), and on rows shaped
like Binance's for what the engine cannot produce yet (scale-in, partial close, liquidation,
take-profit). PnL and fees are checked against the simulator's wallet, recorded with the rows."""

from __future__ import annotations

import itertools
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traytrader.core.trades import ExitReason, stop_path, trades_from_rows
from traytrader.engine.journal import _SCHEMA, JournalEntry, read_journal, read_trade_rows
from traytrader.trade_chart import render

D = Decimal
DATA = Path(__file__).resolve().parents[1] / "data" / "trade_flows"


def recording(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def rows_of(name: str) -> list[JournalEntry]:
    return [JournalEntry(**row) for row in recording(name)["rows"]]


def write_journal(path: Path, rows: list[JournalEntry]) -> Path:
    connection = sqlite3.connect(path)
    connection.executescript(_SCHEMA)
    connection.executemany(
        "INSERT INTO journal (at_ms, kind, symbol, client_id, request_id, text, data, latency_us) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(r.at_ms, r.kind, r.symbol, r.client_id, r.request_id, r.text, r.data, r.latency_us) for r in rows])
    connection.commit()
    connection.close()
    return path


def essence(trades: list) -> list:
    """A trade without its times: a fill row lands a moment (a millisecond) after its stream event."""
    return [(t.number, t.exit_reason, t.net_pnl, t.fees, t.size, t.entry_price, t.exit_price,
             t.highest_tier, t.stops,
             [(f.side, f.quantity, f.price, f.fee, f.realized, f.order_id, f.client_id, f.reduce_only)
              for f in t.entries + t.exits]) for t in trades]


# flow → one (side, exit reason, highest tier) per trade
EXPECTED = {
    "long_hard_stop": [("long", ExitReason.HARD_STOP, 0)],
    "short_trailing_stop": [("short", ExitReason.TRAILING_STOP, 2)],
    "limit_long_close_key": [("long", ExitReason.CLOSE_KEY, None)],
    "long_flatten": [("long", ExitReason.FLATTEN, 0)],
    "long_reverse_then_close": [("long", ExitReason.REVERSE, 0), ("short", ExitReason.CLOSE_KEY, 0)],
    "long_scale_in_hard_stop": [("long", ExitReason.HARD_STOP, 0)],
}


@pytest.mark.parametrize("flow", sorted(EXPECTED))
def test_a_recorded_flow_becomes_the_expected_trades(flow: str) -> None:
    trades = trades_from_rows(rows_of(flow))
    assert [(t.side_word, t.exit_reason, t.highest_tier) for t in trades] == EXPECTED[flow]
    assert [t.number for t in trades] == list(range(1, len(trades) + 1))
    for trade in trades:
        assert trade.closed and trade.closed_ms is not None and trade.closed_ms >= trade.opened_ms
        assert trade.size > 0 and trade.entry_price > 0 and trade.exit_price is not None


@pytest.mark.parametrize("flow", sorted(EXPECTED))
def test_pnl_less_fees_is_what_the_simulators_wallet_gained(flow: str) -> None:
    recorded = recording(flow)
    trades = trades_from_rows(rows_of(flow))
    wallet_change = D(recorded["wallet_after"]) - D(recorded["wallet_before"])
    assert sum((t.net_pnl for t in trades), D(0)) == wallet_change
    for trade in trades:
        assert trade.fees > 0   # the simulator charges a fee on every fill


def test_realised_pnl_and_prices_follow_the_fills() -> None:
    trade, = trades_from_rows(rows_of("long_hard_stop"))
    exit_fill, = trade.exits
    entry_fill, = trade.entries
    assert trade.realized_pnl == (exit_fill.price - entry_fill.price) * trade.size
    # The hard stop is 2 % under the entry: a loss of about one R (the price gapped through it).
    assert trade.initial_stop is not None
    assert abs(trade.initial_stop - entry_fill.price * D("0.98")) < D("0.2")
    assert trade.r_multiple is not None and D("-1.5") < trade.r_multiple <= D("-1")
    assert trade.summary().startswith("BTCUSDT long closed by hard stop: -")


def test_the_trailing_stop_only_tightens_and_is_labelled_by_tier() -> None:
    trade, = trades_from_rows(rows_of("short_trailing_stop"))
    path = stop_path(trade)
    levels = [level for _, level, _ in path]
    assert all(b <= a for a, b in itertools.pairwise(levels)), "a short's stop only comes down"
    assert [m.tier for m in trade.stops] == sorted(m.tier for m in trade.stops)
    assert {m.tier for _, _, m in path} == {0, 1, 2}
    assert trade.marks, "the engine journalled the mark path while the position was open"
    assert trade.exit_price is not None and trade.exit_price >= levels[-1] * D("0.999")


def test_a_second_buy_is_a_scale_in_of_the_same_trade() -> None:
    trade, = trades_from_rows(rows_of("long_scale_in_hard_stop"))
    first, second = trade.entries
    exit_fill, = trade.exits
    assert trade.size == first.quantity + second.quantity == exit_fill.quantity
    assert trade.entry_price == (first.price * first.quantity + second.price * second.quantity) / trade.size
    assert len(trade.stops) == 2, "the stop was placed, then resized for the whole position"


def test_a_reverse_is_two_trades_in_order() -> None:
    first, second = trades_from_rows(rows_of("long_reverse_then_close"))
    assert first.closed_ms is not None and second.opened_ms >= first.closed_ms
    assert first.direction == 1 and second.direction == -1


@pytest.mark.parametrize("flow", sorted(EXPECTED))
def test_the_sql_filtered_read_gives_the_same_trades(tmp_path: Path, flow: str) -> None:
    rows = rows_of(flow)
    journal = write_journal(tmp_path / "journal.sqlite3", rows)
    filtered = read_trade_rows(journal)
    assert len(filtered) < len(rows)
    assert essence(trades_from_rows(filtered)) == essence(trades_from_rows(read_journal(journal)))
    table = trades_from_rows(read_trade_rows(journal, with_marks=False), with_marks=False)
    assert [(t.net_pnl, t.exit_reason) for t in table] == \
        [(t.net_pnl, t.exit_reason) for t in trades_from_rows(rows)]


def test_an_old_journal_without_marks_reads_the_same_trades() -> None:
    rows = rows_of("short_trailing_stop")
    old = [r for r in rows if r.kind != "mark"]
    trade, = trades_from_rows(old)
    new, = trades_from_rows(rows)
    assert trade.marks == () and (trade.net_pnl, trade.exit_reason, trade.highest_tier) == \
        (new.net_pnl, new.exit_reason, new.highest_tier)


def test_rows_it_cannot_read_are_skipped_one_by_one() -> None:
    rows = rows_of("long_flatten")
    broken = [JournalEntry(0, 1, "stream", "BTCUSDT", "", "", "ORDER_TRADE_UPDATE", "{not json", None),
              JournalEntry(0, 1, "asl", "BTCUSDT", "", "", "x", "[1, 2]", None),
              JournalEntry(0, 1, "mark", "BTCUSDT", "", "", "NaN", "", None),
              JournalEntry(0, 1, "stream", "", "", "", "ALGO_UPDATE", '{"o": "x"}', None),
              JournalEntry(0, 1, "fill", "BTCUSDT", "tt1", "", "BUY 1 2", "", None),
              JournalEntry(0, 1, "fill", "BTCUSDT", "tt1", "", "BUY x 2 0 USDT 0 BOTH MARKET false 1 1", "",
                           None),
              JournalEntry(0, 1, "fill", "BTCUSDT", "tt1", "", "BUY NaN 2 0 USDT 0 BOTH MARKET false 1 1", "",
                           None),
              JournalEntry(0, 1, "fill", "BTCUSDT", "tt1", "", "HOLD 1 2 0 USDT 0 BOTH MARKET false 1 1", "",
                           None)]
    assert trades_from_rows(broken + rows) == trades_from_rows(rows)


# --- what the engine cannot produce yet: rows shaped like Binance's user stream ---------------------

class Rows:
    """Builds journal rows as the engine writes them (``stream`` rows hold the whole event)."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.at = 1_700_000_000_000

    def add(self, kind: str, text: str, data: Any = None, *, client_id: str = "",
            symbol: str = "BTCUSDT") -> None:
        self.at += 1000
        self.rows.append(SimpleNamespace(seq=len(self.rows) + 1, at_ms=self.at, kind=kind, symbol=symbol,
                                         client_id=client_id, text=text,
                                         data="" if data is None else json.dumps(data)))

    def fill(self, side: str, qty: str, price: str, *, client_id: str, rp: str = "0", fee: str = "0.01",
             reduce_only: bool = False, order_type: str = "MARKET", order_id: int = 1, asset: str = "USDT",
             ps: str = "BOTH") -> None:
        self.add("stream", "ORDER_TRADE_UPDATE", {"e": "ORDER_TRADE_UPDATE", "o": {
            "s": "BTCUSDT", "c": client_id, "S": side, "o": "MARKET", "x": "TRADE", "X": "FILLED",
            "i": order_id, "l": qty, "L": price, "n": fee, "N": asset, "R": reduce_only, "ot": order_type,
            "ps": ps, "rp": rp}})

    def command(self, what: str, client_id: str) -> None:
        self.add("command", what, {"profile": "btc"}, client_id=client_id)


def test_scale_in_and_partial_close_are_one_trade() -> None:
    r = Rows()
    r.command("buy", "tt1")
    r.fill("BUY", "1", "100", client_id="tt1")
    r.command("buy", "tt2")
    r.fill("BUY", "1", "110", client_id="tt2")           # scale-in
    r.fill("SELL", "0.5", "120", client_id="x-web", rp="7.5", reduce_only=True)   # partial close
    r.command("close", "tt3")
    r.fill("SELL", "1.5", "100", client_id="tt3", rp="-7.5", reduce_only=True)
    trade, = trades_from_rows(r.rows)
    assert len(trade.entries) == 2 and len(trade.exits) == 2
    assert trade.size == 2 and trade.entry_price == 105
    assert trade.exit_reason is ExitReason.CLOSE_KEY
    assert trade.realized_pnl == 0 and trade.fees == D("0.04") and trade.net_pnl == D("-0.04")


def test_one_order_through_zero_closes_one_trade_and_opens_the_next() -> None:
    r = Rows()
    r.command("buy", "tt1")
    r.fill("BUY", "1", "100", client_id="tt1")
    r.command("sell", "tt2")
    r.fill("SELL", "3", "90", client_id="tt2", rp="-10", fee="0.03")
    first, second = trades_from_rows(r.rows)
    assert first.exit_reason is ExitReason.OPPOSITE_ORDER and first.realized_pnl == -10
    assert first.fees == D("0.01") + D("0.01")   # its share of the flipping order's fee
    assert second.direction == -1 and second.size == 2 and not second.closed
    assert second.exit_reason is ExitReason.OPEN and second.fees == D("0.02")


def test_liquidation_take_profit_safety_and_other_exits() -> None:
    cases = {
        "autoclose-1700000000": (ExitReason.LIQUIDATION, "LIQUIDATION"),
        "ttasl-s0-1ab-xyz-1": (ExitReason.SAFETY_STOP, "STOP_MARKET"),
        "ttasl-k2-1ab-xyz-1": (ExitReason.TRAILING_STOP, "STOP_MARKET"),
        "ttasl-h0-1ab-xyz-1": (ExitReason.HARD_STOP, "STOP_MARKET"),
        "tp-1": (ExitReason.TAKE_PROFIT, "TAKE_PROFIT_MARKET"),
        "tt9": (ExitReason.SAFETY_CLOSE, "MARKET"),
        "web_abc": (ExitReason.OTHER, "MARKET"),
    }
    for client_id, (reason, order_type) in cases.items():
        r = Rows()
        r.fill("BUY", "1", "100", client_id="tt1")
        r.fill("SELL", "1", "99", client_id=client_id, reduce_only=True, order_type=order_type, rp="-1")
        trade, = trades_from_rows(r.rows)
        assert trade.exit_reason is reason, client_id


def test_a_stop_known_only_by_its_algo_update_names_the_exit() -> None:
    r = Rows()
    r.fill("SELL", "1", "100", client_id="tt1")
    r.add("asl", "BTCUSDT short: stop → 102", {"notice": "stop_moved", "tier": 0, "stop_type": "STOP_MARKET",
                                                "trigger_price": "102"})
    r.add("stream", "ALGO_UPDATE", {"e": "ALGO_UPDATE", "o": {"caid": "ttasl-t1-1ab-x-2", "s": "BTCUSDT",
                                                             "o": "TRAILING_STOP_MARKET", "X": "NEW"}})
    r.fill("BUY", "1", "97", client_id="exchange-made-id", reduce_only=True, order_id=77, rp="3")
    r.add("stream", "ALGO_UPDATE", {"e": "ALGO_UPDATE", "o": {"caid": "ttasl-t1-1ab-x-2", "s": "BTCUSDT",
                                                             "o": "TRAILING_STOP_MARKET", "X": "FINISHED",
                                                             "ai": "77"}})
    trade, = trades_from_rows(r.rows)
    assert trade.exit_reason is ExitReason.TRAILING_STOP
    assert trade.initial_stop == 102 and trade.r_multiple == (D(3) - D("0.02")) / D(2)


def test_take_profits_and_fees_in_other_assets_are_kept() -> None:
    r = Rows()
    r.fill("BUY", "1", "100", client_id="tt1", asset="BNB", fee="0.0001")
    r.add("stream", "ALGO_UPDATE", {"e": "ALGO_UPDATE", "o": {"caid": "tp-1", "s": "BTCUSDT", "ps": "BOTH",
                                                             "o": "TAKE_PROFIT_MARKET", "X": "NEW",
                                                             "tp": "110"}})
    r.fill("SELL", "1", "110", client_id="tp-1", reduce_only=True, order_type="TAKE_PROFIT_MARKET", rp="10")
    trade, = trades_from_rows(r.rows)
    assert [tp.trigger_price for tp in trade.take_profits] == [D(110)]
    assert trade.other_fees == (("BNB", D("0.0001")),) and trade.fees == D("0.01")


def test_a_close_of_a_position_older_than_the_journal_is_no_trade() -> None:
    r = Rows()
    r.fill("SELL", "1", "100", client_id="ttasl-h0-1ab-x-1", reduce_only=True, rp="-2")
    assert trades_from_rows(r.rows) == []


def test_hedge_mode_sides_are_separate_trades() -> None:
    r = Rows()
    r.fill("BUY", "1", "100", client_id="tt1", ps="LONG")
    r.fill("SELL", "2", "100", client_id="tt2", ps="SHORT")
    r.fill("SELL", "1", "101", client_id="tt3", ps="LONG", reduce_only=True, rp="1")
    long_, short = trades_from_rows(r.rows)
    assert (long_.direction, long_.closed, short.direction, short.closed) == (1, True, -1, False)


@pytest.mark.parametrize("flow", sorted(EXPECTED))
def test_fill_rows_and_stream_events_each_give_every_execution_once(flow: str) -> None:
    rows = rows_of(flow)
    fill_rows = [r for r in rows if r.kind == "fill"]
    stream_fills = [r for r in rows if r.kind == "stream" and r.text == "ORDER_TRADE_UPDATE"
                    and '"x":"TRADE"' in r.data]
    assert fill_rows and len(fill_rows) == len(stream_fills), "the engine writes one fill row per execution"
    both = trades_from_rows(rows)
    only_stream = trades_from_rows([r for r in rows if r.kind != "fill"])      # a journal from before
    only_fill_rows = trades_from_rows([r for r in rows if r not in stream_fills])
    assert essence(both) == essence(only_stream) == essence(only_fill_rows)
    assert sum(len(t.entries) + len(t.exits) for t in both) == len(fill_rows)


def test_reading_on_from_a_flat_point_gives_the_same_trades(tmp_path: Path) -> None:
    """What the desktop's trade review relies on to read only the rows since the last flat point."""
    flows = ("long_hard_stop", "short_trailing_stop", "long_reverse_then_close")
    rows: list[JournalEntry] = []
    starts = []
    for flow in flows:
        starts.append(len(rows) + 1)   # seq of the flow's first row: flat before it
        rows += rows_of(flow)
    journal = write_journal(tmp_path / "journal.sqlite3", rows)
    everything = trades_from_rows(read_trade_rows(journal))
    assert len(everything) == 4
    for start, before in zip(starts, (0, 1, 2), strict=True):
        later = trades_from_rows(read_trade_rows(journal, from_seq=start), first_number=before + 1)
        assert later == everything[before:]


_ROWS = rows_of("long_reverse_then_close")
_TEXTS = st.sampled_from([r.text for r in _ROWS] +
                         ["", "-", "NaN", "1e999999", "BUY 1 1 1 USDT 1 BOTH X true 1 1"])
_DATAS = st.sampled_from([r.data for r in _ROWS] + ["", "{", "[]", '{"o": null}', '{"notice": "safety"}'])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fill", "stream", "asl", "command", "mark", "other"]), _TEXTS,
                          _DATAS, st.sampled_from(["", "tt1", "ttasl-h0-x-1", "autoclose-1"])), max_size=40))
def test_any_rows_make_trades_without_raising(shapes: list) -> None:
    rows = [JournalEntry(i + 1, 1_000 * i, kind, "BTCUSDT", client, "", text, data, None)
            for i, (kind, text, data, client) in enumerate(shapes)]
    for trade in trades_from_rows(rows):
        assert trade.size >= 0 and trade.summary()
        stop_path(trade)
        render(trade, width=160, height=80)


def test_marks_can_be_read_for_the_newest_trades_only(tmp_path: Path) -> None:
    rows = rows_of("short_trailing_stop") + rows_of("long_hard_stop")
    journal = write_journal(tmp_path / "journal.sqlite3", rows)
    everything = trades_from_rows(read_trade_rows(journal))
    newest = trades_from_rows(read_trade_rows(journal, marks_since_ms=everything[-1].opened_ms))
    assert everything[0].marks and everything[-1].marks
    assert newest[0].marks == () and newest[-1].marks == everything[-1].marks
    assert essence(newest) == essence(everything)
