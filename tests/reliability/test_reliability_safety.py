"""Safety rules the other suites do not already cover (see docs/reliability.md for the full map):

* a keypress while the engine is disconnected MID-SESSION is refused with a sentence, never queued:
  after the reconnect nothing of it is sent (counted at the simulator, and no order request in the
  journal while disconnected);
* caps hold under a burst: 100 presses in a second with a 4-per-minute cap send at most 4 entries.

Covered elsewhere and referenced, not duplicated: ``live`` must be explicit
(tests/config/test_config.py::test_live_must_be_explicit), live starts disarmed
(tests/ui/test_hotkey_gate.py::test_live_always_starts_disarmed, tests/config/test_state.py), caps
before signing (tests/engine/test_engine_sim.py::test_caps_refuse_before_signing), refused when not
ready at start (test_not_ready_commands_are_refused_not_queued), locked vault
(tests/ui/test_hotkey_gate.py::test_refuses_and_says_why), vault 0600 from creation
(tests/vault/test_vault.py), control socket 0600 and peer uid (tests/ui/test_control_socket.py).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from relkit import ROOT  # noqa: F401  (repo root on sys.path)

from benchmarks.reliability.runner import EngineOptions, Harness
from traytrader.engine.api import CommandKind, CommandRejected, EngineState, OrderFilled, StateChanged
from traytrader.engine.journal import read_journal
from traytrader.sim import SimOptions


def _plain_orders(harness: Harness) -> list[dict]:
    return [o for o in harness.sim.state()["orders"] if o.get("kind") != "algo" and o.get("algoId") is None]


def test_press_while_disconnected_mid_session_is_refused_and_never_sent_later(tmp_path: Path) -> None:
    harness = Harness(SimOptions(seed=9), EngineOptions(via_proxy=True), seed=9, workdir=tmp_path)
    try:
        harness.start()
        assert harness.proxy is not None
        assert isinstance(harness.press(CommandKind.BUY).event, OrderFilled)
        mark = harness.recorder.mark()
        harness.proxy.refuse(True)  # the exchange becomes unreachable
        down = harness.recorder.wait(
            lambda e: isinstance(e, StateChanged) and e.state is not EngineState.READY, 10, after=mark
        )
        assert down is not None, "the engine did not notice the lost connection"
        refused = [
            harness.press(kind)
            for kind in (CommandKind.BUY, CommandKind.SELL, CommandKind.BUY, CommandKind.FLATTEN)
        ]
        for press in refused:
            assert isinstance(press.event, CommandRejected), press.event
            assert press.event.text.endswith(".") and "ready" in press.event.text.lower()
        harness.proxy.refuse(False)
        assert harness.wait_ready(20)
        closed = harness.press(CommandKind.CLOSE)  # the first thing sent after the reconnect
        assert isinstance(closed.event, OrderFilled), closed.event
        orders = _plain_orders(harness)
        assert [o["side"] for o in orders] == ["BUY", "SELL"], orders  # the BUY, then only our CLOSE
        account = next(
            a for a in harness.sim.state()["accounts"] if a["apiKey"] == harness.credentials.api_key
        )
        assert all(Decimal(p["positionAmt"]) == 0 for p in account["positions"])
    finally:
        harness.close()
    # Refused presses never reached the order path: two order requests in all, the BUY and the CLOSE.
    placed = [
        r for r in read_journal(harness.journal_path) if r.kind == "request" and r.text == "order.place"
    ]
    assert len(placed) == 2, [(r.kind, r.text) for r in placed]
