"""Global shortcuts on Wayland through ``org.freedesktop.portal.GlobalShortcuts`` (xdg-desktop-portal).

An asyncio D-Bus client (dbus-fast, the ``linux`` extra) on a thread and loop of its own. It
creates one session, registers every hotkey action with its configured key as
``preferred_trigger``, and turns each ``Activated`` signal into the same ``on_chord(action, label,
is_repeat)`` call a pynput hotkey makes, so the app's arming, cooldown and in-flight rules apply
unchanged (``DesktopApp.hotkey`` only enqueues).

Portal protocol, as verified against xdg-desktop-portal 1.16 + xdg-desktop-portal-kde 5.27
(``tests/desktop/wayland/``):
* every call returns a Request object; we subscribe to its ``Response`` *before* calling, on the
  path predicted from our unique name and a ``handle_token``;
* KDE 5.27 registers shortcuts only from ``CreateSession``'s pre-spec ``shortcuts`` option (its
  ``BindShortcuts`` binds nothing), while Plasma 6 and GNOME follow the spec and bind in
  ``BindShortcuts`` (Plasma 6 asks the user once for new shortcuts): we send both;
* on KDE 5.27 the session token is the kglobalaccel component name, so it is always
  ``traytrader``: a second run reuses the first run's keys instead of finding them taken.

Key repeat: a held key makes KWin send ``Activated`` again and again (after ~0.6 s, then 25 times
a second; measured), without a ``Deactivated`` in between. An ``Activated`` for a shortcut that
is still held (no ``Deactivated`` yet) within ``HOLD_REFRESH_S`` of the previous one is key
repeat, which never sends (``HeldShortcuts``). Where a desktop reports no releases at all, a
deliberate second press within that second is refused too: safe, never a double order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from traytrader.ui.hotkey_backends import PortalShortcut
from traytrader.ui.hotkeys import ChordCallback

log = logging.getLogger(__name__)

PORTAL_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS_IFACE = "org.freedesktop.portal.GlobalShortcuts"
REQUEST_IFACE = "org.freedesktop.portal.Request"
SESSION_TOKEN = "traytrader"
HOLD_REFRESH_S = 1.0   # a held key repeats within this (KDE's default delay is 0.6 s); then it expires
CALL_TIMEOUT_S = 5.0   # method calls (the portal may need to be started by the bus first)
BIND_TIMEOUT_S = 600.0  # BindShortcuts may wait for the user to confirm a dialog (Plasma 6)


class PortalUnavailable(Exception):
    """The session has no usable GlobalShortcuts portal; ``str()`` is a short reason."""


class HeldShortcuts:
    """Tells a first activation from key repeat (pure; time comes in as seconds)."""

    def __init__(self, hold_refresh_s: float = HOLD_REFRESH_S) -> None:
        self._hold_refresh_s = hold_refresh_s
        self._held: dict[str, float] = {}   # shortcut id → time of its last Activated

    def activated(self, shortcut_id: str, now: float) -> bool:
        """True when this activation is key repeat of a shortcut still held."""
        last = self._held.get(shortcut_id)
        self._held[shortcut_id] = now
        return last is not None and now - last < self._hold_refresh_s

    def deactivated(self, shortcut_id: str) -> None:
        self._held.pop(shortcut_id, None)


class PortalShortcuts:
    """``start()`` returns once the session exists (the keys work from then on) or raises
    ``PortalUnavailable``; ``bound`` then lists ``(id, trigger the desktop reports)``."""

    def __init__(self, shortcuts: list[PortalShortcut], on_chord: ChordCallback, *,
                 bus_address: str | None = None, clock: Callable[[], float] | None = None) -> None:
        import time

        self._shortcuts = {s.id: s for s in shortcuts}
        self._on_chord = on_chord
        self._bus_address = bus_address
        self._clock = clock or time.monotonic
        self._held = HeldShortcuts()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bus: Any = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._session = ""
        self._bind_task: asyncio.Task[None] | None = None
        self.bound: list[tuple[str, str]] = []

    # --- any thread ----------------------------------------------------------------------------

    def start(self, timeout: float = CALL_TIMEOUT_S) -> PortalShortcuts:
        try:
            import dbus_fast.aio  # noqa: F401  (the linux extra)
        except ImportError:
            raise PortalUnavailable("the Python package dbus-fast is not installed; "
                                    'pip install "traytrader[linux]"') from None
        started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="traytrader-portal-keys",
                                        daemon=True)
        self._thread.start()
        try:
            started.result(timeout)
        except TimeoutError:
            self.stop(0.2)
            raise PortalUnavailable(f"the desktop portal did not answer within {timeout:.0f} s") from None
        except PortalUnavailable:
            self._thread.join(0.5)  # it ends by itself after a failed start
            raise
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 0.5) -> None:
        """Leave the bus: the portal closes our session and the desktop forgets nothing we set."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    # --- the portal thread ---------------------------------------------------------------------

    def _run(self, started: Future[None]) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open(started))
            if started.done() and started.exception() is None:
                loop.run_forever()
        except RuntimeError:  # stop() during start-up ("event loop stopped before Future completed")
            log.debug("portal shortcuts stopped during start-up")
        finally:
            if self._bus is not None:
                self._bus.disconnect()
            with contextlib.suppress(RuntimeError):  # a second stop() during the flush
                loop.run_until_complete(asyncio.sleep(0))  # let the disconnect flush
            loop.close()

    async def _open(self, started: Future[None]) -> None:
        try:
            await self._connect()
            await self._create_session()
        except PortalUnavailable as exc:
            started.set_exception(exc)
            return
        except Exception as exc:  # a D-Bus library error: one sentence, not a traceback
            started.set_exception(PortalUnavailable(f"{type(exc).__name__}: {exc}"))
            return
        started.set_result(None)
        self._bind_task = asyncio.get_running_loop().create_task(self._bind())  # referenced: not collected

    async def _connect(self) -> None:
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        try:
            if self._bus_address:
                bus = MessageBus(bus_address=self._bus_address)
            else:
                bus = MessageBus(bus_type=BusType.SESSION)
            self._bus = await asyncio.wait_for(bus.connect(), CALL_TIMEOUT_S)
        except Exception as exc:
            raise PortalUnavailable(f"no session D-Bus ({type(exc).__name__}: {exc})") from None
        self._sender = self._bus.unique_name[1:].replace(".", "_")
        self._bus.add_message_handler(self._on_message)
        version = await self._call("org.freedesktop.DBus.Properties", "Get", "ss",
                                   [SHORTCUTS_IFACE, "version"], path=PORTAL_PATH, destination=PORTAL_NAME)
        if version is None:
            raise PortalUnavailable("this desktop offers no GlobalShortcuts portal")
        await self._add_match(f"type='signal',sender='{PORTAL_NAME}',interface='{SHORTCUTS_IFACE}'")

    async def _call(self, interface: str, member: str, signature: str, body: list[Any], *,
                    path: str, destination: str) -> Any:
        """The reply's first value, or None for a D-Bus error reply."""
        from dbus_fast import Message, MessageType

        reply = await asyncio.wait_for(self._bus.call(Message(
            destination=destination, path=path, interface=interface, member=member, signature=signature,
            body=body)), CALL_TIMEOUT_S)
        if reply.message_type == MessageType.ERROR:
            log.debug("%s.%s: %s %s", interface, member, reply.error_name, reply.body)
            return None
        return reply.body[0] if reply.body else True

    async def _add_match(self, rule: str) -> None:
        await self._call("org.freedesktop.DBus", "AddMatch", "s", [rule],
                         path="/org/freedesktop/DBus", destination="org.freedesktop.DBus")

    async def _request(self, member: str, signature: str, body: list[Any], options: dict[str, Any],
                       timeout: float) -> dict[str, Any]:
        """Call a portal method and wait for its Request's Response (subscribed before the call)."""
        from dbus_fast import Variant

        token = "tt" + secrets.token_hex(6)
        path = f"{PORTAL_PATH}/request/{self._sender}/{token}"
        await self._add_match(f"type='signal',interface='{REQUEST_IFACE}',member='Response',path='{path}'")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[path] = future
        options = dict(options, handle_token=Variant("s", token))
        handle = await self._call(SHORTCUTS_IFACE, member, signature, [*body, options],
                                  path=PORTAL_PATH, destination=PORTAL_NAME)
        if handle is None:
            raise PortalUnavailable(f"the portal refused {member}")
        if handle != path:  # an old frontend chose its own request path
            self._pending[handle] = self._pending.pop(path)
        code, results = await asyncio.wait_for(future, timeout)
        if code != 0:
            raise PortalUnavailable(f"{member} was {'cancelled' if code == 1 else 'refused'} by the desktop")
        return {key: value.value for key, value in results.items()}

    def _wire_shortcuts(self) -> list[list[Any]]:
        from dbus_fast import Variant

        wire = []
        for shortcut in self._shortcuts.values():
            options = {"description": Variant("s", shortcut.description)}
            if shortcut.trigger:
                options["preferred_trigger"] = Variant("s", shortcut.trigger)
            wire.append([shortcut.id, options])
        return wire

    async def _create_session(self) -> None:
        from dbus_fast import Variant

        options = {"session_handle_token": Variant("s", SESSION_TOKEN),
                   "shortcuts": Variant("a(sa{sv})", self._wire_shortcuts())}  # KDE 5.27 binds only these
        results = await self._request("CreateSession", "a{sv}", [], options, CALL_TIMEOUT_S)
        self._session = str(results.get("session_handle", ""))
        if not self._session:
            raise PortalUnavailable("the portal created no session")
        self.bound = _triggers(results.get("shortcuts", []))

    async def _bind(self) -> None:
        """The spec's way (Plasma 6, GNOME); may wait for the user to confirm in a dialog."""
        try:
            results = await self._request("BindShortcuts", "oa(sa{sv})sa{sv}",
                                          [self._session, self._wire_shortcuts(), ""], {}, BIND_TIMEOUT_S)
            bound = _triggers(results.get("shortcuts", []))
            if bound:
                self.bound = bound
        except (PortalUnavailable, TimeoutError) as exc:
            log.info("BindShortcuts: %s; the keys registered with the session stay.", exc)

    def _on_message(self, message: Any) -> bool:
        from dbus_fast import MessageType

        if message.message_type != MessageType.SIGNAL:
            return False
        if message.interface == REQUEST_IFACE and message.member == "Response":
            future = self._pending.pop(message.path, None)
            if future is not None and not future.done():
                future.set_result(tuple(message.body))
        elif message.interface == SHORTCUTS_IFACE and message.body and message.body[0] == self._session:
            shortcut_id = message.body[1]
            if message.member == "Activated":
                self._activated(shortcut_id)
            elif message.member == "Deactivated":
                self._held.deactivated(shortcut_id)
        return False

    def _activated(self, shortcut_id: str) -> None:
        shortcut = self._shortcuts.get(shortcut_id)
        if shortcut is None:
            return
        repeat = self._held.activated(shortcut_id, self._clock())
        label = shortcut.label
        for sid, trigger in self.bound:  # the key the desktop reports (the user may have changed it)
            if sid == shortcut_id and trigger and "<" not in trigger:
                label = trigger
        self._on_chord(shortcut.action, label, repeat)


def _triggers(shortcuts: Any) -> list[tuple[str, str]]:
    """``a(sa{sv})`` results → ``[(id, trigger_description)]``."""
    result = []
    for shortcut_id, props in shortcuts or []:
        described = props.get("trigger_description")
        result.append((str(shortcut_id), str(getattr(described, "value", described) or "")))
    return result


def probe(bus_address: str | None = None, timeout: float = 3.0) -> str:
    """"" when the session bus offers the GlobalShortcuts portal, else the reason (for ``check``)."""
    try:
        import dbus_fast.aio  # noqa: F401
    except ImportError:
        return 'the Python package dbus-fast is not installed (pip install "traytrader[linux]")'

    async def ask() -> str:
        from dbus_fast import BusType, Message, MessageType
        from dbus_fast.aio import MessageBus

        try:
            bus = MessageBus(bus_address=bus_address) if bus_address else MessageBus(bus_type=BusType.SESSION)
            await bus.connect()
        except Exception as exc:
            return f"no session D-Bus ({type(exc).__name__})"
        try:
            reply = await bus.call(Message(destination=PORTAL_NAME, path=PORTAL_PATH,
                                           interface="org.freedesktop.DBus.Properties", member="Get",
                                           signature="ss", body=[SHORTCUTS_IFACE, "version"]))
            if reply.message_type == MessageType.ERROR:
                return "this desktop offers no GlobalShortcuts portal"
            return ""
        finally:
            bus.disconnect()

    try:
        return asyncio.run(asyncio.wait_for(ask(), timeout))
    except TimeoutError:
        return f"the desktop portal did not answer within {timeout:.0f} s"
