"""A test notification server: owns org.freedesktop.Notifications on the session bus and records calls.

No ``from __future__ import annotations`` here: dbus-next reads the D-Bus signatures from the
annotations at class creation (hence the ``noqa`` on the signature strings).
"""

import asyncio
import threading
from dataclasses import dataclass

from dbus_next.aio import MessageBus
from dbus_next.service import ServiceInterface, method


@dataclass(frozen=True)
class Received:
    app_name: str
    summary: str
    body: str
    hints: dict


class _Notifications(ServiceInterface):
    def __init__(self, server: "NotificationServer") -> None:
        super().__init__("org.freedesktop.Notifications")
        self._server = server
        self._next_id = 0

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s", body: "s",  # noqa: F821
               actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":  # noqa: F821, F722
        self._next_id += 1
        self._server.record(Received(app_name, summary, body, {k: v.value for k, v in hints.items()}))
        return self._next_id

    @method()
    def GetCapabilities(self) -> "as":  # noqa: F722
        return ["body", "body-markup"]

    @method()
    def GetServerInformation(self) -> "ssss":  # noqa: F821
        return ["traytrader-test", "traytrader", "1.0", "1.2"]

    @method()
    def CloseNotification(self, notification_id: "u") -> None:  # noqa: F821
        return None


class NotificationServer:
    """Runs on its own thread and asyncio loop; ``wait_for(pred)`` blocks until a matching call."""

    def __init__(self, bus_address: str) -> None:
        self._address = bus_address
        self.received: list[Received] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-notify-server", daemon=True)

    def start(self) -> "NotificationServer":
        self._thread.start()
        if not self._ready.wait(5) or self._error is not None:
            raise RuntimeError(f"notification server did not start: {self._error}")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self) -> None:
        self._bus = await MessageBus(bus_address=self._address).connect()
        self._bus.export("/org/freedesktop/Notifications", _Notifications(self))
        await self._bus.request_name("org.freedesktop.Notifications")

    def record(self, received: Received) -> None:
        with self._cond:
            self.received.append(received)
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0, start: int = 0) -> Received:
        """The first notification (at index >= ``start``) matching ``predicate``; fails on timeout."""
        with self._cond:
            found: list[Received] = []

            def match() -> bool:
                found[:] = [r for r in self.received[start:] if predicate(r)]
                return bool(found)

            if not self._cond.wait_for(match, timeout):
                seen = [f"{r.summary} | {r.body}" for r in self.received[start:]]
                raise AssertionError(f"no matching notification within {timeout} s; received: {seen}")
            return found[0]

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2)
