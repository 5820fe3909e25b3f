"""The desktop fixture itself works: X, D-Bus notifications (through plyer, as the app sends them)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.desktop


def test_plyer_reaches_the_test_notification_server(desktop) -> None:
    from traytrader.ui.messages import Notification
    from traytrader.ui.notify import plyer_send

    start = len(desktop.notifications.received)
    plyer_send(Notification("hello", "from the test"))
    got = desktop.notifications.wait_for(lambda r: r.summary == "hello", start=start)
    assert got.body == "from the test" and got.app_name == "traytrader"
