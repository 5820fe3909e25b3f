"""``traytrader sim`` as a user runs it: URLs printed, serving, Ctrl+C exits 0 without a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

from traytrader.sim import DEMO_API_KEY


def test_cli_serves_and_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "traytrader", "sim", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        while not lines or not lines[-1].startswith("Serving"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line.strip())
        rest = next(x for x in lines if x.startswith("REST:")).split()[-1]
        assert any(x.startswith("WebSocket API:") and x.endswith("/ws-fapi/v1") for x in lines)
        assert any(DEMO_API_KEY in x and "DEMO ONLY" in x for x in lines)
        with urllib.request.urlopen(f"{rest}/fapi/v1/time", timeout=5) as r:
            assert "serverTime" in json.loads(r.read())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err


def test_cli_bad_flags_are_one_sentence() -> None:
    for args, words in (
        (["--speed", "0"], "--speed must be greater than 0."),
        (["--accounts", "/nonexistent/accounts.toml"], "Cannot read the accounts file"),
        (["--port", "70000"], "is not a port number"),
        (["--latency", "fast"], "is not MS or MS±JITTER"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "traytrader", "sim", *args], capture_output=True, text=True, timeout=30
        )
        assert r.returncode == 2 and r.stderr.startswith("traytrader: ") and words in r.stderr
        assert "Traceback" not in r.stderr


def test_cli_defaults_are_the_market_like_preset() -> None:
    import argparse

    from traytrader.commands import sim_cmd
    from traytrader.sim.server import MARKET_LIKE

    parser = argparse.ArgumentParser()
    sim_cmd.register(parser.add_subparsers())
    opts = sim_cmd.options_from(parser.parse_args(["sim"]))
    assert {k: getattr(opts, k) for k in MARKET_LIKE} == MARKET_LIKE
    quiet = sim_cmd.options_from(parser.parse_args(["sim", "--book", "simple", "--no-market-events",
                                                    "--latency", "150±50"]))
    assert quiet.book == "simple" and not (quiet.funding or quiet.liquidation or quiet.market_trades)
    assert (quiet.latency_ms, quiet.latency_jitter_ms) == (150, 50)


def test_with_no_options_it_serves_where_the_sim_environment_looks() -> None:
    import argparse
    from urllib.parse import urlsplit

    from traytrader.commands import sim_cmd
    from traytrader.core.environments import ENVIRONMENTS
    from traytrader.core.models import Environment

    parser = argparse.ArgumentParser()
    sim_cmd.register(parser.add_subparsers())
    port = sim_cmd.options_from(parser.parse_args(["sim"])).port
    hosts = ENVIRONMENTS[Environment.SIM]
    assert {urlsplit(url).port for url in (hosts.rest_url, hosts.ws_api_url, hosts.stream_url)} == {port}


def test_a_busy_port_is_one_sentence_with_the_way_out() -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        r = subprocess.run([sys.executable, "-m", "traytrader", "sim", "--port", str(port)],
                           capture_output=True, text=True, timeout=30)
    finally:
        holder.close()
    assert r.returncode == 2 and r.stderr.startswith(f"traytrader: Cannot serve on 127.0.0.1:{port}")
    assert "--port 0" in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
