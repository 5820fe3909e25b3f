"""The desktop tests' fixtures: one real virtual desktop for the session (see ``session.py``),
whose DISPLAY / D-Bus address / runtime dir are in ``os.environ`` only while a desktop module runs,
so they never leak into the rest of the suite. One session-wide desktop, because GTK, GIO and
dbus-python keep process-wide connections to the first display and bus they meet.

Everything missing is a FAILURE, not a skip: ``.ci/run`` installs these packages, and a desktop
test that silently skips proves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from session import Desktop, DesktopMissing, virtual_desktop


@pytest.fixture(scope="session")
def desktop_session() -> Iterator[Desktop]:
    outside = dict(os.environ)
    try:
        with virtual_desktop() as session:
            os.environ.clear()
            os.environ.update(outside)
            yield session
            os.environ.update(session.env)  # for the processes' orderly teardown
    except DesktopMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def desktop(desktop_session: Desktop) -> Iterator[Desktop]:
    outside = dict(os.environ)
    os.environ.pop("WAYLAND_DISPLAY", None)
    os.environ.update(desktop_session.env)
    try:
        yield desktop_session
    finally:
        os.environ.clear()
        os.environ.update(outside)
