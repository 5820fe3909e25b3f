"""Warm-up: everything a keypress will need, fetched once when the vault is unlocked.

Order (each step is needed by the next): clock offset → exchangeInfo → position mode → each
profile's margin type and leverage (``-4046 No need to change margin type`` is success) → WS-API
connection (+ ``session.logon`` for Ed25519) → streams (user data, mark price, book ticker) →
book prices, positions, open orders and open algo orders. Afterwards the hot path needs no
request but the order itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from traytrader.core.codes import BinanceCode
from traytrader.core.errors import ExchangeRejected, TransportError, TraytraderError
from traytrader.core.filters import parse_exchange_info
from traytrader.core.models import PositionMode, PositionSide, Profile
from traytrader.core.ownership import position_is_ours
from traytrader.engine.api import EngineState
from traytrader.engine.positions import PositionTracker
from traytrader.engine.session import Session
from traytrader.exchange.streams import StreamConnection, UserStream, market_stream_urls

# "Margin type cannot be changed if there exists open orders/position": the account keeps its
# current type; trading still works, so this is a warning, not a failure.
_MARGIN_KEEP_CODES = (BinanceCode.THERE_EXISTS_OPEN_ORDERS, BinanceCode.THERE_EXISTS_QUANTITY)
STREAM_READY_TIMEOUT_S = 5.0
SNAPSHOT_ATTEMPTS = 3
ALL_ORDERS_LIMIT = 50    # weight 5; the orders that built a position are among the latest
MARK_STALL_S = 2.5   # no markPrice@1s message for this long: the stream stalled, reconnect it


def profile_symbols(profiles: Iterable[Profile]) -> list[str]:
    return sorted({p.symbol for p in profiles})


async def load_exchange_info(session: Session) -> None:
    body = await session.rest.get("/fapi/v1/exchangeInfo")
    try:
        info = parse_exchange_info(body)
    except TransportError as exc:  # a garbled answer is the exchange's passing problem: retry
        raise TransportError(f"The exchange info could not be read ({exc}); retrying.") from None
    session.info = info
    session.rest.limits = {
        (str(item.get("rateLimitType")), str(item.get("interval")), int(item.get("intervalNum", 1))):
            int(item.get("limit", 0))
        for item in session.info.rate_limits
    }


async def load_position_mode(session: Session) -> PositionMode:
    body = await session.rest_call("GET", "/fapi/v1/positionSide/dual")
    hedge = body.get("dualSidePosition") in (True, "true")
    session.mode = PositionMode.HEDGE if hedge else PositionMode.ONE_WAY
    return session.mode


async def apply_profile_settings(session: Session, profile: Profile) -> None:
    """Margin type then leverage for the profile's symbol; skipped when already applied."""
    wanted = (profile.leverage, profile.margin_type.value)
    if session.applied_settings.get(profile.symbol) == wanted:
        return
    try:
        await session.rest_call("POST", "/fapi/v1/marginType",
                                {"symbol": profile.symbol, "marginType": profile.margin_type.value})
    except ExchangeRejected as exc:
        if exc.code in _MARGIN_KEEP_CODES:
            session.notice(f"{profile.symbol}: margin type left as it is ({exc.msg})", "warning")
        elif exc.code != BinanceCode.NO_NEED_TO_CHANGE_MARGIN_TYPE:
            raise
    await session.rest_call("POST", "/fapi/v1/leverage",
                            {"symbol": profile.symbol, "leverage": profile.leverage})
    session.applied_settings[profile.symbol] = wanted


async def load_books(session: Session, symbols: Iterable[str]) -> None:
    """Seed book and mark prices over REST so sizing works before the first stream message."""
    for symbol in symbols:
        book = await session.rest.get("/fapi/v1/ticker/bookTicker", {"symbol": symbol})
        session.books.setdefault(symbol, (Decimal(str(book["bidPrice"])), Decimal(str(book["askPrice"]))))
        premium = await session.rest.get("/fapi/v1/premiumIndex", {"symbol": symbol})
        if symbol not in session.tracker.marks:
            session.tracker.marks[symbol] = Decimal(str(premium["markPrice"]))
            session.price_seen[symbol] = time.monotonic()


async def load_positions(session: Session, *, fresh_only: bool = False,
                         ownership: bool = True) -> list[dict[str, Any]] | None:
    """Positions from ``positionRisk``; a garbled answer changes nothing and raises TransportError.

    A snapshot read while user-data events arrived may be older than what they said (a fill just
    reported, then an answer computed before it): it is read again, or with ``fresh_only`` not
    applied at all (None), so a stale snapshot never makes an open position look flat.
    ``ownership``: also work out which unknown positions are ours (``load_ownership``: a REST
    query and a journal read per position, once per position: side, amount and entry)."""
    for attempt in range(SNAPSHOT_ATTEMPTS):
        seen = session.user_events
        positions = await session.rest_call("GET", "/fapi/v2/positionRisk")
        if session.user_events != seen and (fresh_only or attempt < SNAPSHOT_ATTEMPTS - 1):
            if fresh_only:
                return None
            continue
        try:
            session.tracker.load(positions, session.clock.now_ms())
        except ValueError as exc:
            raise TransportError(f"The exchange's position list could not be read ({exc}).") from None
        if ownership:
            await load_ownership(session)
        return positions
    return None


async def load_ownership(session: Session) -> None:
    """Which open positions are ours, for those the tracker does not know yet (a restart): the
    latest order that opened each carries our client id (``core.ownership``), as the exchange's
    ``allOrders`` lists it, else as the journal recorded it."""
    for position in session.tracker.open_positions():
        # A new position of the same size is another position: its entry price tells them apart.
        key = (position.symbol, position.position_side, position.quantity, position.entry_price)
        if position.ours or key in session.ownership_asked:
            continue   # known, or asked already for this very position (the periodic check)
        session.ownership_asked.add(key)
        if len(session.ownership_asked) > 256:
            session.ownership_asked.clear()
        direction = 1 if position.quantity > 0 else -1
        orders: list[Any] = []
        try:
            body = await session.rest_call("GET", "/fapi/v1/allOrders",
                                           {"symbol": position.symbol, "limit": ALL_ORDERS_LIMIT})
            orders = body if isinstance(body, list) else []
        except TraytraderError:
            pass
        orders += session.journal.recent_orders(position.symbol)
        if position_is_ours(orders, direction, position.position_side.value):
            position.ours = True
            session.journal.record("notice", f"{position.symbol} position of {position.quantity} is ours "
                                   "(opened by an order of ours); protecting it.", symbol=position.symbol)


async def load_account(session: Session) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Positions and open orders (kept in the session) and open algo orders (returned for the ASL).
    Raises ``TransportError`` (retryable) when an answer is garbled; nothing is changed then."""
    positions = await load_positions(session) or []
    # Per symbol (weight 1 each) rather than all symbols (weight 40 each, F10): the profiles'
    # symbols and any symbol with a position.
    symbols = set(profile_symbols(session.config.profiles))
    symbols |= {p.symbol for p in session.tracker.open_positions()}
    orders: list[Any] = []
    algos: list[Any] = []
    for symbol in sorted(symbols):
        some_orders = await session.rest_call("GET", "/fapi/v1/openOrders", {"symbol": symbol})
        some_algos = await session.rest_call("GET", "/fapi/v1/openAlgoOrders", {"symbol": symbol})
        if not isinstance(some_orders, list) or not isinstance(some_algos, list):
            raise TransportError("The exchange's open-order list could not be read.")
        orders += some_orders
        algos += some_algos
    if not all(isinstance(o, dict) for o in orders) or not all(isinstance(a, dict) for a in algos):
        raise TransportError("The exchange's open-order list could not be read.")
    session.open_orders = {}
    for order in orders:
        session.open_orders.setdefault(str(order.get("symbol")), {})[str(order.get("clientOrderId"))] = order
    return known_rows(positions, session.tracker), algos


def known_rows(rows: list[dict[str, Any]], tracker: PositionTracker) -> list[dict[str, Any]]:
    """The position rows with each position as the tracker knows it now: the snapshot, and every
    event since. The open orders are read after ``positionRisk``, and a fill can come meanwhile; a
    ladder rebuilt from the older rows would bring back a position that is gone, and with it a
    stop on a flat position (found by the reliability harness: a flatten's close between the two
    reads, then the ASL replacing the stop the flatten cancelled)."""
    known: list[dict[str, Any]] = []
    listed: set[tuple[str, PositionSide]] = set()
    for row in rows:
        try:
            key = (str(row["symbol"]), PositionSide(str(row.get("positionSide") or "BOTH")))
        except (KeyError, TypeError, ValueError):   # not a position row: the ladders skip it too
            known.append(row)
            continue
        listed.add(key)
        position = tracker.get(*key)
        known.append({**row, "positionAmt": str(position.quantity), "entryPrice": str(position.entry_price)})
    for position in tracker.open_positions():   # opened by an event after the snapshot
        if (position.symbol, position.position_side) not in listed:
            known.append({"symbol": position.symbol, "positionSide": position.position_side.value,
                          "positionAmt": str(position.quantity), "entryPrice": str(position.entry_price)})
    return known


async def _start_listen_key(session: Session) -> str:
    reply = await session.call_keyed("userDataStream.start")
    return str(reply.result["listenKey"])


async def _ping_listen_key(session: Session, key: str) -> Any:
    return await session.call_keyed("userDataStream.ping")


def start_streams(session: Session, symbols: list[str]) -> list[asyncio.Event]:
    """Start user and market streams; returns their "connected" events."""
    stream_url = session.config.exchange.stream_url
    session.user_stream = UserStream(
        stream_url, lambda: _start_listen_key(session), lambda key: _ping_listen_key(session, key),
        session.on_user_message, on_connected=lambda: _on_user_reconnected(session))
    session.user_stream.start()
    session.market_streams = [
        StreamConnection(f"market-{i}", url, session.on_market_message,
                         # markPrice@1s ticks every second: silence means a stall (F5). The book
                         # ticker may rightly be quiet, so it is not watched.
                         stall_after_s=MARK_STALL_S if "/market/" in url else None,
                         on_stalled=session.on_market_stalled)
        for i, url in enumerate(market_stream_urls(stream_url, symbols))
    ]
    for stream in session.market_streams:
        stream.start()
    return [session.user_stream.connection.connected] + [s.connected for s in session.market_streams]


def _on_user_reconnected(session: Session) -> None:
    """Events may have been missed while the user stream was down: resync. When the WS API is
    itself reconnecting (every connection dropped), the resync waits until it is READY again:
    the WS API's own resync may have run before this stream was back, and what happened in
    between (a stop that fired, a fill) would otherwise be learnt only at the next periodic check.
    The stream's first connection, during warm-up, needs none (warm-up reads everything after it)."""
    if not session.user_stream_seen:
        session.user_stream_seen = True
        return
    if session.state is EngineState.READY:
        session.spawn(_resync_positions(session), "resync-positions")
    else:
        session.resync_when_ready = lambda: session.spawn(_resync_positions(session), "resync-positions")


async def _resync_positions(session: Session) -> None:
    """The user stream was down: events (a fill, a stop that fired) may have been missed. The same
    resync as a WS-API reconnect: positions, open orders and stops, re-read and fed to the ASL."""
    failure = await session.resync()
    if failure is not None:
        session.notice(f"Could not re-read positions and stops after the user stream reconnected: {failure}",
                       "warning")


async def warm_up(session: Session, active_profile: Profile | None) -> tuple[list[dict[str, Any]],
                                                                            list[dict[str, Any]]]:
    """Run every warm-up step; returns (positions, open algo orders) for the ASL's recovery."""
    session.set_state(EngineState.CONNECTING, "warming up")
    await session.clock.sync(session.rest)
    await load_exchange_info(session)
    await load_position_mode(session)
    profiles = list(session.config.profiles)
    if active_profile is not None:   # the active profile's settings win on a shared symbol
        profiles = [p for p in profiles if p.name != active_profile.name] + [active_profile]
    for profile in profiles:
        await apply_profile_settings(session, profile)
    session.ws = await session.open_ws()
    symbols = profile_symbols(session.config.profiles)
    connected = start_streams(session, symbols)
    await load_books(session, symbols)
    positions, algos = await load_account(session)
    try:
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in connected)), STREAM_READY_TIMEOUT_S)
    except TimeoutError:
        session.notice("Some streams are not connected yet; they keep retrying in the background.", "warning")
    session.start_background()
    return positions, algos
