"""The ladder after a lost stop placement and a reconnect (F6): the recovered position gets a stop at
once, a cancel the exchange does not know (-2011) counts as done, and the watchdog acts on "no
confirmed stop after grace_ms" whatever is pending."""

from __future__ import annotations

from decimal import Decimal

from traytrader.core import asl
from traytrader.core.models import AslSettings, PositionSide

D = Decimal
SETTINGS = AslSettings()


def places(actions: list[asl.AslAction]) -> list[asl.StopSpec]:
    return [a.spec for a in actions if isinstance(a, asl.PlaceStop)]


def opened() -> tuple[asl.Ladder, str]:
    ladder = asl.Ladder("BTCUSDT", PositionSide.BOTH, SETTINGS, D("0.1"))
    (first,) = places(ladder.handle(asl.PositionUpdate(D("0.002"), D("100000"), 1_000, True)))
    return ladder, first.client_algo_id


def test_recover_without_the_lost_stop_places_one_at_once_and_a_2011_cancel_is_done() -> None:
    ladder, lost = opened()
    ladder.handle(asl.PlaceResult(lost, asl.Outcome.UNKNOWN, 1_010, None, "connection closed"))
    actions = ladder.handle(asl.Recover(D("0.002"), D("100000"), D("100000"), (), 1_050))
    (fresh,) = places(actions)
    assert fresh.client_algo_id != lost and fresh.trigger_price == D("98000")
    actions += ladder.handle(asl.PlaceResult(fresh.client_algo_id, asl.Outcome.CONFIRMED, 1_060))
    assert ladder.phase is asl.StopPhase.PROTECTED
    # The lost one may exist: it is cancelled, and -2011 means "already gone".
    assert [a.client_algo_id for a in actions if isinstance(a, asl.CancelStop)] == [lost]
    for action in actions:
        if isinstance(action, asl.CancelStop):
            ladder.handle(asl.CancelResult(action.client_algo_id, asl.Outcome.REJECTED, 1_070, -2011,
                                           "Unknown order sent."))
    assert ladder.known_ids() == {fresh.client_algo_id}


def test_watchdog_places_a_safety_stop_after_grace_whatever_is_pending() -> None:
    ladder, first = opened()
    ladder.handle(asl.PlaceResult(first, asl.Outcome.UNKNOWN, 1_010, None, "no answer"))
    assert not places(ladder.handle(asl.Tick(1_000 + SETTINGS.grace_ms - 1)))
    safety = places(ladder.handle(asl.Tick(1_000 + SETTINGS.grace_ms)))
    assert [s.label for s in safety] == ["safety"] and safety[0].trigger_price == D("90000")
