"""Benchmark: build + sign + serialise one ``order.place`` frame, traytrader vs the official SDK.

The SDK side runs exactly what ``binance-sdk-derivatives-trading-usds-futures`` 18.1.0 does before
it hands a frame to the socket (``TradeApi.new_order`` params → ``binance_common.utils.
ws_api_payload`` → ``websocket_api_signature`` → ``json.dumps``), minus its log-line formatting,
which would only add to its time. Both sides sign the same order with the same keys.

Run: ``.venv/bin/python benchmarks/bench_signing.py [--iterations N]``. Prints median and p99 (µs).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from traytrader.core.filters import parse_exchange_info
from traytrader.core.frames import FrameBuilder
from traytrader.core.models import (
    ApiCredentials,
    KeyType,
    OrderType,
    PositionMode,
    Profile,
    Side,
    TimeInForce,
)
from traytrader.core.orders import OrderRequest, build_entry_order, new_client_id

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
HMAC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
ED25519_PEM = ("-----BEGIN PRIVATE KEY-----\n"
               "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
               "-----END PRIVATE KEY-----\n")
EXCHANGE_INFO = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "binance_usdm_exchange_info_sample.json"
)


def measure(step: Callable[[int], object], iterations: int) -> tuple[float, float]:
    """(median, p99) in microseconds of ``step(i)`` over ``iterations`` calls after a warm-up."""
    for i in range(min(2000, iterations)):
        step(i)
    gc.collect()
    samples = []
    clock = time.perf_counter_ns
    for i in range(iterations):
        start = clock()
        step(i)
        samples.append(clock() - start)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def traytrader_step(key_type: KeyType) -> Callable[[int], object]:
    secret = HMAC_SECRET if key_type is KeyType.HMAC else ED25519_PEM
    builder = FrameBuilder(ApiCredentials("bench", key_type, API_KEY, secret), recv_window=5000)
    timestamp = int(time.time() * 1000)

    def step(i: int) -> str:
        order = OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.016"),
                             price=Decimal("59999.8"), time_in_force=TimeInForce.GTC,
                             client_order_id=f"tt-mifgd3qt-ab12-{i}")
        return builder.build(str(i), "order.place", order.params(), timestamp + i)

    return step


def keypress_step() -> Callable[[int], object]:
    """Profile → sized, rounded, checked order → signed frame (HMAC): the whole pure hot path."""
    filters = parse_exchange_info(EXCHANGE_INFO.read_text()).symbol("BTCUSDT")
    profile = Profile("bench", "BTCUSDT", 10, notional_usdt=Decimal("1000"), order_type=OrderType.LIMIT,
                      limit_offset_ticks=2)
    builder = FrameBuilder(ApiCredentials("bench", KeyType.HMAC, API_KEY, HMAC_SECRET), recv_window=5000)
    bid, ask, mark = Decimal("60000.00"), Decimal("60000.01"), Decimal("60000.5")
    timestamp = int(time.time() * 1000)

    def step(i: int) -> str:
        client_id = new_client_id("tt", i, timestamp, "ab12")
        order = build_entry_order(profile, Side.BUY, filters, bid, ask, mark, PositionMode.ONE_WAY, client_id)
        return builder.build(str(i), "order.place", order.params(), timestamp + i)

    return step


def armed_step() -> Callable[[int], object]:
    """The same keypress the way the engine arms it: a prepared plan sizes the order and a frame
    template signs and frames it (``core/entry_plan.py``, ``FrameTemplate``)."""
    from traytrader.core.entry_plan import EntryPlan

    filters = parse_exchange_info(EXCHANGE_INFO.read_text()).symbol("BTCUSDT")
    profile = Profile("bench", "BTCUSDT", 10, notional_usdt=Decimal("1000"), order_type=OrderType.LIMIT,
                      limit_offset_ticks=2)
    builder = FrameBuilder(ApiCredentials("bench", KeyType.HMAC, API_KEY, HMAC_SECRET), recv_window=5000)
    plan = EntryPlan.prepare(profile, Side.BUY, filters, PositionMode.ONE_WAY)
    assert plan is not None
    template = builder.template("order.place", plan.fixed_params(), ("newClientOrderId", "price", "quantity"))
    bid, ask, mark = Decimal("60000.00"), Decimal("60000.01"), Decimal("60000.5")
    timestamp = int(time.time() * 1000)

    def step(i: int) -> str:
        sized = plan.size(bid, ask, mark)
        assert sized is not None and sized.price_text is not None
        values = (f"tt-mifgd3qt-ab12-{i}", sized.price_text, sized.quantity_text)
        return template.fill(str(i), values, timestamp + i)

    return step


def sdk_step(key_type: KeyType) -> Callable[[int], object]:
    from binance_common.configuration import ConfigurationWebSocketAPI
    from binance_common.models import WebsocketApiOptions
    from binance_common.signature import Signers
    from binance_common.utils import ws_api_payload

    if key_type is KeyType.HMAC:
        config = ConfigurationWebSocketAPI(api_key=API_KEY, api_secret=HMAC_SECRET)
        signer = None
    else:
        config = ConfigurationWebSocketAPI(api_key=API_KEY, private_key=ED25519_PEM)
        signer = Signers.get_ed25519_signer(ED25519_PEM, None)

    def step(i: int) -> str:
        # TradeApi.new_order(...) builds this dict, then send_signed_message signs and serialises it.
        params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "time_in_force": "GTC",
                  "quantity": 0.016, "price": 59999.8, "new_client_order_id": f"tt-mifgd3qt-ab12-{i}",
                  "recv_window": 5000}
        options = WebsocketApiOptions(signer=signer, api_key=False, is_signed=True, skip_auth=False)
        payload = ws_api_payload(config, {"method": "order.place", "params": params}, options)
        return json.dumps(payload)

    return step


def check_equivalent() -> None:
    """Both sides produce a parseable frame with a signature for the same order (sanity, not timing)."""
    for key_type in KeyType:
        ours = json.loads(str(traytrader_step(key_type)(1)))["params"]
        theirs = json.loads(str(sdk_step(key_type)(1)))["params"]
        assert ours["signature"] and theirs["signature"]
        assert ours["newClientOrderId"] == theirs["newClientOrderId"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args(argv)
    check_equivalent()
    rows = [
        ("traytrader HMAC     order.place frame", traytrader_step(KeyType.HMAC)),
        ("SDK 18.1.0 HMAC     order.place frame", sdk_step(KeyType.HMAC)),
        ("traytrader Ed25519  order.place frame", traytrader_step(KeyType.ED25519)),
        ("SDK 18.1.0 Ed25519  order.place frame", sdk_step(KeyType.ED25519)),
        ("traytrader HMAC     profile -> sized order -> frame", keypress_step()),
        ("traytrader HMAC     the same, planned + template", armed_step()),
    ]
    print(f"build + sign + serialise one order.place frame, {args.iterations} iterations, Python "
          f"{sys.version.split()[0]}")
    print(f"{'step':<52}{'median µs':>11}{'p99 µs':>10}")
    for name, step in rows:
        median, p99 = measure(step, args.iterations)
        print(f"{name:<52}{median:>11.1f}{p99:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
