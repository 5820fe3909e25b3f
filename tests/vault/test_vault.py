"""The vault file: roundtrip, every kind of damage, permissions, and a full disk during save."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traytrader.core import vault_format as fmt
from traytrader.core.errors import VaultError
from traytrader.core.models import ApiCredentials, KeyType
from traytrader.vault import UnlockedVault, Vault, fingerprint, generate_ed25519, public_key_pem

ITER = 1000  # tests keep PBKDF2 cheap through the ctor argument; the header records the count
PASSWORD = "correct horse battery staple"
HMAC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
HMAC_API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
# RFC 8032 section 7.1 TEST 1 seed as PKCS#8 (binance-usdm-protocol.md, Appendix A).
ED_PEM = ("-----BEGIN PRIVATE KEY-----\n"
          "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
          "-----END PRIVATE KEY-----\n")
ED_PUBLIC_BODY = "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


def hmac_key(name: str = "main") -> ApiCredentials:
    return ApiCredentials(name, KeyType.HMAC, HMAC_API_KEY, HMAC_SECRET)


def ed_key(name: str = "ed") -> ApiCredentials:
    return ApiCredentials(name, KeyType.ED25519, "edApiKey123", ED_PEM)


def make_vault(path: Path) -> Vault:
    vault = Vault(path, iterations=ITER)
    unlocked = vault.create(PASSWORD)
    unlocked.add(hmac_key())
    unlocked.add(ed_key())
    vault.save(unlocked, PASSWORD)
    return vault


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return make_vault(tmp_path / "vault.bin")


def test_roundtrip_keeps_every_field(vault: Vault) -> None:
    unlocked = Vault(vault.path).unlock(PASSWORD)  # default iterations: the header's count is used
    assert unlocked.names() == ["ed", "main"]
    assert unlocked.get("main") == hmac_key()
    assert unlocked.get("ed") == ed_key()
    assert public_key_pem(unlocked.get("ed")).splitlines()[1] == ED_PUBLIC_BODY


def test_key_derivation_is_standard_pbkdf2_and_nfc_normalised() -> None:
    salt = bytes(range(16))
    expected = hashlib.pbkdf2_hmac("sha256", "café".encode(), salt, 1234, 32)  # an independent implementation
    assert fmt.derive_key("café", salt, 1234) == expected
    assert fmt.derive_key("cafe\u0301", salt, 1234) == expected  # decomposed é types the same password


def test_header_records_kdf_and_iterations(vault: Vault) -> None:
    header = fmt.parse_header(vault.path.read_bytes())
    assert (header.version, header.kdf, header.iterations) == (1, "pbkdf2-sha256", ITER)
    assert len(header.salt) == 16 and len(header.nonce) == 12
    assert vault.path.read_bytes().startswith(b"TTVAULT\x01")


def test_every_save_uses_a_fresh_salt_and_nonce(vault: Vault) -> None:
    unlocked = vault.unlock(PASSWORD)
    first = fmt.parse_header(vault.path.read_bytes())
    vault.save(unlocked, PASSWORD)
    second = fmt.parse_header(vault.path.read_bytes())
    assert first.salt != second.salt and first.nonce != second.nonce


def test_file_is_0600_from_creation_even_with_a_permissive_umask(tmp_path: Path) -> None:
    seen_modes: list[int] = []

    def watching_writer(fd: int, data: bytes) -> int:
        seen_modes.append(stat.S_IMODE(os.fstat(fd).st_mode))  # mode while the temp file is written
        return os.write(fd, data)

    old = os.umask(0)
    try:
        vault = Vault(tmp_path / "sub" / "vault.bin", iterations=ITER, writer=watching_writer)
        vault.create(PASSWORD)
    finally:
        os.umask(old)
    assert seen_modes and set(seen_modes) == {0o600}
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(vault.path.parent.stat().st_mode) == 0o700
    assert vault.permission_problem() is None
    vault.path.chmod(0o644)
    assert "600" in (vault.permission_problem() or "")


def test_wrong_password_is_one_sentence_and_file_untouched(vault: Vault) -> None:
    before = vault.path.read_bytes()
    with pytest.raises(VaultError) as info:
        vault.unlock("not the password")
    message = str(info.value)
    assert "wrong password" in message and str(vault.path) in message
    assert message.endswith(".") and message.count(". ") == 0
    assert vault.path.read_bytes() == before


def test_truncation_at_every_length_says_truncated(vault: Vault, tmp_path: Path) -> None:
    blob = vault.path.read_bytes()
    damaged = tmp_path / "cut.bin"
    for length in range(len(blob)):
        damaged.write_bytes(blob[:length])
        with pytest.raises(VaultError, match="truncated"):
            Vault(damaged).unlock(PASSWORD)
        assert damaged.read_bytes() == blob[:length]


def test_trailing_bytes_are_damage(vault: Vault) -> None:
    vault.path.write_bytes(vault.path.read_bytes() + b"x")
    with pytest.raises(VaultError, match="unexpected bytes"):
        vault.unlock(PASSWORD)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_flipped_byte_anywhere_is_refused(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "flip.bin"
    if not path.exists():
        make_vault(path)
    blob = path.read_bytes()
    pos = data.draw(st.integers(0, len(blob) - 1), label="pos")
    mask = data.draw(st.integers(1, 255), label="mask")
    flipped = bytearray(blob)
    flipped[pos] ^= mask
    target = tmp_path / "flipped.bin"
    target.write_bytes(bytes(flipped))
    with pytest.raises(VaultError) as info:
        Vault(target).unlock(PASSWORD)
    reason = str(info.value)
    assert any(w in reason for w in ("damaged", "wrong password", "not a traytrader vault", "version"))
    assert target.read_bytes() == bytes(flipped)
    assert path.read_bytes() == blob


def _handmade_header(version: int = 1, kdf: bytes = b"pbkdf2-sha256", iterations: int = ITER) -> bytes:
    """An independent writer of the documented layout, to check the reader against."""
    body = (b"TTVAULT" + struct.pack(">BB", version, len(kdf)) + kdf + struct.pack(">I", iterations)
            + b"s" * 16 + b"n" * 12 + struct.pack(">I", 16))
    return body + hashlib.sha256(body).digest()[:8] + b"t" * 16


@pytest.mark.parametrize(("blob", "expected"), [
    (_handmade_header(version=2), "version 2"),
    (_handmade_header(kdf=b"scrypt"), "scrypt"),
    (_handmade_header(iterations=0), "iteration count 0"),
    (_handmade_header(iterations=4_000_000_000), "iteration count"),
    (b"PK\x03\x04 a zip file, not a vault", "not a traytrader vault"),
    (_handmade_header(), "wrong password"),
])
def test_bad_headers(tmp_path: Path, blob: bytes, expected: str) -> None:
    path = tmp_path / "v.bin"
    path.write_bytes(blob)
    with pytest.raises(VaultError, match=expected):
        Vault(path).unlock(PASSWORD)


def test_missing_vault_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="vault init"):
        Vault(tmp_path / "none.bin").unlock(PASSWORD)


def test_create_refuses_to_replace(vault: Vault) -> None:
    before = vault.path.read_bytes()
    with pytest.raises(VaultError, match="already exists"):
        vault.create(PASSWORD)
    assert vault.path.read_bytes() == before


def test_disk_full_during_save_keeps_the_old_vault(vault: Vault) -> None:
    before = vault.path.read_bytes()
    calls = 0

    def full_disk(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return os.write(fd, data[:10])  # a partial write first, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    failing = Vault(vault.path, iterations=ITER, writer=full_disk)
    unlocked = vault.unlock(PASSWORD)
    unlocked.add(hmac_key("another"))
    with pytest.raises(VaultError, match="no space left on device; the previous file is unchanged"):
        failing.save(unlocked, PASSWORD)
    assert calls == 2
    assert vault.path.read_bytes() == before
    assert sorted(p.name for p in vault.path.parent.iterdir()) == ["vault.bin"]  # no temp file left
    assert vault.unlock(PASSWORD).names() == ["ed", "main"]


def _unlock_as_nobody(path: Path) -> tuple[int, str]:
    """Fork, drop to uid/gid 65534, try to unlock; return (exit code, message).

    The child keeps the already-imported code (the interpreter itself lives under root's 0700
    home here, so exec-ing a new one as another user is not possible).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                Vault(path).unlock(PASSWORD)
                code = 0
            except VaultError as exc:
                os.write(write_end, str(exc).encode())
                code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), message


def test_unreadable_vault_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        path = make_vault(tmp_path / "vault.bin").path
        path.chmod(0)
        with pytest.raises(VaultError, match="permission denied"):
            Vault(path).unlock(PASSWORD)
        return
    # Root reads any file regardless of mode, so read it as another user: the vault stays root's, 0600.
    directory = Path(tempfile.mkdtemp(prefix="tt-perm-"))
    try:
        directory.chmod(0o755)
        path = make_vault(directory / "vault.bin").path
        before = path.read_bytes()
        code, message = _unlock_as_nobody(path)
        assert code == 3, message
        assert "permission denied" in message and str(path) in message
        assert path.read_bytes() == before
    finally:
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def test_lock_drops_the_keys(vault: Vault) -> None:
    unlocked = vault.unlock(PASSWORD)
    unlocked.lock()
    assert unlocked.locked and "locked" in repr(unlocked)
    with pytest.raises(VaultError, match="locked"):
        unlocked.get("main")


def test_leaving_the_with_block_locks_even_on_an_error(vault: Vault) -> None:
    with vault.unlock(PASSWORD) as unlocked:
        assert unlocked.get("main").api_key
    assert unlocked.locked
    with pytest.raises(VaultError, match="no key named 'nope'"), vault.unlock(PASSWORD) as failing:
        failing.get("nope")
    assert failing.locked


def test_key_validation_never_echoes_material(tmp_path: Path) -> None:
    unlocked = UnlockedVault({})
    with pytest.raises(VaultError) as info:
        unlocked.add(ApiCredentials("bad", KeyType.ED25519, "k", "not a pem SECRETSTUFF"))
    assert "SECRETSTUFF" not in str(info.value) and "PEM" in str(info.value)
    with pytest.raises(VaultError, match="empty HMAC secret"):
        unlocked.add(ApiCredentials("h", KeyType.HMAC, "k", " "))
    with pytest.raises(VaultError, match="empty API key"):
        unlocked.add(ApiCredentials("h", KeyType.HMAC, "", "s"))
    with pytest.raises(VaultError, match="key name"):
        unlocked.add(ApiCredentials("no spaces", KeyType.HMAC, "k", "s"))
    unlocked.add(hmac_key())
    with pytest.raises(VaultError, match="already has"):
        unlocked.add(hmac_key())
    assert HMAC_SECRET not in repr(unlocked.get("main"))


def test_generated_ed25519_is_pending_until_an_api_key_is_set() -> None:
    key = generate_ed25519("fresh")
    unlocked = UnlockedVault({})
    with pytest.raises(VaultError, match="empty API key"):
        unlocked.add(key)
    unlocked.add(key, allow_pending=True)
    assert fingerprint(key) == "(pending)"
    assert public_key_pem(key).startswith("-----BEGIN PUBLIC KEY-----")


def test_fingerprint_is_sha256_prefix_of_the_api_key() -> None:
    assert fingerprint(hmac_key()) == hashlib.sha256(HMAC_API_KEY.encode()).hexdigest()[:12]


def test_progress_is_reported_only_for_slow_unlocks(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    messages: list[str] = []
    vault.unlock(PASSWORD, progress=messages.append)
    assert messages == []  # 1000 rounds is far below 200 ms
    assert vault.last_unlock_seconds is not None and vault.last_unlock_seconds < 1
    monkeypatch.setattr("traytrader.vault.PROGRESS_THRESHOLD_S", 0.0)
    vault.unlock(PASSWORD, progress=messages.append)
    assert len(messages) == 1 and "1,000 key-derivation rounds" in messages[0]


def test_empty_password_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "v.bin", iterations=ITER)
    with pytest.raises(VaultError, match="must not be empty"):
        vault.create("")
    assert not vault.exists()
