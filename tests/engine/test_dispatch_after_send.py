"""Bookkeeping moved behind the write (issue 5 latency): the command and request rows still land,
in order and redacted, and the command row lands even when nothing could be sent."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from engine_kit import EventLog, SimControl, hmac_credentials, make_config

from traytrader.core.errors import TransportError
from traytrader.core.models import OrderType, Side
from traytrader.core.orders import OrderRequest
from traytrader.engine.api import Command, CommandKind, OrderFilled
from traytrader.engine.handle import Engine
from traytrader.engine.journal import read_journal


@pytest.fixture
def run_engine(run_engine: Callable[..., tuple[Engine, EventLog]]) -> Callable[..., tuple[Engine, EventLog]]:
    return functools.partial(run_engine, enable_asl=False)


def test_command_row_then_request_row_after_the_write(sim: SimControl, run_engine,
                                                      journal_file: Path) -> None:
    credentials = hmac_credentials()
    engine, log = run_engine(make_config(sim, cooldown_ms=0), credentials)
    mark = log.mark()
    engine.submit(Command(CommandKind.BUY, source="test"))
    fill = log.wait_for(lambda e: isinstance(e, OrderFilled), after=mark)
    engine.stop(2.0)
    # The order's own rows (the trade review's ``fill`` row, from the user stream, may come first).
    rows = [r for r in read_journal(journal_file) if r.client_id == fill.client_order_id
            and r.kind in ("command", "request", "response")]
    kinds = [r.kind for r in rows]
    assert kinds[:3] == ["command", "request", "response"], kinds
    assert rows[0].seq < rows[1].seq < rows[2].seq
    assert '"newClientOrderId"' in rows[1].data and "signature" not in rows[1].data
    assert credentials.api_key not in rows[1].data


def test_command_row_lands_when_nothing_was_sent(sim: SimControl, run_engine, journal_file: Path) -> None:
    engine, _log = run_engine(make_config(sim, cooldown_ms=0))
    session, dispatcher = engine.session, engine.dispatcher
    assert session is not None and dispatcher is not None and engine._loop is not None
    request = OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.001"),
                           client_order_id="tt-unsent-1")
    recorded: list[str] = []

    def row() -> None:
        recorded.append("command")
        session.journal.record("command", "buy", symbol="BTCUSDT", client_id="tt-unsent-1")

    async def unplugged() -> str:
        saved, session.ws = session.ws, None   # on the loop, restored before anything else runs
        try:
            await dispatcher.place(request, 0, first_row=row)
        except TransportError as exc:
            return str(exc)
        finally:
            session.ws = saved
        return "sent"

    text = asyncio.run_coroutine_threadsafe(unplugged(), engine._loop).result(5)
    assert "nothing was sent" in text and recorded == ["command"]
    engine.stop(2.0)
    rows = [r for r in read_journal(journal_file) if r.client_id == "tt-unsent-1"]
    assert [r.kind for r in rows] == ["command"]
