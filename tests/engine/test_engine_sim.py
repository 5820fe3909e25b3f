"""The engine end to end against the real simulator over loopback: warm-up, the hot path, safety
rules, the error shield, never-twice under faults, reconnects and the journal."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from engine_kit import (
    EventLog,
    SimControl,
    ed25519_credentials,
    hmac_credentials,
    make_config,
    on_loop,
    order_count,
    press,
)

from traytrader.core.models import Profile, Side
from traytrader.engine.api import (
    Command,
    CommandDone,
    CommandKind,
    CommandRejected,
    EngineState,
    Notice,
    OrderFilled,
    StateChanged,
)
from traytrader.engine.handle import Engine
from traytrader.engine.journal import read_journal


@pytest.fixture
def run_engine(run_engine: Callable[..., tuple[Engine, EventLog]]) -> Callable[..., tuple[Engine, EventLog]]:
    """The conftest ``run_engine`` with the ASL off: these tests are about the hot path alone."""
    return functools.partial(run_engine, enable_asl=False)


@pytest.mark.parametrize("credentials", [hmac_credentials, ed25519_credentials], ids=["hmac", "ed25519"])
def test_warm_up_buy_sell_close(sim: SimControl, run_engine, credentials) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0), credentials())
    status = engine.status()
    assert status.state is EngineState.READY and status.clock_offset_ms is not None and status.rtt_ms
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled), fill.text
    assert fill.side is Side.BUY and fill.quantity > 0 and fill.avg_price > 0
    assert 0 < fill.to_wire_us < 50_000 and fill.round_trip_us > 0
    assert fill.quantity * fill.avg_price <= Decimal(200)
    assert engine.status().position_qty == fill.quantity
    sold = press(engine, log, CommandKind.SELL)
    assert isinstance(sold, OrderFilled) and sold.side is Side.SELL
    assert engine.status().position_qty == fill.quantity - sold.quantity
    closed = press(engine, log, CommandKind.CLOSE)
    if engine.status().position_qty == 0 and isinstance(closed, CommandDone):
        assert "no BTCUSDT position" in closed.text
    else:
        assert isinstance(closed, OrderFilled)
    assert engine.status().position_qty == 0


def test_flatten_reverse_cancel_and_profile_switch(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)
    long_qty = engine.status().position_qty
    mark = log.mark()
    engine.submit(Command(CommandKind.REVERSE))
    log.wait_for(lambda e: len([x for x in log.events[mark:] if isinstance(x, OrderFilled)]) >= 2, after=mark)
    sells = [e for e in log.events[mark:] if isinstance(e, OrderFilled)]
    assert [e.side for e in sells] == [Side.SELL, Side.SELL]
    assert long_qty > 0
    # The fill report and the account stream race by design; the position follows within a message.
    log.wait_until(lambda: engine.status().position_qty < 0)
    done = press(engine, log, CommandKind.CANCEL_ALL)
    assert isinstance(done, CommandDone) and "Cancelled" in done.text
    flat = press(engine, log, CommandKind.FLATTEN)
    assert isinstance(flat, CommandDone) and flat.text.startswith("Flattened BTCUSDT")
    closing = [e for e in log.of_type(OrderFilled) if e.command_id == flat.command_id]
    assert [e.side for e in closing] == [Side.BUY]
    log.wait_until(lambda: engine.status().position_qty == 0)
    switched = press(engine, log, CommandKind.SELECT_PROFILE, "eth")
    assert isinstance(switched, CommandDone) and engine.status().symbol == "ETHUSDT"
    bad = press(engine, log, CommandKind.SELECT_PROFILE, "nope")
    assert isinstance(bad, CommandRejected) and "no profile named" in bad.text


def test_in_flight_and_cooldown_refuse_second_press(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=5_000))
    mark = log.mark()

    async def press_twice() -> None:
        # Two presses queued in one loop turn run back to back: the answer to the first cannot
        # arrive between them, however busy the machine (from a test thread it could).
        engine.submit(Command(CommandKind.BUY))
        engine.submit(Command(CommandKind.BUY))

    on_loop(engine, press_twice())
    refused = log.wait_type(CommandRejected, after=mark)
    assert "in flight" in refused.text and "nothing was sent" in refused.text
    log.wait_type(OrderFilled, after=mark)
    again = press(engine, log, CommandKind.BUY)
    assert isinstance(again, CommandRejected) and "cooldown" in again.text
    assert order_count(sim.state()) == 1


def test_caps_refuse_before_signing(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(
        make_config(sim, cooldown_ms=0, max_notional="150", max_per_minute=1, notional="200")
    )
    refused = press(engine, log, CommandKind.BUY)
    assert isinstance(refused, CommandRejected) and "max_notional_usdt" in refused.text
    assert order_count(sim.state()) == 0
    press(engine, log, CommandKind.SELECT_PROFILE, "eth")
    assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)
    capped = press(engine, log, CommandKind.BUY)
    assert isinstance(capped, CommandRejected) and "max_orders_per_minute" in capped.text
    assert order_count(sim.state()) == 1


def test_shield_margin_insufficient_is_a_plain_sentence(sim: SimControl, run_engine) -> None:
    profiles = (Profile(name="huge", symbol="BTCUSDT", leverage=1, notional_usdt=Decimal("50000")),)
    engine, log = run_engine(make_config(sim, profiles=profiles, cooldown_ms=0))
    rejected = press(engine, log, CommandKind.BUY)
    assert isinstance(rejected, CommandRejected) and rejected.code == -2019
    assert rejected.text.startswith("Not enough margin")


def test_shield_clock_skew_resyncs_and_retries_once(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    sim.fault("clock_skew", ms=5_000)
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled), fill.text
    assert order_count(sim.state()) == 1


def test_shield_position_mode_changed_behind_our_back(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    session = engine.session
    assert session is not None

    import asyncio

    future = asyncio.run_coroutine_threadsafe(
        session.rest_call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"}), engine._loop
    )
    future.result(5)
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled), fill.text
    assert session.mode.value == "hedge"


@pytest.mark.parametrize("kind", ["drop_before_reply", "unknown_503", "delay", "drop_before_execute"])
def test_never_twice_under_faults(sim: SimControl, run_engine, journal_file: Path, kind: str) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, timeout_ms=400, recv_window_ms=500))
    sim.fault(kind, method="order.place", count=1, ms=1_500 if kind == "delay" else 0)
    mark = log.mark()
    engine.submit(Command(CommandKind.BUY))
    result = log.wait_for(lambda e: isinstance(e, OrderFilled | CommandRejected), timeout=15, after=mark)
    assert isinstance(result, OrderFilled), result.text
    assert order_count(sim.state()) == 1
    assert any(isinstance(e, Notice) and "checking with the exchange" in e.text for e in log.events[mark:])
    engine.session.journal.flush()  # type: ignore[union-attr]
    kinds = [row.kind for row in read_journal(journal_file)]
    assert "resolution" in kinds


def test_drop_after_reply_fills_once_and_reconnects(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    sim.fault("drop_after_reply", method="order.place")
    mark = log.mark()
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled), fill.text
    log.wait_for(lambda e: isinstance(e, StateChanged) and e.state is EngineState.READY, after=mark)
    assert order_count(sim.state()) == 1
    assert isinstance(press(engine, log, CommandKind.SELL), OrderFilled)


def test_reconnect_after_all_connections_close(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    mark = log.mark()
    sim.fault("close_all")
    log.wait_for(lambda e: isinstance(e, StateChanged) and e.state is EngineState.CONNECTING, after=mark)
    log.wait_for(lambda e: isinstance(e, StateChanged) and e.state is EngineState.READY, after=mark)
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled), fill.text


def test_listen_key_expiry_recreates_user_stream(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    session = engine.session
    assert session is not None and session.user_stream is not None
    before = session.user_stream.keys_created
    sim.fault("expire_listen_key")
    stream = session.user_stream
    log.wait_until(lambda: stream.keys_created > before and stream.connection.connected.is_set(), timeout=10)
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled)


def test_planned_rollover_keeps_trading(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0), rollover_after_s=0.5)
    session = engine.session
    assert session is not None
    first = session.ws
    log.wait_until(lambda: session.ws is not first and session.ws is not None, timeout=10)
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled)
    assert engine.status().state is EngineState.READY


def test_journal_has_everything_and_no_secret(sim: SimControl, run_engine, journal_file: Path) -> None:
    credentials = hmac_credentials()
    engine, log = run_engine(make_config(sim, cooldown_ms=0), credentials)
    assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)
    log.wait_until(lambda: engine.status().position_qty > 0)
    engine.stop(2.0)
    rows = read_journal(journal_file)
    kinds = {row.kind for row in rows}
    assert {"command", "request", "response", "event", "state"} <= kinds
    placed = [r for r in rows if r.kind == "request" and r.text == "order.place"]
    assert len(placed) == 1 and placed[0].client_id.startswith("tt-")
    assert any(r.kind == "response" and r.latency_us for r in rows)
    raw = b"".join(p.read_bytes() for p in journal_file.parent.glob("journal.sqlite3*"))
    assert credentials.secret.encode() not in raw
    assert credentials.api_key.encode() not in raw


def test_not_ready_commands_are_refused_not_queued(sim: SimControl) -> None:
    config = dataclasses.replace(
        make_config(sim),
        exchange=dataclasses.replace(
            make_config(sim).exchange, rest_url="http://127.0.0.1:9", ws_api_url="ws://127.0.0.1:9/ws"
        ),
    )
    engine = Engine(config, hmac_credentials(), enable_asl=False)
    log = EventLog()
    engine.subscribe(log)
    engine.start()
    try:
        engine.submit(Command(CommandKind.BUY))
        refused = log.wait_type(CommandRejected)
        assert "Not ready" in refused.text
    finally:
        engine.stop(2.0)
    assert order_count(sim.state()) == 0


def test_asl_protects_a_fill_with_a_stop_on_the_exchange(sim: SimControl, run_engine) -> None:
    from traytrader.engine.api import StopMoved

    engine, log = run_engine(make_config(sim, cooldown_ms=0), enable_asl=True)
    assert engine.asl is not None
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled), fill.text
    moved = log.wait_type(StopMoved, timeout=10)
    assert moved.symbol == "BTCUSDT"
    algos = [o for o in sim.state()["orders"] if o.get("kind") == "algo" and o.get("status") == "NEW"]
    assert len(algos) == 1 and algos[0]["side"] == "SELL"


async def test_fill_price_from_the_stream_when_the_answer_lacks_it(sim: SimControl) -> None:
    import asyncio

    from traytrader.core.models import OrderType
    from traytrader.core.orders import OrderRequest
    from traytrader.engine.dispatch import Dispatcher
    from traytrader.engine.journal import Journal
    from traytrader.engine.order_sending import SendOutcome
    from traytrader.engine.session import Session

    session = Session(make_config(sim), hmac_credentials(), emit=lambda event: None, journal=Journal(None))
    dispatcher = Dispatcher(session, lambda event: None)
    try:
        request = OrderRequest(
            "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.002"), client_order_id="tt-x-1"
        )
        answer = SendOutcome({"executedQty": "0.002", "status": "FILLED"}, 0, 0)
        task = asyncio.ensure_future(dispatcher._complete_price(request, answer))
        await asyncio.sleep(0)  # let it register its waiter
        session.on_user_message(
            {"e": "ORDER_TRADE_UPDATE", "o": {"c": "tt-x-1", "X": "FILLED", "ap": "100.5"}}
        )
        await asyncio.wait_for(task, 2)
        assert answer.result["avgPrice"] == "100.5"
        # the stream can also be faster than the answer
        session.on_user_message({"e": "ORDER_TRADE_UPDATE", "o": {"c": "tt-x-2", "X": "FILLED", "ap": "99"}})
        second = SendOutcome({"executedQty": "0.002"}, 0, 0)
        await dispatcher._complete_price(dataclasses.replace(request, client_order_id="tt-x-2"), second)
        assert second.result["avgPrice"] == "99"
    finally:
        await session.close()


def test_wrong_secret_is_an_error_state_naming_the_cause(sim: SimControl) -> None:
    credentials = dataclasses.replace(hmac_credentials(), secret="not-the-secret-at-all")
    engine = Engine(make_config(sim), credentials, enable_asl=False)
    log = EventLog()
    engine.subscribe(log)
    engine.start()
    try:
        event = log.wait_for(lambda e: isinstance(e, StateChanged) and e.state is EngineState.ERROR)
        assert "signature is not valid" in event.text
        assert "not-the-secret" not in event.text
    finally:
        engine.stop(2.0)


def test_client_side_limiter_reads_the_exchange_limits() -> None:
    from traytrader.sim import SimOptions, SimThread

    thread = SimThread(SimOptions(port=0, seed=1, orders_limit_10s=3)).start()
    try:
        sim = SimControl(thread)
        engine = Engine(make_config(sim, cooldown_ms=0), hmac_credentials(), enable_asl=False)
        log = EventLog()
        engine.subscribe(log)
        engine.start()
        try:
            log.wait_ready()
            results = [
                press(engine, log, kind) for kind in (CommandKind.BUY, CommandKind.SELL, CommandKind.BUY)
            ]
            refused = [r for r in results if isinstance(r, CommandRejected)]
            assert refused and "ORDERS limit of 3 per 10 s" in refused[0].text
            # closing stays possible within the reserve
            assert isinstance(press(engine, log, CommandKind.CLOSE), OrderFilled | CommandDone)
            assert order_count(sim.state()) <= 3
        finally:
            engine.stop(2.0)
    finally:
        thread.stop()


def test_unwritable_journal_is_an_error_state(sim: SimControl, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    engine = Engine(make_config(sim), hmac_credentials(), journal_path=blocker / "journal.sqlite3")
    log = EventLog()
    engine.subscribe(log)
    engine.start()
    try:
        event = log.wait_for(lambda e: isinstance(e, StateChanged) and e.state is EngineState.ERROR)
        assert "Cannot open the journal" in event.text
        engine.submit(Command(CommandKind.BUY))
        assert "not ready: Cannot open the journal" in log.wait_type(CommandRejected).text
    finally:
        engine.stop(2.0)
    assert order_count(sim.state()) == 0
