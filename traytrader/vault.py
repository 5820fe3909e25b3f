"""The encrypted key file on disk: read, unlock, and save atomically with mode 0600.

The format and crypto are pure (``core/vault_format.py``); this module adds the file handling:
fresh salt and nonce on every save, a temp file created 0600 (never chmod-ed afterwards),
fsync, rename over the old file, fsync of the directory. A failed save (disk full, ...)
leaves the previous vault byte-for-byte intact.

Writers take ``Vault.writing()``, an exclusive lock on a file beside the vault held from reading
the file to renaming the new one, so that two commands changing the vault at once (two
``add-key``, or ``passwd`` beside ``add-key``) run one after the other instead of the later
rename silently dropping the earlier change. Readers need no lock: a rename is atomic.

Reading refuses what is not a regular file (a FIFO would block forever) or is absurdly large,
after checking the first bytes (``file_guard``). Every process that constructs a ``Vault`` stops
dumping core and being traceable before a password or secret enters it (``process_guard``).

Secrets exist only inside ``UnlockedVault``; ``lock()`` drops them. No message raised here
contains key material or the password.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from traytrader.core import vault_format as fmt
from traytrader.core.errors import VaultError
from traytrader.core.models import ApiCredentials, KeyType
from traytrader.core.vault_format import fingerprint, public_key_pem, validate_credentials
from traytrader.file_guard import FileRefused, private_dir, read_regular
from traytrader.process_guard import forbid_core_dumps

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["PROGRESS_THRESHOLD_S", "UnlockedVault", "Vault", "fingerprint", "generate_ed25519",
           "public_key_pem", "validate_credentials"]

PROGRESS_THRESHOLD_S = 0.2  # an unlock expected to take longer than this shows a progress message
MAX_VAULT_BYTES = 1 << 20     # a vault holds a few keys (about 300 bytes each); 1 MiB is damage
LOCK_WAIT_S = 10.0            # how long a writer waits for another one before refusing
_LOCK_POLL_S = 0.02

Writer = Callable[[int, bytes], int]  # os.write's signature: (fd, data) -> bytes written
Progress = Callable[[str], None]

_CALIBRATION_ITERATIONS = 20_000
_seconds_per_iteration: float | None = None


def _estimate_seconds(iterations: int) -> float:
    """Time a short PBKDF2 run once per process and extrapolate (PBKDF2 is linear in iterations)."""
    global _seconds_per_iteration
    if _seconds_per_iteration is None:
        start = time.perf_counter()
        fmt.derive_key("calibration", b"\0" * fmt.SALT_LEN, _CALIBRATION_ITERATIONS)
        _seconds_per_iteration = (time.perf_counter() - start) / _CALIBRATION_ITERATIONS
    return iterations * _seconds_per_iteration


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise VaultError(f"A key name must be 1 to 64 letters, digits, '-', '_' or '.'; {name!r} is not.")


def _check_password(password: str) -> None:
    if not password:
        raise VaultError("The vault password must not be empty.")


def generate_ed25519(name: str) -> ApiCredentials:
    """A fresh Ed25519 key pair; the API key is empty until the user registers the public key."""
    _check_name(name)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ApiCredentials(name, KeyType.ED25519, "", pem.decode("ascii"))


class UnlockedVault:
    """The decrypted key set. Use it, save it through ``Vault.save``, then ``lock()`` it; as a
    context manager (``with vault.unlock(password) as keys:``) it locks itself on the way out."""

    def __init__(self, keys: dict[str, ApiCredentials]) -> None:
        self._keys: dict[str, ApiCredentials] | None = dict(keys)

    def __repr__(self) -> str:
        state = "locked" if self._keys is None else f"{len(self._keys)} keys"
        return f"<UnlockedVault {state}>"

    @property
    def locked(self) -> bool:
        return self._keys is None

    def _live(self) -> dict[str, ApiCredentials]:
        if self._keys is None:
            raise VaultError("The vault is locked; unlock it again to use its keys.")
        return self._keys

    def names(self) -> list[str]:
        return sorted(self._live())

    def __contains__(self, name: object) -> bool:
        return name in self._live()

    def __iter__(self) -> Iterator[ApiCredentials]:
        keys = self._live()
        return iter([keys[n] for n in sorted(keys)])

    def __len__(self) -> int:
        return len(self._live())

    def get(self, name: str) -> ApiCredentials:
        keys = self._live()
        if name not in keys:
            known = ", ".join(sorted(keys)) or "none"
            raise VaultError(f"The vault has no key named {name!r} (it has: {known}).")
        return keys[name]

    def add(self, credentials: ApiCredentials, *, replace: bool = False, allow_pending: bool = False) -> None:
        """Validate and add a key; refuses to overwrite one of the same name unless ``replace``."""
        keys = self._live()
        _check_name(credentials.name)
        validate_credentials(credentials, allow_pending=allow_pending)
        if credentials.name in keys and not replace:
            raise VaultError(f"The vault already has a key named {credentials.name!r}; remove it first.")
        keys[credentials.name] = credentials

    def remove(self, name: str) -> None:
        self.get(name)
        del self._live()[name]

    def __enter__(self) -> UnlockedVault:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.lock()

    def lock(self) -> None:
        """Drop every secret this object holds (Python strings cannot be wiped; we drop references)."""
        if self._keys is not None:
            self._keys.clear()
        self._keys = None


class Vault:
    """One vault file. ``iterations`` applies to saves; unlock uses the count stored in the header."""

    def __init__(self, path: str | os.PathLike[str], *, iterations: int = fmt.DEFAULT_ITERATIONS,
                 writer: Writer = os.write) -> None:
        self.path = Path(path)
        self.iterations = iterations
        self._writer = writer  # injectable so tests can simulate a full disk
        self.last_unlock_seconds: float | None = None
        self.stored_iterations: int | None = None  # the count in the file, known after unlock
        forbid_core_dumps()  # before the caller reads a password for this vault

    def exists(self) -> bool:
        return self.path.exists()

    def permission_problem(self) -> str | None:
        """A sentence when others may read the file (it should be 0600), else None."""
        try:
            mode = self.path.stat().st_mode
        except OSError:
            return None
        if os.name == "posix" and mode & 0o077:
            return f"The vault {self.path} has mode {mode & 0o777:o}; it should be 600 (chmod 600 it)."
        return None

    def read_bytes(self) -> bytes:
        try:
            return read_regular(self.path, MAX_VAULT_BYTES, _check_head)
        except fmt.VaultFormatError as exc:
            raise VaultError(f"Cannot open the vault {self.path}: {exc.reason}.") from None
        except FileRefused as exc:
            raise VaultError(f"Cannot read the vault {self.path}: {exc.reason}.") from None
        except FileNotFoundError:
            raise VaultError(
                f"There is no vault at {self.path}; create one with: traytrader vault init.") from None
        except PermissionError:
            raise VaultError(
                f"Cannot read the vault {self.path}: permission denied (it should belong to you, mode 600)."
            ) from None
        except OSError as exc:
            raise VaultError(f"Cannot read the vault {self.path}: {exc.strerror or exc}.") from None

    def create(self, password: str) -> UnlockedVault:
        """Write a new, empty vault; refuses to replace an existing one."""
        _check_password(password)
        if self.exists():
            raise VaultError(f"A vault already exists at {self.path}; it was left as it is.")
        unlocked = UnlockedVault({})
        self.save(unlocked, password)
        return unlocked

    def unlock(self, password: str, progress: Progress | None = None) -> UnlockedVault:
        """Decrypt the file. ``progress`` gets one message first when this will take over ~200 ms."""
        forbid_core_dumps()
        blob = self.read_bytes()
        try:
            header = fmt.parse_header(blob)
            if progress is not None and _estimate_seconds(header.iterations) > PROGRESS_THRESHOLD_S:
                estimate = _estimate_seconds(header.iterations)
                progress(f"Unlocking the vault ({header.iterations:,} key-derivation rounds,"
                         f" about {estimate:.1f} s)...")
            start = time.perf_counter()
            keys = fmt.open_sealed(blob, password)
            self.last_unlock_seconds = time.perf_counter() - start
            self.stored_iterations = header.iterations
        except fmt.VaultFormatError as exc:
            raise VaultError(f"Cannot open the vault {self.path}: {exc.reason}.") from None
        return UnlockedVault(keys)

    def save(self, unlocked: UnlockedVault, password: str) -> None:
        """Encrypt with a fresh salt and nonce and replace the file atomically."""
        _check_password(password)
        forbid_core_dumps()
        keys = {c.name: c for c in unlocked}
        blob = fmt.seal(keys, password, self.iterations, secrets.token_bytes(fmt.SALT_LEN),
                        secrets.token_bytes(fmt.NONCE_LEN))
        self._write_atomic(blob)

    @contextlib.contextmanager
    def writing(self, *, wait_s: float | None = None) -> Iterator[None]:
        """Hold the writer lock (``.<vault name>.lock`` beside the vault) for read, change and save.

        Waits up to ``wait_s`` (default ``LOCK_WAIT_S``) for another writer (a command still asking
        its questions holds it), then refuses with a sentence; nothing was changed then. The lock
        file stays: removing it would let a third writer lock a different file of the same name.
        """
        lock_path = self.path.parent / f".{self.path.name}.lock"
        try:
            private_dir(self.path.parent)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as exc:
            raise VaultError(f"Cannot lock the vault {self.path} for a change ({exc.strerror or exc});"
                             " nothing was changed.") from None
        try:
            deadline = time.monotonic() + (LOCK_WAIT_S if wait_s is None else wait_s)
            while not self._locked(fd):
                if time.monotonic() >= deadline:
                    raise VaultError(
                        f"Another traytrader command is changing the vault {self.path} (perhaps one still"
                        " waiting for an answer); nothing was changed: run this again when it has finished.")
                time.sleep(_LOCK_POLL_S)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _locked(self, fd: int) -> bool:
        try:
            return _try_lock(fd)
        except OSError as exc:
            raise VaultError(f"Cannot lock the vault {self.path} for a change ({exc.strerror or exc});"
                             " nothing was changed.") from None

    def _write_atomic(self, blob: bytes) -> None:
        directory = self.path.parent
        tmp = directory / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            private_dir(directory)
            # 0600 from the first byte: the mode is given to open(), never fixed up by chmod later.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            try:
                view = memoryview(blob)
                while view:
                    written = self._writer(fd, view.tobytes())
                    if written <= 0:
                        raise OSError(errno.EIO, "short write")
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise VaultError(
                f"Could not save the vault {self.path}: {reason}; the previous file is unchanged.") from None
        _fsync_dir(directory)


def _check_head(head: bytes) -> None:
    """Say "not a vault" from the first bytes, before any question of size."""
    if not (head.startswith(fmt.MAGIC) or fmt.MAGIC.startswith(head)):
        raise fmt.VaultFormatError("it is not a traytrader vault (the file does not start with TTVAULT)")


def _try_lock(fd: int) -> bool:
    """One non-blocking attempt at the exclusive lock: flock on POSIX, msvcrt on Windows.

    Raises ``OSError`` when the file system cannot lock at all (ENOLCK on some network mounts)."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt

    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable. Not possible on Windows, where directories cannot be opened."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
