"""Real trade flows: the engine against the simulator on loopback, each ending in one exit reason.

Used twice: ``test_trades_sim.py`` runs a few live and compares the derived trades with the
simulator's account; ``python tests/review/trade_flows.py`` records every flow's journal rows to
``tests/data/trade_flows/<flow>.json`` (with the simulator's wallet before and after) for the pure
tests of ``core.trades``. A uniquely named module (no ``conftest`` clash)."""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "engine")]

from engine_kit import EventLog, SimControl, hmac_credentials, make_config  # noqa: E402

from traytrader.core.models import OrderType, Profile  # noqa: E402
from traytrader.engine.api import (  # noqa: E402
    Command,
    CommandDone,
    CommandKind,
    OrderAccepted,
    OrderFilled,
    StopMoved,
    StoppedOut,
)
from traytrader.engine.handle import Engine  # noqa: E402
from traytrader.engine.journal import read_journal  # noqa: E402

D = Decimal
DATA = ROOT / "tests" / "data" / "trade_flows"
SYMBOL = "BTCUSDT"


@dataclasses.dataclass
class Flow:
    engine: Engine
    log: EventLog
    sim: SimControl

    def submit(self, kind: CommandKind) -> None:
        self.engine.submit(Command(kind, source="test"))

    def mark(self) -> Decimal:
        session = self.engine.session
        assert session is not None
        value = session.mark(SYMBOL)
        assert value is not None
        return value

    def price(self, value: Decimal) -> None:
        """Set the price and wait until the engine has seen it as the mark price."""
        target = value.quantize(D("0.1"))
        self.sim.set_price(SYMBOL, str(target))
        self.log.wait_until(lambda: self.mark() == target, 10)

    def walk(self, start: Decimal, *factors: str, steps: int = 4) -> None:
        """Move the price from ``start * previous factor`` to ``start * factor`` in ``steps``
        marks for each factor: a path the picture can show."""
        level = self.mark()
        for factor in factors:
            goal = start * D(factor)
            for index in range(1, steps + 1):
                self.price(level + (goal - level) * index / steps)
            level = goal

    def flat(self) -> bool:
        return self.position() == 0

    def position(self) -> Decimal:
        rows = self.sim.state()["accounts"][0]["positions"]
        return sum((D(r["positionAmt"]) for r in rows if r["symbol"] == SYMBOL), D(0))

    def stop_tier(self, tier: int, after: int) -> StopMoved:
        return self.log.wait_for(lambda e: isinstance(e, StopMoved) and e.tier == tier, 15, after=after)


def _entry(flow: Flow, kind: CommandKind = CommandKind.BUY) -> OrderFilled:
    at = flow.log.mark()
    flow.submit(kind)
    fill = flow.log.wait_type(OrderFilled, after=at)
    flow.stop_tier(0, at)   # the hard stop is confirmed
    return fill


def long_hard_stop(flow: Flow) -> None:
    fill = _entry(flow)
    at = flow.log.mark()
    flow.walk(fill.avg_price, "1.004", "0.995", "0.985", "0.975")   # down through the 2 % hard stop
    flow.log.wait_type(StoppedOut, 15, after=at)
    flow.log.wait_until(flow.flat, 15)


def short_trailing_stop(flow: Flow) -> None:
    fill = _entry(flow, CommandKind.SELL)
    entry = fill.avg_price
    at = flow.log.mark()
    flow.walk(entry, "1.003", "0.995", "0.987")   # 1.3 % in our favour: tier 1 (trail 2 %)
    flow.stop_tier(1, at)
    at = flow.log.mark()
    flow.walk(entry, "0.982", "0.975", "0.972")   # 2.8 %: tier 2 (trail 1.5 %)
    flow.stop_tier(2, at)
    at = flow.log.mark()
    flow.walk(entry, "0.978", "0.985", "0.99", "0.995")   # back up through the trail
    flow.log.wait_type(StoppedOut, 15, after=at)
    flow.log.wait_until(flow.flat, 15)


def limit_long_close_key(flow: Flow) -> None:
    at = flow.log.mark()
    flow.submit(CommandKind.BUY)
    accepted = flow.log.wait_type(OrderAccepted, after=at)
    assert accepted.price is not None
    flow.price(accepted.price * D("0.999"))   # the market comes down to the resting bid
    flow.log.wait_until(lambda: not flow.flat(), 15)
    # No stop to wait for: a resting entry filled later is not marked ours today (reported).
    at = flow.log.mark()
    flow.walk(accepted.price, "0.998", "1.002", "1.004")
    flow.submit(CommandKind.CLOSE)
    flow.log.wait_type(OrderFilled, after=at)
    flow.log.wait_until(flow.flat, 15)


def long_flatten(flow: Flow) -> None:
    fill = _entry(flow)
    flow.walk(fill.avg_price, "1.003", "0.996", "0.995")
    at = flow.log.mark()
    flow.submit(CommandKind.FLATTEN)
    flow.log.wait_for(lambda e: isinstance(e, OrderFilled | CommandDone), after=at)
    flow.log.wait_until(flow.flat, 15)


def long_reverse_then_close(flow: Flow) -> None:
    fill = _entry(flow)
    flow.walk(fill.avg_price, "0.998", "1.003")
    at = flow.log.mark()
    flow.submit(CommandKind.REVERSE)
    flow.log.wait_until(lambda: flow.position() < 0, 15)   # closed and sold: short now
    flow.stop_tier(0, at)
    flow.walk(fill.avg_price, "1.006", "1.001")
    at = flow.log.mark()
    flow.submit(CommandKind.CLOSE)
    flow.log.wait_type(OrderFilled, after=at)
    flow.log.wait_until(flow.flat, 15)


def long_scale_in_hard_stop(flow: Flow) -> None:
    fill = _entry(flow)
    flow.walk(fill.avg_price, "1.002", "0.999")
    at = flow.log.mark()
    flow.submit(CommandKind.BUY)   # a second press adds to the position
    flow.log.wait_type(OrderFilled, after=at)
    flow.log.wait_until(lambda: flow.position() > fill.quantity, 15)
    flow.log.wait_until(lambda: sum(D(o.get("quantity") or 0) for o in flow.sim.state()["orders"]
                                    if o.get("kind") == "algo" and o.get("status") == "NEW")
                        == flow.position(), 15)   # the stop covers the whole position again
    at = flow.log.mark()
    flow.walk(fill.avg_price, "0.99", "0.975")
    flow.log.wait_type(StoppedOut, 15, after=at)
    flow.log.wait_until(flow.flat, 15)


FLOWS: dict[str, Callable[[Flow], None]] = {
    "long_hard_stop": long_hard_stop,
    "short_trailing_stop": short_trailing_stop,
    "limit_long_close_key": limit_long_close_key,
    "long_flatten": long_flatten,
    "long_reverse_then_close": long_reverse_then_close,
    "long_scale_in_hard_stop": long_scale_in_hard_stop,
}


def config_for(name: str, sim: SimControl) -> Any:
    config = make_config(sim, cooldown_ms=0, timeout_ms=2000)
    if name.startswith("limit_"):
        profile = Profile(name="btc", symbol=SYMBOL, leverage=5, notional_usdt=D("200"),
                          order_type=OrderType.LIMIT, limit_offset_ticks=200)
        config = dataclasses.replace(config, profiles=(profile,), default_profile="btc")
    return config


def wallet(sim: SimControl) -> Decimal:
    return D(sim.state()["accounts"][0]["walletBalance"])


def run_flow(name: str, sim: SimControl, journal: Path) -> dict[str, Any]:
    """Run flow ``name`` on a fresh engine journalling to ``journal``; the recording."""
    before = wallet(sim)
    sim.set_price(SYMBOL, "60000")
    engine = Engine(config_for(name, sim), hmac_credentials(), journal_path=journal)
    log = EventLog()
    engine.subscribe(log)
    engine.start()
    try:
        log.wait_ready()
        FLOWS[name](Flow(engine, log, sim))
        log.wait_until(lambda: not (engine.session and engine.session.tracker.open_positions()), 10)
    finally:
        engine.stop(2.0)
    rows = [dataclasses.asdict(row) for row in read_journal(journal)]
    return {"flow": name, "wallet_before": str(before), "wallet_after": str(wallet(sim)), "rows": rows}


def record_all() -> None:
    """Record every flow into ``tests/data/trade_flows`` (run after changing what the engine
    journals; the pure tests then read the new recordings)."""
    from traytrader.engine import journal as journal_module
    from traytrader.sim import SimOptions, SimThread

    journal_module.MARK_INTERVAL_MS = 0   # flows last seconds: every mark, a denser path than live
    DATA.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or FLOWS:
        thread = SimThread(SimOptions(port=0, seed=1, mark_interval_ms=50)).start()
        try:
            with tempfile.TemporaryDirectory() as directory:
                recording = run_flow(name, SimControl(thread), Path(directory) / "journal.sqlite3")
        finally:
            thread.stop()
        (DATA / f"{name}.json").write_text(json.dumps(recording, indent=0) + "\n")
        print(f"{name}: {len(recording['rows'])} rows, wallet {recording['wallet_before']} → "
              f"{recording['wallet_after']}")


if __name__ == "__main__":
    record_all()
