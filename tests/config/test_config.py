"""Loading the TOML config: the example, environments and URLs, and one clear sentence per mistake."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from traytrader.config import (
    ENDPOINTS,
    ensure_user_config,
    example_config_text,
    load_config,
    load_config_text,
    parse_hotkey,
)
from traytrader.config_toml import locate
from traytrader.core.errors import ConfigError
from traytrader.core.models import (
    AslTier,
    Environment,
    MarginType,
    OrderType,
    TimeInForce,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "config.example.toml").read_text(encoding="utf-8")

MINIMAL = """
[[profiles]]
name = "p"
symbol = "btcusdt"
leverage = 1
quantity = "0.001"
"""


def load(text: str):
    return load_config_text(text, "cfg.toml")


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(text)
    message = str(info.value)
    assert "\n" not in message and message.endswith("."), message
    return message


def test_shipped_example_is_identical_to_the_top_level_copy() -> None:
    assert example_config_text() == EXAMPLE
    assert (REPO / "traytrader" / "data" / "config.example.toml").read_text(encoding="utf-8") == EXAMPLE


def test_example_loads_with_the_documented_profiles() -> None:
    config = load_config(REPO / "config.example.toml")
    assert config.exchange.environment is Environment.SIM
    assert (config.exchange.rest_url, config.exchange.ws_api_url, config.exchange.stream_url) == (
        "http://127.0.0.1:8765", "ws://127.0.0.1:8765/ws-fapi/v1", "ws://127.0.0.1:8765")
    assert (config.hotkeys.buy, config.hotkeys.sell) == ("<ctrl>+b", "<ctrl>+s")
    btc, eth, sol, risk = config.profiles
    assert (btc.name, btc.symbol, btc.notional_usdt, btc.leverage, btc.margin_type, btc.order_type) == (
        "btc-100", "BTCUSDT", Decimal("200"), 5, MarginType.CROSSED, OrderType.MARKET)
    assert (eth.order_type, eth.limit_offset_ticks, eth.time_in_force) == (
        OrderType.LIMIT, 2, TimeInForce.GTC)
    assert (sol.quantity, sol.notional_usdt) == (Decimal("1"), None)
    assert (risk.risk_usdt, risk.notional_usdt, risk.close_fractions, risk.add_fraction) == (
        Decimal("10"), None, (Decimal("0.25"), Decimal("0.5")), Decimal("0.5"))
    assert [(t.profit_pct, t.close_fraction) for t in risk.asl.take_profit] == [
        (Decimal("2"), Decimal("0.5")), (Decimal("4"), Decimal("0.25"))]
    assert config.default_profile == "btc-100"
    # [profiles.asl] overrides merge over [asl]: eth changes the hard stop and tiers only.
    assert eth.asl.hard_stop_pct == Decimal("1.5") and eth.asl.safety_stop_pct == config.asl.safety_stop_pct
    assert eth.asl.tiers == (AslTier(Decimal("1"), Decimal("1")), AslTier(Decimal("3"), Decimal("0.5")))
    assert btc.asl == config.asl
    assert config.asl.tiers[1] == AslTier(Decimal("2"), Decimal("1.5"))


def test_minimal_config_gets_defaults_and_sim() -> None:
    config = load(MINIMAL)
    assert config.exchange.environment is Environment.SIM and config.exchange.key == "default"
    assert config.profiles[0].symbol == "BTCUSDT" and config.profiles[0].quantity == Decimal("0.001")
    assert config.default_profile == ""


@pytest.mark.parametrize("env", list(Environment))
def test_environment_picks_urls(env: Environment) -> None:
    config = load(f'[exchange]\nenvironment = "{env.value}"\n' + MINIMAL)
    exchange = config.exchange
    assert (exchange.rest_url, exchange.ws_api_url, exchange.stream_url) == ENDPOINTS[env]
    assert ENDPOINTS[Environment.LIVE][0] == "https://fapi.binance.com"
    assert ENDPOINTS[Environment.TESTNET][1] == "wss://testnet.binancefuture.com/ws-fapi/v1"


def test_url_overrides_point_at_another_simulator() -> None:
    config = load('[exchange]\nrest_url = "http://127.0.0.1:9999/"\nws_api_url = "ws://127.0.0.1:9999/ws-fapi/v1"\n'
                  'stream_url = "ws://127.0.0.1:9999"\nkey = "sim-key"\n' + MINIMAL)
    assert config.exchange.rest_url == "http://127.0.0.1:9999" and config.exchange.key == "sim-key"
    assert config.exchange.stream_url == "ws://127.0.0.1:9999"


def test_numbers_as_strings_floats_and_ints_become_exact_decimals() -> None:
    config = load(MINIMAL.replace('quantity = "0.001"', "notional_usdt = 0.1"))
    assert config.profiles[0].notional_usdt == Decimal("0.1")  # not 0.1000000000000000055...
    config = load(MINIMAL.replace("leverage = 1", 'leverage = "20"'))
    assert config.profiles[0].leverage == 20


def err_for(old: str, new: str) -> str:
    assert old in EXAMPLE
    return error(EXAMPLE.replace(old, new, 1))


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("leverage = 3", "leverage = 126",
     "line 99: profiles[2].leverage must be a whole number from 1 to 125, not 126"),
    ("leverage = 3", "leverage = 0", "profiles[2].leverage must be a whole number from 1 to 125, not 0"),
    ("leverage = 3", "leverage = 2.5", "profiles[2].leverage must be a whole number"),
    ("leverage = 3", "leverage = true",
     "profiles[2].leverage must be a whole number from 1 to 125, not true"),
    ("leverage = 3", "levrage = 3", "profiles[2].levrage is not a known key (perhaps you meant leverage)"),
    ("quantity = 1", "quantity = 0", "profiles[3].quantity must be a number above 0"),
    ("quantity = 1", "quantity = -5", "profiles[3].quantity must be a number above 0"),
    ("notional_usdt = 200", 'notional_usdt = "lots"', "profiles[1].notional_usdt must be a number above 0"),
    ("notional_usdt = 200", "notional_usdt = nan", "profiles[1].notional_usdt must be a number"),
    ("notional_usdt = 200", "notional_usdt = 9000", "above safety.max_notional_usdt (5000)"),
    ('name = "sol-qty"', 'name = "BTC-100"', "profiles[3].name 'BTC-100' is already the name of profiles[1]"),
    ("quantity = 1\n", "", "profiles[3] (sol-qty) must set exactly one of notional_usdt"),
    ("quantity = 1\n", "quantity = 1\nnotional_usdt = 5\n", "exactly one of notional_usdt"),
    ('symbol = "SOLUSDT"\n', "", "profiles[3] has no symbol"),
    ('symbol = "SOLUSDT"', 'symbol = "SOL/USDT"', "profiles[3].symbol must be a Binance"),
    ('environment = "sim"', 'environment = "prod"',
     "exchange.environment must be one of sim, testnet, demo, live"),
    ('environment = "sim"', "environment = 1", "line 26: exchange.environment must be one of"),
    ('key = "default"', 'api_key = "abc"',
     "line 28: exchange.api_key looks like a secret; secrets belong in"),
    ('key = "default"', 'key = "has spaces in it"', "exchange.key must be the name of a key in the vault"),
    ("cooldown_ms = 500", "cooldown_ms = -1", "safety.cooldown_ms must be a whole number from 0 to 60000"),
    ('margin_type = "CROSSED"', 'margin_type = "CROSS"',
     "profiles[1].margin_type must be one of CROSSED, ISOLATED"),
    ('order_type = "MARKET"', 'order_type = "MARKET"\nlimit_offset_ticks = 1',
     "profiles[1].limit_offset_ticks only applies to LIMIT orders"),
    ('time_in_force = "GTC"', 'time_in_force = "DAY"', "profiles[2].time_in_force must be one of GTC"),
    ("hard_stop_pct = 1.5", "hard_stop_pct = 100", "profiles[2].asl.hard_stop_pct must be below 100 percent"),
    ("hard_stop_pct = 1.5", "hard_stop_pct = 1.5\ntoken = 'x'", "profiles[2].asl.token looks like a secret"),
    ("callback_pct = 0.5 }", "callback_pct = 0 }",
     "profiles[2].asl.tiers[2].callback_pct must be a number above 0"),
    ("profit_pct = 3", "profit_pct = 1", "profiles[2].asl.tiers[2].profit_pct must be above the previous"),
    ("profit_pct = 4\n", "", "asl.tiers[3] needs profit_pct"),
    ('working_type = "MARK_PRICE"', 'working_type = "LAST"', "asl.working_type must be one of MARK_PRICE"),
    ('buy = "<ctrl>+b"', 'buy = "<ctrl>+s"', "hotkeys.sell '<ctrl>+s' is already the hotkey for hotkeys.buy"),
    ('buy = "<ctrl>+b"', 'buy = "<ctrl>+<hyper>+b"', "hotkeys.buy must be a hotkey in pynput syntax"),
    ('buy = "<ctrl>+b"', 'buy = "ctrl+b"', "hotkeys.buy must be a hotkey"),
    ("armed_on_start = true", 'armed_on_start = "yes"', "hotkeys.armed_on_start must be true or false"),
    ('default_profile = "btc-100"', 'default_profile = "nope"', "default_profile 'nope' is not a profile"),
    ('default_profile = "btc-100"', 'defualt_profile = "x"', "perhaps you meant default_profile"),
    ("recv_window_ms = 5000", "recv_window_ms = 60001",
     "exchange.recv_window_ms must be a whole number from 1"),
    ('# rest_url = "http://127.0.0.1:8765"', 'rest_url = "ftp://x"',
     "exchange.rest_url must be a URL starting"),
])
def test_mistakes_name_file_key_and_what_is_allowed(old: str, new: str, expected: str) -> None:
    message = err_for(old, new)
    assert message.startswith("cfg.toml")
    assert expected in message


def test_errors_carry_the_line_of_the_key() -> None:
    text = EXAMPLE.replace("leverage = 2\n", "leverage = 200\n")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s == "leverage = 200")
    assert f"cfg.toml, line {line}: profiles[3].leverage" in error(text)


def test_the_key_value_of_exchange_key_is_never_echoed() -> None:
    secret_like = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A+/="
    message = err_for('key = "default"', f'key = "{secret_like}"')
    assert secret_like not in message and secret_like[:10] not in message


def test_a_private_key_pasted_anywhere_is_refused() -> None:
    message = err_for("[hotkeys]", '# -----BEGIN PRIVATE KEY-----\n[hotkeys]')
    assert "secrets belong in the vault" in message and "line" in message


def test_malformed_toml_gives_line_and_column() -> None:
    message = err_for("[hotkeys]", "[hotkeys")
    assert message.startswith("cfg.toml is not valid TOML:") and "line 37, column 9" in message


def test_huge_integer_literal_is_a_config_error() -> None:
    assert "more than 4300 digits" in err_for("leverage = 3", "leverage = " + "9" * 5000)


def test_live_must_be_explicit() -> None:
    assert load(MINIMAL).exchange.environment is Environment.SIM
    assert load('[exchange]\nenvironment = "LIVE"\n' + MINIMAL).exchange.environment is Environment.LIVE


def test_no_profiles_is_an_error() -> None:
    assert "has no [[profiles]]" in error('[exchange]\nenvironment = "sim"\n')
    assert "profiles is empty" in error("profiles = []\n")
    assert "profiles must be a list of tables" in error('profiles = "btc"\n')
    assert "cfg.toml, line 1: safety must be a table, not 5" in error("safety = 5\n" + MINIMAL)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="There is no config file at"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(bad)


def test_ensure_user_config_writes_the_example_once(tmp_path: Path) -> None:
    target = tmp_path / "cfg" / "config.toml"
    assert ensure_user_config(target) is True
    assert target.read_text(encoding="utf-8") == EXAMPLE
    target.write_text(MINIMAL)
    assert ensure_user_config(target) is False
    assert target.read_text() == MINIMAL  # a user's file is never replaced


@pytest.mark.parametrize(("spec", "normal"), [
    ("<ctrl>+b", "<ctrl>+b"), ("<CTRL>+<Shift>+B", "<ctrl>+<shift>+b"), ("<f9>", "<f9>"), ("<ctrl>++",
     "<ctrl>++"),
    ("<65>", "<65>"), ("<ctrl>", None), ("<ctrl>+a+b", None), ("<ctrl>+<ctrl>+b", None), ("ctrl+b", None),
    ("<nope>+b", None), ("", None),
])
def test_parse_hotkey(spec: str, normal: str | None) -> None:
    assert parse_hotkey(spec) == normal


def test_locate_follows_arrays_of_tables_and_subtables() -> None:
    text = "[[profiles]]\nname = 'a'\n[[profiles]]\nname = 'b'\n[profiles.asl]\nhard_stop_pct = 1\n" \
           "tiers = [{profit_pct = 1}]\n"
    assert locate(text, ("profiles", 2, "name")) == 4
    assert locate(text, ("profiles", 2, "asl", "hard_stop_pct")) == 6
    assert locate(text, ("profiles", 2, "asl", "tiers", 1, "profit_pct")) == 7
    assert locate(text, ("profiles", 1, "symbol")) == 1
    assert locate(text, ("exchange", "key")) is None
