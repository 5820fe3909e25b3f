"""One WebSocket API connection: id-correlated requests with timeouts, logon, clean close.

Exception tree raised by ``WsApi.call`` (converted once, here):

    ExchangeRejected     the server answered with ``error`` (HTTP-like ``status`` kept; 429/418 carry
                         ``retry_until_ms``)
    OutcomeUnknown       the frame was written and no answer came (timeout, connection lost after
                         sending, 503 "Unknown error"): resolve before resending
    TransportError       nothing was sent (not connected, or the send itself failed): safe to retry

"Frame on the wire" is stamped right after the frame was handed to the transport (the kernel send
buffer on loopback/TCP without backpressure); the stamp before the send would flatter us by the
cost of the send itself. When nothing can block, the frame is written synchronously with
websockets' protocol calls (``_send_now``), else through ``await ws.send(frame)``.

Ed25519 keys log on once per connection (``session.logon``); HMAC keys sign every request
(protocol notes §1.5: logon is Ed25519-only). Pings from the server are answered by websockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    from websockets.utils import apply_mask

from traytrader.core.errors import ExchangeRejected, OutcomeUnknown, TransportError
from traytrader.core.requests import RequestIds, WsResponse, parse_response, retry_until_ms

log = logging.getLogger(__name__)


_TEXT_SHORT = struct.Struct("!BB")      # FIN + text opcode, MASK + 7-bit length
_TEXT_MEDIUM = struct.Struct("!BBH")    # ... MASK + 126, 16-bit length


class _MaskKeys:
    """Client frame masking keys (RFC 6455 5.3: fresh, unpredictable, one per frame), drawn from
    ``os.urandom`` 1024 at a time instead of one system call per frame."""

    __slots__ = ("_offset", "_pool")

    def __init__(self) -> None:
        self._pool = b""
        self._offset = 0

    def take(self) -> bytes:
        offset = self._offset
        if offset >= len(self._pool):
            self._pool, offset = os.urandom(4096), 0
        self._offset = offset + 4
        return self._pool[offset:offset + 4]


_MASK_KEYS = _MaskKeys()


def encode_text_frame(frame: str) -> bytes | None:
    """``frame`` as one masked client text frame, byte for byte what websockets writes for it
    (with this masking key; ``tests/exchange/test_ws_framing.py`` parses it with websockets' own
    reader). None above 64 KiB: websockets encodes those itself."""
    payload = frame.encode()
    length = len(payload)
    if length < 126:
        header = _TEXT_SHORT.pack(0x81, 0x80 | length)
    elif length < 65536:
        header = _TEXT_MEDIUM.pack(0x81, 0x80 | 126, length)
    else:
        return None
    mask = _MASK_KEYS.take()
    return header + mask + apply_mask(payload, mask)


def _can_send_now(ws: ClientConnection) -> bool:
    """Whether websockets' own ``send()`` would hand a frame to the transport at once (see
    ``_send_now``)."""
    protocol = ws.protocol
    # These are websockets' internals (all present from 16.0, the floor pyproject sets, to 17.x);
    # where one is missing the public ``send()`` takes over rather than the engine failing.
    return getattr(ws, "send_in_progress", True) is None and protocol.state is State.OPEN \
        and not getattr(ws, "paused", True) and not getattr(protocol, "writes", True) \
        and not getattr(protocol, "extensions", True) and not ws.transport.is_closing()


def _send_now(ws: ClientConnection, frame: str, encoded: bytes | None = None) -> bool:
    """Hand ``frame`` to the transport synchronously when websockets' own ``send()`` would do
    exactly that: connection open, no extension (compression is off), no fragmented message in
    progress, nothing queued in the protocol, no backpressure. It goes out in one
    ``transport.write`` of ``encoded`` (``encode_text_frame``, made ahead of time by an armed
    entry) or of the frame encoded here: ~10 µs less than ``protocol.send_text`` + ``send_data``
    on the hot path. False: use ``send()`` (it waits, or raises ``ConnectionClosed``)."""
    if not _can_send_now(ws):
        return False
    data = encoded if encoded is not None else encode_text_frame(frame)
    if data is None:
        ws.protocol.send_text(frame.encode())
        ws.send_data()
    else:
        ws.transport.write(data)
    return True


class _Expired(Exception):
    """The answer's timer fired (internal: becomes ``OutcomeUnknown``)."""


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class FrameSource(Protocol):
    """What builds request frames: ``core.frames.FrameBuilder`` (signs or, once logged on, not)."""

    logged_on: bool

    def build(self, request_id: str, method: str, params: Mapping[str, Any], timestamp_ms: int) -> str: ...

    def build_keyed(self, request_id: str, method: str, params: Mapping[str, Any] | None = None) -> str: ...


@dataclass(frozen=True)
class Reply:
    """A successful answer and its timings (``time.perf_counter_ns`` stamps)."""

    result: Any
    status: int
    request_id: str
    wire_ns: int       # right after the frame was handed to the transport
    received_ns: int   # when the reader task took the answer off the socket
    rate_limits: list[dict[str, Any]]


class Written(NamedTuple):
    """A request frame on the wire whose answer is expected (``WsApi.write_now``)."""

    request_id: str
    method: str
    wire_ns: int   # right after the frame was handed to the transport
    future: asyncio.Future[tuple[WsResponse, int]]   # its answer, set by the reader


@dataclass
class _Pending:
    future: asyncio.Future[tuple[WsResponse, int]]
    method: str
    sent: bool = False


class WsApi:
    """One ws-fapi connection. Create, ``await open()``, ``await call(...)``, ``await close()``."""

    def __init__(
        self,
        url: str,
        frames: FrameSource,
        *,
        now_ms: Callable[[], int],
        timeout_s: float = 5.0,
        on_rate_limits: Callable[[list[dict[str, Any]]], None] | None = None,
        on_unsolicited: Callable[[dict[str, Any] | WsResponse], None] | None = None,
        on_closed: Callable[[WsApi, BaseException | None], None] | None = None,
    ) -> None:
        self.url = url
        self.frames = frames
        self.now_ms = now_ms
        self.timeout_s = timeout_s
        self.on_rate_limits = on_rate_limits
        self.on_unsolicited = on_unsolicited
        self.on_closed = on_closed
        self.ids = RequestIds()
        self.opened_at = 0.0
        self._ws: ClientConnection | None = None
        self._pending: dict[str, _Pending] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def connected(self) -> bool:
        reader = self._reader
        return self._ws is not None and not self._closing and reader is not None and not reader.done()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def open(self, *, open_timeout_s: float = 10.0) -> None:
        try:
            self._ws = await connect(self.url, compression=None, open_timeout=open_timeout_s,
                                     ping_interval=20, ping_timeout=20, max_size=2**22)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise TransportError(f"Could not connect to the exchange's WebSocket API at {self.url}: "
                                 f"{exc.__class__.__name__}.") from exc
        self.opened_at = time.monotonic()
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws), name="ws-api-reader")

    async def logon(self, logon_frame: Callable[[str, int], str]) -> Any:
        """Send ``session.logon`` built by ``logon_frame(request_id, timestamp_ms)`` (Ed25519 only)."""
        request_id = self.ids.next()
        reply = await self._exchange(request_id, "session.logon", logon_frame(request_id, self.now_ms()))
        return reply.result

    async def call(self, method: str, params: Mapping[str, Any]) -> Reply:
        """Build, sign (unless logged on), send and await the answer. See the module docstring."""
        request_id = self.ids.next()
        frame = self.frames.build(request_id, method, params, self.now_ms())
        return await self._exchange(request_id, method, frame)

    async def call_keyed(self, method: str, params: Mapping[str, Any] | None = None) -> Reply:
        """A request that needs the API key but no signature (``userDataStream.*``)."""
        request_id = self.ids.next()
        return await self._exchange(request_id, method, self.frames.build_keyed(request_id, method, params))

    def send_frame(self, request_id: str, method: str, frame: str, on_sent: Callable[[], None] | None = None,
                   encoded: bytes | None = None) -> Coroutine[Any, Any, Reply]:
        """Send a frame already built with an id from ``self.ids`` (the dispatcher's hot path), and
        ``encoded`` with ``encode_text_frame`` when it was made ahead of time. ``on_sent`` runs right
        after the frame is on the wire (bookkeeping that must not delay it)."""
        return self._exchange(request_id, method, frame, on_sent, encoded)

    def write_now(self, request_id: str, method: str, frame: str,
                  encoded: bytes | None = None) -> Written | None:
        """Write ``frame`` (built with an id from ``self.ids``) right now, when websockets would
        write it at once (``_send_now``), and expect its answer (``answer``). None: nothing was
        written (not connected, or the write would wait); ``send_frame`` then sends it.

        The key path's write (``Dispatcher.fire``): the order is on the wire before any task exists.
        No answer can be taken off the socket before it is expected: the reader runs on the engine
        loop, which is not running while this does (it is this thread, or parked for it)."""
        ws = self._ws
        if ws is None or self._closing or not _send_now(ws, frame, encoded):
            return None
        wire_ns = time.perf_counter_ns()
        future: asyncio.Future[tuple[WsResponse, int]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = _Pending(future, method, sent=True)
        return Written(request_id, method, wire_ns, future)

    def can_write_now(self) -> bool:
        """Whether ``write_now`` would write now (nothing written; the key path's warm walk)."""
        ws = self._ws
        return ws is not None and not self._closing and _can_send_now(ws)

    async def _exchange(self, request_id: str, method: str, frame: str,
                        on_sent: Callable[[], None] | None = None, encoded: bytes | None = None) -> Reply:
        ws = self._ws
        if ws is None or self._closing:
            raise TransportError("Not connected to the exchange.")
        # The synchronous write comes first: the reader runs on this loop, so no answer can be
        # taken off the socket before it is expected. Only the awaiting fallback expects the
        # answer before writing.
        try:
            try:
                written = self.write_now(request_id, method, frame, encoded)
                if written is None:
                    pending = _Pending(asyncio.get_running_loop().create_future(), method)
                    self._pending[request_id] = pending
                    await ws.send(frame)
                    pending.sent = True
                    written = Written(request_id, method, time.perf_counter_ns(), pending.future)
            except ConnectionClosed as exc:
                raise TransportError("The connection to the exchange closed before the request "
                                     "was sent.") from exc
            if on_sent is not None:
                on_sent()
            return await self.answer(written)
        finally:
            self._pending.pop(request_id, None)

    async def answer(self, written: Written) -> Reply:
        """The answer to a written frame (``write_now``, or ``_exchange``'s own); raises as ``call``
        does. A timer on the future itself, not ``asyncio.wait_for``: wait_for wakes the caller
        through an extra waiter future (two more loop iterations, where stream events that arrived
        with the answer run first: ~70 µs of the round trip on a 2-core box)."""
        future = written.future
        timer = asyncio.get_running_loop().call_later(self.timeout_s, _expire, future)
        try:
            response, received_ns = await future
        except _Expired as exc:
            raise OutcomeUnknown(f"No answer to {written.method} within {self.timeout_s:g} s; "
                                 "its outcome is unknown.") from exc
        finally:
            timer.cancel()
            self._pending.pop(written.request_id, None)
        if response.rate_limits and self.on_rate_limits is not None:
            self.on_rate_limits(response.rate_limits)
        if response.ok:
            return Reply(response.result, response.status, written.request_id, written.wire_ns, received_ns,
                         response.rate_limits)
        raise self._to_error(written.method, response)

    def _to_error(self, method: str, response: WsResponse) -> Exception:
        if response.outcome_unknown:
            return OutcomeUnknown(f"The exchange answered {method} with {response.status} "
                                  f"{response.error_code or ''} \"{response.error_msg}\"; "
                                  "its outcome is unknown.")
        until = None
        if response.status in (418, 429):
            until = retry_until_ms(response.retry_until_ms, None, self.now_ms())
        return ExchangeRejected(int(response.error_code or -1000), response.error_msg,
                                http_status=response.status, retry_until_ms=until)

    async def _read(self, ws: ClientConnection) -> None:
        error: BaseException | None = None
        try:
            async for message in ws:
                received_ns = time.perf_counter_ns()
                try:
                    parsed = parse_response(message)
                except ValueError:
                    log.warning("ignoring a non-JSON message from the WS API")
                    continue
                if isinstance(parsed, WsResponse) and parsed.id is not None:
                    pending = self._pending.get(str(parsed.id))
                    if pending is not None and not pending.future.done():
                        pending.future.set_result((parsed, received_ns))
                        # Let the waiting caller (an order's answer) run before this reader reads
                        # on: its wake-up is already queued, this yield queues the reader after it.
                        await asyncio.sleep(0)
                        continue
                if self.on_unsolicited is not None:
                    self.on_unsolicited(parsed)
        except ConnectionClosed as exc:
            error = exc
        except Exception as exc:  # the reader must never die silently
            log.exception("WS API reader failed")
            error = exc
        finally:
            self._fail_pending()
            if self.on_closed is not None and not self._closing:
                self.on_closed(self, error)

    def _fail_pending(self) -> None:
        for pending in list(self._pending.values()):
            if pending.future.done():
                continue
            if pending.sent:
                pending.future.set_exception(OutcomeUnknown(
                    f"The connection closed while {pending.method} was in flight; its outcome is unknown."))
            else:
                pending.future.set_exception(TransportError("The connection to the exchange closed."))
            # Its waiter may be gone already (the send itself failed): mark the exception as seen,
            # or asyncio prints "Future exception was never retrieved" (F11). An awaiting caller
            # still gets it.
            pending.future.exception()

    async def drain(self, timeout_s: float) -> None:
        """Wait until no request is in flight (for a planned rollover), at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self._pending and time.monotonic() < deadline:
            futures = [p.future for p in self._pending.values()]
            with contextlib.suppress(Exception):
                await asyncio.wait(futures, timeout=max(0.0, deadline - time.monotonic()))

    async def close(self) -> None:
        self._closing = True
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._fail_pending()
