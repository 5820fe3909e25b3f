"""The config, the state file and the files traytrader creates, against hostile neighbours and damage.

* A config another user can change is refused (as ssh refuses one): that user could point
  ``rest_url`` at a proxy and collect the API key. Tried with a real second OS user when root.
* URLs that would carry the key unencrypted are refused outside ``sim`` and loopback; ``live``
  needs TLS always. ``check`` then fails instead of saying "All checks passed".
* A FIFO, a directory, a device or a huge file at the config or state path, and 5000 nested
  ``[``, each give the reader's one sentence (no hang, no RecursionError).
* What we create is private: directories 0700, files 0600 (the journal's -wal and -shm too).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from traytrader.config import ensure_user_config, load_config, load_config_text
from traytrader.core.errors import ConfigError
from traytrader.core.models import ApiCredentials, KeyType
from traytrader.engine.journal import Journal
from traytrader.state import AppState, read_state, save_state
from traytrader.vault import Vault

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "config.example.toml").read_text(encoding="utf-8")
PASSWORD = "neighbour-test-password"
NEIGHBOUR = "ttneighbour"
MINIMAL = '[[profiles]]\nname = "p"\nsymbol = "BTCUSDT"\nleverage = 1\nquantity = "0.001"\n'


def _config(environment: str, **urls: str) -> str:
    lines = [f'environment = "{environment}"'] + [f'{key} = "{value}"' for key, value in urls.items()]
    return "[exchange]\n" + "\n".join(lines) + "\n" + MINIMAL


@pytest.mark.parametrize(("environment", "urls"), [
    ("sim", {"rest_url": "http://sim.example:8765", "ws_api_url": "ws://sim.example:8765/ws-fapi/v1"}),
    ("testnet", {"rest_url": "http://127.0.0.1:8765", "ws_api_url": "ws://localhost:8765/ws-fapi/v1",
                 "stream_url": "ws://[::1]:8765"}),
    ("testnet", {"rest_url": "https://proxy.example", "stream_url": "wss://proxy.example"}),
    ("live", {"rest_url": "https://fapi.binance.com", "ws_api_url": "wss://ws-fapi.binance.com/ws-fapi/v1"}),
])
def test_tls_or_this_machine_is_accepted(environment: str, urls: dict[str, str]) -> None:
    config = load_config_text(_config(environment, **urls), "cfg.toml")
    assert config.exchange.rest_url.startswith(urls.get("rest_url", "http")[:4])


@pytest.mark.parametrize(("environment", "key", "url", "expected"), [
    ("testnet", "rest_url", "http://proxy.example:8080", "must start with https:// (TLS) unless it points"),
    ("testnet", "ws_api_url", "ws://10.0.0.7/ws-fapi/v1", "ws:// to 10.0.0.7 would send your API key"),
    ("testnet", "stream_url", "ws://127.0.0.1.evil.example", "must start with wss://"),
    ("live", "rest_url", "http://127.0.0.1:8765", "must start with https:// for the live environment"),
    ("live", "stream_url", "ws://localhost:1", "must start with wss:// for the live environment"),
])
def test_plain_text_urls_are_refused_outside_sim(environment: str, key: str, url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(_config(environment, **{key: url}), "cfg.toml")
    message = str(info.value)
    assert expected in message and f"exchange.{key}" in message and "\n" not in message


def test_5000_nested_brackets_are_one_sentence(tmp_path: Path) -> None:
    deep = "a = " + "[" * 5000 + "\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(deep, "deep.toml")
    assert str(info.value) == "deep.toml nests arrays or tables too deeply to be a config."
    (tmp_path / "state.toml").write_text("active_profile = " + "[" * 5000)
    state, warning = read_state(tmp_path / "state.toml")
    assert state == AppState() and warning is not None and "is damaged" in warning


def test_non_regular_or_huge_config_and_state_get_their_sentence_at_once(tmp_path: Path) -> None:
    """In a child process, so that a regression that blocks on the FIFO fails instead of hanging."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "device").symlink_to("/dev/zero")
    with open(tmp_path / "huge", "wb") as f:
        f.truncate(100 * 2**20)  # 100 MB, sparse
    script = """
import sys
from traytrader.config import load_config
from traytrader.core.errors import ConfigError
from traytrader.state import read_state
for name in ("fifo", "dir", "device", "huge"):
    try:
        load_config(name)
    except ConfigError as exc:
        print("config", exc)
    print("state", read_state(name)[1])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=30)
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 8, result.stdout + result.stderr
    expected = {"fifo": "named pipe (FIFO), not a regular file", "dir": "it is a directory",
                "device": "character device, not a regular file", "huge": "it is 100.0 MiB, far more than"}
    for index, (name, clause) in enumerate(expected.items()):
        assert lines[2 * index].startswith(f"config Cannot read the config file {name}: "), lines
        assert clause in lines[2 * index] and clause in lines[2 * index + 1], lines
        assert "starting from defaults" in lines[2 * index + 1]


@pytest.mark.skipif(os.name != "posix", reason="POSIX ownership and modes")
def test_config_writable_by_others_or_in_such_a_directory_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "cfg"
    home.mkdir()
    config = home / "config.toml"
    config.write_text(EXAMPLE)
    assert load_config(config).profiles  # as made: fine
    config.chmod(0o664)
    if _group_of_one(config.stat().st_gid):  # the owner's private group (umask 002 systems): as ssh, fine
        assert load_config(config).profiles
    shared = _shared_group()
    if shared is not None:
        os.chown(config, -1, shared)
        with pytest.raises(ConfigError, match=r"config file .* is writable by its group \(mode 664\).*go-w"):
            load_config(config)
    config.chmod(0o644)
    home.chmod(0o777)
    with pytest.raises(ConfigError, match=r"directory .*cfg \(above the config file\) is writable by others"):
        load_config(config)
    home.chmod(0o1777)  # sticky, as /tmp: nobody else can replace what we own in it
    assert load_config(config).profiles
    home.chmod(0o700)
    link = tmp_path / "link.toml"  # a symlink is judged by its target's directories too
    link.symlink_to(config)
    assert load_config(link).profiles


def _group_of_one(gid: int) -> bool:
    group, me = grp.getgrgid(gid), pwd.getpwuid(os.geteuid())
    return group.gr_name == me.pw_name and not [m for m in group.gr_mem if m != me.pw_name] and not [
        u for u in pwd.getpwall() if u.pw_gid == gid and u.pw_uid != me.pw_uid]


def _shared_group() -> int | None:
    """A group we may give our file that is not ours alone (any group when root)."""
    candidates = [g.gr_gid for g in grp.getgrall()] if os.geteuid() == 0 else os.getgroups()
    return next((gid for gid in candidates if not _group_of_one(gid)), None)


def test_what_we_create_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        journal_path = tmp_path / "data" / "traytrader" / "journal.sqlite3"
        journal = Journal(journal_path)
        journal.record("test", "one row")
        assert journal.flush()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in journal_path.parent.iterdir()}
        journal.close()
        assert stat.S_IMODE(journal_path.parent.stat().st_mode) == 0o700
        assert {"journal.sqlite3", "journal.sqlite3-wal", "journal.sqlite3-shm"} <= set(modes), modes
        assert set(modes.values()) == {0o600}, modes

        state = tmp_path / "state" / "traytrader" / "state.toml"
        save_state(state, AppState(active_profile="p"))
        assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(state.stat().st_mode) == 0o600

        config = tmp_path / "cfg" / "traytrader" / "config.toml"
        assert ensure_user_config(config)
        assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(config.stat().st_mode) == 0o600

        vault_dir = tmp_path / "old" / "traytrader"  # left 0755 by an older version: tightened
        vault_dir.mkdir(parents=True, mode=0o755)
        vault = Vault(vault_dir / "vault.bin", iterations=1000)
        with vault.writing():
            vault.create(PASSWORD)
        assert stat.S_IMODE(vault_dir.stat().st_mode) == 0o700
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in vault_dir.iterdir()} == {
            "vault.bin": 0o600, ".vault.bin.lock": 0o600}
    finally:
        os.umask(old_umask)


# --- a real second OS user ------------------------------------------------------------------------

def _neighbour() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("needs root to create and act as a second OS user (useradd)")
    try:
        return pwd.getpwnam(NEIGHBOUR)
    except KeyError:
        pass
    created = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                              NEIGHBOUR], capture_output=True, text=True)
    if created.returncode not in (0, 9):  # 9: made meanwhile by a parallel run
        pytest.skip(f"useradd failed: {created.stderr.strip()}")
    return pwd.getpwnam(NEIGHBOUR)


@pytest.fixture
def shared_home() -> Iterator[Path]:
    """A directory the second user can reach (pytest's own tmp dirs are 0700)."""
    base = Path(tempfile.mkdtemp(prefix="tt-neighbour-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _as_neighbour(user: pwd.struct_passwd, script: str, *args: str) -> None:
    """Run a shell script as the second user (our Python may sit where that user cannot enter)."""
    result = subprocess.run(["/bin/sh", "-c", script, "sh", *args], user=user.pw_uid, group=user.pw_gid,
                            extra_groups=[], capture_output=True, text=True, timeout=30, cwd="/")
    assert result.returncode == 0, result.stderr


def _check(home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "x"), "XDG_DATA_HOME": str(home / "x"),
           "XDG_STATE_HOME": str(home / "x"), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "traytrader", "check", "--offline", "--config",
                             str(home / "cfg" / "config.toml"), "--vault", str(home / "vault.bin"),
                             "--password-file", str(home / "pw")],
                            capture_output=True, text=True, env=env, cwd=home, timeout=60)
    assert "Traceback" not in result.stderr
    return result


PROXY = 'rest_url = "https://127.0.0.1:9/"\n'
REPLACE = 'rm -f "$1" && printf "%s" "$2" > "$1"'   # possible in a directory others may write
OVERWRITE = 'printf "%s" "$2" > "$1"'              # possible in a file others may write


def test_a_second_user_who_can_change_the_config_is_refused(shared_home: Path) -> None:
    user = _neighbour()
    home = shared_home
    (home / "pw").write_text(PASSWORD + "\n")
    vault = Vault(home / "vault.bin", iterations=1000)
    with vault.create(PASSWORD) as keys:
        keys.add(ApiCredentials("default", KeyType.HMAC, "neighbourApiKey", "neighbourSecretAAAABBBBCCCC"))
        vault.save(keys, PASSWORD)
    cfg = home / "cfg"
    cfg.mkdir(mode=0o755)
    config = cfg / "config.toml"
    config.write_text(EXAMPLE)
    config.chmod(0o644)
    good = _check(home)
    assert good.returncode == 0 and "All checks passed." in good.stdout, good.stdout + good.stderr

    # 1. The directory was made world-writable: the neighbour swaps in a config of its own.
    cfg.chmod(0o777)
    hostile = EXAMPLE.replace('environment = "sim"', 'environment = "sim"\n' + PROXY)
    _as_neighbour(user, REPLACE, str(config), hostile)
    assert config.stat().st_uid == user.pw_uid
    refused = _check(home)
    assert refused.returncode == 1 and "All checks passed" not in refused.stdout
    assert f"belongs to another user (uid {user.pw_uid})" in refused.stdout, refused.stdout

    # 2. Our own file, but world-writable: the neighbour edits it in place (the owner stays us).
    config.unlink()
    cfg.chmod(0o755)
    config.write_text(EXAMPLE)
    config.chmod(0o666)
    _as_neighbour(user, OVERWRITE, str(config), hostile)
    assert config.stat().st_uid == os.geteuid() and PROXY in config.read_text()
    refused = _check(home)
    assert refused.returncode == 1 and "All checks passed" not in refused.stdout
    assert "is writable by others (mode 666)" in refused.stdout, refused.stdout

    # 3. A directory above it belongs to the neighbour.
    config.chmod(0o644)
    os.chown(cfg, user.pw_uid, user.pw_gid)
    refused = _check(home)
    assert refused.returncode == 1 and f"directory {cfg} (above the config file) belongs to another user" \
        in refused.stdout, refused.stdout


def test_check_fails_on_plain_http_for_live(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    vault = Vault(tmp_path / "vault.bin", iterations=1000)
    with vault.create(PASSWORD) as keys:
        keys.add(ApiCredentials("default", KeyType.HMAC, "liveApiKey", "liveSecretAAAABBBBCCCCDDDD"))
        vault.save(keys, PASSWORD)
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.toml").write_text(EXAMPLE.replace(
        'environment = "sim"', 'environment = "live"\nrest_url = "http://127.0.0.1:8765"'))
    result = _check(tmp_path)
    assert result.returncode == 1 and "All checks passed" not in result.stdout
    assert "FAIL  config:" in result.stdout and "must start with https:// for the live environment" \
        in result.stdout, result.stdout
