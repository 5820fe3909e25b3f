"""Concurrent ``traytrader vault`` writers, as a user with two terminals (or a script) would run them.

Before the writer lock, two ``add-key`` at once both exited 0 and one key was gone (20 of 20
rounds in an audit), and ``passwd`` beside ``add-key`` could report success while the file
still opened only with the old password. The promise: every writer that exits 0 has its change
in the file, and a writer that cannot apply its change says so in one sentence. 50 rounds in
all (30 + 10 + 10), two real processes started together in each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from traytrader.core.models import ApiCredentials, KeyType
from traytrader.vault import Vault, public_key_pem

REPO = Path(__file__).resolve().parents[2]
ITER = "1000"  # each writer asks for the cheap test count explicitly (it is warned about)
SECRET = "concurrencySecretAAAABBBBCCCCDDDD"


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp / "cfg"), "XDG_DATA_HOME": str(tmp / "data"),
            "XDG_STATE_HOME": str(tmp / "state"), "PYTHONPATH": str(REPO)}


class Writers:
    """Starts ``traytrader vault ...`` processes together and collects (returncode, stdout, stderr)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = _env(tmp)
        self.vault = tmp / "vault.bin"

    def start(self, *argv: str) -> subprocess.Popen[str]:
        argv = ("vault", *argv, "--vault", str(self.vault))
        return subprocess.Popen([sys.executable, "-m", "traytrader", *argv],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env, cwd=self.tmp)

    @staticmethod
    def finish(*procs: subprocess.Popen[str]) -> list[tuple[int, str, str]]:
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert "Traceback" not in err, err
            assert SECRET not in out + err
            results.append((proc.returncode, out, err))
        return results

    def password_file(self, name: str, password: str) -> str:
        path = self.tmp / name
        path.write_text(password + "\n", encoding="utf-8")
        return str(path)

    def key_file(self, name: str) -> str:
        path = self.tmp / f"{name}.toml"
        path.write_text(f'api_key = "api-{name}"\nsecret = "{SECRET}"\n', encoding="utf-8")
        return str(path)


def _new_vault(path: Path, password: str) -> None:
    vault = Vault(path, iterations=int(ITER))
    with vault.create(password):
        pass


PARALLEL_VAULTS = 2  # rounds on separate vaults run side by side so that both cores stay busy


def test_two_add_keys_at_once_keep_both_keys(tmp_path: Path) -> None:
    writers = [Writers(tmp_path / f"v{i}") for i in range(PARALLEL_VAULTS)]
    expected: list[set[str]] = [set() for _ in writers]
    for w in writers:
        w.tmp.mkdir()
        _new_vault(w.vault, "pw")
    for round_no in range(30 // PARALLEL_VAULTS):
        procs = []
        for w in writers:
            procs += [w.start("add-key", name, "--type", "hmac", "--key-file", w.key_file(name),
                              "--password-file", w.password_file("pw.txt", "pw"), "--kdf-iterations", ITER)
                      for name in (f"a{round_no}", f"b{round_no}")]
        results = Writers.finish(*procs)
        assert [r[0] for r in results] == [0] * len(procs), results
        for w, names in zip(writers, expected, strict=True):
            names |= {f"a{round_no}", f"b{round_no}"}
            stored = set(Vault(w.vault).unlock("pw").names())
            assert stored == names, f"round {round_no}: lost {sorted(names - stored)}"


def test_passwd_beside_add_key_never_reports_a_change_that_is_not_there(tmp_path: Path) -> None:
    writers = [Writers(tmp_path / f"v{i}") for i in range(PARALLEL_VAULTS)]
    for w in writers:
        w.tmp.mkdir()
        _new_vault(w.vault, "pw0")
    rounds = 0
    for round_no in range(10 // PARALLEL_VAULTS):
        old, new, name = f"pw{round_no}", f"pw{round_no + 1}", f"k{round_no}"
        procs = []
        for w in writers:
            old_file, new_file = w.password_file(f"{old}.txt", old), w.password_file(f"{new}.txt", new)
            procs.append(w.start("passwd", "--password-file", old_file, "--new-password-file", new_file,
                                 "--kdf-iterations", ITER))
            procs.append(w.start("add-key", name, "--type", "hmac", "--key-file", w.key_file(name),
                                 "--password-file", old_file, "--kdf-iterations", ITER))
        results = Writers.finish(*procs)
        for i, w in enumerate(writers):
            (passwd_rc, _, passwd_err), (add_rc, _, add_err) = results[2 * i:2 * i + 2]
            assert passwd_rc == 0, passwd_err
            keys = Vault(w.vault).unlock(new)  # the reported password change is in the file
            if add_rc == 0:
                assert name in keys, f"round {round_no}: add-key said yes and its key is gone"
            else:  # it came second and the old password no longer opens the vault: one sentence, no change
                assert add_rc == 3 and "wrong password" in add_err and len(add_err.strip().splitlines()) == 1
                assert name not in keys
            rounds += 1
    assert rounds == 10


def test_gen_ed25519_beside_add_key_keeps_the_private_key_it_printed(tmp_path: Path) -> None:
    writers = [Writers(tmp_path / f"v{i}") for i in range(PARALLEL_VAULTS)]
    for w in writers:
        w.tmp.mkdir()
        _new_vault(w.vault, "pw")
    for round_no in range(10 // PARALLEL_VAULTS):
        gen_name, add_name = f"g{round_no}", f"h{round_no}"
        procs = []
        for w in writers:
            pw = w.password_file("pw.txt", "pw")
            procs.append(w.start("gen-ed25519", gen_name, "--password-file", pw, "--kdf-iterations", ITER))
            procs.append(w.start("add-key", add_name, "--type", "hmac", "--key-file", w.key_file(add_name),
                                 "--password-file", pw, "--kdf-iterations", ITER))
        results = Writers.finish(*procs)
        for i, w in enumerate(writers):
            (gen_rc, printed, gen_err), (add_rc, _, add_err) = results[2 * i:2 * i + 2]
            assert gen_rc == 0 and add_rc == 0, gen_err + add_err
            serialization.load_pem_public_key(printed.encode())
            keys = Vault(w.vault).unlock("pw")
            assert add_name in keys
            stored: ApiCredentials = keys.get(gen_name)  # raises when the generated key was lost
            assert stored.key_type is KeyType.ED25519 and public_key_pem(stored) == printed


def test_a_writer_waiting_on_the_lock_gives_up_with_one_sentence(tmp_path: Path) -> None:
    """A writer holding the lock forever (a command waiting at a prompt): the other one refuses."""
    w = Writers(tmp_path)
    _new_vault(w.vault, "pw")
    before = w.vault.read_bytes()
    with Vault(w.vault).writing():
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from traytrader import vault; vault.LOCK_WAIT_S = 0.3;"
             "from traytrader.cli import main; sys.exit(main(sys.argv[1:]))",
             "vault", "add-key", "x", "--type", "hmac", "--key-file", w.key_file("x"),
             "--vault", str(w.vault), "--password-file", w.password_file("pw.txt", "pw")],
            capture_output=True, text=True, env=w.env, cwd=tmp_path, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "Another traytrader command is changing the vault" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert w.vault.read_bytes() == before
