"""The selftest's stream checks: each stream group the engine uses delivers within its period.

Since 2026-04-23 Binance serves streams in three groups: ``/public`` (book ticker), ``/market``
(mark price) and ``/private`` (user data by listenKey). The URLs come from the engine's own
``market_stream_urls`` and ``UserStream``, so a group the exchange moves or drops fails here by
name. The user stream stays open afterwards: ``--trade`` reads its events from ``user_events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from traytrader.engine.selftest_report import Report
from traytrader.engine.session import Session
from traytrader.exchange.streams import StreamConnection, UserStream, market_stream_urls

_GROUPS = (
    # group, what it carries, the event type, whether silence is a failure (it ticks on a period)
    ("/market", "mark price (markPrice@1s)", "markPriceUpdate", True),
    ("/public", "book ticker (bookTicker)", "bookTicker", False),
)


class _Group:
    def __init__(self, name: str) -> None:
        self.name = name
        self.first = asyncio.Event()
        self.first_after_s: float | None = None
        self.error: BaseException | None = None
        self.started = time.monotonic()

    def seen(self) -> None:
        if not self.first.is_set():
            self.first_after_s = time.monotonic() - self.started
            self.first.set()

    def disconnected(self, error: BaseException | None) -> None:
        if error is not None:
            self.error = error


class StreamProbe:
    """Opens the market streams and (with a working WS API) the user stream, and reports each."""

    def __init__(self, session: Session, report: Report, symbols: list[str], *, wait_s: float) -> None:
        self.session = session
        self.report = report
        self.symbols = symbols
        self.wait_s = wait_s
        self.connections: list[StreamConnection] = []
        self.user: UserStream | None = None
        self.user_events: list[dict[str, Any]] = []
        self.user_changed = asyncio.Event()
        self.private_ok = False

    async def check(self, *, private: bool) -> None:
        base = self.session.config.exchange.stream_url
        groups: list[tuple[_Group, str, str, bool, StreamConnection | None]] = []
        urls = market_stream_urls(base, self.symbols)
        for prefix, what, kind, must_tick in _GROUPS:
            group = _Group(prefix)
            url = next((u for u in urls if f"{base.rstrip('/')}{prefix}/" in u), None)
            conn = None
            if url is not None:
                conn = StreamConnection(
                    f"selftest{prefix}", url, self._on_market(group, kind), on_disconnected=group.disconnected
                )
                conn.start()
                self.connections.append(conn)
            groups.append((group, what, kind, must_tick, conn))
        private_group = _Group("/private")
        if private:
            self.user = UserStream(
                base,
                self._start_key,
                self._ping_key,
                self._on_user,
                on_disconnected=private_group.disconnected,
            )
            self.user.start()
        waits = [self._wait(g.first) for g, *_ in groups]
        if self.user is not None:
            waits.append(self._wait(self.user.connection.connected))
        await asyncio.gather(*waits)
        for group, what, _kind, must_tick, conn in groups:
            self._verdict(group, what, must_tick, conn)
        if self.user is None:
            self.report.skip("stream /private", "not checked: the WS API, which issues the listenKey, failed")
        else:
            self._private_verdict(private_group)

    async def _wait(self, event: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self.wait_s)

    def _on_market(self, group: _Group, kind: str) -> Callable[[dict[str, Any]], None]:
        def handle(message: dict[str, Any]) -> None:
            if message.get("e") == kind:
                group.seen()
            self.session.on_market_message(message)  # the engine's own parsing of prices

        return handle

    def _verdict(self, group: _Group, what: str, must_tick: bool, conn: StreamConnection | None) -> None:
        name = f"stream {group.name}"
        url = f"{self.session.config.exchange.stream_url.rstrip('/')}{group.name}"
        if conn is None:
            self.report.skip(name, "no profile symbols to subscribe to")
        elif group.first_after_s is not None:
            self.report.ok(name, f"{what}: first event after {group.first_after_s * 1000:.0f} ms")
        elif not conn.connected.is_set():
            why = f" ({str(group.error).rstrip('.')})" if group.error is not None else ""
            self.report.fail(
                name,
                f"cannot connect to {url}{why}; since 2026-04-23 Binance serves {what} under"
                f" {group.name}, and the engine has no price without it",
                "check exchange.stream_url (README: Environments), then report it",
            )
        elif must_tick:
            self.report.fail(
                name,
                f"connected, but no {what} event in {self.wait_s:g} s though it ticks every"
                " second; the engine would treat prices as stale",
                "try again, then report it",
            )
        else:
            self.report.note(name, f"connected; no {what} event in {self.wait_s:g} s (a quiet market?)")

    def _private_verdict(self, group: _Group) -> None:
        assert self.user is not None
        url = f"{self.session.config.exchange.stream_url.rstrip('/')}/private"
        if self.user.connection.connected.is_set():
            self.private_ok = True
            self.report.ok(
                "stream /private",
                "connected with a listenKey from userDataStream.start (fills,"
                " positions and stop updates arrive here; --trade checks each one)",
            )
            return
        why = f" ({str(group.error).rstrip('.')})" if group.error is not None else ""
        self.report.fail(
            "stream /private",
            f"cannot connect to {url} with a listenKey{why}; since 2026-04-23"
            " user data comes only from /private, and the engine would never see a fill or a"
            " triggered stop",
            "check exchange.stream_url (README: Environments), then report it",
        )

    async def _start_key(self) -> str:
        reply = await self.session.call_keyed("userDataStream.start")
        key = str(reply.result["listenKey"])
        self.report.redact.add([key])
        return key

    async def _ping_key(self, key: str) -> Any:
        return await self.session.call_keyed("userDataStream.ping")

    def _on_user(self, message: dict[str, Any]) -> None:
        self.user_events.append(message)
        self.user_changed.set()

    async def wait_user(
        self, match: Callable[[dict[str, Any]], bool], timeout_s: float, start: int = 0
    ) -> dict[str, Any] | None:
        """The first user event from index ``start`` on that ``match``es, waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        index = start
        while True:
            while index < len(self.user_events):
                event = self.user_events[index]
                index += 1
                if match(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.user_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.user_changed.wait(), left)

    async def stop(self) -> None:
        if self.user is not None:
            # The listenKey is not stopped: Binance hands one account the same active key, so a
            # traytrader running meanwhile would lose its user stream. It expires within the hour.
            await self.user.stop()
        for conn in self.connections:
            await conn.stop()
