"""What the desktop app remembers between runs (active profile, action bar) and where it keeps it:
``state.py`` for ``run``, nowhere for the demo (``Forgetful``: it must not touch the user's file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Memory:
    """What the app remembers between runs (``state.py`` keeps it; the demo keeps nothing)."""

    active_profile: str = ""
    bar_visible: bool = False
    bar_position: tuple[int, int] | None = None


class Remembered(Protocol):
    def load(self) -> Memory: ...

    def save(self, memory: Memory) -> None: ...


class Forgetful:
    """A ``Remembered`` that keeps nothing on disk (the demo must not touch the user's state file)."""

    def __init__(self) -> None:
        self.memory = Memory()

    def load(self) -> Memory:
        return self.memory

    def save(self, memory: Memory) -> None:
        self.memory = memory
