"""Our client text frames (``ws_api.encode_text_frame``, written straight to the transport on the
hot path) are what websockets itself would write: its own parser reads them back, masked, final,
text, whatever the size; and a server receives them over a real connection."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from traytrader.exchange.ws_api import _MASK_KEYS, _send_now, encode_text_frame


def parse(data: bytes) -> tuple[Frame, bytes]:
    """websockets' server-side reader (it requires the client mask); returns the frame and what
    is left over."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        return done.value, bytes(reader.buffer)
    raise AssertionError("the frame was incomplete")


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.sampled_from([124, 125, 126, 127, 65534, 65535]).map("x".__mul__)))
def test_websockets_reads_back_what_we_write(text: str) -> None:
    data = encode_text_frame(text)
    assert data is not None
    frame, rest = parse(data)
    assert (frame.opcode, frame.fin, frame.rsv1, frame.data.decode()) == (Opcode.TEXT, True, False, text)
    assert rest == b""


def test_frames_of_64_kib_and_more_are_left_to_websockets() -> None:
    assert encode_text_frame("x" * 65536) is None
    assert encode_text_frame("é" * 32768) is None   # 65536 bytes once encoded


def test_every_frame_gets_a_fresh_mask() -> None:
    masks = {encode_text_frame("{}")[2:6] for _ in range(3000)}  # type: ignore[index]
    assert len(masks) > 2990   # 32 random bits each, across several refills of the pool
    assert _MASK_KEYS._offset <= len(_MASK_KEYS._pool)


@pytest.mark.parametrize("size", [10, 200, 70_000])
async def test_a_server_receives_the_frames_in_order(size: int) -> None:
    received: list[str] = []

    async def handler(connection: websockets.ServerConnection) -> None:
        async for message in connection:
            received.append(str(message))
            if len(received) == 3:
                await connection.send("done")

    async with websockets.serve(handler, "127.0.0.1", 0, compression=None, max_size=2**20) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", compression=None) as client:
            texts = [f"{i}:" + "y" * size for i in range(3)]
            for text in texts:
                assert _send_now(client, text)   # synchronous: on the wire (or in websockets' hands)
            assert await asyncio.wait_for(client.recv(), 5) == "done"
    assert received == texts


def test_the_fast_write_steps_aside_when_websockets_lacks_what_it_reads() -> None:
    """Issue 12, item 12: an older websockets without the internals the fast path reads makes it
    fall back to the public ``send()``, never fail (websockets 13–15 lack ``send_in_progress``)."""
    from types import SimpleNamespace

    from websockets.protocol import State

    from traytrader.exchange.ws_api import _send_now

    old = SimpleNamespace(protocol=SimpleNamespace(state=State.OPEN, extensions=[]), paused=False,
                          transport=SimpleNamespace(is_closing=lambda: False))
    assert _send_now(old, "{}") is False   # type: ignore[arg-type]
