"""Benchmark: unlocking (and saving) the vault at the real 1,000,000 PBKDF2-HMAC-SHA256 rounds.

Unlock cost is almost entirely the key derivation, so the table puts ``Vault.unlock`` beside the
bare derivation with cryptography's ``PBKDF2HMAC`` (what the vault uses: the floor for this KDF
setting) and with hashlib (the system OpenSSL, slower here). The UI shows a progress message
whenever an unlock is expected to take over 200 ms (``traytrader.vault.PROGRESS_THRESHOLD_S``).

Run: ``.venv/bin/python benchmarks/bench_vault_unlock.py [--runs N] [--iterations N]``.
Prints median and p99 (ms); with few runs p99 is the slowest run.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from traytrader.core.models import ApiCredentials, KeyType
from traytrader.core.vault_format import DEFAULT_ITERATIONS
from traytrader.vault import PROGRESS_THRESHOLD_S, Vault

PASSWORD = "benchmark password"


def measure(step: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, p99) in milliseconds over ``runs`` calls after one warm-up call."""
    step()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    args = parser.parse_args(argv)
    salt = b"\x01" * 16
    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault(Path(tmp) / "vault.bin", iterations=args.iterations)
        keys = vault.create(PASSWORD)
        keys.add(ApiCredentials("default", KeyType.HMAC, "k" * 64, "s" * 64))
        vault.save(keys, PASSWORD)
        rows = [
            ("Vault.unlock (traytrader)", measure(lambda: vault.unlock(PASSWORD), args.runs)),
            ("Vault.save (fresh salt+nonce)", measure(lambda: vault.save(keys, PASSWORD), args.runs)),
            ("hashlib.pbkdf2_hmac (system SSL)", measure(
                lambda: hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, args.iterations, 32),
                args.runs)),
            ("cryptography PBKDF2HMAC (floor)", measure(
                lambda: PBKDF2HMAC(hashes.SHA256(), 32, salt, args.iterations).derive(PASSWORD.encode()),
                args.runs)),
        ]
    print(f"PBKDF2-HMAC-SHA256, {args.iterations:,} rounds, {args.runs} runs each"
          f" (progress message shown above {PROGRESS_THRESHOLD_S * 1000:.0f} ms)")
    print(f"{'step':32} {'median ms':>10} {'p99 ms':>10}")
    for name, (median, p99) in rows:
        print(f"{name:32} {median:10.1f} {p99:10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
