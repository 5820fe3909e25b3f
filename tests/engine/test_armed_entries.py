"""Armed entries (engine/armed.py): the active profile's BUY and SELL are sized, signed and framed
ahead of the keypress. What must hold: a keypress sends exactly the armed order when nothing changed;
an armed frame is never sent without a keypress; a price move, a profile switch, a reconnect or an
old timestamp makes a new one; the caps are checked before anything is signed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_kit import EventLog, SimControl, make_config, on_loop, order_count

from traytrader.core.models import Side
from traytrader.engine.api import Command, CommandKind, CommandRejected, OrderFilled
from traytrader.engine.armed import ArmedEntry
from traytrader.engine.handle import Engine
from traytrader.engine.journal import read_journal


@pytest.fixture
def run_engine(run_engine: Callable[..., tuple[Engine, EventLog]]) -> Callable[..., tuple[Engine, EventLog]]:
    return functools.partial(run_engine, enable_asl=False)


def armed(engine: Engine, side: Side) -> ArmedEntry | None:
    assert engine.dispatcher is not None
    return engine.dispatcher._armed.get(side)


def our_orders(sim: SimControl) -> list[dict[str, Any]]:
    return [o for o in sim.state()["orders"] if o.get("kind") != "algo"]


def press_now(engine: Engine, kind: CommandKind) -> ArmedEntry | None:
    """On the engine loop: read the armed entry, then press at once (no loop turn in between)."""
    dispatcher = engine.dispatcher
    assert dispatcher is not None

    async def press() -> ArmedEntry | None:
        entry = dispatcher._armed.get(Side.BUY if kind is CommandKind.BUY else Side.SELL)
        await dispatcher.execute(Command(kind, source="test"), engine.active_profile)
        return entry

    return on_loop(engine, press())


def test_a_keypress_sends_the_armed_order(sim: SimControl, run_engine, journal_file: Path) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed(engine, Side.BUY) is not None and armed(engine, Side.SELL) is not None)
    used = press_now(engine, CommandKind.BUY)
    assert used is not None
    fill = log.wait_type(OrderFilled)
    assert fill.client_order_id == used.request.client_order_id
    orders = our_orders(sim)
    assert [o["clientOrderId"] for o in orders] == [used.request.client_order_id]
    assert Decimal(str(orders[0].get("origQty", orders[0].get("quantity")))) == used.sized.quantity
    engine.stop(2.0)
    request_rows = [r for r in read_journal(journal_file)
                    if r.kind == "request" and r.client_id == used.request.client_order_id]
    assert len(request_rows) == 1 and '"quantity"' in request_rows[0].data
    assert "signature" not in request_rows[0].data


def test_armed_frames_follow_the_price_and_are_never_sent_alone(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, notional="1000", recv_window_ms=5000))
    session = engine.session
    assert session is not None
    seen: set[str] = set()
    for price in ("50000", "25000", "40000", "50000"):
        sim.set_price("BTCUSDT", price)
        # Re-armed at the new book: 1000 USDT at the ask, floored to the 0.001 step.
        def sized_at_book(price: Decimal = Decimal(price)) -> bool:
            entry, book = armed(engine, Side.BUY), session.books.get("BTCUSDT")
            return entry is not None and book is not None and entry.book == book and \
                abs(book[1] - price) < price / 100 and \
                entry.sized.quantity == (Decimal(1000) / book[1]).quantize(Decimal("0.001"), ROUND_FLOOR)
        log.wait_until(sized_at_book)
        entry = armed(engine, Side.BUY)
        assert entry is not None
        seen.add(entry.request.client_order_id)
    assert len(seen) >= 4   # a new client id for every new arming
    assert order_count(sim.state()) == 0   # armed, signed, never sent
    used = press_now(engine, CommandKind.BUY)
    assert used is not None
    log.wait_type(OrderFilled)
    assert [o["clientOrderId"] for o in our_orders(sim)] == [used.request.client_order_id]


def test_an_armed_frame_past_its_age_is_not_sent(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed(engine, Side.SELL) is not None)
    assert engine.dispatcher is not None
    engine.dispatcher._max_age_ms = -1   # every armed frame is now too old
    used = press_now(engine, CommandKind.SELL)
    assert used is not None
    fill = log.wait_type(OrderFilled)
    assert fill.client_order_id != used.request.client_order_id   # armed again at the keypress
    assert [o["clientOrderId"] for o in our_orders(sim)] == [fill.client_order_id]


def test_a_reconnect_drops_the_armed_frame(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed(engine, Side.BUY) is not None)
    before = armed(engine, Side.BUY)
    session = engine.session
    assert session is not None and before is not None
    old_ws = session.ws
    sim.fault("close_all")
    log.wait_until(lambda: session.ws is not old_ws and session.ready, timeout=15)
    mark = log.mark()
    used = press_now(engine, CommandKind.BUY)
    fill = log.wait_type(OrderFilled, after=mark)
    assert fill.client_order_id != before.request.client_order_id
    assert used is None or used.path.frames is session.ws.frames or \
        fill.client_order_id != used.request.client_order_id
    assert order_count(sim.state()) == 1


def test_the_caps_are_checked_before_anything_is_signed(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, notional="200", max_notional="100",
                                         recv_window_ms=5000))
    session, dispatcher = engine.session, engine.dispatcher
    assert session is not None and dispatcher is not None
    log.wait_until(lambda: session.books.get("BTCUSDT") is not None and session.mark("BTCUSDT") is not None)

    async def arm_now() -> dict[Side, ArmedEntry]:
        dispatcher._arm_active()
        return dict(dispatcher._armed)

    assert on_loop(engine, arm_now()) == {}
    mark = log.mark()
    engine.submit(Command(CommandKind.BUY, source="test"))
    refused = log.wait_type(CommandRejected, after=mark)
    assert "max_notional_usdt" in refused.text
    assert order_count(sim.state()) == 0


def test_switching_profile_arms_the_new_one(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    def armed_for(symbol: str) -> bool:
        entry = armed(engine, Side.BUY)
        return entry is not None and entry.request.symbol == symbol

    log.wait_until(lambda: armed_for("BTCUSDT"))
    engine.submit(Command(CommandKind.SELECT_PROFILE, argument="eth", source="test"))
    log.wait_until(lambda: armed_for("ETHUSDT"))
    used = press_now(engine, CommandKind.BUY)
    assert used is not None and used.request.symbol == "ETHUSDT"
    fill = log.wait_type(OrderFilled)
    assert fill.symbol == "ETHUSDT" and fill.client_order_id == used.request.client_order_id


def test_keeping_the_path_warm_sends_and_consumes_nothing(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed(engine, Side.BUY) is not None)
    dispatcher, session = engine.dispatcher, engine.session
    assert dispatcher is not None and session is not None

    async def warm_many() -> tuple[ArmedEntry | None, ArmedEntry | None, int]:
        before = dispatcher._armed.get(Side.BUY)
        sent_before = len(session.limiter._sent)
        for _ in range(50):
            dispatcher._keep_warm()
        return before, dispatcher._armed.get(Side.BUY), len(session.limiter._sent) - sent_before

    before, after, counted = on_loop(engine, warm_many())
    assert before is not None and after is before and counted == 0
    assert order_count(sim.state()) == 0
