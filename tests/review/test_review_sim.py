"""Live: the engine trades against the simulator on loopback, and the trades read back from its
journal are what the simulator's account booked — realised PnL less fees to the cent of a cent,
the exit reason, and the mark path the engine journalled while the position was open."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from trade_flows import run_flow

from traytrader.core.trades import ExitReason, trades_from_rows
from traytrader.engine.journal import read_trade_rows


@pytest.fixture
def fast_sim() -> Iterator[object]:
    from engine_kit import SimControl

    from traytrader.sim import SimOptions, SimThread

    thread = SimThread(SimOptions(port=0, seed=3, mark_interval_ms=50)).start()
    try:
        yield SimControl(thread)
    finally:
        thread.stop()


@pytest.mark.parametrize(("flow", "reason"), [("long_hard_stop", ExitReason.HARD_STOP),
                                              ("limit_long_close_key", ExitReason.CLOSE_KEY)])
def test_trades_from_a_live_journal_match_the_simulators_account(fast_sim, tmp_path: Path, flow: str,
                                                                 reason: ExitReason) -> None:
    journal = tmp_path / "journal.sqlite3"
    recorded = run_flow(flow, fast_sim, journal)   # type: ignore[arg-type]
    trade, = trades_from_rows(read_trade_rows(journal))
    assert trade.exit_reason is reason and trade.closed
    assert trade.net_pnl == Decimal(recorded["wallet_after"]) - Decimal(recorded["wallet_before"])
    assert trade.fees > 0
    state = fast_sim.state()   # type: ignore[attr-defined]
    sim_orders = {o["clientOrderId"]: o for o in state["orders"] if o["kind"] == "order"}
    for fill in trade.entries + trade.exits:
        order = sim_orders.get(fill.client_id)
        assert order is not None, fill.client_id
        assert Decimal(order["avgPrice"]) == fill.price
    assert trade.marks, "the engine journalled mark prices while the position was open"
    assert all(trade.opened_ms <= at <= (trade.closed_ms or at) for at, _ in trade.marks)
