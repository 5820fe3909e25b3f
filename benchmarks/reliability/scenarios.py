"""The fault scenarios of issue 8, each a scripted run with seeded random timing.

A scenario says how to set up the simulator and the engine, and what one run does: which fault is
armed (``POST /sim/fault``), when (a random lead or lag around the keypress), and which keys are
pressed. The runner measures; this module only scripts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.reliability import protection
from benchmarks.reliability.runner import EngineOptions, Harness, PressResult
from traytrader.core.models import KeyType, OrderType
from traytrader.engine.api import CommandKind, Event
from traytrader.sim import SimOptions

Act = Callable[[Harness, random.Random], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    act: Act
    prepare: Act | None = None
    after_clear: Callable[[Harness], None] | None = None  # re-arm what clear_faults removed
    cleanup: Callable[[Harness], None] | None = None
    sim: SimOptions = field(default_factory=lambda: SimOptions(seed=7, tick_ms=100))
    engine: EngineOptions = field(default_factory=EngineOptions)
    runs: int = 20  # full run
    fast_runs: int = 0  # 0: not in the --fast subset
    hold_s: float = 6.0
    measures: str = ""  # what ``Harness.measured_ms`` holds for this scenario, if anything


def _side(rng: random.Random) -> CommandKind:
    return rng.choice((CommandKind.BUY, CommandKind.SELL))


def _fault_then_press(
    kind: str, method: str = "order.place", ms: int | Callable[[Harness, random.Random], int] = 0
) -> Act:
    def act(h: Harness, rng: random.Random) -> None:
        delay = ms(h, rng) if callable(ms) else ms
        # Random moment between arming and pressing: the fault must not depend on tight timing.
        time.sleep(rng.uniform(0, 0.05))
        h.sim.fault(kind, method, 1, delay)
        h.press(_side(rng))

    return act


def _close_all_before_press(h: Harness, rng: random.Random) -> None:
    """(a) The connection drops just before the keypress: refused while down, or sent after the
    reconnect — never both, never lost without a word."""
    h.sim.fault("close_all")
    time.sleep(rng.uniform(0, 0.08))
    h.press(_side(rng))


def _restart_around_press(h: Harness, rng: random.Random) -> None:
    """Server restart (state kept) at a random moment just before or after the keypress."""
    lead = rng.uniform(-0.02, 0.02)
    kind = _side(rng)
    if lead > 0:
        h.sim.restart()
        time.sleep(lead)
        h.press(kind)
        return
    mark = h.submit(kind)
    time.sleep(-lead)
    h.sim.restart()
    _wait_terminal(h, mark, kind)


def _wait_terminal(h: Harness, mark: int, kind: CommandKind, timeout: float = 30.0) -> None:
    assert h.last_command is not None
    event = h.answer_of(h.last_command, timeout, after=mark)
    h.presses.append(PressResult(kind, event, True))


def _delay_ms(h: Harness, rng: random.Random) -> int:
    return h.options.request_timeout_ms + rng.randint(100, 900)


def _skew(h: Harness, rng: random.Random) -> None:
    ms = rng.choice((-3000, 3000))
    h.notes.append(f"clock skew {ms:+d} ms")
    h.sim.fault("clock_skew", "*", 1, ms)
    h.scratch["skew_ms"] = ms


def _reskew(h: Harness) -> None:
    h.sim.fault("clock_skew", "*", 1, h.scratch.get("skew_ms", 0))


def _unskew(h: Harness) -> None:
    h.sim.clear_faults()


def _user_stream(h: Harness) -> tuple[int, bool]:
    session = h.engine.session
    stream = getattr(session, "user_stream", None)
    if stream is None:
        return 0, False
    return stream.keys_created, stream.connection.connected.is_set()


def _listen_key_expiry(h: Harness, rng: random.Random) -> None:
    """Every listenKey expires at a random moment around a keypress; the engine must re-create the
    user stream (new key) and keep protecting the position."""
    h.press(_side(rng))
    time.sleep(rng.uniform(0, 0.2))
    keys, _ = _user_stream(h)
    started = time.monotonic()
    h.sim.fault("expire_listen_key")
    if h.poll(lambda: _user_stream(h)[0] > keys and _user_stream(h)[1], 15.0, 0.005):
        h.extra_reconnects.append((time.monotonic() - started) * 1000)
    else:
        h.notes.append("user stream not re-created within 15 s after listenKey expiry")
    h.press(_side(rng))


def _market_stalls(h: Harness) -> int:
    """How many times the engine noticed a silent market stream (``StreamConnection.stalls``)."""
    session = h.engine.session
    return sum(s.stalls for s in getattr(session, "market_streams", []) or [])


STALL_SENTENCE = "(the market stream stalled)"


def _market_stall(h: Harness, rng: random.Random) -> None:
    """The simulator's market streams go silent (TCP up, no data: ``stall`` fault) for 4–6 s, longer
    than the engine's stall threshold (2.5 s). The engine must notice (stall counter; the "reconnect"
    column is the time from the stall's start to that), refuse an entry while its price is stale,
    with the sentence, and trade again once the stream is back."""
    from traytrader.engine.entry_arming import STALE_PRICE_S
    from traytrader.engine.warmup import MARK_STALL_S

    h.press(_side(rng))  # a position whose stop must survive the stall
    before = _market_stalls(h)
    stall_s = rng.uniform(4.0, 6.0)
    started = time.monotonic()
    h.sim.fault("stall", "*", 1, int(stall_s * 1000))
    detected = h.poll(lambda: _market_stalls(h) > before, stall_s, 0.005)
    if detected:
        h.extra_reconnects.append((time.monotonic() - started) * 1000)
    else:
        h.notes.append(f"market-stream stall of {stall_s:.1f} s not detected by the engine")
    session = h.engine.session
    stale = h.poll(lambda: (session.price_age_s("BTCUSDT") or 0.0) > STALE_PRICE_S + 0.1,
                   max(0.0, stall_s - (time.monotonic() - started) - 0.3), 0.01)
    if stale:
        refused = h.press(_side(rng))
        text = getattr(refused.event, "text", "") or ""
        if STALL_SENTENCE not in text:
            h.notes.append(f"entry on a stale price ({stall_s:.1f} s stall) not refused: {text or 'sent'}")
    rest = stall_s - (time.monotonic() - started)
    if rest > 0:
        time.sleep(rest)  # the fault's own duration: nothing to wait for on the engine's side
    back = h.poll(lambda: (session.price_age_s("BTCUSDT") or 99.0) < 1.5, MARK_STALL_S + 10.0, 0.01)
    if not back:
        h.notes.append("market stream not back within 12.5 s after the stall ended")
    h.press(_side(rng))  # trades again on a fresh price


def _burst(h: Harness, rng: random.Random) -> None:
    """100 keypresses within one second (BUY and SELL mixed), as a stuck or bouncing key would."""
    from benchmarks.reliability.runner import TERMINAL

    mark = h.recorder.mark()
    kinds = [_side(rng) for _ in range(100)]
    started = time.monotonic()
    for i, kind in enumerate(kinds):
        h.submit(kind)
        pause = started + (i + 1) / 100 - time.monotonic()
        if pause > 0:
            time.sleep(pause)

    def answered() -> bool:
        return sum(isinstance(e, TERMINAL) for _, e in h.recorder.since(mark)) >= len(kinds)

    h.poll(answered, 30.0, 0.01)
    terminals = [e for _, e in h.recorder.since(mark) if isinstance(e, TERMINAL)]
    for i, kind in enumerate(kinds):
        event: Event | None = terminals[i] if i < len(terminals) else None
        h.presses.append(PressResult(kind, event, True))


def _rollover(h: Harness, rng: random.Random) -> None:
    """Keys pressed across planned rollovers (the simulator's session limit, shortened)."""
    deadline = time.monotonic() + h.sim_options.session_limit_s * 1.6
    long = True
    while time.monotonic() < deadline:
        h.press(CommandKind.BUY if long else CommandKind.SELL)
        long = not long
        time.sleep(rng.uniform(0.2, 0.5))


def _limited_then_trade(kind: str) -> Act:
    """A 429 (``rate_limit_429``) or a 418 ban (``ban_418``) answers the keypress: it must end in a
    sentence saying until when orders are held; nothing is sent meanwhile (a keypress during the
    hold is refused here); once the hold ends the next keypress trades."""

    def act(h: Harness, rng: random.Random) -> None:
        hold_ms = rng.randint(800, 1500)
        h.sim.fault(kind, "order.place" if kind == "rate_limit_429" else "*", 1, hold_ms)
        first = h.press(_side(rng))
        text = first.event.text if first.event is not None else ""
        if "until" not in text:
            h.notes.append(f"{kind}: the refusal does not say until when: {text}")
        h.press(_side(rng))   # during the hold: refused locally, with the same sentence
        session = h.engine.session

        def trading() -> bool:
            return session is not None and session.ready and \
                session.limiter.held(session.clock.now_ms()) is None

        if not h.poll(trading, 10.0, 0.01):
            h.notes.append(f"{kind}: still held 10 s after a {hold_ms} ms hold")
        h.press(_side(rng))

    return act


ROLLOVER_LIMIT_S = 3.0
LIMIT_ENTRY = EngineOptions(order_type=OrderType.LIMIT, limit_offset_ticks=50)

# Issue 12: the paths a trader takes, each with its own promise checked (protection.py).
PROTECTION: tuple[Scenario, ...] = (
    Scenario(
        "limit-filled-later",
        "LIMIT entry rests, fills later: announced and protected",
        protection.limit_filled_later,
        prepare=protection.at_base_price,
        engine=LIMIT_ENTRY,
        fast_runs=2,
    ),
    Scenario(
        "cli-reverse",
        "`traytrader order reverse`: returns after both legs, the new position protected",
        protection.cli_reverse,
        prepare=protection.within_weight,
        fast_runs=1,
    ),
    Scenario(
        "crash-before-stop",
        "the app stops with the stop in flight: the next start protects",
        protection.crash_before_stop,
        prepare=protection.within_weight,
        fast_runs=1,
        measures="engine ready → position protected",
    ),
    Scenario(
        "stream-drop-stop-fires",
        "user stream down while the hard stop fires: no stop left, no safety stop",
        protection.stream_drop_stop_fires,
        prepare=protection.at_base_price,
        fast_runs=1,
    ),
    Scenario(
        "gap-through-hard-stop",
        "LIMIT filled by a 4–6% gap through its hard stop: closed at market",
        protection.gap_through_hard_stop,
        prepare=protection.at_base_price,
        engine=LIMIT_ENTRY,
        fast_runs=2,
        measures="fill → close at market (exchange clock)",
    ),
    Scenario(
        "flatten-during-unknown",
        "flatten while the entry's outcome is unknown: answered first, ends flat",
        protection.flatten_during_unknown,
        fast_runs=2,
    ),
    Scenario(
        "status-unknown",
        "-1006/-1007 execution status unknown (executed now, later, or never)",
        protection.status_unknown,
        fast_runs=2,
        measures="key → the traded order created on the exchange (resends included)",
    ),
    Scenario(
        "drop-on-receipt-recv5000",
        "(a') dropped on receipt, not executed, with the default recvWindow (5000 ms): resent late?",
        _fault_then_press("drop_before_execute"),
        engine=EngineOptions(recv_window_ms=5000),
        runs=10,
    ),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "a-drop-before-send",
        "(a) connection dropped before the order is sent",
        _close_all_before_press,
        fast_runs=2,
    ),
    Scenario(
        "a-drop-on-receipt",
        "(a') dropped on receipt, not executed",
        _fault_then_press("drop_before_execute"),
        fast_runs=2,
    ),
    Scenario(
        "b-drop-before-reply",
        "(b) dropped after send, before the reply",
        _fault_then_press("drop_before_reply"),
        fast_runs=2,
    ),
    Scenario(
        "b-stop-placement",
        "(b) of a stop placement (algoOrder.place)",
        _fault_then_press("drop_before_reply", "algoOrder.place"),
        fast_runs=2,
    ),
    Scenario(
        "c-drop-after-reply",
        "(c) dropped after the reply",
        _fault_then_press("drop_after_reply"),
        fast_runs=2,
    ),
    Scenario("server-restart", "server restart, state kept", _restart_around_press, fast_runs=2),
    Scenario(
        "unknown-503", "503 unknown while the order executes", _fault_then_press("unknown_503"), fast_runs=2
    ),
    Scenario(
        "reply-delayed",
        "reply delayed past the timeout",
        _fault_then_press("delay", ms=_delay_ms),
        fast_runs=2,
    ),
    Scenario(
        "clock-skew",
        "exchange clock skewed ±3 s",
        lambda h, rng: h.press(_side(rng)),
        prepare=_skew,
        after_clear=_reskew,
        cleanup=_unskew,
        fast_runs=4,
    ),
    Scenario("listenkey-expiry", "listenKey expiry", _listen_key_expiry, fast_runs=1),
    Scenario(
        "market-stall",
        "market-stream stall",
        _market_stall,
        runs=8,
        fast_runs=1,
    ),
    Scenario(
        "burst-100",
        "burst of 100 keypresses in 1 s",
        _burst,
        engine=EngineOptions(cooldown_ms=300, max_orders_per_minute=4),
        runs=3,
        fast_runs=1,
    ),
    Scenario(
        "rollover",
        "24-hour rollover (shortened to 3 s)",
        _rollover,
        sim=SimOptions(seed=7, session_limit_s=ROLLOVER_LIMIT_S),
        engine=EngineOptions(rollover_after_s=ROLLOVER_LIMIT_S * 0.6),
        runs=3,
        fast_runs=1,
    ),
    Scenario(
        "rate-limit-429",
        "429 (too many requests) on the order, Retry-After honoured",
        _limited_then_trade("rate_limit_429"),
        runs=8,
        fast_runs=1,
    ),
    Scenario(
        "ban-418",
        "418 IP ban, every request refused until it ends",
        _limited_then_trade("ban_418"),
        runs=8,
        fast_runs=1,
    ),
    Scenario(
        "ed25519-drop-before-reply",
        "(b) with an Ed25519 key (session.logon)",
        _fault_then_press("drop_before_reply"),
        engine=EngineOptions(key_type=KeyType.ED25519),
        runs=10,
        fast_runs=1,
    ),
    *PROTECTION,
)


def by_name(names: list[str]) -> list[Scenario]:
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"Unknown scenario {unknown[0]!r}; choose from: {', '.join(known)}.")
    return [known[n] for n in names]
