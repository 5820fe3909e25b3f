"""Fixtures for engine tests: a real simulator on loopback (its own thread) and a journal path.
The helpers live in ``engine_kit`` and are re-exported here for tests that import them from
``conftest``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_kit import (  # noqa: F401  (re-exported)
    EventLog,
    SimControl,
    ed25519_credentials,
    hmac_credentials,
    make_config,
    order_count,
)


@pytest.fixture
def sim() -> Iterator[SimControl]:
    from traytrader.sim import SimOptions, SimThread

    thread = SimThread(SimOptions(port=0, seed=1)).start()
    try:
        yield SimControl(thread)
    finally:
        thread.stop()


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"
