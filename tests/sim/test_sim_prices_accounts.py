"""Price paths (seeded walk, CSV replay), the accounts file, and an accounts-file simulator."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from simkit import WsApi, hmac_sign, now_ms

from traytrader.core.errors import ConfigError
from traytrader.sim import DEMO_ED25519_PUBLIC_KEY_PEM, SimOptions, start_sim
from traytrader.sim.accounts import parse_accounts
from traytrader.sim.prices import PricePath, load_candles

KLINES = Path(__file__).resolve().parents[1].joinpath("data/real/klines")
ONE_MIN = KLINES / "binance_usdm_btcusdt_1m_2025-05-21T16_to_2025-05-23T16.csv"


def test_random_walk_is_reproducible_and_on_tick() -> None:
    def run(seed: int) -> list[Decimal]:
        p = PricePath(Decimal("65000"), Decimal("0.1"), seed=seed)
        return [p.advance(t) or p.price for t in range(250, 25_001, 250)]

    a, b, c = run(5), run(5), run(6)
    assert a == b and a != c
    assert all(x % Decimal("0.1") == 0 for x in a)
    assert len(set(a)) > 10  # it moves


def test_replay_walks_inside_each_candle() -> None:
    candles = load_candles(ONE_MIN)
    assert len(candles) == 2880 and candles[0].open_time_ms == 1747843200000
    path = PricePath(Decimal(0), Decimal("0.1"), seed=0, candles=candles)
    for c in candles[:50]:
        legs = [path.price, path.step(1), path.step(1)]
        expected = [c.open, c.low, c.high] if c.close >= c.open else [c.open, c.high, c.low]
        assert legs == expected
        path.step(1)
    # speed: 60x replays one 1-minute candle per real second
    fast = PricePath(Decimal(0), Decimal("0.1"), seed=0, candles=candles, speed=60.0, now_ms=0)
    assert fast.advance(1000) == candles[1].open or candles[1].open == candles[0].open
    fast.set(Decimal("1"))
    assert fast.advance(5000) is None and fast.price == Decimal("1.0")


def test_bad_candle_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("open_time_ms,open,high,low,close,volume\n1,10,11,9,10,1\n2,10,9,11,10,1\n")
    with pytest.raises(ConfigError, match="Line 3"):
        load_candles(bad)
    bad.write_text("1,x,1,1,1,1\n")
    with pytest.raises(ConfigError, match="Line 1"):
        load_candles(bad)
    with pytest.raises(ConfigError, match="Cannot read"):
        load_candles(tmp_path / "missing.csv")


def test_accounts_file_parsing() -> None:
    specs = parse_accounts(f'''
[[account]]
api_key = "alice"
hmac_secret = "s"
balance_usdt = "5000"
position_mode = "hedge"

[[account]]
api_key = "bob"
ed25519_public_key = """{DEMO_ED25519_PUBLIC_KEY_PEM}"""
''')
    assert [(s.api_key, s.balance_usdt, s.hedge_mode, s.is_ed25519) for s in specs] == [
        ("alice", Decimal(5000), True, False),
        ("bob", Decimal(10000), False, True),
    ]
    for text, words in [
        ("", "no [[account]]"),
        ("[[account]]\nhmac_secret='s'", "no api_key"),
        ("[[account]]\napi_key='a'", "exactly one"),
        ("[[account]]\napi_key='a'\nhmac_secret='s'\nposition_mode='both'", "position_mode"),
        ("[[account]]\napi_key='a'\ned25519_public_key='nope'", "not a PEM"),
        ("[[account]]\napi_key='a'\nhmac_secret='s'\nbalance_usdt='x'", "not a number"),
        ("[[account]]\napi_key='a'\nhmac_secret='s'\n[[account]]\napi_key='a'\nhmac_secret='t'", "repeats"),
        ("[[account", "not valid TOML"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            parse_accounts(text)


async def test_simulator_with_accounts_file_and_csv(tmp_path: Path, http) -> None:
    f = tmp_path / "accounts.toml"
    f.write_text(
        '[[account]]\napi_key = "alice"\nhmac_secret = "alice-secret"\nposition_mode = "hedge"\n'
        'balance_usdt = "100"\n'
    )
    sim = await start_sim(SimOptions(accounts_file=str(f), prices_csv=f"BTCUSDT={ONE_MIN}"))
    try:
        first = load_candles(ONE_MIN)[0]
        assert sim.exchange.quotes["BTCUSDT"].last == first.open
        async with http.ws_connect(sim.ws_api_url) as ws:
            api = WsApi(ws)
            p = {
                "apiKey": "alice",
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "MARKET",
                "quantity": "0.050",
                "positionSide": "LONG",
                "timestamp": now_ms(),
            }
            p["signature"] = hmac_sign("&".join(f"{k}={v}" for k, v in sorted(p.items())), "alice-secret")
            r = await api.call("order.place", p, sign=False)
            assert r["error"]["code"] == -2019  # 100 USDT at 20x cannot open ~5300 USDT
            r = await api.call("account.balance")  # the demo key does not exist here
            assert r["error"]["code"] == -2015
    finally:
        await sim.stop()
