"""The toolkit commands as a user runs them: ``traytrader run --console`` (typed lines and
``traytrader send`` over its control socket) and ``traytrader order``, real subprocesses against
the simulator on loopback; every change is read back from the exchange (``/sim/state``)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_kit import SimControl, our_algos, position, sim_config_head, write_demo_vault

D = Decimal
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def setup(sim: SimControl, tmp_path: Path) -> dict[str, Any]:
    vault, password_file = write_demo_vault(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(sim_config_head(sim) + '''[safety]
max_notional_usdt = 5000
cooldown_ms = 0
[[profiles]]
name = "btc"
symbol = "BTCUSDT"
leverage = 5
risk_usdt = 12
add_fraction = 0.5
take_profit = [{ profit_pct = 1, close_fraction = 0.5 }]
[[profiles]]
name = "tiny-risk"
symbol = "BTCUSDT"
leverage = 5
risk_usdt = 0.5
''')
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    common = ["--config", str(config), "--vault", str(vault), "--password-file", str(password_file),
              "--journal", str(tmp_path / "journal.sqlite3")]
    return {"env": env, "common": common, "socket": tmp_path / "run" / "control.sock"}


def traytrader(setup: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "traytrader", *args], capture_output=True, text=True,
                          env=setup["env"], timeout=60, cwd=str(ROOT))


def eventually(condition, timeout: float = 10.0) -> None:
    """Poll the exchange's state until ``condition`` holds (the simulator has no push to wait on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def stops(sim: SimControl) -> list[dict[str, Any]]:
    return [o for o in our_algos(sim) if o["type"] in ("STOP_MARKET", "TRAILING_STOP_MARKET")]


def take_profits(sim: SimControl) -> list[dict[str, Any]]:
    return [o for o in our_algos(sim) if o["type"] == "TAKE_PROFIT_MARKET"]


def covered(sim: SimControl) -> bool:
    """One stop of ours, sized to the position."""
    rows = stops(sim)
    return len(rows) == 1 and D(rows[0]["quantity"]) == abs(position(sim))


class Console:
    """``traytrader run --console --socket``: lines typed in, output lines on a queue."""

    def __init__(self, setup: dict[str, Any]) -> None:
        self.app = subprocess.Popen(
            [sys.executable, "-m", "traytrader", "run", "--console", *setup["common"], "--socket",
             str(setup["socket"])], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=setup["env"], cwd=str(ROOT))
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.app.stdout is not None
        for line in self.app.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait(self, prefix: str, text: str = "", timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            self.seen.append(line)
            if line.startswith(prefix) and text in line:
                return line

    def type(self, line: str) -> None:
        assert self.app.stdin is not None
        self.app.stdin.write(line + "\n")
        self.app.stdin.flush()


def test_console_and_send_breakeven_close_part_add_and_take_profit(sim: SimControl,
                                                                   setup: dict[str, Any]) -> None:
    sim.set_price("BTCUSDT", "100000")
    console = Console(setup)
    try:
        console.wait("STATE", "ready")
        console.type("buy")
        bought = console.wait("FILL", "Bought")
        entry_qty = position(sim)
        # risk_usdt 12 at the 2% hard stop: 600 USDT of notional, floored to the step.
        assert entry_qty > 0 and entry_qty * D("100000") * D("0.02") <= 12, bought
        eventually(lambda: covered(sim) and len(take_profits(sim)) == 1)
        (tp,) = take_profits(sim)
        assert tp["reduceOnly"] is True
        assert D(tp["quantity"]) == (entry_qty / 2).quantize(D("0.001"), "ROUND_FLOOR")

        console.type("breakeven")   # the price is not beyond breakeven yet: refused, nothing changes
        assert "not yet above" in console.wait("REJECT", "Breakeven")
        assert all(o["clientAlgoId"].startswith("ttasl-h") for o in stops(sim))

        half = traytrader(setup, "send", "close", "50%", "--socket", str(setup["socket"]))
        assert half.returncode == 0 and half.stdout.startswith("Sold "), half.stdout + half.stderr
        after_half = entry_qty - (entry_qty / 2).quantize(D("0.001"), "ROUND_FLOOR")
        assert position(sim) == after_half
        eventually(lambda: covered(sim))   # the stop follows the remainder
        eventually(lambda: [D(o["quantity"]) for o in take_profits(sim)] ==
                   [(after_half / 2).quantize(D("0.001"), "ROUND_FLOOR")] or not take_profits(sim))

        sim.set_price("BTCUSDT", "100600")   # +0.6%: beyond breakeven, below tier 1 and the take-profit
        console.type("add")                  # (its fill comes after the new price: the engine has seen it)
        console.wait("FILL", "Bought")
        added = position(sim)
        assert added == after_half + (after_half * D("0.5")).quantize(D("0.001"), "ROUND_FLOOR")
        eventually(lambda: covered(sim))

        # The mark price comes once a second: breakeven once the engine has seen the new one.
        eventually(lambda: re.search(r"mark=100,?600\b", traytrader(setup, "send", "status", "--socket",
                                                                    str(setup["socket"])).stdout), 15)
        sent = traytrader(setup, "send", "breakeven", "--socket", str(setup["socket"]))
        assert sent.returncode == 0 and "breakeven" in sent.stdout, sent.stdout + sent.stderr
        (stop,) = stops(sim)
        assert stop["type"] == "STOP_MARKET" and stop["clientAlgoId"].startswith("ttasl-b")
        assert D(stop["quantity"]) == added and D(stop["triggerPrice"]) > D("100000")
        again = traytrader(setup, "send", "breakeven", "--socket", str(setup["socket"]))
        assert again.returncode == 1 and "already" in again.stdout + again.stderr

        sim.set_price("BTCUSDT", "101300")   # +1.3%: the take-profit fires, the ladder follows
        eventually(lambda: position(sim) < added)
        assert "take-profit filled" in console.wait("NOTICE", "take-profit")
        eventually(lambda: covered(sim))
        assert D(stops(sim)[0]["quantity"]) == position(sim) < added

        console.type("close")
        console.wait("FILL", "Sold")
        eventually(lambda: position(sim) == 0 and not our_algos(sim))   # no stop, no take-profit left
    finally:
        _, err = console.app.communicate("quit\n", timeout=30)
    assert console.app.returncode == 0, err
    assert "Traceback" not in err


def test_order_close_part_add_and_breakeven(sim: SimControl, setup: dict[str, Any]) -> None:
    sim.set_price("BTCUSDT", "100000")
    common = setup["common"]
    assert traytrader(setup, "order", "buy", *common).returncode == 0
    qty = position(sim)
    part = traytrader(setup, "order", "close", "50%", *common)
    assert part.returncode == 0 and part.stdout.startswith("Sold "), part.stdout + part.stderr
    left = qty - (qty / 2).quantize(D("0.001"), "ROUND_FLOOR")
    assert position(sim) == left and covered(sim)   # returns once the remainder is protected
    add = traytrader(setup, "order", "add", *common)
    assert add.returncode == 0 and add.stdout.startswith("Bought "), add.stdout + add.stderr
    assert position(sim) > left and covered(sim)
    refused = traytrader(setup, "order", "breakeven", *common)
    assert refused.returncode == 1 and "not yet above" in refused.stderr
    sim.set_price("BTCUSDT", "100600")
    moved = traytrader(setup, "order", "breakeven", *common)
    assert moved.returncode == 0 and "breakeven" in moved.stdout, moved.stdout + moved.stderr
    assert stops(sim)[0]["clientAlgoId"].startswith("ttasl-b")
    bad = traytrader(setup, "order", "close", "half", *common)
    assert bad.returncode == 1 and "not a percentage" in bad.stderr
    assert traytrader(setup, "order", "close", *common).returncode == 0
    eventually(lambda: position(sim) == 0 and not our_algos(sim))


def test_check_prints_what_each_risk_profile_would_send_now(sim: SimControl, setup: dict[str, Any]) -> None:
    sim.set_price("BTCUSDT", "100000")
    unlock = [a for a in setup["common"] if a != "--journal" and not a.endswith("journal.sqlite3")]
    result = traytrader(setup, "check", *unlock)
    out = result.stdout
    line = next(x for x in out.splitlines() if "profile btc " in x)
    # 12 USDT at 2%: 600 USDT of notional → 0.005 BTC at ~100000 (rounded down to the step).
    assert line.startswith("ok") and "BUY 0.005 MARKET" in line, line
    assert "risk 12.00 USDT at the 2% hard stop" in line
    tiny = next(x for x in out.splitlines() if "profile tiny-risk" in x)
    assert tiny.startswith("FAIL") and re.search(r"a risk of at least 2\.0\d USDT would reach it", tiny), tiny
    assert result.returncode == 1   # the tiny profile cannot trade
