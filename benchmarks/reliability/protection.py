"""The protection paths of issue 12 as fault scenarios: each run takes a path a trader takes (a LIMIT
entry that fills later, a CLI reverse, a crash before the stop lands, a stop that fires while the
user stream is down, a gap through the hard stop, a flatten while an entry's outcome is unknown,
Binance's -1006/-1007 "execution status unknown") and checks that path's own promise from the
exchange's record (``GET /sim/state``), beside the runner's invariants (duplicates, undetermined,
unprotected time, orphan stops, late orders, looser stops).

A promise that does not hold is a failed check (``Harness.check``): an invariant failure, with one
note saying what was seen. The acts only script and check; the runner measures.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.reliability.runner import STOP_PREFIX, Harness, PressResult
from traytrader.engine.api import (
    CommandDone,
    CommandKind,
    CommandRejected,
    EngineState,
    OrderAccepted,
    OrderFilled,
    SafetyAction,
    StateChanged,
    StopMoved,
    is_final_answer,
)

D = Decimal
SYMBOL = "BTCUSDT"
TICK = D("0.1")
#: How long after a stop fired (or a position closed) we watch that no stop of ours appears: the
#: watchdog's grace (2 s) and a period more.
QUIET_WATCH_S = 3.0


# -- reading the exchange ------------------------------------------------------------------------------


def _account(h: Harness, state: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in state["accounts"] if a["apiKey"] == h.credentials.api_key)


def position(h: Harness, state: dict[str, Any] | None = None) -> Decimal:
    state = state if state is not None else h.sim.state()
    rows = _account(h, state)["positions"]
    return sum((D(r["positionAmt"]) for r in rows if r["symbol"] == SYMBOL), D(0))


def our_stops(state: dict[str, Any], status: str | None = "NEW") -> list[dict[str, Any]]:
    return [
        o
        for o in state["orders"]
        if o.get("kind") == "algo"
        and str(o.get("clientAlgoId", "")).startswith(STOP_PREFIX)
        and (status is None or o.get("status") == status)
    ]


def covered(h: Harness, state: dict[str, Any] | None = None) -> bool:
    """The position is open and one NEW stop of ours on the closing side covers all of it."""
    state = state if state is not None else h.sim.state()
    amount = position(h, state)
    side = "SELL" if amount > 0 else "BUY"
    return amount != 0 and any(
        o["side"] == side and D(o["quantity"]) >= abs(amount) for o in our_stops(state)
    )


def _side(rng: random.Random) -> CommandKind:
    return rng.choice((CommandKind.BUY, CommandKind.SELL))


def _price_through(price: Decimal, kind: CommandKind, fraction: Decimal) -> str:
    """``price`` moved by ``fraction`` against a position opened by ``kind`` (down for a long)."""
    factor = 1 - fraction if kind is CommandKind.BUY else 1 + fraction
    return str((price * factor).quantize(TICK))


def _events_since(h: Harness, mark: int) -> list[Any]:
    return [e for _, e in h.recorder.since(mark)]


def base_price(h: Harness) -> Decimal:
    """The level every run starts from: the market's price when the scenario began."""
    if "base_price" not in h.scratch:
        h.scratch["base_price"] = D(h.sim.state(orders=False)["quotes"][SYMBOL]["last"]).quantize(TICK)
    return h.scratch["base_price"]


def at_base_price(h: Harness, rng: random.Random) -> None:
    """Every run starts from the same level, the path paused (only the scenario moves it), once the
    engine's book and mark price both show it. Both matter and arrive apart (book ticker and mark
    price are separate streams; the mark ticks every second): a LIMIT priced off the previous run's
    book would cross at once or be refused by PERCENT_PRICE (mark × 1.05), which is the harness's
    doing, not a path a trader takes (a live book is never 5 % off for seconds)."""
    base = base_price(h)
    h.sim.set_price(SYMBOL, str(base))

    def engine_sees_it() -> bool:
        session = h.engine.session
        book = session.book(SYMBOL) if session is not None else None
        mark = h.engine.status().mark_price
        return book is not None and book[0] == base and mark is not None and abs(mark - base) <= TICK

    h.check(h.poll(engine_sees_it, 5.0, 0.01), f"the engine's book and mark never reached {base}")


#: A run that starts engines (warm-ups, resyncs) begins only below this much of Binance's request
#: weight of 2400 a minute, so that the engine's own (right) "Holding new orders" never decides it.
WEIGHT_HEADROOM = 1200


def within_weight(h: Harness, rng: random.Random) -> None:
    """Wait for the exchange's next weight window when the current one is half used: three warm-ups
    a run (two CLI processes, the app's restart) at 20 runs a minute would spend the 2400, and the
    engine would rightly hold every order — a user does not restart the app 40 times a minute."""
    import json
    import urllib.request

    with urllib.request.urlopen(h.sim.rest_url + "/fapi/v1/time", timeout=10) as answer:
        used = int(answer.headers.get("X-MBX-USED-WEIGHT-1M") or 0)
        server_ms = int(json.loads(answer.read())["serverTime"])
    if used >= WEIGHT_HEADROOM:
        wait_s = (60_000 - server_ms % 60_000) / 1000 + 0.2
        h.notes.append(f"waited {wait_s:.0f} s for the next weight window ({used} of 2400 used)")
        time.sleep(wait_s)  # the exchange's fixed one-minute window: nothing to wait on but time


# -- (1) a LIMIT entry rests and fills later ------------------------------------------------------------


def _rest_a_limit(h: Harness, rng: random.Random) -> tuple[CommandKind, OrderAccepted] | None:
    """Press a LIMIT entry of a random side; the side and its answer if it rests on the book, else
    None (and the run's check says why)."""
    kind = _side(rng)
    rested = h.press(kind)
    if not h.check(
        isinstance(rested.event, OrderAccepted), f"the LIMIT {kind.value} did not rest: {rested.text}"
    ):
        return None
    assert isinstance(rested.event, OrderAccepted) and rested.event.price is not None
    return kind, rested.event


def limit_filled_later(h: Harness, rng: random.Random) -> None:
    """The LIMIT entry rests (offset from the touch); the market then trades through it. The fill
    must be announced (OrderFilled "the resting order filled", command_id 0) and protected within
    the bound (measured by the runner from the exchange's record)."""
    resting = _rest_a_limit(h, rng)
    if resting is None:
        return
    kind, rested = resting
    time.sleep(rng.uniform(0, 0.3))  # it rests a while; the ASL has nothing to protect yet
    h.check(position(h) == 0, "a resting LIMIT order changed the position before the market reached it")
    mark = h.recorder.mark()
    through = rng.randint(1, 50) * TICK
    target = rested.price - through if kind is CommandKind.BUY else rested.price + through
    h.sim.set_price(SYMBOL, str(target))
    cid = rested.client_order_id
    filled = h.recorder.wait(
        lambda e: isinstance(e, OrderFilled) and e.client_order_id == cid, 10.0, after=mark
    )
    if h.check(filled is not None, "the resting order's fill was never announced"):
        assert isinstance(filled, OrderFilled)
        h.check(
            filled.command_id == 0 and "resting order filled" in filled.text,
            f"the later fill is not announced as the resting order's: {filled.text}",
        )
    h.check(h.poll(lambda: covered(h), 5.0, 0.02), "the filled LIMIT entry got no covering stop within 5 s")


# -- (2) `traytrader order reverse` as a user runs it ---------------------------------------------------


def _cli_files(h: Harness) -> tuple[Path, Path, Path]:
    """Config file, vault and password file for ``traytrader order`` against this simulator."""
    from benchmarks.reliability.engine_proc import config_text, write_vault

    files = h.scratch.get("cli_files")
    if files is None:
        config = h.workdir / "config.toml"
        config.write_text(config_text(h.sim, h.options))
        vault, password = write_vault(h.workdir)
        files = h.scratch["cli_files"] = (config, vault, password)
    return files


def cli_order(h: Harness, action: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``traytrader order ACTION`` in its own process on the harness's journal; its lifetime is the
    key's window (an order of its after it exited + 2 s is late); what it printed with exit 0 is
    what the user was told."""
    config, vault, password = _cli_files(h)
    home = h.workdir / "home"
    env = dict(
        os.environ,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "cfg"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
    )
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    args = [
        sys.executable,
        "-m",
        "traytrader",
        "order",
        action,
        "--config",
        str(config),
        "--vault",
        str(vault),
        "--password-file",
        str(password),
        "--journal",
        str(h.journal_path),
        "--timeout",
        str(timeout_s),
    ]
    launched = time.time() * 1000
    before = {o.get("clientOrderId") for o in h.sim.state()["orders"] if o.get("kind") != "algo"}
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
    )
    h.key_windows.append((launched, time.time() * 1000))
    kind = CommandKind(action)
    # One sentence either way: the result on stdout (exit 0) or the reason on stderr (exit 1).
    said = (done.stdout if done.returncode == 0 else done.stderr).strip().splitlines()
    h.presses.append(PressResult(kind, None, True, answered=bool(said), text=said[0] if said else ""))
    if done.returncode == 0 and said:  # the user read the outcome of every order the command sent
        for order in h.sim.state()["orders"]:
            cid = order.get("clientOrderId")
            if order.get("kind") != "algo" and cid not in before and str(cid).startswith("tt-"):
                h.recorder.told.add(str(cid))
    return done


def cli_reverse(h: Harness, rng: random.Random) -> None:
    """With the app not running (its engine stopped), ``traytrader order buy|sell`` then ``traytrader
    order reverse``: the reverse exits 0 only after both legs, with the new (opposite) position
    covered by a stop of ours the moment it returns, and the old leg's stop gone. The app's engine
    is then started again on the same journal (it adopts that stop; the runner flattens)."""
    kind = _side(rng)
    h.stop_engine()
    try:
        opened = cli_order(h, kind.value)
        if not h.check(
            opened.returncode == 0,
            f"`order {kind.value}` exited {opened.returncode}: "
            f"{(opened.stderr or opened.stdout).strip()[-200:]}",
        ):
            return
        opened_state = h.sim.state()
        h.check(covered(h, opened_state), f"`order {kind.value}` returned with the position unprotected")
        amount = position(h, opened_state)
        time.sleep(rng.uniform(0, 0.2))
        reversed_ = cli_order(h, "reverse")
        state = h.sim.state()  # read the moment it returns: the promise is "protected on return"
        if not h.check(
            reversed_.returncode == 0,
            f"`order reverse` exited {reversed_.returncode}: "
            f"{(reversed_.stderr or reversed_.stdout).strip()[-200:]}",
        ):
            return
        now = position(h, state)
        h.check(
            now != 0 and (now > 0) != (amount > 0), f"after the reverse the position is {now} (was {amount})"
        )
        h.check(covered(h, state), "`order reverse` returned with the new position unprotected")
        wrong = [o for o in our_stops(state) if o["side"] == ("SELL" if amount > 0 else "BUY")]
        h.check(not wrong, f"the old leg's stop is still open after the reverse ({len(wrong)})")
    finally:
        h.start_engine()


# -- (3) the engine stops after the fill, before the stop's answer ------------------------------------


def crash_before_stop(h: Harness, rng: random.Random) -> None:
    """The app stops after the fill, before its stop is confirmed: in half the runs the stop's
    placement is in flight (executed, its answer delayed 2–5 s: the next start must adopt it, not
    add a second one), in the other half it never lands (every ``algoOrder.place`` dropped before it
    executes until the app stops: the next start must place it). The next start on the same journal
    must know the position is ours (our client id on the order that opened it) and hold exactly one
    stop of ours for it, within the grace window of being ready. ``measured``: ready → protected."""
    landed = rng.random() < 0.5
    earlier = {o["algoId"] for o in our_stops(h.sim.state())}  # a previous run's, if it left any
    if landed:
        h.sim.fault("delay", "algoOrder.place", 1, rng.randint(2000, 5000))
    else:
        h.sim.fault("drop_before_execute", "algoOrder.place", 1000)
    filled = h.press(_side(rng))
    if not h.check(isinstance(filled.event, OrderFilled), f"the entry did not fill: {filled.text}"):
        return
    time.sleep(rng.uniform(0, 0.1))
    h.stop_engine()
    if not landed:
        landed_anyway = [o for o in our_stops(h.sim.state()) if o["algoId"] not in earlier]
        h.check(not landed_anyway, "a stop landed although every placement was dropped")
    h.sim.clear_faults()
    h.check(position(h) != 0, "the position vanished while the engine was stopped")
    h.start_engine()
    ready = time.monotonic()
    grace_s = h.options.asl.grace_ms / 1000
    protected = h.poll(lambda: h.engine.protection_gap(SYMBOL) is None and covered(h), grace_s + 3.0, 0.02)
    if h.check(
        protected, f"after the restart the position is not protected: {h.engine.protection_gap(SYMBOL)}"
    ):
        h.measured_ms.append((time.monotonic() - ready) * 1000)
    stops = [o for o in our_stops(h.sim.state()) if o["algoId"] not in earlier]
    h.check(len(stops) == 1, f"{len(stops)} stops of ours open after the restart (one expected)")


# -- (4) the user stream is down while the hard stop fires ---------------------------------------------


def stream_drop_stop_fires(h: Harness, rng: random.Random) -> None:
    """With the hard stop on, every listenKey expires and the market moves 5% through the stop at
    once: the stop fires during the user-stream gap. Afterwards no stop of ours is open and none is
    placed (no safety stop for a position that no longer exists), watched for grace + a period."""
    kind = _side(rng)
    filled = h.press(kind)
    if not h.check(isinstance(filled.event, OrderFilled), f"the entry did not fill: {filled.text}"):
        return
    if not h.check(h.poll(lambda: covered(h), 5.0, 0.02), "the entry got no stop before the fault"):
        return
    mark = h.recorder.mark()
    h.sim.fault("expire_listen_key")
    time.sleep(rng.uniform(0, 0.05))
    fired_at = h.sim.server_ms()
    h.sim.set_price(SYMBOL, _price_through(base_price(h), kind, D("0.05")))
    if not h.check(h.poll(lambda: position(h) == 0, 5.0, 0.02), "the hard stop did not close the position"):
        return
    deadline = time.monotonic() + QUIET_WATCH_S
    while time.monotonic() < deadline:
        state = h.sim.state()
        if not h.check(not our_stops(state), "a stop of ours is open after the stop fired"):
            break
        time.sleep(0.1)
    placed = [o for o in our_stops(h.sim.state(), None) if int(o.get("createTime") or 0) >= fired_at]
    h.check(
        not placed, f"{len(placed)} stop(s) placed after the stop fired (a position that no longer exists)"
    )
    events = _events_since(h, mark)
    safety = [e for e in events if isinstance(e, SafetyAction) or (isinstance(e, StopMoved) and e.tier == -1)]
    h.check(not safety, f"a safety action after the stop fired: {safety[0].text if safety else ''}")


# -- (5) a resting LIMIT filled by a gap through its hard stop -----------------------------------------


def gap_through_hard_stop(h: Harness, rng: random.Random) -> None:
    """A resting LIMIT entry is filled by a 5% gap: its -2% hard stop would fire at once (-2021), so
    the position is closed at market, reduce-only, right away — not left to the 10% safety stop.
    ``measured`` = the fill → the close order, on the exchange clock."""
    resting = _rest_a_limit(h, rng)
    if resting is None:
        return
    kind, rested = resting
    mark = h.recorder.mark()
    gap = D(rng.choice(("0.04", "0.05", "0.06")))
    h.sim.set_price(SYMBOL, _price_through(rested.price, kind, gap))
    said = h.recorder.wait(lambda e: "closed at market" in e.text, 10.0, after=mark)
    h.check(said is not None, "the user was never told the position is being closed at market")
    h.check(h.poll(lambda: position(h) == 0, 5.0, 0.02), "the gapped position was not closed")
    state = h.sim.state()
    cid = rested.client_order_id
    entry = next((o for o in state["orders"] if o.get("clientOrderId") == cid), None)
    if entry is not None:
        filled_at = int(entry.get("updateTime") or 0)
        closes = [
            o
            for o in state["orders"]
            if o.get("kind") != "algo"
            and o.get("reduceOnly")
            and str(o.get("clientOrderId", "")).startswith("tt-")
            and int(o.get("createTime") or 0) >= filled_at
        ]
        if h.check(bool(closes), "no reduce-only close of ours after the gapped fill"):
            h.measured_ms.append(float(int(closes[0]["createTime"]) - filled_at))
    events = _events_since(h, mark)
    safety_stops = [e for e in events if isinstance(e, StopMoved) and e.tier == -1]
    h.check(not safety_stops, "a 10% safety stop was placed instead of closing at market")
    h.check(not our_stops(state), "a stop of ours is open after the close at market")


# -- (6) flatten while an entry's outcome is unknown ---------------------------------------------------


def flatten_during_unknown(h: Harness, rng: random.Random) -> None:
    """The entry's reply is lost (``drop_before_reply``: executed, no answer) and the engine must
    resolve its outcome (recvWindow + margin); the flatten pressed as soon as the engine is ready
    again is answered at once, before the entry's own answer, and the end is flat with no stop."""
    mark = h.recorder.mark()
    h.sim.fault("drop_before_reply", "order.place", 1)
    kind = _side(rng)
    h.submit(kind)
    entry = h.last_command
    assert entry is not None
    down = h.recorder.wait(
        lambda e: isinstance(e, StateChanged) and e.state is not EngineState.READY, 10.0, after=mark
    )
    if not h.check(down is not None, "the dropped connection was never noticed"):
        h.presses.append(PressResult(kind, h.answer_of(entry, 15.0, after=mark), True))
        return
    down_index = next(i for i, (_, e) in enumerate(h.recorder.since(mark)) if e is down) + mark
    h.recorder.wait(
        lambda e: isinstance(e, StateChanged) and e.state is EngineState.READY, 10.0, after=down_index
    )
    time.sleep(rng.uniform(0, 0.05))
    flat = h.press(CommandKind.FLATTEN)
    entry_answered = any(is_final_answer(e, entry.id) for e in _events_since(h, mark))
    h.check(
        isinstance(flat.event, OrderFilled | CommandDone), f"the flatten was not carried out: {flat.text}"
    )
    h.check(
        not entry_answered or _answered_first(h, mark, entry.id), "the flatten waited for the entry's outcome"
    )
    h.presses.append(PressResult(kind, h.answer_of(entry, 15.0, after=mark), True))
    flat_clean = h.poll(lambda: position(h) == 0 and not our_stops(h.sim.state()), 5.0, 0.05)
    h.check(flat_clean, f"not flat without stops after the flatten (position {position(h)})")


def _answered_first(h: Harness, mark: int, entry_id: int) -> bool:
    """Whether the entry's answer came only after the flatten's (the flatten is the last press)."""
    events = _events_since(h, mark)
    flatten_id = h.last_command.id if h.last_command is not None else -1
    order = [e.command_id for e in events if is_final_answer(e) and e.command_id in (entry_id, flatten_id)]
    return bool(order) and order[0] == flatten_id


# -- (7) -1006 / -1007: execution status unknown -------------------------------------------------------

STATUS_UNKNOWN = "status_unknown"  # the simulator's fault (docs/sim.md); older simulators lack it
STAND_IN = "unknown_503"


def status_unknown(h: Harness, rng: random.Random) -> None:
    """The entry is answered -1006 (503) or -1007 (408) "execution status unknown" and was in fact
    executed (at once or up to 600 ms later) or not at all. The engine must find out (``order.status``
    once the request can no longer execute) and give one definite answer: a fill (the first attempt's,
    or its resend's under the same client id when the first never executed) protected within the
    bound, or a refusal with no position. Never twice (duplicates), never late (late orders: a resend
    comes recvWindow + 250 ms after the key). A simulator without ``status_unknown`` gets
    ``unknown_503`` as a stand-in (one note per run says so). ``measured``: key → the order that
    traded, on the exchange (its ``createTime``), resends included."""
    code = rng.choice((-1006, -1007))
    executed = rng.random() < 0.7
    later_ms = rng.choice((0, rng.randint(100, 600)))
    if h.scratch.get(STATUS_UNKNOWN, True):
        try:
            h.sim.fault(STATUS_UNKNOWN, "order.place", 1, later_ms, code=code, executed=executed)
        except RuntimeError:
            h.scratch[STATUS_UNKNOWN] = False
    if not h.scratch.get(STATUS_UNKNOWN, True):
        h.notes.append(f"the simulator has no {STATUS_UNKNOWN} fault: {STAND_IN} stood in for {code}")
        h.sim.fault(STAND_IN, "order.place", 1)
        executed = True
    answer = h.press(_side(rng))
    what = (
        f"{code}, {'executed' if executed else 'not executed'}{f' {later_ms} ms later' if later_ms else ''}"
    )
    if isinstance(answer.event, OrderFilled):
        pressed_ms = h.key_windows[-1][0]
        state = h.sim.state()
        traded = [o for o in state["orders"] if o.get("clientOrderId") == answer.event.client_order_id]
        if traded:
            skew = int(state.get("clockSkewMs") or 0)
            h.measured_ms.append(int(traded[-1]["createTime"]) - skew - pressed_ms)
        h.check(h.poll(lambda: covered(h), 5.0, 0.02), f"the filled entry ({what}) got no covering stop")
    elif isinstance(answer.event, CommandRejected):
        h.check(not executed, f"an executed entry ({what}) was answered as refused: {answer.text}")
        h.check(position(h) == 0, f"refused ({what}), yet a position exists")
    else:
        h.check(False, f"no definite answer ({what}): {answer.text or 'none'}")
