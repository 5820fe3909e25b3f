"""The remembered app state: roundtrip, live never remembered as armed, damage gives defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from traytrader.core.models import Environment
from traytrader.state import AppState, load_state, read_state, save_state


def test_missing_file_gives_defaults_silently(tmp_path: Path) -> None:
    state, warning = read_state(tmp_path / "none.toml")
    assert state == AppState() and warning is None


def test_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.toml"
    state = AppState(active_profile="eth-limit", action_bar_visible=True, action_bar_position=(-40, 900))
    state.set_armed(Environment.SIM, True)
    state.set_armed(Environment.TESTNET, False)
    save_state(path, state)
    loaded, warning = read_state(path)
    assert warning is None and loaded == state
    assert load_state(path) == state
    assert "action_bar_x = -40" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["state.toml"]  # no temp file left behind


def test_live_armed_state_is_never_remembered(tmp_path: Path) -> None:
    path = tmp_path / "state.toml"
    state = AppState()
    state.set_armed(Environment.LIVE, True)
    state.armed["live"] = True  # even if someone forces it in, it is not written
    save_state(path, state)
    assert "live" not in path.read_text()
    loaded, _ = read_state(path)
    assert loaded.armed_for(Environment.LIVE, default=True) is False
    assert loaded.armed_for(Environment.SIM, default=True) is True


def test_hand_written_live_armed_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "state.toml"
    path.write_text('active_profile = "x"\n[armed]\nlive = true\n')
    state, warning = read_state(path)
    assert state.active_profile == "x" and state.armed == {}
    assert warning is not None and "armed" in warning


@pytest.mark.parametrize("content", [
    b"\xff\xfe garbage",
    b"active_profile = ",
    b"[[[",
    b"active_profile = 5\naction_bar_x = 1e9999\n",
    b"action_bar_x = 99999999999\naction_bar_y = 1\naction_bar_visible = \"yes\"\n",
    b"action_bar_x = 5\n",
    b"",
])
def test_corrupt_file_gives_defaults_and_a_warning(tmp_path: Path, content: bytes,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.toml"
    path.write_bytes(content)
    state, warning = read_state(path)
    if content == b"":
        assert state == AppState() and warning is None
        return
    assert state.active_profile == "" and state.action_bar_position is None
    assert warning is not None and str(path) in warning and "\n" not in warning
    assert warning in caplog.text
    save_state(path, AppState(active_profile="fixed"))  # and the next save repairs it
    assert read_state(path) == (AppState(active_profile="fixed"), None)


def test_failed_save_changes_nothing_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "state.toml"
    path.mkdir()  # the rename over it fails after the temp file was written
    (path / "keep").write_text("x")
    with pytest.raises(OSError):
        save_state(path, AppState(active_profile="new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.toml"]
    assert (path / "keep").read_text() == "x"


def test_unreadable_state_path_gives_defaults_and_a_warning(tmp_path: Path) -> None:
    state, warning = read_state(tmp_path)  # a directory where the file should be
    assert state == AppState() and warning is not None and "Cannot read the state file" in warning
