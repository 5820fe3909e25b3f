"""The console's command words (``ui/console.py parse_line``): the toolkit's ``close 50%``,
``breakeven`` and ``add``, and arguments refused where a command takes none."""

from __future__ import annotations

import pytest

from traytrader.engine.api import Command, CommandKind
from traytrader.ui.console import parse_line


@pytest.mark.parametrize(("line", "kind", "argument"), [
    ("close 50%", CommandKind.CLOSE, "50%"), ("close 25 %", CommandKind.CLOSE, "25%"),
    ("close", CommandKind.CLOSE, ""), ("breakeven", CommandKind.BREAKEVEN, ""),
    ("be", CommandKind.BREAKEVEN, ""), ("add", CommandKind.ADD, ""), ("BUY", CommandKind.BUY, ""),
])
def test_words(line: str, kind: CommandKind, argument: str) -> None:
    command = parse_line(line)
    assert isinstance(command, Command) and (command.kind, command.argument) == (kind, argument)


@pytest.mark.parametrize(("line", "words"), [
    ("close half", "usage: close, or close 50%"), ("buy 5", "buy takes no argument"),
    ("breakeven now", "breakeven takes no argument"),
])
def test_refused(line: str, words: str) -> None:
    answer = parse_line(line)
    assert isinstance(answer, str) and answer.startswith("error:") and words in answer
