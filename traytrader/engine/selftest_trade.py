"""``traytrader selftest --trade``: the smallest real round trip, checked at every step.

1. A minimum-size MARKET order for a profile's symbol, built by the engine's ``build_entry_order``.
2. Its ORDER_TRADE_UPDATE and ACCOUNT_UPDATE, each read by the engine's own parser
   (``PositionTracker.on_order_update`` / ``on_account_update``) into the position it opened.
3. The protective stop placed by the ASL itself: a real ``AslDriver`` is told about the position
   and places its hard stop through a gateway that sends ``algoOrder.place``; the stop's
   ALGO_UPDATE is handed to the driver's ``on_algo_update`` and must reach the ladder as the
   confirmation of that stop. A renamed field fails here, by name.
4. A take-profit, when a profile configures one (none can yet: skipped, saying so).
5. A make-before-break replacement: a second stop is placed and confirmed before the first is
   cancelled, and ``openAlgoOrders`` (read by the ASL's ``existing_stop``) shows both, then one.
6. The close (the engine's ``build_close_order``) and the stop's cancel, whatever happened before;
   then the account is compared with how it was found, and the selftest says if it differs.

On ``live`` the user types the symbol and the notional first (``confirm``); the command refuses a
live trade without a terminal, so a password file alone never starts one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any

from traytrader.core import asl
from traytrader.core.decimals import format_decimal
from traytrader.core.errors import ExchangeRejected, InvalidOrder, TraytraderError
from traytrader.core.models import Environment, OrderType, PositionSide, Profile, Side
from traytrader.core.orders import (
    base36,
    build_close_order,
    build_entry_order,
    minimum_notional_for,
    new_client_id,
)
from traytrader.engine.asl_driver import AslDriver, existing_stop
from traytrader.engine.positions import PositionTracker
from traytrader.engine.selftest import _DO_NOT_TRADE, SelfTest, _why
from traytrader.engine.selftest_events import (
    EVENT_TIMEOUT_S,
    PARSER_FIELDS,
    SIZE_MARGIN,
    SelftestGateway,
    fields_of,
    mentions,
)
from traytrader.engine.warmup import load_books


class RoundTrip:
    def __init__(
        self,
        test: SelfTest,
        profile_name: str | None,
        *,
        confirm: Callable[[str, Decimal], Decimal | None] | None,
        balances: bool,
    ) -> None:
        self.test = test
        self.session = test.session
        self.report = test.report
        self.config = test.config
        self.confirm = confirm
        self.balances = balances
        name = profile_name or self.config.default_profile or self.config.profiles[0].name
        self.profile = self.config.profile(name)
        self.symbol = self.profile.symbol
        self.gateway = SelftestGateway(test.session)
        self.algo_ids: set[str] = set()
        self.position_side = PositionSide.BOTH
        self.quantity = Decimal(0)  # signed, what our entry filled
        self.driver: AslDriver | None = None
        self.account_tracker = PositionTracker()  # fed ACCOUNT_UPDATEs only
        self.counter = 0
        self.entry = Decimal(0)

    @property
    def streams(self) -> Any:
        return self.test.streams

    def _client_id(self) -> str:
        self.counter += 1
        return new_client_id("ttself", self.counter, self.session.clock.now_ms())

    # -- the run ----------------------------------------------------------------------------------
    async def run(self) -> None:
        if self.streams is None or not self.streams.private_ok:
            self.report.skip("trade", "not run: the user stream is not connected")
            return
        try:
            before = await self._snapshot()
        except TraytraderError as exc:
            self.report.fail(
                "trade", f"the account could not be read before trading ({_why(exc)})", "try again"
            )
            return
        if before["here"]:
            self.report.fail(
                "trade",
                f"{self.symbol} already has {before['here']}; the round trip needs it flat so"
                " it can leave the account exactly as it found it",
                "close them, or pick a profile on another symbol with --profile",
            )
            return
        try:
            if await self._open():
                await self._protect()
                self.report.skip(
                    "take-profit", "no profile configures a take-profit (traytrader places none yet)"
                )
                await self._replace()
        finally:
            await self._clean_up()
            await self._verify(before)

    async def _snapshot(self) -> dict[str, Any]:
        rows = await self.session.rest_call("GET", "/fapi/v2/positionRisk")
        positions = sorted(
            (str(r.get("symbol")), str(r.get("positionSide")), str(Decimal(str(r.get("positionAmt")))))
            for r in rows
            if isinstance(r, Mapping) and Decimal(str(r.get("positionAmt", 0))) != 0
        )
        orders = await self.session.rest_call("GET", "/fapi/v1/openOrders", {"symbol": self.symbol})
        algos = await self.gateway.session.rest_call(
            "GET", "/fapi/v1/openAlgoOrders", {"symbol": self.symbol}
        )
        order_ids = sorted(str(o.get("clientOrderId")) for o in orders if isinstance(o, Mapping))
        algo_ids = sorted(str(a.get("clientAlgoId")) for a in algos if isinstance(a, Mapping))
        here = [f"a position of {amt}" for sym, _, amt in positions if sym == self.symbol]
        here += [f"{len(order_ids)} open order(s)"] if order_ids else []
        here += [f"{len(algo_ids)} open algo order(s)"] if algo_ids else []
        wallet = None
        if self.balances:
            rows = await self.session.rest_call("GET", "/fapi/v2/balance")
            wallet = next(
                (str(r.get("balance")) for r in rows if isinstance(r, Mapping) and r.get("asset") == "USDT"),
                None,
            )
        return {
            "positions": positions,
            "orders": order_ids,
            "algos": algo_ids,
            "here": ", ".join(here),
            "wallet": wallet,
        }

    async def _size(self) -> Profile | None:
        filters = self.session.filters(self.symbol)
        book = self.session.book(self.symbol)
        assert book is not None
        minimum = minimum_notional_for(filters, book[1])
        notional = (minimum * SIZE_MARGIN).quantize(Decimal(1), rounding=ROUND_CEILING)
        if self.config.exchange.environment is Environment.LIVE:
            # Asked in a thread: the streams keep answering pings while the user types.
            typed = await asyncio.to_thread(self.confirm, self.symbol, notional) if self.confirm else None
            if typed is None:
                self.report.skip("trade", "cancelled at the confirmation; nothing was sent")
                return None
            if not minimum <= typed <= notional * 3:
                self.report.fail(
                    "trade",
                    f"{typed} USDT is not between the minimum {minimum} and {notional * 3}",
                    "run it again and type a notional near the minimum",
                )
                return None
            notional = typed
        asl_settings = dataclasses.replace(self.profile.asl, enabled=True)
        return dataclasses.replace(
            self.profile, notional_usdt=notional, quantity=None, order_type=OrderType.MARKET, asl=asl_settings
        )

    # -- steps ------------------------------------------------------------------------------------
    async def _open(self) -> bool:
        await load_books(self.session, [self.symbol])
        profile = await self._size()
        if profile is None:
            return False
        self.profile = profile
        book, mark = self.session.book(self.symbol), self.session.mark(self.symbol)
        assert book is not None and mark is not None
        client_id = self._client_id()
        order = build_entry_order(
            profile,
            Side.BUY,
            self.session.filters(self.symbol),
            book[0],
            book[1],
            mark,
            self.session.mode,
            client_id,
        )
        self.position_side = order.position_side
        start = len(self.streams.user_events)
        try:
            reply = await self.session.call(
                "order.place", order.params(), symbol=self.symbol, client_id=client_id
            )
        except TraytraderError as exc:
            self.report.fail(
                "order",
                f"the minimum order was refused ({_why(exc)})",
                "check the account's margin and the key's trading permission",
            )
            return False
        result = reply.result if isinstance(reply.result, dict) else {}
        filled = Decimal(str(result.get("executedQty", "0")))
        self.quantity = filled
        entry = self.entry = Decimal(str(result.get("avgPrice", "0")))
        self.report.latencies.order_round_trip_ms = (reply.received_ns - reply.wire_ns) / 1e6
        if result.get("status") != "FILLED" or filled <= 0:
            self.report.fail(
                "order",
                f"the MARKET order's answer says {result.get('status')}, filled {filled}",
                "the engine expects a MARKET order's RESULT to carry its fill; report it",
            )
            return filled > 0
        self.report.ok(
            "order",
            f"BUY {format_decimal(filled)} {self.symbol} MARKET filled at"
            f" {format_decimal(entry)} (≈{(filled * entry).quantize(Decimal(1))} USDT, the minimum)",
        )
        await self._order_update(client_id, start, filled)
        await self._account_update(start, filled)
        return True

    async def _order_update(self, client_id: str, start: int, filled: Decimal) -> None:
        event = await self.streams.wait_user(
            lambda e: (
                mentions(e, "ORDER_TRADE_UPDATE", client_id)
                and isinstance(e.get("o"), Mapping)
                and e["o"].get("X") == "FILLED"
            ),
            EVENT_TIMEOUT_S,
            start,
        )
        if event is None:
            self.report.fail(
                "ORDER_TRADE_UPDATE",
                f"no ORDER_TRADE_UPDATE for our order within {EVENT_TIMEOUT_S:g} s",
                "the engine learns fills from it; check the /private stream, then report it",
            )
            return
        position = PositionTracker().on_order_update(event, ours=True)
        if position is None or position.quantity != filled or position.symbol != self.symbol:
            got = "nothing" if position is None else f"{position.quantity} {position.symbol}"
            self.report.fail(
                "ORDER_TRADE_UPDATE",
                f"the engine's parser read {got} from it, not the fill of"
                f" {filled}; it needs {PARSER_FIELDS['ORDER_TRADE_UPDATE']}, the event had"
                f" {fields_of(event)}",
                _DO_NOT_TRADE,
            )
            return
        self.report.ok("ORDER_TRADE_UPDATE", f"received; the engine's parser reads the fill of {filled}")

    async def _account_update(self, start: int, filled: Decimal) -> None:
        tracker = self.account_tracker

        def parsed(event: Mapping[str, Any]) -> bool:
            if event.get("e") != "ACCOUNT_UPDATE":
                return False
            tracker.on_account_update(event)
            return tracker.get(self.symbol, self.position_side).quantity == filled

        event = await self.streams.wait_user(parsed, EVENT_TIMEOUT_S, start)
        if event is None:
            seen = [e for e in self.streams.user_events[start:] if e.get("e") == "ACCOUNT_UPDATE"]
            what = (
                f"the engine's parser did not read a position of {filled} {self.symbol} from the"
                f" {len(seen)} that came (it needs {PARSER_FIELDS['ACCOUNT_UPDATE']})"
                if seen
                else f"no ACCOUNT_UPDATE within {EVENT_TIMEOUT_S:g} s"
            )
            self.report.fail("ACCOUNT_UPDATE", what, _DO_NOT_TRADE)
            return
        self.report.ok(
            "ACCOUNT_UPDATE", f"received; the engine's parser reads the position {filled} {self.symbol}"
        )

    async def _protect(self) -> None:
        """The ASL places the hard stop; its ALGO_UPDATE must confirm it through the driver."""
        profiles = (self.profile,)
        config = dataclasses.replace(self.config, profiles=profiles, default_profile=self.profile.name)
        self.driver = driver = AslDriver(config, self.gateway, emit=lambda event: None)
        start = len(self.streams.user_events)
        driver.on_position(
            self.symbol, self.position_side, self.quantity, self.entry, self.session.clock.now_ms(), ours=True
        )
        seen: list[asl.AslInput] = []
        ladder = driver.ladders.get((self.symbol, self.position_side))
        if ladder is not None:
            handle = ladder.handle

            def spy(event: asl.AslInput) -> list[asl.AslAction]:
                seen.append(event)
                return handle(event)

            try:  # the ladder's public entry point, watched: what the driver made of each event
                ladder.handle = spy  # type: ignore[method-assign]
            except (AttributeError, TypeError):
                ladder = None
        try:
            await asyncio.wait_for(self.gateway.first_placed.wait(), EVENT_TIMEOUT_S)
        except TimeoutError:
            self.report.fail(
                "protective stop",
                "the ASL placed no stop for the new position",
                "report it with the report file",
            )
            return
        params, sent, latency, error = self.gateway.placed[0]
        client_id = params.get("clientAlgoId", "")
        self.algo_ids.add(client_id)
        if error is not None:
            if isinstance(error, ExchangeRejected) and (
                (error.code == -1000 and "method" in error.msg.lower()) or error.http_status == 404
            ):
                what = (
                    f"the exchange has no algoOrder.place ({_why(error)}); traytrader places every protective"
                    " stop on Binance's Algo Service (since the 2025-12-09 migration)"
                )
            else:
                what = f"the exchange refused the ASL's stop ({_why(error)})"
            self.report.fail("protective stop", what + ", so no position could be protected", _DO_NOT_TRADE)
            return
        self.report.latencies.stop_placement_ms = latency
        kind = params.get("type")
        where = (
            f"at {params['triggerPrice']}" if "triggerPrice" in params else f"{params.get('callbackRate')} %"
        )
        self.report.ok(
            "protective stop",
            f"the ASL placed {kind} {params.get('side')} {params.get('quantity')}"
            f" {where} on the Algo Service ({self.profile.asl.hard_stop_pct} % hard stop)",
        )
        event = await self.streams.wait_user(
            lambda e: mentions(e, "ALGO_UPDATE", client_id), EVENT_TIMEOUT_S, start
        )
        if event is None:
            self.report.fail(
                "ALGO_UPDATE",
                f"no ALGO_UPDATE for the stop within {EVENT_TIMEOUT_S:g} s",
                "the ASL learns of triggered and cancelled stops from it; report it",
            )
            return
        self.report.latencies.stop_confirmed_ms = (time.perf_counter() - sent) * 1000
        if ladder is None:
            self.report.note(
                "ALGO_UPDATE", "received; whether the ASL understood it could not be observed here"
            )
            return
        before = len(seen)
        driver.on_algo_update(event["o"], self.session.clock.now_ms())
        understood = [
            e for e in seen[before:] if isinstance(e, asl.AlgoUpdate) and e.client_algo_id == client_id
        ]
        if not understood:
            self.report.fail(
                "ALGO_UPDATE",
                "the engine's parser (AslDriver.on_algo_update) did not understand the"
                f" stop's ALGO_UPDATE: it needs {PARSER_FIELDS['ALGO_UPDATE']}, the event had"
                f" {fields_of(event)}; the ASL would never see a stop trigger or vanish",
                _DO_NOT_TRADE,
            )
            return
        self.report.ok(
            "ALGO_UPDATE", f"received; the ASL reads the stop's status {understood[0].status.value}"
        )

    async def _replace(self) -> None:
        """Make-before-break: the new stop is confirmed before the old one is cancelled."""
        if (
            not self.gateway.placed
            or self.gateway.placed[0][3] is not None
            or self.report.failed("ALGO_UPDATE")
        ):
            self.report.skip("replacement", "not run: the first stop was not confirmed")
            return
        old_params = self.gateway.placed[0][0]
        old_id = old_params["clientAlgoId"]
        new_id = f"{asl.ASL_ID_PREFIX}-k0-st{base36(self.session.clock.now_ms())}"[:36]
        self.gateway.closed = True  # the driver's part is over; the selftest sends the rest itself
        start_events = len(self.streams.user_events)
        began = time.perf_counter()
        try:
            await self.session.call(
                "algoOrder.place", {**old_params, "clientAlgoId": new_id}, symbol=self.symbol
            )
            self.algo_ids.add(new_id)
            confirmed = await self.streams.wait_user(
                lambda e: mentions(e, "ALGO_UPDATE", new_id) and e["o"].get("X") == "NEW",
                EVENT_TIMEOUT_S,
                start_events,
            )
            both = await self._open_stops()
            await self.session.call(
                "algoOrder.cancel", {"symbol": self.symbol, "clientAlgoId": old_id}, symbol=self.symbol
            )
            cancelled = await self.streams.wait_user(
                lambda e: mentions(e, "ALGO_UPDATE", old_id) and e["o"].get("X") == "CANCELED",
                EVENT_TIMEOUT_S,
                start_events,
            )
            after = await self._open_stops()
        except TraytraderError as exc:
            self.report.fail(
                "replacement",
                f"a request of the make-before-break replacement failed ({_why(exc)})",
                "wait until the rate limit has passed and run it again"
                if isinstance(exc, ExchangeRejected) and exc.http_status in (418, 429)
                else _DO_NOT_TRADE,
            )
            return
        self.report.latencies.replacement_ms = (time.perf_counter() - began) * 1000
        problems = []
        if confirmed is None:
            problems.append("no ALGO_UPDATE NEW for the new stop")
        if {old_id, new_id} - set(both):
            problems.append(
                f"openAlgoOrders did not list both stops while they overlapped ({len(both)} listed)"
            )
        if cancelled is None:
            problems.append("no ALGO_UPDATE CANCELED for the old stop")
        if old_id in after or new_id not in after:
            problems.append("openAlgoOrders did not show exactly the new stop afterwards")
        if problems:
            self.report.fail("replacement", "; ".join(problems), _DO_NOT_TRADE)
            return
        self.report.ok(
            "replacement",
            "make-before-break: the new stop was confirmed while the old one still"
            " stood, then the old one was cancelled; openAlgoOrders read by the ASL showed both, then one",
        )

    async def _open_stops(self) -> dict[str, asl.ExistingStop]:
        rows = await self.session.rest_call("GET", "/fapi/v1/openAlgoOrders", {"symbol": self.symbol})
        stops = (existing_stop(r) for r in rows if isinstance(r, Mapping)) if isinstance(rows, list) else ()
        return {s.client_algo_id: s for s in stops if s is not None}

    async def _clean_up(self) -> None:
        """Close what is open (position first: it keeps its stop until flat), then cancel our stops."""
        self.gateway.closed = True
        try:
            await self._close()
        finally:
            await self._cancel_stops()

    async def _close(self) -> None:
        try:
            rows = await self.session.rest_call("GET", "/fapi/v2/positionRisk", {"symbol": self.symbol})
        except TraytraderError as exc:
            self.report.fail(
                "close",
                f"the position could not be read to close it ({_why(exc)})",
                f"close any {self.symbol} position in the Binance app",
            )
            return
        amounts = (
            [
                (PositionSide(str(r.get("positionSide", "BOTH"))), Decimal(str(r.get("positionAmt", 0))))
                for r in rows
                if isinstance(r, Mapping)
            ]
            if isinstance(rows, list)
            else []
        )
        for side, amount in amounts:
            if amount == 0:
                continue
            client_id = self._client_id()
            start = len(self.streams.user_events)
            try:
                order = build_close_order(
                    self.symbol, amount, side, self.session.filters(self.symbol), self.session.mode, client_id
                )
                reply = await self.session.call(
                    "order.place", order.params(), symbol=self.symbol, client_id=client_id
                )
            except (TraytraderError, InvalidOrder) as exc:
                self.report.fail(
                    "close",
                    f"the close of {amount} {self.symbol} failed ({_why(exc)})",
                    f"close the {self.symbol} position in the Binance app now",
                )
                continue
            result = reply.result if isinstance(reply.result, dict) else {}

            def flat(
                event: Mapping[str, Any],
                side: PositionSide = side,
                tracker: PositionTracker = self.account_tracker,
            ) -> bool:
                if event.get("e") != "ACCOUNT_UPDATE":
                    return False
                tracker.on_account_update(event)
                return tracker.get(self.symbol, side).quantity == 0

            update = await self.streams.wait_user(flat, EVENT_TIMEOUT_S, start)
            said = (
                "; ACCOUNT_UPDATE read by the engine's parser shows it flat"
                if update is not None
                else "; no ACCOUNT_UPDATE showed it flat"
            )
            self.report.ok(
                "close",
                f"closing MARKET {order.side.value} {format_decimal(order.quantity)}"
                f" {result.get('status', '?')}{said}",
            )

    async def _cancel_stops(self) -> None:
        try:
            rows = await self.session.rest_call("GET", "/fapi/v1/openAlgoOrders", {"symbol": self.symbol})
        except TraytraderError:
            rows = [{"clientAlgoId": cid} for cid in self.algo_ids]  # cancel blind; unknown ids are refused
        ours = (
            [
                str(r.get("clientAlgoId"))
                for r in rows
                if isinstance(r, Mapping) and str(r.get("clientAlgoId")) in self.algo_ids
            ]
            if isinstance(rows, list)
            else []
        )
        cancelled = 0
        for client_id in ours:
            try:
                await self.session.call(
                    "algoOrder.cancel", {"symbol": self.symbol, "clientAlgoId": client_id}, symbol=self.symbol
                )
                cancelled += 1
            except ExchangeRejected as exc:
                if exc.code not in asl.UNKNOWN_ORDER:
                    self.report.fail(
                        "cancel",
                        f"the stop could not be cancelled ({_why(exc)})",
                        f"cancel the {self.symbol} stop in the Binance app",
                    )
            except TraytraderError as exc:
                self.report.fail(
                    "cancel",
                    f"the stop could not be cancelled ({_why(exc)})",
                    f"cancel the {self.symbol} stop in the Binance app",
                )
        if ours:
            self.report.ok("cancel", f"{cancelled} stop(s) of the round trip cancelled")

    async def _verify(self, before: dict[str, Any]) -> None:
        try:
            after = await self._snapshot()
        except TraytraderError as exc:
            self.report.fail(
                "account",
                f"the account could not be read after the round trip ({_why(exc)})",
                f"check {self.symbol} in the Binance app",
            )
            return
        differs = [what for what in ("positions", "orders", "algos") if after[what] != before[what]]
        if differs:
            self.report.fail(
                "account",
                f"the account is NOT as the selftest found it: {after['here'] or 'changed'}"
                f" ({', '.join(differs)} differ)",
                f"check {self.symbol} in the Binance app and close or cancel what is left",
            )
            return
        money = (
            f"; USDT wallet {before['wallet']} before, {after['wallet']} after (fees)"
            if self.balances and before["wallet"] is not None
            else "; the wallet changed by the fees (not shown)"
        )
        self.report.ok(
            "account", f"left as found: the same positions, no open order or stop on {self.symbol}{money}"
        )
