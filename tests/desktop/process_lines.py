"""A program under test whose output lines are collected as they come, and waited for by pattern
(never by sleeping): shared by the plain-install and the Wayland desktop tests."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path
from typing import IO


class ProcessLines:
    """``argv`` started with pipes; ``out``/``err`` fill line by line on reader threads."""

    def __init__(self, argv: list[str], env: dict[str, str], *, stdin: str | None = None,
                 cwd: str | Path | None = None) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env, cwd=cwd,
                                     stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    def _read(self, stream: IO[str], lines: list[str]) -> None:
        for line in stream:
            with self._cond:
                lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_line(self, lines: list[str], pattern: str, timeout: float = 30.0) -> str:
        """The first line of ``lines`` matching ``pattern``; fails when none comes in time (or the
        program ended without printing it)."""
        with self._cond:
            found: list[str] = []

            def match() -> bool:
                found[:] = [line for line in lines if re.search(pattern, line)]
                return bool(found) or self.proc.poll() is not None

            self._cond.wait_for(match, timeout)
            assert found, f"{pattern!r} not printed within {timeout} s; out={self.out} err={self.err}"
            return found[0]
