"""One table of hosts per environment (core/environments.py), the same in the README, and each
environment a consistent set: testnet and demo trading never mixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from traytrader.config import load_config_text
from traytrader.core.environments import ENVIRONMENTS, environment_of, key_mismatch_sentence
from traytrader.core.models import Environment

REPO = Path(__file__).resolve().parents[2]
PROFILE = '[[profiles]]\nname = "p"\nsymbol = "BTCUSDT"\nleverage = 1\nquantity = "0.001"\n'
REMOTE = (Environment.TESTNET, Environment.DEMO, Environment.LIVE)


@pytest.mark.parametrize("env", REMOTE)
def test_each_environment_is_one_consistent_set_of_hosts(env: Environment) -> None:
    exchange = load_config_text(f'[exchange]\nenvironment = "{env.value}"\n{PROFILE}').exchange
    urls = (exchange.rest_url, exchange.ws_api_url, exchange.stream_url)
    assert urls == ENVIRONMENTS[env].urls
    assert set(environment_of(*urls).values()) == {env}


def test_testnet_and_demo_share_no_host_and_the_sentence_says_so() -> None:
    def hosts(env: Environment) -> set[str]:
        return {url.split("://")[1].split("/")[0] for url in ENVIRONMENTS[env].urls}

    assert not hosts(Environment.TESTNET) & hosts(Environment.DEMO)
    assert not (hosts(Environment.TESTNET) | hosts(Environment.DEMO)) & hosts(Environment.LIVE)
    assert "not interchangeable" in key_mismatch_sentence(Environment.DEMO)


def test_a_mixed_configuration_is_recognised() -> None:
    demo, testnet = ENVIRONMENTS[Environment.DEMO], ENVIRONMENTS[Environment.TESTNET]
    found = environment_of(demo.rest_url, testnet.ws_api_url, testnet.stream_url)
    assert found == {"REST": Environment.DEMO, "WS API": Environment.TESTNET, "streams": Environment.TESTNET}


@pytest.mark.parametrize("env", [*REMOTE, Environment.SIM])
def test_the_readme_table_matches_the_code(env: Environment) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{env.value}` |"))
    hosts = ENVIRONMENTS[env]
    for url in hosts.urls:
        assert f"`{url}`" in row
    assert hosts.taken in readme
