"""The tray remembers the active profile and the action bar through ``state.py`` (real file)."""

from __future__ import annotations

from pathlib import Path

from traytrader.state import load_state
from traytrader.ui.app import DesktopApp, Memory
from traytrader.ui.menu_model import Action
from traytrader.ui.tray_app import state_file


def config():
    from traytrader.commands.demo_cmd import demo_config

    return demo_config("http://127.0.0.1:1", "ws://127.0.0.1:1/ws-fapi/v1", "ws://127.0.0.1:1")


def no_engine(_credentials, _profile):  # never called: these apps stay locked
    raise AssertionError("no engine in this test")


def test_state_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.toml"
    remembered = state_file(path)
    assert remembered.load() == Memory()
    remembered.save(Memory("sol-qty", True, (10, 20)))
    assert remembered.load() == Memory("sol-qty", True, (10, 20))
    assert load_state(path).active_profile == "sol-qty"


def test_app_restores_and_saves_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "state.toml"
    state_file(path).save(Memory("sol-qty", False, None))
    app = DesktopApp(config(), no_engine, remembered=state_file(path))
    assert app.ui.active_profile == "sol-qty"
    app.start()
    app.do(Action.SELECT_PROFILE, "eth-limit")  # locked: switched locally, remembered
    app.stop(1.0)
    assert load_state(path).active_profile == "eth-limit"


def test_unknown_remembered_profile_falls_back_to_the_default(tmp_path: Path) -> None:
    path = tmp_path / "state.toml"
    state_file(path).save(Memory("deleted-profile", False, None))
    assert DesktopApp(config(), no_engine, remembered=state_file(path)).ui.active_profile == "btc-100"
    assert DesktopApp(config(), no_engine, remembered=state_file(path), profile="sol-qty").ui.active_profile \
        == "sol-qty"


def test_locked_app_refuses_orders_and_says_so(tmp_path: Path) -> None:
    app = DesktopApp(config(), no_engine)
    app.start()
    reply = app.socket_request(Action.BUY, "")
    status = app.socket_request(None, "")
    app.stop(1.0)
    assert reply.startswith("refused Ignored 'send buy': the vault is locked")
    assert status.startswith("ok sim locked armed; profile btc-100")
