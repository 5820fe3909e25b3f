"""`traytrader demo` without a display falls back to the console front end (real simulator + engine)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from traytrader.commands.demo_cmd import banner, demo_config, demo_credentials
from traytrader.core.models import Environment, KeyType

ROOT = Path(__file__).resolve().parents[2]


def test_console_demo_buys_and_quits_without_a_display(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # prove nothing of the user's is written
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    script = "buy 5\nbuy\nstatus\nclose\nprofile sol-qty\nbuy\nquit\n"
    result = subprocess.run([sys.executable, "-m", "traytrader", "demo"], input=script,
                            capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("traytrader DEMO: simulated exchange at http://127.0.0.1:")
    lines = result.stdout.splitlines()
    # "buy 5" is refused with a sentence, not bought at the default size; "buy" buys once
    assert any(line.startswith("REJECT  nothing was sent: buy takes no argument ('5')") for line in lines)
    fills = [line for line in lines if line.startswith("FILL")]
    assert len(fills) == 3, fills
    assert re.match(r"FILL    Bought 0\.\d{3} BTCUSDT at \d{2,3},\d{3}\.\d ", fills[0]), fills
    # the close says what it realised, in USDT
    closed = r"FILL    Sold 0\.\d{3} BTCUSDT at \d{2,3},\d{3}\.\d \(.*, realised PnL [+-]?\d+\.\d\d USDT\)\.$"
    assert re.match(closed, fills[1]), fills
    status = next(line for line in lines if line.startswith("STATUS"))
    assert re.search(r"position=0\.\d{3} entry=\d{2,3},\d{3}\.\d uPnL=\"[+-]?\d+\.\d\d USDT\" "
                     r"mark=\d{2,3},\d{3}\.\d ", status), status
    # quitting with the position open says it stays on the exchange with its stop
    staying = next(line for line in lines if line.startswith("NOTICE  1 open position (SOLUSDT long "))
    assert "stays on the exchange with its stop" in staying
    assert not (tmp_path / "state").exists() and not (tmp_path / "data").exists()


def test_demo_config_points_at_the_simulator() -> None:
    config = demo_config("http://127.0.0.1:1", "ws://127.0.0.1:1/ws-fapi/v1", "ws://127.0.0.1:1")
    assert config.exchange.environment is Environment.SIM
    assert config.exchange.rest_url == "http://127.0.0.1:1" and config.exchange.key == "demo"
    assert config.hotkeys.armed_on_start and len(config.profiles) >= 2
    credentials = demo_credentials()
    assert credentials.name == "demo" and credentials.key_type is KeyType.HMAC
    assert credentials.secret not in repr(credentials)


def test_banners_label_the_demo() -> None:
    tray = banner("http://127.0.0.1:9", Path("/run/user/0/traytrader/control.sock"))
    assert "DEMO credentials (not a Binance account)" in tray and "Ctrl+B" in tray
    assert "traytrader send buy --socket /run/user/0/traytrader/control.sock" in tray
    console = banner("http://127.0.0.1:9", None)
    assert "Ctrl+B" not in console and "quit" in console


def test_banner_without_a_tray_menu_does_not_promise_one() -> None:
    plain = banner("http://127.0.0.1:9", Path("/tmp/c.sock"), menu=False)
    assert "menu" not in plain and plain.endswith("Press Ctrl+C here to quit.")
