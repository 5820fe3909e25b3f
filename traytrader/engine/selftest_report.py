"""What ``traytrader selftest`` says: one line per check, the latencies, and a redacted report file.

A check is ``ok``, ``FAIL`` (one sentence saying what is wrong, then what to do), ``skip`` (not run,
and why) or ``note`` (true and worth knowing, not a failure). Every line goes through ``Redactor``
before it is printed or written, so a secret that slipped into an exception text (a listenKey in
a stream URL, say) never reaches the terminal or the report. The report holds no keys, no
signatures and no balances unless the user asked for balances.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from traytrader import __version__

OK, FAIL, SKIP, NOTE = "ok", "FAIL", "skip", "note"
_WIDTH = 6
REDACTED = "[redacted]"
# A hex run as long as an HMAC-SHA256 signature, or a base64 run as long as an Ed25519 one.
_SIGNATURE = re.compile(r"\b[0-9a-f]{64}\b|[A-Za-z0-9+/]{86}==")


@dataclass(frozen=True)
class Check:
    status: str
    name: str
    text: str

    def line(self) -> str:
        return f"{self.status:<{_WIDTH}}{self.name}: {self.text}"


class Redactor:
    """Replaces every known secret (and anything shaped like a signature) with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if not secret:
                continue
            # A PEM is also matched line by line: a message may quote one line of it.
            parts = [secret] + [
                line for line in secret.splitlines() if len(line) >= 16 and not line.startswith("-----")
            ]
            for part in parts:
                if part not in self._secrets and len(part) >= 8:
                    self._secrets.append(part)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SIGNATURE.sub(REDACTED, text)


@dataclass
class Latencies:
    """Milliseconds measured during the run (None: not measured)."""

    rest_rtt_ms: float | None = None
    ws_rtt_ms: float | None = None
    order_round_trip_ms: float | None = None
    stop_placement_ms: float | None = None
    stop_confirmed_ms: float | None = None  # placement sent -> ALGO_UPDATE NEW received
    replacement_ms: float | None = None  # make-before-break: new stop placed -> old one cancelled

    def text(self) -> str:
        parts = []
        for label, value in (
            ("REST round trip", self.rest_rtt_ms),
            ("WS API round trip", self.ws_rtt_ms),
            ("order round trip", self.order_round_trip_ms),
            ("stop placement", self.stop_placement_ms),
            ("stop confirmed by ALGO_UPDATE", self.stop_confirmed_ms),
            ("make-before-break replacement", self.replacement_ms),
        ):
            if value is not None:
                parts.append(f"{label} {value:.1f} ms")
        return ", ".join(parts) if parts else "none measured"


@dataclass
class Report:
    """Collects the checks as they happen and hands each line to ``out`` at once."""

    out: Callable[[str], None]
    redact: Redactor = field(default_factory=Redactor)
    checks: list[Check] = field(default_factory=list)
    latencies: Latencies = field(default_factory=Latencies)
    started: float = field(default_factory=time.monotonic)

    def add(self, status: str, name: str, text: str) -> Check:
        check = Check(status, name, self.redact(text))
        self.checks.append(check)
        self.out(check.line())
        return check

    def ok(self, name: str, text: str) -> Check:
        return self.add(OK, name, text)

    def fail(self, name: str, what: str, todo: str) -> Check:
        """``what`` is wrong (one sentence), ``todo`` is what to do about it."""
        todo = todo.rstrip(".")
        return self.add(FAIL, name, f"{what.rstrip('.')}. {todo[:1].upper()}{todo[1:]}.")

    def skip(self, name: str, why: str) -> Check:
        return self.add(SKIP, name, why)

    def note(self, name: str, text: str) -> Check:
        return self.add(NOTE, name, text)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    def failed(self, name: str) -> bool:
        return any(c.status == FAIL and c.name == name for c in self.checks)

    def summary(self) -> str:
        seconds = time.monotonic() - self.started
        failures = self.failures
        if failures:
            names = ", ".join(dict.fromkeys(c.name for c in failures))
            return f"{len(failures)} check(s) failed ({names}) in {seconds:.1f} s."
        return f"All {sum(c.status == OK for c in self.checks)} checks passed in {seconds:.1f} s."

    def file_text(self, *, environment: str, config_path: str, trade: bool) -> str:
        head = [
            "traytrader selftest report",
            f"version: traytrader {__version__}, Python {platform.python_version()}, {platform.system()}",
            f"time: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
            f"environment: {environment}; config: {os.path.basename(config_path)}; trade: {trade}",
            "(no API keys, secrets, signatures or listenKeys are in this file)",
            "",
        ]
        body = [c.line() for c in self.checks]
        tail = ["", f"latencies: {self.latencies.text()}", self.summary()]
        return self.redact("\n".join(head + body + tail)) + "\n"


def write_report(path: Path, text: str) -> None:
    """Write the report readable by the user only (it names the account's symbols and settings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
