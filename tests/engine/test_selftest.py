"""``traytrader selftest`` against the simulator: the whole --trade round trip as a user runs it
(a real subprocess, vault and config), and the simulator made to drift on purpose (``/sim/drift``):
each drift gives exactly the one FAIL line that names it, and the account is left as it was.
Nothing printed or written may contain the API secret or key."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_kit import (
    SimControl,
    ed25519_credentials,
    hmac_credentials,
    make_config,
    order_count,
    sim_config_head,
    write_demo_vault,
)

from traytrader.core.models import ApiCredentials, Profile
from traytrader.engine.selftest import run_selftest_sync
from traytrader.engine.selftest_report import FAIL, OK, Redactor

REPO = Path(__file__).resolve().parents[2]
SECRETS = (
    hmac_credentials().secret,
    hmac_credentials().api_key,
    ed25519_credentials().api_key,
    *ed25519_credentials().secret.splitlines()[1:-1],
)
TRADE_STEPS = (
    "order",
    "ORDER_TRADE_UPDATE",
    "ACCOUNT_UPDATE",
    "protective stop",
    "ALGO_UPDATE",
    "replacement",
    "close",
    "cancel",
    "account",
)


def account(sim: SimControl, api_key: str) -> dict[str, Any]:
    return next(a for a in sim.state()["accounts"] if a["apiKey"] == api_key)


def assert_clean(sim: SimControl, api_key: str) -> None:
    """No position, no open order, no open algo order: the account as the simulator started it."""
    state = account(sim, api_key)
    assert all(Decimal(p["positionAmt"]) == 0 for p in state["positions"]), state["positions"]
    assert state["openOrders"] == [] and state["openAlgoOrders"] == [], state


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def names(lines: list[str], status: str) -> list[str]:
    return [line[6:].split(":", 1)[0] for line in lines if line.startswith(status)]


@pytest.fixture
def setup(sim: SimControl, tmp_path: Path) -> dict[str, Path]:
    vault, password_file = write_demo_vault(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(sim_config_head(sim) + '''[[profiles]]
name = "btc"
symbol = "BTCUSDT"
leverage = 5
notional_usdt = 200
''')
    return {
        "config": config,
        "vault": vault,
        "pw": password_file,
        "home": tmp_path,
        "report": tmp_path / "report.txt",
    }


def selftest_cli(setup: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    home = setup["home"]
    env = dict(
        os.environ,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "cfg"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "traytrader",
            "selftest",
            "--config",
            str(setup["config"]),
            "--vault",
            str(setup["vault"]),
            "--password-file",
            str(setup["pw"]),
            "--report",
            str(setup["report"]),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


def test_trade_round_trip_passes_end_to_end_and_leaves_the_account_clean(
    sim: SimControl, setup: dict[str, Path]
) -> None:
    result = selftest_cli(setup, "--trade")
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert names(lines, FAIL) == []
    passed = names(lines, OK)
    for step in TRADE_STEPS:
        assert step in passed, step
    latencies = next(line for line in lines if line.startswith("ok    latencies"))
    for measured in ("REST round trip", "order round trip", "stop placement"):
        assert measured in latencies
    assert order_count(sim.state(), hmac_credentials().api_key) == 2  # it really traded: entry and close
    assert_clean(sim, hmac_credentials().api_key)
    report = setup["report"].read_text()
    assert "ok    replacement: make-before-break" in report and "All " in report
    assert_no_secret(result.stdout, result.stderr, report)


# drift body, credentials, the one FAIL it must give (and a phrase of its sentence)
DRIFTS = [
    (
        {"kind": "algo_field", "rename": {"caid": "clientAlgoId"}},
        hmac_credentials,
        "ALGO_UPDATE",
        "event had",
    ),
    ({"kind": "no_algo"}, hmac_credentials, "algo orders", "no Algo Service endpoint"),
    ({"kind": "no_stream", "group": "market"}, hmac_credentials, "stream /market", "2026-04-23"),
    (
        {"kind": "foreign_key"},
        hmac_credentials,
        "API key",
        "testnet and demo-trading keys are not interchangeable",
    ),
    ({"kind": "hmac_logon"}, ed25519_credentials, "session.logon", "registered on Binance as an HMAC key"),
]


@pytest.mark.parametrize(
    ("drift", "make_credentials", "name", "phrase"), DRIFTS, ids=[d[0]["kind"] for d in DRIFTS]
)
def test_each_drift_gives_exactly_the_fail_line_that_names_it(
    sim: SimControl, drift: dict[str, Any], make_credentials: Any, name: str, phrase: str
) -> None:
    credentials: ApiCredentials = make_credentials()
    sim._request("POST", "/sim/drift", drift)
    config = make_config(
        sim, profiles=(Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=Decimal(200)),)
    )
    lines: list[str] = []
    report = run_selftest_sync(config, credentials, lines.append, trade=True, stream_wait_s=2.0)
    failures = [line for line in lines if line.startswith(FAIL)]
    assert names(lines, FAIL) == [name], "\n".join(lines)
    assert phrase.lower() in failures[0].lower()
    assert_clean(sim, credentials.api_key)
    assert_no_secret("\n".join(lines), report.file_text(environment="sim", config_path="<test>", trade=True))


def test_drift_control_says_what_is_wrong_and_clears(sim: SimControl) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        sim._request("POST", "/sim/drift", {"kind": "renamed_everything"})
    assert refused.value.code == 400 and b"Unknown drift kind" in refused.value.read()
    sim._request("POST", "/sim/drift", {"kind": "no_stream", "group": "public"})
    assert sim._request("GET", "/sim/drift")["drift"]["no_stream"] == ["public"]
    assert sim._request("DELETE", "/sim/drift")["drift"]["no_stream"] == []


def test_live_trade_never_runs_from_a_password_file_alone(setup: dict[str, Path]) -> None:
    text = setup["config"].read_text().replace('environment = "sim"', 'environment = "live"')
    setup["config"].write_text("\n".join(line for line in text.splitlines() if "_url" not in line))
    result = selftest_cli(setup, "--trade")
    assert result.returncode != 0
    assert "never runs from a password file or a pipe alone" in result.stderr
    assert not setup["report"].exists()  # refused before connecting anywhere


def test_redactor_hides_secrets_and_signatures_in_any_text() -> None:
    credentials = ed25519_credentials()
    redact = Redactor([hmac_credentials().secret, credentials.secret, "listenKeyABCDEFGH123"])
    pem_line = credentials.secret.splitlines()[1]
    text = (
        f"failed: {hmac_credentials().secret} / {pem_line} / wss://x/private/ws/listenKeyABCDEFGH123"
        f" signature={'ab' * 32}"
    )
    shown = redact(text)
    assert_no_secret(shown)
    assert "listenKeyABCDEFGH123" not in shown and "ab" * 32 not in shown and shown.count("[redacted]") == 4


def test_an_account_left_different_is_said_with_what_is_left(sim: SimControl) -> None:
    """Every cancel refused (a rate limit on algoOrder.cancel and on orders): the round trip cannot
    clean up, and says so, naming the position and the stops left behind."""
    sim._request(
        "POST",
        "/sim/fault",
        {"kind": "rate_limit_429", "method": "algoOrder.cancel", "count": 10, "code": -1015},
    )
    config = make_config(
        sim, profiles=(Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=Decimal(200)),)
    )
    lines: list[str] = []
    run_selftest_sync(config, hmac_credentials(), lines.append, trade=True)
    account_line = next(line for line in lines if line.startswith(f"{FAIL}  account:"))
    assert "NOT as the selftest found it" in account_line and "open algo order" in account_line
    left = account(sim, hmac_credentials().api_key)
    assert left["openAlgoOrders"], "the test's premise: the stops really are left"
