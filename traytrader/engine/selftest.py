"""``traytrader selftest``: proves, on the user's own account, every assumption the engine makes
about the exchange, read-only unless ``--trade`` (then ``selftest_trade.py`` runs the round trip).

Every check goes through the engine's own pieces: ``Session`` (REST client, clock, WS API with
``session.logon``), ``warmup`` (exchangeInfo, position mode, book prices), ``core.filters`` and
``core.orders`` (the order the profile would send), ``exchange.streams`` (stream URLs, the
listenKey's user stream). So a change on the exchange that breaks the engine breaks a check here
first, with one sentence saying what changed and what to do.

Checks that need what an earlier one found are skipped, with the reason, when it failed: a key
the exchange does not know gives one FAIL line, not ten.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from traytrader.core.codes import BinanceCode
from traytrader.core.decimals import format_decimal
from traytrader.core.environments import ENVIRONMENTS, environment_of, key_mismatch_sentence
from traytrader.core.errors import ExchangeRejected, InvalidOrder, TraytraderError
from traytrader.core.models import ApiCredentials, AppConfig, KeyType, Side
from traytrader.core.orders import build_entry_order
from traytrader.engine.journal import Journal
from traytrader.engine.selftest_report import Redactor, Report
from traytrader.engine.selftest_streams import StreamProbe
from traytrader.engine.session import Session
from traytrader.engine.warmup import load_books, load_exchange_info, load_position_mode, profile_symbols

UNKNOWN_ORDER_CODE = int(BinanceCode.NO_SUCH_ORDER)  # what order.status answers for an unknown id
_KEY_CODES = {
    -2014: "the API key's format is not valid",
    -2015: "the exchange does not know this API key, or its IP restriction or permissions refuse it",
    -1022: "the signature is not valid: the secret stored in the vault does not belong to this API key",
}
_DO_NOT_TRADE = "do not trade with this traytrader version on this environment until it is updated"


def _why(exc: BaseException) -> str:
    if isinstance(exc, ExchangeRejected):
        return f'code {exc.code} "{exc.msg}"'
    return str(exc).rstrip(".")


class SelfTest:
    """One run. ``await run()`` reports every check to ``report`` and returns it."""

    def __init__(
        self, config: AppConfig, credentials: ApiCredentials, report: Report, *, stream_wait_s: float = 3.0
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.report = report
        self.env = config.exchange.environment
        self.stream_wait_s = stream_wait_s
        report.redact.add([credentials.api_key, credentials.secret])
        self.session = Session(
            config,
            credentials,
            emit=lambda event: None,
            journal=Journal(None, secrets=[credentials.api_key, credentials.secret]),
        )
        self.symbols = profile_symbols(config.profiles)
        self.rest_limits: list[dict[str, Any]] = []
        self.ws_limits: list[dict[str, Any]] = []
        self.key_ok = False
        self.ws_ok = False
        self.streams: StreamProbe | None = None

    # -- the run ----------------------------------------------------------------------------------
    async def run_read_only(self) -> bool:
        """Every read-only check; True when the REST host answered at all (else nothing else ran)."""
        if not await self._clock():
            return False
        info_ok = await self._exchange_info()
        await self._api_key()
        if self.key_ok:
            await self._settings()
            await self._algo_service()
        await self._ws_api()
        if self.ws_ok:
            await self._unknown_order()
        if self.ws_ok:
            await self._same_account()
        self._hosts()
        self._rate_limits()
        self.streams = StreamProbe(self.session, self.report, self.symbols, wait_s=self.stream_wait_s)
        await self.streams.check(private=self.ws_ok)
        if info_ok and self.key_ok:
            await self._profiles()
        return True

    async def close(self) -> None:
        if self.streams is not None:
            await self.streams.stop()
        await self.session.close()

    # -- checks -----------------------------------------------------------------------------------
    async def _clock(self) -> bool:
        session = self.session
        try:
            offset = await session.clock.sync(session.rest)
        except TraytraderError as exc:
            self.report.fail(
                "server time",
                f"the exchange's REST host {self.config.exchange.rest_url} did not"
                f" answer GET /fapi/v1/time ({_why(exc)})",
                "check the network and exchange.rest_url; nothing else can be checked",
            )
            return False
        rtt = session.clock.rtt_ms or 0.0
        self.report.latencies.rest_rtt_ms = rtt
        recv = self.config.exchange.recv_window_ms
        text = f"offset {offset:+d} ms from this computer's clock, REST round trip {rtt:.1f} ms"
        if abs(offset) > recv / 2:
            self.report.note(
                "server time",
                text + f"; the engine corrects for it, but a clock {abs(offset)} ms"
                " off hints at a computer without time sync (enable NTP)",
            )
        else:
            self.report.ok("server time", text)
        return True

    async def _exchange_info(self) -> bool:
        try:
            await load_exchange_info(self.session)
        except TraytraderError as exc:
            self.report.fail(
                "exchange info",
                f"GET /fapi/v1/exchangeInfo could not be read ({_why(exc)})",
                "no order can be sized without it; try again, and report it if it stays",
            )
            return False
        self.session.rest.on_rate_limits = self._seen_rest_limits
        info = self.session.info
        assert info is not None
        all_ok = True
        for symbol in self.symbols:
            profile = next(p for p in self.config.profiles if p.symbol == symbol)
            try:
                filters = info.tradable(symbol, profile.order_type)
                lot = filters.lot_for(profile.order_type)
                tick = filters.tick_size
            except InvalidOrder as exc:
                self.report.fail(
                    f"exchange info {symbol}", str(exc), f"pick another symbol for profile {profile.name!r}"
                )
                all_ok = False
                continue
            missing = [
                name
                for name, value in (
                    ("MIN_NOTIONAL", filters.min_notional),
                    ("PERCENT_PRICE", filters.percent_price),
                )
                if value is None
            ]
            text = (
                f"{filters.status}; tick {format_decimal(tick)}, {lot.name} step"
                f" {format_decimal(lot.step_size)} min {format_decimal(lot.min_qty)}, MIN_NOTIONAL"
                f" {format_decimal(filters.min_notional) if filters.min_notional else '-'}"
            )
            if missing:
                self.report.note(
                    f"exchange info {symbol}",
                    text + f"; no {' or '.join(missing)} filter (the"
                    " engine then skips that check and the exchange decides)",
                )
            else:
                self.report.ok(f"exchange info {symbol}", text + ", PERCENT_PRICE")
        return all_ok

    async def _api_key(self) -> None:
        kind = self.credentials.key_type.value
        try:
            mode = await load_position_mode(self.session)
            account = await self.session.rest_call("GET", "/fapi/v2/account")
        except ExchangeRejected as exc:
            what = _KEY_CODES.get(exc.code)
            if exc.code == -2015:
                self.report.fail(
                    "API key",
                    f"{what} (code -2015 on {self.config.exchange.rest_url})",
                    key_mismatch_sentence(self.env),
                )
            elif what:
                self.report.fail(
                    "API key",
                    f"{what} (code {exc.code})",
                    f"re-add the key {self.credentials.name!r} with traytrader vault add-key",
                )
            else:
                self.report.fail(
                    "API key",
                    f"a signed request was refused ({_why(exc)})",
                    "check the key's permissions (Enable Futures) and IP restriction on Binance",
                )
            return
        except TraytraderError as exc:
            self.report.fail(
                "API key",
                f"a signed request got no answer ({_why(exc)})",
                "check the network; the key could not be checked",
            )
            return
        self.key_ok = True
        can_trade = account.get("canTrade") if isinstance(account, Mapping) else None
        how = (
            "session.logon on the WS API"
            if self.credentials.key_type is KeyType.ED25519
            else "a signature on every request"
        )
        text = f"{self.credentials.name!r} ({kind}, so {how}): signed REST requests accepted"
        if can_trade is False:
            self.key_ok = False
            self.report.fail(
                "API key",
                text + ", but the account may not trade (canTrade false)",
                "enable Futures trading for this key on Binance (API Management)",
            )
            return
        self.report.ok("API key", text + ("; the account can trade" if can_trade else ""))
        self.report.ok(
            "position mode", f"{mode.value} (both work; the engine sends positionSide only in hedge mode)"
        )

    async def _settings(self) -> None:
        """Each profile's leverage and margin type: what the account has, what the engine will set,
        and whether the symbol's leverage brackets allow it."""
        try:
            rows = await self.session.rest_call("GET", "/fapi/v2/positionRisk")
        except TraytraderError as exc:
            self.report.fail(
                "leverage and margin",
                f"GET /fapi/v2/positionRisk failed ({_why(exc)})",
                "the engine reads positions there at start; report it if it stays",
            )
            return
        current = (
            {str(r.get("symbol")): r for r in rows if isinstance(r, Mapping)}
            if isinstance(rows, list)
            else {}
        )
        for profile in self.config.profiles:
            name = f"leverage and margin {profile.name}"
            try:
                body = await self.session.rest_call(
                    "GET", "/fapi/v1/leverageBracket", {"symbol": profile.symbol}
                )
                entry = body[0] if isinstance(body, list) and body else body
                top = max(int(b["initialLeverage"]) for b in entry["brackets"])
            except (TraytraderError, KeyError, TypeError, ValueError) as exc:
                self.report.note(name, f"the leverage brackets of {profile.symbol} could not be read ({exc})")
                top = None
            if top is not None and profile.leverage > top:
                self.report.fail(
                    name,
                    f"the profile wants {profile.leverage}x but {profile.symbol} allows at"
                    f" most {top}x, so the engine's leverage change would be refused",
                    f"set leverage to {top} or less for profile {profile.name!r}",
                )
                continue
            row = current.get(profile.symbol, {})
            have_lev, have_margin = row.get("leverage"), str(row.get("marginType", "")).upper()
            have_margin = {"CROSS": "CROSSED"}.get(have_margin, have_margin)
            wanted = f"{profile.leverage}x {profile.margin_type.value}"
            if have_lev is None:
                self.report.ok(name, f"{profile.symbol}: the engine sets {wanted} at start")
            elif str(have_lev) == str(profile.leverage) and have_margin == profile.margin_type.value:
                self.report.ok(name, f"{profile.symbol} is already {wanted}")
            else:
                self.report.ok(
                    name,
                    f"{profile.symbol} is {have_lev}x {have_margin or '?'} now; the engine sets"
                    f" {wanted} at start (margin type only while flat)",
                )

    async def _algo_service(self) -> None:
        """Stops live on Binance's Algo Service since 2025-12-09: the engine needs its endpoints."""
        try:
            for symbol in self.symbols:
                await self.session.rest_call("GET", "/fapi/v1/openAlgoOrders", {"symbol": symbol})
        except ExchangeRejected as exc:
            gone = exc.http_status == 404 or exc.code in (-1000, -5000)
            what = "the exchange has no Algo Service endpoint" if gone else "the Algo Service refused a query"
            self.report.fail(
                "algo orders",
                f"{what}: GET /fapi/v1/openAlgoOrders answered HTTP {exc.http_status}"
                f" {_why(exc)}; traytrader places every protective stop there (since Binance's"
                " 2025-12-09 migration) and cannot protect a position without it",
                _DO_NOT_TRADE,
            )
            return
        except TraytraderError as exc:
            self.report.fail(
                "algo orders",
                f"GET /fapi/v1/openAlgoOrders got no answer ({_why(exc)})",
                "check the network and try again",
            )
            return
        self.report.ok(
            "algo orders", "the Algo Service answers (openAlgoOrders), where the ASL places its stops"
        )

    async def _ws_api(self) -> None:
        url = self.config.exchange.ws_api_url
        logon = self.credentials.key_type is KeyType.ED25519
        try:
            ws = await self.session.open_ws()
        except ExchangeRejected as exc:
            if exc.code == -2015 and not self.key_ok:
                self.report.skip("session.logon", "refused too (code -2015), as REST refused the key")
            elif exc.code == -2015:
                self.report.fail(
                    "session.logon",
                    f"the WS API does not know this API key (code -2015 on {url})"
                    + (
                        " though REST accepted it, so REST and the WS API are two different environments"
                        if self.key_ok
                        else ""
                    ),
                    key_mismatch_sentence(self.env),
                )
            elif exc.code == -1022:
                self.report.fail(
                    "session.logon",
                    "the exchange refused session.logon (code -1022): the API key"
                    " is registered on Binance as an HMAC key, and only Ed25519 keys log on",
                    "register an Ed25519 key on Binance (traytrader vault gen-ed25519 NAME makes"
                    " one) and use the API key Binance shows for it, or store this key with"
                    " traytrader vault add-key NAME --type hmac",
                )
            else:
                self.report.fail(
                    "session.logon",
                    f"the exchange refused session.logon ({_why(exc)})",
                    "check the key's permissions and IP restriction on Binance",
                )
            return
        except TraytraderError as exc:
            self.report.fail(
                "WS API",
                f"cannot connect to {url} ({_why(exc)})",
                "check exchange.ws_api_url (README: Environments) and the network",
            )
            return
        self.session.ws = ws
        ws.on_rate_limits = self._seen_ws_limits
        self.ws_ok = True
        if logon:
            self.report.ok("session.logon", f"connected to {url} and logged on with the Ed25519 key")
        else:
            self.report.ok(
                "WS API",
                f"connected to {url}; the HMAC key signs every request (session.logon is"
                " for Ed25519 keys only)",
            )

    async def _unknown_order(self) -> None:
        symbol = self.symbols[0] if self.symbols else "BTCUSDT"
        start = time.perf_counter()
        try:
            reply = await self.session.call(
                "order.status", {"symbol": symbol, "origClientOrderId": "tt-selftest-none"}
            )
        except ExchangeRejected as exc:
            self.report.latencies.ws_rtt_ms = (time.perf_counter() - start) * 1000
            if exc.code == UNKNOWN_ORDER_CODE:
                self.report.ok(
                    "order.status",
                    f'an unknown order is answered {exc.code} "{exc.msg}", as the'
                    " engine expects when it resolves an order whose answer was lost",
                )
                return
            if exc.code == -2015:
                self.ws_ok = False
                if not self.key_ok:
                    self.report.skip("WS API", "refuses the key too (code -2015), as REST did")
                    return
                self.report.fail(
                    "session.logon" if self.credentials.key_type is KeyType.ED25519 else "WS API",
                    "the WS API does not know this API key (code -2015)"
                    + (
                        " though REST accepted it, so REST and the WS API belong to different environments"
                        if self.key_ok
                        else ""
                    ),
                    key_mismatch_sentence(self.env),
                )
                return
            self.report.fail(
                "order.status",
                f"an unknown order is answered {_why(exc)}, not {UNKNOWN_ORDER_CODE}"
                ' ("Order does not exist."); the engine would not recognise a lost order as never'
                " placed",
                _DO_NOT_TRADE,
            )
            return
        except TraytraderError as exc:
            self.report.fail("order.status", f"no answer over the WS API ({_why(exc)})", "check the network")
            return
        self.report.fail(
            "order.status",
            f"an order that was never placed was found ({str(reply.result)[:80]})",
            "report this; the engine's lost-order resolution depends on it",
        )

    async def _same_account(self) -> None:
        """REST, WS API and (by its listenKey) the user stream speak for one account: the balance
        rows' ``accountAlias`` and amounts agree (compared, never shown)."""
        try:
            rest = await self.session.rest_call("GET", "/fapi/v2/balance")
            ws = (await self.session.call("account.balance", {})).result
        except TraytraderError as exc:
            self.report.fail(
                "same account",
                f"the balances could not be read for comparison ({_why(exc)})",
                "check the key's permissions",
            )
            return

        def ident(rows: Any) -> set[tuple[str, str, str]]:
            return (
                {
                    (
                        str(r.get("accountAlias", "")),
                        str(r.get("asset")),
                        str(Decimal(str(r.get("balance", 0)))),
                    )
                    for r in rows
                    if isinstance(r, Mapping)
                }
                if isinstance(rows, list)
                else set()
            )

        if ident(rest) != ident(ws) or not ident(rest):
            self.report.fail(
                "same account",
                "REST and the WS API report different accounts (their balance rows differ)",
                "point exchange.rest_url and exchange.ws_api_url at one environment (README: Environments)",
            )
            return
        self.report.ok(
            "same account",
            "REST and the WS API answer for one account (accountAlias and balances"
            " agree, not shown); the user stream's listenKey comes from the same WS API session",
        )

    def _hosts(self) -> None:
        settings = self.config.exchange
        found = environment_of(settings.rest_url, settings.ws_api_url, settings.stream_url)
        known = {name: env for name, env in found.items() if env is not None}
        if len(set(known.values())) > 1:
            where = ", ".join(f"{name} is {env.value}" for name, env in known.items())
            self.report.fail(
                "environment",
                f"the configured hosts mix environments ({where})",
                "remove the rest_url/ws_api_url/stream_url overrides or make them one environment;"
                " " + key_mismatch_sentence(self.env),
            )
        elif known and set(known.values()) != {self.env}:
            other = next(iter(known.values()))
            self.report.note(
                "environment", f"exchange.environment is {self.env.value!r} but the hosts are {other.value}'s"
            )
        else:
            hosts = ENVIRONMENTS[self.env]
            self.report.ok(
                "environment",
                f"{self.env.value}: REST, WS API and streams are one set"
                + (" (custom hosts)" if not known else f" (hosts as of {hosts.taken})"),
            )

    def _seen_rest_limits(self, limits: list[dict[str, Any]]) -> None:
        self.rest_limits = limits
        self.session.limiter.observe(limits, self.session.clock.now_ms())

    def _seen_ws_limits(self, limits: list[dict[str, Any]]) -> None:
        self.ws_limits = limits
        self.session.limiter.observe(limits, self.session.clock.now_ms())

    def _rate_limits(self) -> None:
        def weight(limits: list[dict[str, Any]]) -> str | None:
            for item in limits:
                if item.get("rateLimitType") == "REQUEST_WEIGHT":
                    return (
                        f"{item.get('count')} of {item.get('limit')} per {item.get('intervalNum')}"
                        f" {str(item.get('interval')).lower()}"
                    )
            return None

        rest, ws = weight(self.rest_limits), weight(self.ws_limits)
        if not self.key_ok and not self.ws_ok:
            self.report.skip("rate limits", "nothing signed was answered to read them from")
            return
        problems = []
        if rest is None:
            problems.append("REST answers carry no X-MBX-USED-WEIGHT-1M header the client can read")
        if ws is None and self.ws_ok:
            problems.append("WS API answers carry no rateLimits")
        if problems:
            self.report.fail(
                "rate limits",
                "; ".join(problems) + ", so the engine cannot stay under the exchange's request weight",
                "report this with the report file",
            )
            return
        self.report.ok(
            "rate limits",
            f"REST request weight {rest} (X-MBX-USED-WEIGHT-1M)"
            + (f"; WS API rateLimits request weight {ws}" if ws else ""),
        )

    async def _profiles(self) -> None:
        """What each profile would send now, built by the engine's own order builder."""
        info = self.session.info
        try:
            await load_books(self.session, [s for s in self.symbols if info is not None and s in info])
        except TraytraderError as exc:
            self.report.fail(
                "prices",
                f"the book and mark prices could not be read ({_why(exc)})",
                "try again; orders are sized from them",
            )
            return
        for profile in self.config.profiles:
            book, mark = self.session.book(profile.symbol), self.session.mark(profile.symbol)
            if info is None or profile.symbol not in info or book is None or mark is None:
                continue
            try:
                order = build_entry_order(
                    profile,
                    Side.BUY,
                    info.symbol(profile.symbol),
                    book[0],
                    book[1],
                    mark,
                    self.session.mode,
                    "tt-selftest",
                )
            except InvalidOrder as exc:
                self.report.fail(
                    f"profile {profile.name}",
                    f"cannot trade: {exc}",
                    f"change profile {profile.name!r} in {self.config.path}",
                )
                continue
            price = order.price if order.price is not None else book[1]
            self.report.ok(
                f"profile {profile.name}",
                f"a BUY would send {format_decimal(order.quantity)}"
                f" {profile.symbol} {order.type.value} (≈{(order.quantity * price).quantize(Decimal(1))}"
                " USDT)",
            )


async def run_selftest(
    config: AppConfig,
    credentials: ApiCredentials,
    out: Callable[[str], None],
    *,
    trade: bool = False,
    profile_name: str | None = None,
    confirm: Callable[[str, Decimal], Decimal | None] | None = None,
    balances: bool = False,
    stream_wait_s: float = 3.0,
) -> Report:
    """The whole selftest; ``confirm(symbol, minimum_notional)`` is asked before a live trade and
    returns the notional the user typed (None: cancelled)."""
    report = Report(out, Redactor())
    test = SelfTest(config, credentials, report, stream_wait_s=stream_wait_s)
    try:
        reached = await test.run_read_only()
        if trade:
            if not reached or report.failures:
                report.skip("trade", "not run: a check it depends on failed (fix that first)")
            else:
                from traytrader.engine.selftest_trade import RoundTrip

                await RoundTrip(test, profile_name, confirm=confirm, balances=balances).run()
        report.ok("latencies", report.latencies.text())
    except Exception as exc:  # one sentence, never a traceback; the round trip cleaned up already
        report.fail(
            "selftest",
            f"stopped by an unexpected {exc.__class__.__name__} ({str(exc)[:200]})",
            "run it again, and report it with the report file if it stays",
        )
    finally:
        await test.close()
    return report


def run_selftest_sync(*args: Any, **kwargs: Any) -> Report:
    return asyncio.run(run_selftest(*args, **kwargs))
