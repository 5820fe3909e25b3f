"""``traytrader vault ...`` end to end in a subprocess: exit codes, files, and no secret in any output."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from traytrader.vault import Vault, public_key_pem

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "pw-Ünïcode-42"
NEW_PASSWORD = "second password"
HMAC_API_KEY = "hmacApiKeyAAAAbbbbCCCCddddEEEEffff0123456789"
HMAC_SECRET = "hmacSecretZZZZyyyyXXXXwwwwVVVVuuuu9876543210"
STDIN_API_KEY = "stdinApiKey11112222333344445555"
STDIN_SECRET = "stdinSecretQQQQRRRRSSSSTTTTUUUU"
ED_PEM_BODY = "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g"
SECRETS = (PASSWORD, NEW_PASSWORD, HMAC_SECRET, STDIN_SECRET, ED_PEM_BODY)


class Cli:
    """Runs ``python -m traytrader`` with XDG dirs inside tmp and remembers every output."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.outputs: list[str] = []
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "cfg"), "XDG_DATA_HOME": str(tmp / "data"),
                    "XDG_STATE_HOME": str(tmp / "state"), "PYTHONPATH": str(REPO)}
        self.password_file = tmp / "password.txt"
        self.password_file.write_text(PASSWORD + "\n", encoding="utf-8")

    def __call__(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "traytrader", *argv], input=stdin, capture_output=True,
                                text=True, encoding="utf-8", env=self.env, cwd=self.tmp, timeout=60)
        self.outputs += [result.stdout, result.stderr]
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def assert_no_secret_leaked(self) -> None:
        everything = "\n".join(self.outputs)
        for secret in SECRETS:
            assert secret not in everything


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_full_lifecycle_never_prints_a_secret(cli: Cli, tmp_path: Path) -> None:
    vault_file = tmp_path / "v.bin"
    v = ["--vault", str(vault_file)]
    w = [*v, "--kdf-iterations", "1000"]  # writers: keep the test vault's cheap count (each is warned)
    pwf = ["--password-file", str(cli.password_file)]
    assert cli("vault", "init", *v, *pwf, "--kdf-iterations", "1000").returncode == 0
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600

    key_file = tmp_path / "key.toml"
    key_file.write_text(f'api_key = "{HMAC_API_KEY}"\nsecret = "{HMAC_SECRET}"\n')
    added = cli("vault", "add-key", "main", "--type", "hmac", "--key-file", str(key_file), *w, *pwf)
    assert added.returncode == 0
    added = cli("vault", "add-key", "piped", "--type", "hmac", *w, "--password-stdin",
                stdin=f"{PASSWORD}\n{STDIN_API_KEY}\n{STDIN_SECRET}\n")
    assert added.returncode == 0, added.stderr
    ed_file = tmp_path / "ed.toml"
    ed_file.write_text(f'api_key = "edKey"\nprivate_key_pem = """-----BEGIN PRIVATE KEY-----\n{ED_PEM_BODY}\n'
                       '-----END PRIVATE KEY-----\n"""\n')
    added = cli("vault", "add-key", "ed", "--type", "ed25519", "--key-file", str(ed_file), *w, *pwf)
    assert added.returncode == 0

    generated = cli("vault", "gen-ed25519", "fresh", *w, *pwf)
    assert generated.returncode == 0 and "set-api-key fresh" in generated.stderr
    public = serialization.load_pem_public_key(generated.stdout.encode())  # stdout is exactly the public PEM
    stored = Vault(vault_file).unlock(PASSWORD).get("fresh")
    assert public_key_pem(stored) == generated.stdout and stored.api_key == ""
    assert public is not None

    listed = cli("vault", "list", *v, *pwf)
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [r[:2] for r in rows] == [
        ["ed", "ed25519"], ["fresh", "ed25519"], ["main", "hmac"], ["piped", "hmac"]]
    assert "no API key yet" in rows[1][2]
    assert cli("vault", "set-api-key", "fresh", *w, "--password-stdin", stdin=f"{PASSWORD}\nfreshKey\n"
               ).returncode == 0
    assert Vault(vault_file).unlock(PASSWORD).get("fresh").api_key == "freshKey"
    assert Vault(vault_file).unlock(PASSWORD).get("piped").secret == STDIN_SECRET

    changed = cli("vault", "passwd", *w, "--password-stdin", stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert changed.returncode == 0
    before = vault_file.read_bytes()
    refused = cli("vault", "list", *v, *pwf)
    assert refused.returncode == 3 and "wrong password" in refused.stderr
    assert vault_file.read_bytes() == before
    assert cli("vault", "remove", "piped", *w, "--password-stdin", stdin=NEW_PASSWORD + "\n").returncode == 0
    names = Vault(vault_file).unlock(NEW_PASSWORD).names()
    assert names == ["ed", "fresh", "main"]
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600
    cli.assert_no_secret_leaked()


def test_default_vault_location_follows_xdg_data_home(cli: Cli, tmp_path: Path) -> None:
    assert cli("vault", "init", "--password-file", str(cli.password_file), "--kdf-iterations", "1000"
               ).returncode == 0
    created = tmp_path / "data" / "traytrader" / "vault.bin"
    assert created.exists() and stat.S_IMODE(created.parent.stat().st_mode) == 0o700


@pytest.fixture
def small_vault(cli: Cli, tmp_path: Path) -> Path:
    path = tmp_path / "v.bin"
    assert cli("vault", "init", "--vault", str(path), "--password-file", str(cli.password_file),
               "--kdf-iterations", "1000").returncode == 0
    key_file = tmp_path / "key.toml"
    key_file.write_text(f'api_key = "{HMAC_API_KEY}"\nsecret = "{HMAC_SECRET}"\n')
    assert cli("vault", "add-key", "main", "--type", "hmac", "--key-file", str(key_file), "--kdf-iterations",
               "1000", "--vault", str(path), "--password-file", str(cli.password_file)).returncode == 0
    return path


@pytest.mark.parametrize(("argv", "stdin", "expected"), [
    (["vault", "list", "--password-stdin"], "wrong\n", "wrong password"),
    (["vault", "list", "--password-stdin"], "", "Expected the vault password on standard input"),
    (["vault", "list"], "", "no terminal to ask for the vault password"),
    (["vault", "init", "--password-stdin"], f"{PASSWORD}\n", "already exists"),
    (["vault", "remove", "nope", "--password-stdin"], f"{PASSWORD}\n", "no key named 'nope'"),
    (["vault", "add-key", "main", "--type", "hmac", "--password-stdin"], f"{PASSWORD}\nk\ns\n",
     "already has a key named 'main'"),
    (["vault", "add-key", "x", "--type", "hmac", "--password-stdin"], f"{PASSWORD}\nkey\n   \n",
     "empty HMAC secret"),
    (["vault", "add-key", "bad name", "--type", "hmac", "--password-stdin"], f"{PASSWORD}\nk\ns\n",
     "key name"),
    (["vault", "passwd", "--password-stdin"], f"{PASSWORD}\n\n", "new vault password is empty"),
])
def test_refusals_exit_3_with_one_sentence_and_leave_the_file(
        cli: Cli, small_vault: Path, argv: list[str], stdin: str, expected: str) -> None:
    before = small_vault.read_bytes()
    result = cli(*argv, "--vault", str(small_vault), stdin=stdin)
    assert result.returncode == 3
    assert result.stderr.startswith("traytrader: ") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert small_vault.read_bytes() == before
    cli.assert_no_secret_leaked()


def test_bad_key_files_never_echo_their_content(cli: Cli, small_vault: Path, tmp_path: Path) -> None:
    before = small_vault.read_bytes()
    cases = {
        "broken.toml": (f'api_key = "k"\nsecret = {HMAC_SECRET}\n', "hmac", "not valid TOML"),
        "extra.toml": (f'api_key = "k"\nsecret = "{HMAC_SECRET}"\npassword = "x"\n', "hmac",
                       "unexpected keys"),
        "badpem.toml": (f'api_key = "k"\nprivate_key_pem = "{ED_PEM_BODY}"\n', "ed25519", "PEM"),
    }
    for name, (content, key_type, expected) in cases.items():
        (tmp_path / name).write_text(content)
        result = cli("vault", "add-key", "new", "--type", key_type, "--key-file", str(tmp_path / name),
                     "--vault", str(small_vault), "--password-file", str(cli.password_file))
        assert result.returncode == 3 and expected in result.stderr, result.stderr
    assert small_vault.read_bytes() == before
    cli.assert_no_secret_leaked()


@pytest.mark.parametrize("damage", ["truncate", "flip", "version", "empty"])
def test_damaged_vault_is_one_sentence_and_untouched(cli: Cli, small_vault: Path, damage: str) -> None:
    blob = bytearray(small_vault.read_bytes())
    if damage == "truncate":
        blob = blob[:-5]
    elif damage == "flip":
        blob[-3] ^= 0x40
    elif damage == "version":
        blob[7] = 9
    else:
        blob = bytearray()
    small_vault.write_bytes(bytes(blob))
    result = cli("vault", "list", "--vault", str(small_vault), "--password-file", str(cli.password_file))
    assert result.returncode == 3 and len(result.stderr.strip().splitlines()) == 1
    assert {"truncate": "truncated", "flip": "wrong password, or the file is damaged", "version": "version 9",
            "empty": "truncated"}[damage] in result.stderr
    assert small_vault.read_bytes() == bytes(blob)


def test_missing_vault_says_how_to_create_one(cli: Cli, tmp_path: Path) -> None:
    result = cli("vault", "list", "--vault", str(tmp_path / "none.bin"), "--password-stdin", stdin="x\n")
    assert result.returncode == 3 and "traytrader vault init" in result.stderr


def test_password_is_not_accepted_from_argv(cli: Cli, small_vault: Path) -> None:
    result = cli("vault", "list", "--vault", str(small_vault), "--password", PASSWORD)
    assert result.returncode == 2  # argparse: unknown option


def test_ed25519_from_prompts_new_password_file_and_gen_with_api_key(cli: Cli, small_vault: Path,
                                                                      tmp_path: Path) -> None:
    v = ["--vault", str(small_vault)]
    pem = tmp_path / "ed.pem"
    pem.write_text(f"-----BEGIN PRIVATE KEY-----\n{ED_PEM_BODY}\n-----END PRIVATE KEY-----\n")
    added = cli("vault", "add-key", "ed", "--type", "ed25519", *v, "--password-stdin",
                "--kdf-iterations", "1000", stdin=f"{PASSWORD}\nedApiKey\n{pem}\n")
    assert added.returncode == 0, added.stderr
    api_key_file = tmp_path / "api.txt"
    api_key_file.write_text("genApiKey\n")
    generated = cli("vault", "gen-ed25519", "gen", "--api-key-file", str(api_key_file), *v,
                    "--password-file", str(cli.password_file), "--kdf-iterations", "1000")
    assert generated.returncode == 0 and "set-api-key" not in generated.stderr
    new_file = tmp_path / "new.txt"
    new_file.write_text(NEW_PASSWORD + "\n")
    changed = cli("vault", "passwd", "--new-password-file", str(new_file), "--kdf-iterations", "1500", *v,
                  "--password-file", str(cli.password_file))
    assert changed.returncode == 0, changed.stderr
    vault = Vault(small_vault)
    keys = vault.unlock(NEW_PASSWORD)
    assert vault.stored_iterations == 1500
    assert keys.get("ed").api_key == "edApiKey" and ED_PEM_BODY in keys.get("ed").secret
    assert keys.get("gen").api_key == "genApiKey"
    cli.assert_no_secret_leaked()
