"""Fixtures for engine tests: a real simulator on loopback (its own thread) and a journal path.
The helpers live in ``engine_kit`` and are re-exported here for tests that import them from
``conftest``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_kit import (  # noqa: F401  (re-exported)
    HOME_LINE,
    EventLog,
    SimControl,
    ed25519_credentials,
    hmac_credentials,
    make_config,
    order_count,
    sim_latency,
)

from traytrader.core.models import ApiCredentials, AppConfig
from traytrader.engine.handle import Engine


@pytest.fixture
def sim() -> Iterator[SimControl]:
    from traytrader.sim import SimOptions, SimThread

    ms, jitter = sim_latency(HOME_LINE)
    thread = SimThread(SimOptions(port=0, seed=1, latency_ms=ms, latency_jitter_ms=jitter)).start()
    try:
        yield SimControl(thread)
    finally:
        thread.stop()


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


@pytest.fixture
def run_engine(journal_file: Path) -> Iterator[Callable[..., tuple[Engine, EventLog]]]:
    """Starts engines (HMAC demo credentials unless given; extra keywords go to ``Engine``) that
    journal to ``journal_file``, waits until each is READY, and stops them all at teardown."""
    engines: list[Engine] = []

    def start(
        config: AppConfig, credentials: ApiCredentials | None = None, **kwargs: Any
    ) -> tuple[Engine, EventLog]:
        engine = Engine(config, credentials or hmac_credentials(), journal_path=journal_file, **kwargs)
        log = EventLog()
        engine.subscribe(log)
        engines.append(engine)
        engine.start()
        log.wait_ready()
        return engine, log

    yield start
    for engine in engines:
        engine.stop(2.0)
        assert engine._thread is None, "engine thread did not stop"
