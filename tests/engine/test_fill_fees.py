"""The fill event carries the order's fee when its trades came on the user stream before the
answer (issue 5: "fees if known"), summed over the order's trades and in the asset Binance names."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from engine_kit import EventLog, SimControl, make_config

from traytrader.core import display
from traytrader.engine.api import Command, CommandKind, OrderFilled
from traytrader.engine.handle import Engine
from traytrader.engine.journal import read_journal


@pytest.fixture
def run_engine(run_engine: Callable[..., tuple[Engine, EventLog]]) -> Callable[..., tuple[Engine, EventLog]]:
    return functools.partial(run_engine, enable_asl=False)


def test_a_fill_reports_the_fee_the_stream_gave(sim: SimControl, run_engine, journal_file: Path) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, timeout_ms=2000))
    sim.fault("delay", "order.place", 1, 400)   # the answer comes well after the trade's stream event
    engine.submit(Command(CommandKind.BUY, source="test"))
    fill = log.wait_type(OrderFilled)
    engine.stop(2.0)
    trades = [json.loads(row.data)["o"] for row in read_journal(journal_file)
              if row.kind == "stream" and row.text == "ORDER_TRADE_UPDATE"
              and json.loads(row.data)["o"].get("c") == fill.client_order_id
              and json.loads(row.data)["o"].get("x") == "TRADE"]
    assert trades, "the simulator sent no trade for the order"
    expected = sum((Decimal(t["n"]) for t in trades), Decimal(0))
    assert expected > 0
    assert fill.fee == expected
    # the sentence shows money at two decimals; the event (and the journal row's data) keep it exact
    assert f"fee {display.usdt(expected)}" in fill.text and trades[0]["N"] == "USDT"


def test_without_the_trade_yet_the_fee_is_unknown_not_zero(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    dispatcher, session = engine.dispatcher, engine.session
    assert dispatcher is not None and session is not None and engine._loop is not None

    async def stream_too_late() -> None:   # on the loop: the dispatcher never hears of the trade
        session.user_listeners.remove(dispatcher._on_user_message)

    asyncio.run_coroutine_threadsafe(stream_too_late(), engine._loop).result(5)
    engine.submit(Command(CommandKind.SELL, source="test"))
    fill = log.wait_type(OrderFilled)
    assert fill.fee is None and "fee" not in fill.text


@pytest.mark.parametrize("answer_late", [False, True])
def test_a_close_reports_the_realised_pnl_the_exchange_booked(sim: SimControl, run_engine, journal_file: Path,
                                                              answer_late: bool) -> None:
    """A fill that closes a position carries its realised PnL (what the exchange's trades say,
    ``rp``) and the position after it (0), whichever of the answer and the stream comes first."""
    engine, log = run_engine(make_config(sim, cooldown_ms=0, timeout_ms=2000))
    engine.submit(Command(CommandKind.BUY, source="test"))
    bought = log.wait_type(OrderFilled)
    assert bought.realized_pnl is None and bought.position_after == bought.quantity
    sim.set_price("BTCUSDT", str(bought.avg_price + 150))   # a gain of about 150 x 0.002 USDT
    mark = log.mark()
    if answer_late:
        sim.fault("delay", "order.place", 1, 400)
    engine.submit(Command(CommandKind.CLOSE, source="test"))
    closed = log.wait_type(OrderFilled, after=mark)
    dispatcher = engine.dispatcher
    assert dispatcher is not None   # the stream's trades may come after the answer: let them in
    log.wait_until(lambda: dispatcher._realized.get(closed.client_order_id, (0, 0))[1] == closed.quantity)
    engine.stop(2.0)
    trades = [json.loads(row.data)["o"] for row in read_journal(journal_file)
              if row.kind == "stream" and row.text == "ORDER_TRADE_UPDATE"
              and json.loads(row.data)["o"].get("c") == closed.client_order_id
              and json.loads(row.data)["o"].get("x") == "TRADE"]
    booked = sum((Decimal(t["rp"]) for t in trades), Decimal(0))
    assert trades and booked > 0
    assert closed.position_after == 0
    # the exchange's figure; without its trades yet, the tracker's (same entry, same exit)
    assert abs(closed.realized_pnl - booked) < Decimal("0.0001"), (closed.realized_pnl, booked)
    assert f"realised PnL {display.usdt(closed.realized_pnl, signed=True)}" in closed.text
