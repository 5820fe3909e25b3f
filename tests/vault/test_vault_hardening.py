"""The vault against damaged input and crashes, as a user or a hostile neighbour would meet them.

* whatever sits at the vault path (a FIFO, a directory, a device, a 1 GiB file) gets one
  sentence, at once, without being read whole;
* a weak PBKDF2 count is warned about and raised at the next change;
* a process that unlocked the vault writes no core file (the audit found the HMAC secret in a
  61 MB core after ``kill -ABRT``) and cannot be traced.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from traytrader.core import vault_format as fmt
from traytrader.core.models import ApiCredentials, KeyType
from traytrader.vault import Vault

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "hardening-password"
SECRET = "coreDumpSecretQQQQWWWWEEEERRRRTTTT"
GIB = 1 << 30


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp / "cfg"), "XDG_DATA_HOME": str(tmp / "data"),
            "XDG_STATE_HOME": str(tmp / "state"), "PYTHONPATH": str(REPO)}


def _traytrader(tmp: Path, *argv: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "traytrader", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(tmp), cwd=tmp, **kwargs)  # type: ignore[call-overload]


def _small_vault(path: Path, iterations: int = 1000) -> None:
    vault = Vault(path, iterations=iterations)
    with vault.create(PASSWORD) as keys:
        keys.add(ApiCredentials("main", KeyType.HMAC, "mainApiKey", SECRET))
        vault.save(keys, PASSWORD)


def test_what_is_not_a_vault_file_gets_one_sentence_without_being_read(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    fifo = tmp_path / "fifo.bin"
    os.mkfifo(fifo)
    (tmp_path / "dir.bin").mkdir()
    (tmp_path / "device.bin").symlink_to("/dev/zero")
    with open(tmp_path / "huge-vault.bin", "wb") as f:  # sparse: a valid start, then 1 GiB
        f.write(fmt.MAGIC)
        f.truncate(GIB)
    with open(tmp_path / "huge-photo.bin", "wb") as f:
        f.truncate(GIB)
    (tmp_path / "small-photo.bin").write_bytes(b"\0" * 100)  # the baseline for memory
    cases = {"small-photo.bin": "not a traytrader vault", "fifo.bin": "named pipe (FIFO), not a regular file",
             "dir.bin": "directory",
             "device.bin": "character device, not a regular file",
             "huge-vault.bin": "1,024.0 MiB, far more than such a file can be",
             "huge-photo.bin": "not a traytrader vault"}
    procs = {name: _traytrader(tmp_path, "vault", "list", "--vault", str(tmp_path / name), "--password-file",
                               str(tmp_path / "pw")) for name in cases}
    peak: dict[str, int] = {}
    for name, proc in procs.items():
        deadline = time.monotonic() + 30
        while (waited := os.wait4(proc.pid, os.WNOHANG))[0] == 0:  # rusage of this child alone
            assert time.monotonic() < deadline, f"{name}: traytrader is still reading after 30 s"
            time.sleep(0.02)
        _, status, usage = waited
        proc.returncode = os.waitstatus_to_exitcode(status)
        _, err = proc.communicate()
        assert proc.returncode == 3, (name, err)
        assert err.startswith("traytrader: ") and len(err.strip().splitlines()) == 1, err
        assert cases[name] in err, err
        peak[name] = usage.ru_maxrss  # KiB; includes what the child inherited from pytest before exec
    for name, kib in peak.items():
        assert kib < peak["small-photo.bin"] + 100_000, f"{name}: {kib} KiB resident: the file was read"


def test_weak_kdf_count_is_warned_by_init_and_check_and_raised_by_the_next_change(tmp_path: Path) -> None:
    vault_file = tmp_path / "v.bin"
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "key.toml").write_text(f'api_key = "defaultApiKey"\nsecret = "{SECRET}"\n')
    (tmp_path / "config.toml").write_text((REPO / "config.example.toml").read_text())
    common = ["--vault", str(vault_file), "--password-file", str(tmp_path / "pw")]
    init = _traytrader(tmp_path, "vault", "init", *common, "--kdf-iterations", "1").communicate(timeout=60)
    assert "below the safe minimum of 600,000" in init[1]
    assert fmt.parse_header(vault_file.read_bytes()).iterations == 1
    added = _traytrader(tmp_path, "vault", "add-key", "default", "--type", "hmac", "--key-file",
                        str(tmp_path / "key.toml"), *common, "--kdf-iterations", "1").communicate(timeout=60)
    assert "below the safe minimum" in added[1]  # asked for again: kept, and warned again
    checked = _traytrader(tmp_path, "check", "--offline", "--config", str(tmp_path / "config.toml"), *common)
    out, err = checked.communicate(timeout=60)
    assert re.search(r"^warn  vault .*: 1 PBKDF2 rounds is below the safe minimum", out, re.M), out + err
    assert re.search(r"^ok    vault .*key 'default'", out, re.M) and "(1 PBKDF2 rounds)" not in out
    removed = _traytrader(tmp_path, "vault", "remove", "default", *common).communicate(timeout=60)
    assert "Raised the vault's key derivation from 1 to 1,000,000 PBKDF2 rounds" in removed[1]
    assert fmt.parse_header(vault_file.read_bytes()).iterations == fmt.DEFAULT_ITERATIONS


def test_a_process_that_unlocked_the_vault_is_not_dumpable(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_DUMPABLE is Linux-only")
    _small_vault(tmp_path / "v.bin")
    script = ("import resource, sys\nfrom traytrader.process_guard import dumpable\n"
              "from traytrader.vault import Vault\nbefore = dumpable()\n"
              "keys = Vault(sys.argv[1]).unlock(sys.argv[2])\n"
              "print(before, dumpable(), resource.getrlimit(resource.RLIMIT_CORE)[0], len(keys))\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "v.bin"), PASSWORD],
                            capture_output=True, text=True, env=_env(tmp_path), timeout=60,
                            preexec_fn=_allow_core_dumps)
    assert result.stdout.split() == ["True", "False", "0", "1"], result.stdout + result.stderr


def _allow_core_dumps() -> None:  # as after `ulimit -c unlimited`
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _wait_blocked_reading_stdin(proc: subprocess.Popen[str]) -> None:
    """Until the process sits in read(0, ...): for add-key that is after the unlock, at the API-key prompt."""
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            syscall = Path(f"/proc/{proc.pid}/syscall").read_text().split()
        except OSError:
            pytest.skip("/proc/<pid>/syscall cannot be read here")
        if syscall[:2] == ["0", "0x0"]:
            return
        assert time.monotonic() < deadline, "the process never waited on its standard input"
        time.sleep(0.02)


def _abort_and_collect_cores(proc: subprocess.Popen[str], directory: Path) -> list[Path]:
    os.kill(proc.pid, signal.SIGABRT)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGABRT
    return sorted(directory.glob("core*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="core files as Linux writes them")
def test_kill_abrt_after_unlock_leaves_no_core_with_the_secret(tmp_path: Path) -> None:
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"cores go to {pattern!r}, not to the process's directory")
    if resource.getrlimit(resource.RLIMIT_CORE)[1] == 0:
        pytest.skip("the hard core-size limit is 0 here: no process can dump core")
    # Control: an ordinary Python process holding the secret does dump it here.
    control_dir = tmp_path / "control"
    control_dir.mkdir()
    holder = f"import sys; held = {SECRET!r} * 2; sys.stdin.readline()"
    control = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=control_dir,
                               preexec_fn=_allow_core_dumps)
    _wait_blocked_reading_stdin(control)
    cores = _abort_and_collect_cores(control, control_dir)
    if not cores:
        pytest.skip(f"this kernel wrote no core for an ordinary process (core_pattern {pattern!r})")
    assert (SECRET * 2).encode() in cores[0].read_bytes()
    for core in cores:
        core.unlink()
    # traytrader, with the same limit, after unlocking the vault (it now waits for the new API key).
    work = tmp_path / "work"
    work.mkdir()
    _small_vault(work / "v.bin")
    proc = _traytrader(work, "vault", "add-key", "new", "--type", "hmac", "--vault", str(work / "v.bin"),
                       "--password-stdin", stdin=subprocess.PIPE, preexec_fn=_allow_core_dumps)
    assert proc.stdin is not None
    proc.stdin.write(PASSWORD + "\n")
    proc.stdin.flush()
    _wait_blocked_reading_stdin(proc)
    limits = Path(f"/proc/{proc.pid}/limits").read_text()
    assert re.search(r"^Max core file size\s+0\s", limits, re.M), limits
    assert _abort_and_collect_cores(proc, work) == []


def test_a_key_file_may_still_be_a_pipe(tmp_path: Path) -> None:
    """``--key-file <(pass show binance)`` keeps the secret off the disk: only the vault, config and
    state readers refuse pipes, not the files a user names for one command."""
    _small_vault(tmp_path / "v.bin")
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    pipe = tmp_path / "key.pipe"
    os.mkfifo(pipe)
    proc = _traytrader(tmp_path, "vault", "add-key", "piped", "--type", "hmac", "--key-file", str(pipe),
                       "--vault", str(tmp_path / "v.bin"), "--password-file", str(tmp_path / "pw"),
                       "--kdf-iterations", "1000")
    deadline = time.monotonic() + 30
    while True:  # a non-blocking open fails with ENXIO until the command opens the pipe to read
        assert proc.poll() is None, proc.communicate()
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert time.monotonic() < deadline, "the command never opened its key file"
            time.sleep(0.02)
    os.set_blocking(fd, True)
    with open(fd, "w") as writer:
        writer.write(f'api_key = "pipedApiKey"\nsecret = "{SECRET}"\n')
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert Vault(tmp_path / "v.bin").unlock(PASSWORD).get("piped").api_key == "pipedApiKey"
