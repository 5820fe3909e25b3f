"""Retry decisions and backoff delays, as pure functions (the websockets pattern).

``classify(exc)`` says how to react to a failure; ``backoff()`` yields the delays between
reconnect attempts. The I/O layer owns the loop and the sleeping; this module only decides, so
both are tested with plain tables and an injected random generator.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from enum import StrEnum

from traytrader.core.codes import BinanceCode
from traytrader.core.errors import (
    ConfigError,
    ExchangeRejected,
    OutcomeUnknown,
    TransportError,
    VaultError,
)


class RetryDecision(StrEnum):
    RETRY = "retry"                      # transient: try again after a backoff delay
    RESYNC_AND_RETRY = "resync"          # our clock drifted: resync, then retry once
    RESOLVE_FIRST = "resolve"            # the request may have executed: ask before resending
    FATAL = "fatal"                      # a human must act, or the request itself is wrong


# Exchange codes that mean "the server was busy/unwell, the request did not execute".
_TRANSIENT_CODES = frozenset({
    BinanceCode.DISCONNECTED, BinanceCode.REQUEST_THROTTLED,
})
_CLOCK_CODES = frozenset({BinanceCode.INVALID_TIMESTAMP, BinanceCode.ME_RECVWINDOW_REJECT})


def classify(exc: BaseException) -> RetryDecision:
    """How to react to ``exc``; foreign exceptions (OSError, timeouts) count as transient."""
    if isinstance(exc, OutcomeUnknown):
        return RetryDecision.RESOLVE_FIRST
    if isinstance(exc, TransportError):
        return RetryDecision.RETRY if exc.retryable else RetryDecision.FATAL
    if isinstance(exc, ExchangeRejected):
        if exc.code in _CLOCK_CODES:
            return RetryDecision.RESYNC_AND_RETRY
        if exc.code in _TRANSIENT_CODES or exc.http_status in (502, 504):
            return RetryDecision.RETRY
        return RetryDecision.FATAL
    if isinstance(exc, ConfigError | VaultError):
        return RetryDecision.FATAL
    if isinstance(exc, OSError | TimeoutError | ConnectionError | EOFError):
        return RetryDecision.RETRY
    return RetryDecision.FATAL


def backoff(
    *,
    initial_s: float = 0.1,
    factor: float = 2.0,
    max_s: float = 30.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Exponential backoff with "equal jitter": each delay is in [d/2, d], d doubling up to ``max_s``.

    Jitter spreads reconnects of many clients (AWS architecture blog, "Exponential Backoff And
    Jitter"); keeping half the delay fixed still guarantees growth.
    """
    rand = rng or random.Random()
    delay = initial_s
    while True:
        yield delay / 2 + rand.random() * delay / 2
        delay = min(delay * factor, max_s)
