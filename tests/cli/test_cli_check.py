"""``traytrader check``: exit 0 only when the config and the vault are both usable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from traytrader.core.models import ApiCredentials, KeyType
from traytrader.vault import Vault

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "config.example.toml").read_text(encoding="utf-8")
PASSWORD = "check-password"
SECRET = "checkSecretAAAABBBBCCCCDDDD"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "config.toml").write_text(EXAMPLE)
    vault = Vault(tmp_path / "vault.bin", iterations=1000)
    keys = vault.create(PASSWORD)
    keys.add(ApiCredentials("default", KeyType.HMAC, "checkApiKey", SECRET))
    vault.save(keys, PASSWORD)
    return tmp_path


def check(home: Path, *extra: str, config: str | None = "config.toml") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "xdg-cfg"), "XDG_DATA_HOME": str(home / "xdg-data"),
           "XDG_STATE_HOME": str(home / "xdg-state"), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "traytrader", "check", "--offline", "--password-file", str(home / "pw"),
            "--vault", str(home / "vault.bin")]
    if config:
        argv += ["--config", str(home / config)]
    result = subprocess.run([*argv, *extra], capture_output=True, text=True, env=env, cwd=home, timeout=60)
    assert "Traceback" not in result.stderr and SECRET not in result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return result


def test_good_config_and_vault_pass_with_shortcut_warnings(home: Path) -> None:
    result = check(home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed." in result.stdout
    assert "ok    config" in result.stdout and "ok    vault" in result.stdout
    assert "'default' (hmac" in result.stdout
    assert "hotkeys.buy <ctrl>+b is also 'bold'" in result.stdout
    assert "hotkeys.sell <ctrl>+s is also 'save'" in result.stdout


def test_bad_config_fails_with_its_line_and_still_checks_the_vault(home: Path) -> None:
    (home / "config.toml").write_text(EXAMPLE.replace("leverage = 5", "leverage = 500"))
    result = check(home)
    assert result.returncode == 1
    assert "line 91: profiles[1].leverage must be a whole number from 1 to 125, not 500" in result.stdout
    assert "vault" in result.stdout and "opens: 1 key\n" in result.stdout


def test_missing_vault_key_says_how_to_add_it(home: Path) -> None:
    (home / "config.toml").write_text(EXAMPLE.replace('key = "default"', 'key = "testnet-key"'))
    result = check(home)
    assert result.returncode == 1
    assert "no key named 'testnet-key'; add it with: traytrader vault add-key testnet-key --type hmac" \
        in result.stdout


def test_wrong_password_fails(home: Path) -> None:
    (home / "pw").write_text("nope\n")
    result = check(home)
    assert result.returncode == 1 and "wrong password" in result.stdout


def test_live_environment_is_noted_and_hotkeys_without_clashes_do_not_warn(home: Path) -> None:
    text = EXAMPLE.replace('environment = "sim"', 'environment = "live"').replace(
        'buy = "<ctrl>+b"', 'buy = "<ctrl>+<alt>+b"').replace('sell = "<ctrl>+s"', 'sell = "<f9>"')
    (home / "config.toml").write_text(text)
    result = check(home)
    assert result.returncode == 0
    assert "environment is live" in result.stdout and "warn  hotkeys" not in result.stdout


def test_first_run_creates_the_user_config_from_the_example(home: Path) -> None:
    result = check(home, config=None)
    created = home / "xdg-cfg" / "traytrader" / "config.toml"
    assert created.read_text() == EXAMPLE
    assert f"created {created}" in result.stderr
    assert result.returncode == 0, result.stdout


def test_group_readable_vault_is_warned_about(home: Path) -> None:
    (home / "vault.bin").chmod(0o644)
    result = check(home)
    assert result.returncode == 0 and "should be 600" in result.stdout
