"""REVERSE against the real simulator over loopback: the close and the entry usually fill in the
same millisecond, and the simulator pushes each ACCOUNT_UPDATE before its order event, often before
the entry's answer. The reversed position must show the moment the entry's fill is reported, not
one stream message later."""

from __future__ import annotations

from engine_kit import EventLog, SimControl, make_config, position

from traytrader.core.models import Side
from traytrader.engine.api import Command, CommandKind, OrderFilled


def fills(log: EventLog, mark: int) -> list[OrderFilled]:
    return [e for e in log.events[mark:] if isinstance(e, OrderFilled)]


def test_reverse_shows_the_new_position_when_its_fill_is_reported(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    mark = log.mark()
    engine.submit(Command(CommandKind.BUY, source="test"))
    bought = log.wait_type(OrderFilled, after=mark)
    log.wait_until(lambda: position(sim) == bought.quantity)
    tracker = engine.session.tracker
    for _ in range(6):
        mark = log.mark()
        engine.submit(Command(CommandKind.REVERSE, source="test"))
        log.wait_for(lambda e, mark=mark: len(fills(log, mark)) >= 2, after=mark)
        close, entry = fills(log, mark)[:2]
        # Read at once: the entry's answer was applied before its event was emitted; whatever the
        # stream delivered since is the same position.
        shown = tracker.get("BTCUSDT").quantity
        expected = entry.quantity if entry.side is Side.BUY else -entry.quantity
        assert shown == expected, (close, entry, shown)
        assert position(sim) == expected
        # The stream catches up (the exchange's word) and the shown position never moves.
        log.wait_until(lambda expected=expected: tracker.confirmed_quantity("BTCUSDT") == expected)
        assert tracker.get("BTCUSDT").quantity == expected
