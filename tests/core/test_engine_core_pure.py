"""Pure decisions the engine relies on: retry classification, backoff, rate limits, the shield
table and WS-API response parsing."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from traytrader.core.codes import BinanceCode
from traytrader.core.errors import (
    ConfigError,
    ExchangeRejected,
    InvalidOrder,
    OutcomeUnknown,
    TransportError,
)
from traytrader.core.ratelimit import RateLimiter
from traytrader.core.requests import RequestIds, WsResponse, parse_response, retry_until_ms
from traytrader.core.retry import RetryDecision, backoff, classify
from traytrader.core.shield_table import HTTP_ROWS, SHIELD_TABLE, Reaction, explain, row_for


@pytest.mark.parametrize(
    ("exc", "decision"),
    [
        (OutcomeUnknown("x"), RetryDecision.RESOLVE_FIRST),
        (TransportError("x"), RetryDecision.RETRY),
        (TransportError("x", retryable=False), RetryDecision.FATAL),
        (ExchangeRejected(-1021, "ts"), RetryDecision.RESYNC_AND_RETRY),
        (ExchangeRejected(-5028, "me"), RetryDecision.RESYNC_AND_RETRY),
        (ExchangeRejected(-1001, "dc"), RetryDecision.RETRY),
        (ExchangeRejected(-1000, "x", http_status=502), RetryDecision.RETRY),
        (ExchangeRejected(-2015, "key"), RetryDecision.FATAL),
        (ConfigError("x"), RetryDecision.FATAL),
        (InvalidOrder("x"), RetryDecision.FATAL),
        (ConnectionResetError(), RetryDecision.RETRY),
        (TimeoutError(), RetryDecision.RETRY),
        (ValueError(), RetryDecision.FATAL),
    ],
)
def test_classify(exc: BaseException, decision: RetryDecision) -> None:
    assert classify(exc) is decision


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    delays = backoff(initial_s=0.1, factor=2, max_s=1.0, rng=random.Random(3))
    values = [next(delays) for _ in range(8)]
    nominal = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    for value, d in zip(values, nominal, strict=True):
        assert d / 2 <= value <= d
    assert len(set(values)) == len(values)  # jittered


def test_backoff_deterministic_with_seed() -> None:
    a = backoff(rng=random.Random(1))
    b = backoff(rng=random.Random(1))
    assert [next(a) for _ in range(5)] == [next(b) for _ in range(5)]


LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400, "count": 10},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300, "count": 1},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200, "count": 1},
]


def test_limiter_allows_normal_order() -> None:
    limiter = RateLimiter(max_orders_per_minute=5, max_notional_usdt=Decimal(1000))
    limiter.observe(LIMITS, 60_000)
    assert limiter.refuse_order(60_001, Decimal(100)) is None


def test_limiter_refuses_above_notional_cap_but_not_reduce_only() -> None:
    limiter = RateLimiter(max_orders_per_minute=5, max_notional_usdt=Decimal(1000))
    text = limiter.refuse_order(0, Decimal("1000.01"))
    assert text is not None and "max_notional_usdt" in text
    assert limiter.refuse_order(0, Decimal("1000.01"), reduce_only=True) is None


def test_limiter_user_cap_per_minute_slides() -> None:
    limiter = RateLimiter(max_orders_per_minute=2, max_notional_usdt=Decimal(1000))
    limiter.record_order(1_000)
    limiter.record_order(2_000)
    refusal = limiter.refuse_order(3_000, Decimal(1))
    assert refusal is not None and "max_orders_per_minute" in refusal
    assert limiter.refuse_order(61_001, Decimal(1)) is None


def test_limiter_exchange_counter_near_limit_and_window_reset() -> None:
    limiter = RateLimiter(max_orders_per_minute=1000, max_notional_usdt=Decimal(10**6))
    near = [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300, "count": 290}]
    limiter.observe(near, 10_000)
    refusal = limiter.refuse_order(10_500, Decimal(1))
    assert refusal is not None and "ORDERS" in refusal
    # reduce-only may use the reserve
    assert limiter.refuse_order(10_500, None, reduce_only=True) is None
    # the next 10-second window starts from zero
    assert limiter.refuse_order(20_000, Decimal(1)) is None


def test_limiter_record_counts_in_current_window() -> None:
    limiter = RateLimiter(max_orders_per_minute=1000, max_notional_usdt=Decimal(10**6))
    limiter.observe(
        [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300, "count": 5}], 0
    )
    limiter.record_order(100)
    assert limiter.usage(100)["ORDERS/10s"] == "6/300"
    limiter.record_order(10_100)
    assert limiter.usage(10_100)["ORDERS/10s"] == "1/300"


def test_limiter_hold_blocks_everything_until_it_ends() -> None:
    limiter = RateLimiter(max_orders_per_minute=5, max_notional_usdt=Decimal(1000))
    limiter.hold_until(5_000, "held")
    assert limiter.refuse_order(4_999, Decimal(1)) == "held"
    assert limiter.refuse_order(4_999, None, reduce_only=True) == "held"
    assert limiter.refuse_order(5_000, Decimal(1)) is None


def test_limiter_ignores_malformed_rate_limits() -> None:
    limiter = RateLimiter(max_orders_per_minute=5, max_notional_usdt=Decimal(1000))
    limiter.observe([{"interval": "WEEK"}, {"rateLimitType": "ORDERS"}], 0)
    assert limiter.usage(0) == {}


@pytest.mark.parametrize(
    ("code", "reaction"),
    [
        (-1021, Reaction.RESYNC_CLOCK_RETRY),
        (-1003, Reaction.BACKOFF_HOLD),
        (-1015, Reaction.BACKOFF_HOLD),
        (-2015, Reaction.HUMAN),
        (-4061, Reaction.REREAD_MODE_REBUILD),
        (-1106, Reaction.REREAD_MODE_REBUILD),
        (-1111, Reaction.REFRESH_FILTERS_REBUILD),
        (-4014, Reaction.REFRESH_FILTERS_REBUILD),
        (-4023, Reaction.REFRESH_FILTERS_REBUILD),
        (-4164, Reaction.EXPLAIN),
        (-2019, Reaction.EXPLAIN),
        (-4131, Reaction.EXPLAIN),
        (-2020, Reaction.EXPLAIN),
        (-5021, Reaction.EXPLAIN),
        (-5022, Reaction.EXPLAIN),
    ],
)
def test_shield_table_rows(code: int, reaction: Reaction) -> None:
    row = row_for(code)
    assert row is not None and row.reaction is reaction
    assert code in {int(c) for c in BinanceCode}


def test_shield_http_status_wins() -> None:
    assert row_for(-1003, 429) is HTTP_ROWS[429]
    assert row_for(-1003, 418).reaction is Reaction.BANNED  # type: ignore[union-attr]


def test_explain_sentences() -> None:
    assert "5 USDT" in explain(-4164, "x", symbol="BTCUSDT", min_notional="5")
    assert "IP" in explain(-2015, "x") and "futures" in explain(-2015, "x")
    assert (
        explain(-9999, "Something odd.") == "The exchange refused the request: Something odd. (code -9999)."
    )
    assert "sent again" in explain(-1021, "x", retried=True)
    assert "12:00:00" in explain(-1003, "x", until="12:00:00")
    for row in SHIELD_TABLE.values():  # every sentence formats with defaults only
        assert row.sentence.format(msg="m", symbol="S", min_notional="1", until="t", retried="")


def test_parse_response_ok_error_and_unsolicited() -> None:
    ok = parse_response('{"id":"7","status":200,"result":{"a":1},"rateLimits":[{"x":1}]}')
    assert isinstance(ok, WsResponse) and ok.ok and ok.result == {"a": 1} and ok.rate_limits == [{"x": 1}]
    err = parse_response('{"id":"8","status":400,"error":{"code":-4164,"msg":"small"}}')
    assert isinstance(err, WsResponse) and not err.ok and err.error_code == -4164 and err.error_msg == "small"
    unknown = parse_response(
        '{"id":"9","status":503,"error":{"code":-1000,"msg":"Unknown error, please '
        'check your request or try again later."}}'
    )
    assert isinstance(unknown, WsResponse) and unknown.outcome_unknown
    unavailable = parse_response(
        '{"id":"9","status":503,"error":{"code":-1000,"msg":"Service Unavailable."}}'
    )
    assert isinstance(unavailable, WsResponse) and not unavailable.outcome_unknown
    event = parse_response('{"e":"x"}')
    assert event == {"e": "x"}
    with pytest.raises(ValueError):
        parse_response("[1]")


def test_retry_until_forms() -> None:
    assert retry_until_ms(None, "3", 1_000) == 4_000
    assert retry_until_ms(1_700_000_000_000, None, 1_000) == 1_700_000_000_000
    assert retry_until_ms(2, None, 1_000) == 3_000
    assert retry_until_ms(None, "junk", 1_000) == 61_000


def test_request_ids_are_unique_strings() -> None:
    ids = RequestIds()
    assert [ids.next() for _ in range(3)] == ["1", "2", "3"]
