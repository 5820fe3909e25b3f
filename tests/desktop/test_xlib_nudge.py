"""The Xlib nudge (ui/xlib_nudge.py) against a real python-xlib connection to Xvfb.

python-xlib's lost wake-up is a race between threads; what the nudge must do is shown here on the
very state that race leaves behind (a thread asleep on the reply lock, nobody doing I/O), built
the way ``send_and_recv`` builds it: the nudge wakes that thread, and leaves a healthy connection
alone."""

from __future__ import annotations

import threading

import pytest

from traytrader.ui.xlib_nudge import XlibNudge, stuck

pytestmark = pytest.mark.desktop


@pytest.fixture
def display(desktop):
    import Xlib.threaded  # noqa: F401  (real locks, as pystray and pynput import it)
    from Xlib.display import Display

    connection = Display(desktop.display)
    yield connection
    connection.close()


def test_a_healthy_connection_is_left_alone(display) -> None:
    display.screen().root.get_geometry()   # a round trip: the connection works
    nudge = XlibNudge(display)
    assert not stuck(display.display)
    assert nudge.nudge_if_stuck() is False and nudge.nudges == 0


def test_a_thread_left_waiting_for_a_reply_is_woken(display) -> None:
    protocol = display.display
    # what send_and_recv does for a thread that waits for a reply while another thread sends
    protocol.send_recv_lock.acquire()
    protocol.request_waiting = 1
    protocol.request_wait_lock.acquire()
    protocol.send_recv_lock.release()
    woken = threading.Event()

    def waiter() -> None:
        protocol.request_wait_lock.acquire()   # where pystray's main thread slept for good
        protocol.request_wait_lock.release()
        woken.set()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    assert not woken.wait(0.2)   # nobody does the I/O: it would sleep forever
    assert stuck(protocol)
    nudge = XlibNudge(display)
    assert nudge.nudge_if_stuck() is True
    assert woken.wait(5)
    assert not stuck(protocol)
    display.screen().root.get_geometry()   # and the connection still works
