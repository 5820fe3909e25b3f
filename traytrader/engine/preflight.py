"""Online checks for ``traytrader check``: can this config and key trade right now, and what would
each profile send?

Reads only; changes nothing on the account (no leverage or margin-type changes, no orders).
Reports the clock offset, the REST and WS-API round trips, whether the key signs correctly and has
futures access, the position mode, and for every profile the order a BUY and a SELL would send
now, or the one sentence saying why it cannot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from decimal import Decimal

from traytrader.core.asl_toolkit import risk_amount, risk_notional, risk_quantity
from traytrader.core.decimals import format_decimal
from traytrader.core.errors import ExchangeRejected, InvalidOrder, TraytraderError
from traytrader.core.models import ApiCredentials, AppConfig, KeyType, Side
from traytrader.core.orders import build_entry_order
from traytrader.core.shield_table import explain
from traytrader.engine.journal import Journal
from traytrader.engine.session import Session
from traytrader.engine.warmup import load_books, load_exchange_info, load_position_mode

OK, FAIL = "ok    ", "FAIL  "


def run_online_checks(config: AppConfig, credentials: ApiCredentials, report: Callable[[str], None]) -> bool:
    """What ``traytrader check`` calls: report one line per check; False when any failed."""
    try:
        lines = asyncio.run(collect_online_checks(config, credentials))
    except TraytraderError as exc:
        report(f"{FAIL}{exc}")
        return False
    for line in lines:
        report(line)
    return not any(line.startswith(FAIL) for line in lines)


async def collect_online_checks(config: AppConfig, credentials: ApiCredentials) -> list[str]:
    """Report lines (``ok    ...``/``FAIL  ...``); raises ``TraytraderError`` (one sentence) when
    the exchange cannot be used at all."""
    session = Session(config, credentials, emit=lambda event: None, journal=Journal(None))
    lines: list[str] = []
    try:
        try:
            await session.clock.sync(session.rest)
        except TraytraderError as exc:
            raise TraytraderError(f"Cannot reach the exchange at {config.exchange.rest_url}: {exc}") from None
        lines.append(f"{OK}clock offset {session.clock.offset_ms:+d} ms (REST round trip "
                     f"{session.clock.rtt_ms or 0:.1f} ms).")
        await load_exchange_info(session)
        try:
            mode = await load_position_mode(session)
        except ExchangeRejected as exc:
            raise TraytraderError("The signed test request failed: "
                                  + explain(exc.code, exc.msg, http_status=exc.http_status)) from None
        lines.append(f"{OK}API key {credentials.name!r} ({credentials.key_type.value}): signed requests work")
        lines.append(f"{OK}position mode: {mode.value}")
        lines.extend(await _ws_checks(session))
        symbols = sorted({p.symbol for p in config.profiles})
        try:
            await load_books(session, [s for s in symbols if session.info and s in session.info])
        except TraytraderError as exc:
            lines.append(f"{FAIL}prices could not be read: {exc}")
        wallet = await _wallet(session) if any(p.risk_pct is not None for p in config.profiles) else None
        for profile in config.profiles:
            lines.append(_profile_line(session, profile.name, wallet))
    finally:
        await session.close()
    return lines


async def _ws_checks(session: Session) -> list[str]:
    """Open the WS API (logon for Ed25519) and time one signed request."""
    lines = []
    try:
        ws = await session.open_ws()
    except TraytraderError as exc:
        return [f"{FAIL}WebSocket API: cannot connect ({exc})"]
    session.ws = ws
    how = "session.logon" if session.credentials.key_type is KeyType.ED25519 else "signing every request"
    start = time.perf_counter()
    try:
        symbol = session.config.profiles[0].symbol if session.config.profiles else "BTCUSDT"
        await ws.call("order.status", {"symbol": symbol, "origClientOrderId": "tt-check-0"})
    except ExchangeRejected as exc:
        if exc.code not in (-2013, -1121):  # "does not exist" is the expected, healthy answer
            return [f"{FAIL}WebSocket API: {explain(exc.code, exc.msg, http_status=exc.http_status)}"]
    except TraytraderError as exc:
        return [f"{FAIL}WebSocket API: {exc}"]
    rtt = (time.perf_counter() - start) * 1000
    lines.append(f"{OK}WebSocket API connected ({how}); signed request round trip {rtt:.1f} ms")
    return lines


async def _wallet(session: Session) -> Decimal | None:
    """The USDT wallet balance (for ``risk_pct`` profiles), or None when it cannot be read."""
    try:
        rows = await session.rest_call("GET", "/fapi/v2/balance")
    except TraytraderError:
        return None
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, dict) and row.get("asset") == "USDT":
            return Decimal(str(row.get("balance")))
    return None


def _profile_line(session: Session, name: str, wallet: Decimal | None = None) -> str:
    profile = session.config.profile(name)
    head = f"profile {profile.name} ({profile.symbol}, {profile.leverage}x {profile.margin_type.value}):"
    book, mark = session.book(profile.symbol), session.mark(profile.symbol)
    if session.info is None or profile.symbol not in session.info:
        return f"{FAIL}{head} cannot trade: {profile.symbol} is not listed by the exchange."
    if book is None or mark is None:
        return f"{FAIL}{head} cannot trade: no price for {profile.symbol}."
    parts = []
    sized, risk_text = profile, ""
    if profile.risk_sized:   # the size its risk buys now (the keypress's own rule)
        try:
            risk = risk_amount(profile.risk_usdt, profile.risk_pct, wallet)
            risk_quantity(risk, profile.asl.hard_stop_pct, book[1], session.filters(profile.symbol),
                          session.config.safety.max_notional_usdt, profile.order_type)
        except TraytraderError as exc:
            return f"{FAIL}{head} cannot trade: {exc}"
        notional = risk_notional(risk, profile.asl.hard_stop_pct, session.config.safety.max_notional_usdt)
        sized = dataclasses.replace(profile, notional_usdt=notional, risk_usdt=None, risk_pct=None)
        risk_text = (f" (risk {risk:.2f} USDT at the {format_decimal(profile.asl.hard_stop_pct)}% hard stop)")
    for side in (Side.BUY, Side.SELL):
        try:
            order = build_entry_order(sized, side, session.filters(profile.symbol), book[0], book[1], mark,
                                      session.mode, "tt-check")
        except InvalidOrder as exc:
            return f"{FAIL}{head} cannot trade: {exc}"
        price = order.price if order.price is not None else (book[1] if side is Side.BUY else book[0])
        notional = (order.quantity * price).quantize(Decimal("0.01"))
        where = f"at {format_decimal(price)}" if order.price is not None else f"≈{format_decimal(price)}"
        parts.append(f"{side.value} {format_decimal(order.quantity)} {order.type.value} {where} "
                     f"(≈{notional} USDT)")
    return f"{OK}{head} would send " + "; ".join(parts) + risk_text
