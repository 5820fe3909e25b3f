"""File locations follow the platform's conventions (XDG on Linux) and are recomputed per call."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from traytrader import paths

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="XDG variables apply on Linux")


def test_xdg_variables_are_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONFIG", "DATA", "STATE"):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(tmp_path / name.lower()))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert paths.config_path() == tmp_path / "config" / "traytrader" / "config.toml"
    assert paths.vault_path() == tmp_path / "data" / "traytrader" / "vault.bin"
    assert paths.journal_path() == tmp_path / "data" / "traytrader" / "journal.sqlite3"
    assert paths.state_path() == tmp_path / "state" / "traytrader" / "state.toml"
    assert paths.control_socket_path() == tmp_path / "state" / "traytrader" / "control.sock"


def test_socket_goes_to_a_private_runtime_dir_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert paths.control_socket_path() == runtime / "traytrader" / "control.sock"
    os.chmod(runtime, 0o777)  # a shared directory is no place for our socket
    assert paths.control_socket_path() == tmp_path / "state" / "traytrader" / "control.sock"
