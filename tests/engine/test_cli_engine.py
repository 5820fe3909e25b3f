"""``traytrader order``, ``journal``, ``run --console`` and ``check`` as a user runs them: real
subprocesses, a real vault and config file, the simulator on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from engine_kit import SimControl, hmac_credentials, order_count, write_demo_vault


@pytest.fixture
def setup(sim: SimControl, tmp_path: Path) -> dict[str, Path]:
    vault, password_file = write_demo_vault(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(
        f'''default_profile = "btc"
[exchange]
environment = "sim"
key = "demo"
rest_url = "{sim.rest_url}"
ws_api_url = "{sim.ws_api_url}"
stream_url = "{sim.stream_url}"
recv_window_ms = 2000
request_timeout_ms = 2000
[safety]
max_notional_usdt = 1000
cooldown_ms = 0
[[profiles]]
name = "btc"
symbol = "BTCUSDT"
leverage = 5
notional_usdt = 200
[[profiles]]
name = "tiny"
symbol = "BTCUSDT"
leverage = 5
notional_usdt = 1
'''
    )
    return {
        "config": config,
        "vault": vault,
        "pw": password_file,
        "journal": tmp_path / "journal.sqlite3",
        "home": tmp_path,
    }


def cli_env(setup: dict[str, Path]) -> dict[str, str]:
    """The user's directories in the test's temporary home, and no display (the console)."""
    env = dict(
        os.environ,
        HOME=str(setup["home"]),
        XDG_CONFIG_HOME=str(setup["home"] / "cfg"),
        XDG_DATA_HOME=str(setup["home"] / "data"),
        XDG_STATE_HOME=str(setup["home"] / "state"),
    )
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def traytrader(
    setup: dict[str, Path], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(setup)
    return subprocess.run(
        [sys.executable, "-m", "traytrader", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        cwd=str(Path(__file__).resolve().parents[2]),
    )


def unlock_args(setup: dict[str, Path]) -> list[str]:
    """The options every online sub-command takes: the config and the vault with its password."""
    return ["--config", str(setup["config"]), "--vault", str(setup["vault"]),
            "--password-file", str(setup["pw"])]


def common(setup: dict[str, Path]) -> list[str]:
    return [*unlock_args(setup), "--journal", str(setup["journal"])]


def test_order_buy_close_and_journal(sim: SimControl, setup: dict[str, Path]) -> None:
    bought = traytrader(setup, "order", "buy", *common(setup))
    assert bought.returncode == 0, bought.stderr
    assert bought.stdout.startswith("Bought ") and "BTCUSDT" in bought.stdout
    closed = traytrader(setup, "order", "close", *common(setup))
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.startswith("Sold ")
    assert order_count(sim.state()) == 2
    table = traytrader(setup, "journal", "--journal", str(setup["journal"]), "--last", "200")
    assert table.returncode == 0
    assert "order.place" in table.stdout and "Bought" in table.stdout
    assert hmac_credentials().secret not in table.stdout


def test_order_refused_exits_nonzero_with_one_sentence(sim: SimControl, setup: dict[str, Path]) -> None:
    result = traytrader(setup, "order", "buy", "--profile", "tiny", *common(setup))
    assert result.returncode == 1
    assert result.stderr.startswith("traytrader: ") and "Traceback" not in result.stderr
    assert order_count(sim.state()) == 0
    nothing = traytrader(setup, "order", "close", *common(setup))
    assert nothing.returncode == 0 and "no BTCUSDT position" in nothing.stdout


def test_run_console_from_stdin(sim: SimControl, setup: dict[str, Path]) -> None:
    result = traytrader(setup, "run", "--console", *common(setup), stdin="buy\nstatus\nbogus\nclose\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("FILL") and "Bought" in line for line in lines), result.stdout
    # a piped script's lines run in order: the status after "buy" shows the position
    assert any(line.startswith("STATUS") and "state=ready" in line and "entry=" in line for line in lines)
    assert any(line.startswith("REJECT") and "unknown command" in line for line in lines)
    assert any(line.startswith("STATE") and "stopped" in line for line in lines)
    assert order_count(sim.state()) == 2


def test_journal_on_missing_file(setup: dict[str, Path]) -> None:
    result = traytrader(setup, "journal", "--journal", str(setup["home"] / "none.sqlite3"))
    assert result.returncode == 0 and "empty or does not exist" in result.stdout


def test_check_reports_online_facts_and_profiles(sim: SimControl, setup: dict[str, Path]) -> None:
    result = traytrader(setup, "check", *unlock_args(setup))
    out = result.stdout
    assert "clock offset" in out and "signed requests work" in out and "position mode: one-way" in out
    assert "WebSocket API connected" in out
    assert "profile btc (BTCUSDT, 5x CROSSED): would send BUY" in out
    assert "FAIL  profile tiny" in out and "minimum" in out
    assert result.returncode == 1  # the tiny profile cannot trade
    assert order_count(sim.state()) == 0


def test_run_console_takes_send_over_its_control_socket(sim: SimControl, setup: dict[str, Path]) -> None:
    """Headless users bind `traytrader send buy` to a window-manager shortcut: the console app
    answers it with the command's own outcome, and its own output shows the same."""
    socket_path = setup["home"] / "run" / "control.sock"
    env = cli_env(setup)
    app = subprocess.Popen([sys.executable, "-m", "traytrader", "run", "--console", *common(setup),
                            "--socket", str(socket_path)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env, cwd=str(Path(__file__).resolve().parents[2]))
    assert app.stdout is not None and app.stdin is not None
    try:
        for line in app.stdout:   # the socket is up before warm-up starts; READY means orders go
            if line.startswith("STATE") and "ready" in line:
                break
        bought = traytrader(setup, "send", "buy", "--socket", str(socket_path))
        assert bought.returncode == 0, bought.stdout + bought.stderr
        assert bought.stdout.startswith("Bought ") and "BTCUSDT" in bought.stdout
        status = traytrader(setup, "send", "status", "--socket", str(socket_path))
        assert status.returncode == 0 and "state=ready" in status.stdout and "entry=" in status.stdout
        unknown = traytrader(setup, "send", "profile", "nope", "--socket", str(socket_path))
        assert unknown.returncode != 0 and "nope" in unknown.stdout + unknown.stderr
        closed = traytrader(setup, "send", "close", "--socket", str(socket_path))
        assert closed.returncode == 0 and closed.stdout.startswith("Sold "), closed.stdout
        # Issue 12, item 4: a refused command answers at once and holds nothing back.
        refused = traytrader(setup, "send", "profile", "nope", "--socket", str(socket_path))
        assert refused.returncode != 0
        again = traytrader(setup, "send", "buy", "--socket", str(socket_path))
        assert again.returncode == 0 and again.stdout.startswith("Bought "), again.stdout + again.stderr
        assert float(again.stdout.split(" µs to wire")[0].rsplit("(", 1)[1]) < 1_000_000
        assert traytrader(setup, "send", "close", "--socket", str(socket_path)).returncode == 0
    finally:
        out, err = app.communicate("quit\n", timeout=30)
    assert app.returncode == 0, err
    assert "FILL    Bought" in out and "FILL    Sold" in out   # the console shows what send did
    assert order_count(sim.state()) == 4
    assert not socket_path.exists()   # removed on the way out


def test_order_reverse_answers_once_after_both_legs_with_the_new_position_protected(
        sim: SimControl, setup: dict[str, Path]) -> None:
    """Issue 12, item 2: the reverse's answer comes after its second leg, and only once the new
    position has its stop on the exchange (read back the moment the command returns)."""
    assert traytrader(setup, "order", "buy", *common(setup)).returncode == 0
    reversed_ = traytrader(setup, "order", "reverse", *common(setup))
    assert reversed_.returncode == 0, reversed_.stderr
    # one answer telling both legs: the long closed, then the short opened
    assert reversed_.stdout.startswith("Reverse BTCUSDT 1/2: Sold "), reversed_.stdout
    assert " 2/2: Sold " in reversed_.stdout and reversed_.stdout.count("\n") == 1
    state = sim.state()
    amount = sum((Decimal(p["positionAmt"]) for p in state["accounts"][0]["positions"]
                  if p["symbol"] == "BTCUSDT"), Decimal(0))
    stops = [o for o in state["orders"] if o.get("kind") == "algo" and o.get("status") == "NEW"
             and o["clientAlgoId"].startswith("ttasl")]
    assert amount < 0
    assert [(o["side"], Decimal(o["quantity"])) for o in stops] == [("BUY", -amount)]


def test_a_refused_command_never_holds_back_the_next(sim: SimControl, setup: dict[str, Path]) -> None:
    """Issue 12, item 4: ``reverse`` with no position is refused at once, and the ``buy`` after
    it goes out at once (not 30 s later)."""
    run = traytrader(setup, "run", "--console", *common(setup), stdin="reverse\nbuy\nquit\n")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    refused = next(i for i, line in enumerate(lines) if line.startswith("REJECT") and "reverse" in line)
    filled = next(i for i, line in enumerate(lines) if line.startswith("FILL") and "Bought" in line)
    assert refused < filled
    to_wire_us = float(lines[filled].split(" µs to wire")[0].rsplit("(", 1)[1])
    assert to_wire_us < 1_000_000, lines[filled]


def test_order_with_no_simulator_running_says_so_in_one_sentence(sim: SimControl,
                                                                 setup: dict[str, Path]) -> None:
    import socket
    from urllib.parse import urlsplit

    with socket.socket() as probe:   # a loopback port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = setup["config"].read_text().replace(urlsplit(sim.rest_url).netloc, f"127.0.0.1:{port}")
    setup["config"].write_text(config)
    result = traytrader(setup, "order", "buy", "--timeout", "2", *common(setup))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("traytrader: The engine did not become ready in 2 s: ")
    assert f"127.0.0.1:{port}" in result.stderr and "Start it with `traytrader sim`." in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
