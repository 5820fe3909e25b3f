"""The toolkit's config keys (issue 16): risk_usdt, risk_pct, take_profit, close_fractions,
add_fraction, and the hotkeys breakeven, add and close_N; each mistake is one sentence naming the
key and what is allowed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from traytrader.config import load_config_text
from traytrader.core.errors import ConfigError

BASE = '''[[profiles]]
name = "p"
symbol = "BTCUSDT"
leverage = 5
'''


def load(extra: str, hotkeys: str = ""):
    return load_config_text((f"[hotkeys]\n{hotkeys}\n" if hotkeys else "") + BASE + extra, "cfg.toml")


def error(extra: str, hotkeys: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        load(extra, hotkeys)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("cfg.toml") and message.endswith(".")
    return message


def test_the_keys_load() -> None:
    config = load('risk_pct = 0.5\nclose_fractions = [0.5, 0.25, 0.5]\nadd_fraction = 1\n'
                  'take_profit = [{ profit_pct = 1.5, close_fraction = 0.3 }]\n',
                  'breakeven = "<ctrl>+e"\nadd = "<ctrl>+a"\nclose_25 = "<ctrl>+2"\nclose_50 = "<ctrl>+5"')
    (profile,) = config.profiles
    assert profile.risk_pct == Decimal("0.5") and profile.risk_usdt is None and profile.notional_usdt is None
    assert profile.close_fractions == (Decimal("0.25"), Decimal("0.5"))
    assert profile.add_fraction == Decimal("1")
    targets = [(t.profit_pct, t.close_fraction) for t in profile.asl.take_profit]
    assert targets == [(Decimal("1.5"), Decimal("0.3"))]
    assert (config.hotkeys.breakeven, config.hotkeys.add) == ("<ctrl>+e", "<ctrl>+a")
    assert config.hotkeys.close_parts == ((25, "<ctrl>+2"), (50, "<ctrl>+5"))


@pytest.mark.parametrize(("extra", "hotkeys", "words"), [
    ("risk_usdt = 10\nnotional_usdt = 100\n", "", "must set exactly one of notional_usdt"),
    ("risk_usdt = 0\n", "", "profiles[1].risk_usdt must be a number above 0"),
    ("risk_pct = 150\n", "", "profiles[1].risk_pct must be a number above 0 and at most 100 percent"),
    ("risk_usdt = 5\n[profiles.asl]\nenabled = false\n", "", "sizes orders from the hard stop"),
    ("notional_usdt = 100\nclose_fractions = 0.5\n", "", "close_fractions must be a list of fractions"),
    ("notional_usdt = 100\nclose_fractions = [1.5]\n", "", "close_fractions[1] must be a number above 0"),
    ("notional_usdt = 100\nadd_fraction = 0\n", "", "add_fraction must be a number above 0"),
    ("notional_usdt = 100\ntake_profit = [{ profit_pct = 2 }]\n", "", "needs close_fraction"),
    ("notional_usdt = 100\ntake_profit = [{ profit_pct = 2, close_fraction = 0.6 },"
     " { profit_pct = 3, close_fraction = 0.6 }]\n", "", "add up to at most 1"),
    ("notional_usdt = 100\ntake_profit = [{ profit_pct = 2, close_fraction = 0.5 },"
     " { profit_pct = 1, close_fraction = 0.5 }]\n", "", "must be above the previous take-profit"),
    ("notional_usdt = 100\n", 'close_50 = "<ctrl>+b"', "is already the hotkey for hotkeys.buy"),
    ("notional_usdt = 100\n", 'close_100 = "<ctrl>+9"', "close_100 is not a known key"),
    ("notional_usdt = 100\n", 'breakeven = "ctrl+e"', "hotkeys.breakeven must be a hotkey"),
])
def test_mistakes_are_one_sentence(extra: str, hotkeys: str, words: str) -> None:
    assert words in error(extra, hotkeys)
