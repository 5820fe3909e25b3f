"""``traytrader journal`` as a user runs it: the raw view (plain and ``events``), ``trades`` (table,
CSV, filters), ``trade N --png``; bad input is one sentence."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from test_review_trades import write_journal

from traytrader.cli import main
from traytrader.engine.journal import JournalEntry

DATA = Path(__file__).resolve().parents[1] / "data" / "trade_flows"
FLOWS = ("long_hard_stop", "short_trailing_stop", "limit_long_close_key", "long_flatten",
         "long_reverse_then_close")


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One journal holding every recorded flow, one after the other (as days of trading would)."""
    rows: list[JournalEntry] = []
    for flow in FLOWS:
        rows += [JournalEntry(**row) for row in json.loads((DATA / f"{flow}.json").read_text())["rows"]]
    return write_journal(tmp_path_factory.mktemp("cli") / "journal.sqlite3", rows)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_trades_table_has_one_row_per_trade_and_totals(capsys, journal: Path) -> None:
    code, out, _ = run(capsys, "journal", "trades", "--journal", str(journal))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["#", "opened", "closed", "symbol"]
    body = lines[2:lines.index("")]
    assert [line.split()[-2:] for line in body[:2]] == [["hard", "stop"], ["trailing", "stop"]]
    assert [line.rsplit("  ", 1)[-1].strip() for line in body] == \
        ["hard stop", "trailing stop", "close key", "flatten", "reverse", "close key"]
    recorded = sum((Decimal(json.loads((DATA / f"{f}.json").read_text())["wallet_after"]) - 10000
                    for f in FLOWS), Decimal(0))
    assert f"net {recorded:+.2f} USDT" in lines[-1] and "6 closed trade(s)" in lines[-1]


def test_csv_is_for_spreadsheets(capsys, journal: Path) -> None:
    code, out, _ = run(capsys, "journal", "trades", "--csv", "--journal", str(journal))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 6
    assert rows[1]["side"] == "short" and rows[1]["exit_reason"] == "trailing stop"
    assert rows[1]["highest_tier"] == "2"
    total = sum(Decimal(r["net_pnl_usdt"]) for r in rows)
    assert total == sum(Decimal(r["realized_pnl_usdt"]) - Decimal(r["fees_usdt"]) for r in rows)


def test_filters_by_symbol_and_date(capsys, journal: Path) -> None:
    code, out, _ = run(capsys, "journal", "trades", "--symbol", "ethusdt", "--journal", str(journal))
    assert code == 0 and "No trades" in out
    code, out, _ = run(capsys, "journal", "trades", "--since", "2999-01-01", "--journal", str(journal))
    assert code == 0 and "No trades" in out
    code, out, _ = run(capsys, "journal", "trades", "--since", "2000-01-01 10:00", "--journal", str(journal))
    assert "6 closed trade(s)" in out


def test_trade_picture(capsys, journal: Path, tmp_path: Path) -> None:
    target = tmp_path / "t2.png"
    code, out, _ = run(capsys, "journal", "trade", "2", "--png", str(target), "--theme", "light",
                       "--journal", str(journal))
    assert code == 0 and "closed by trailing stop" in out
    with Image.open(target) as image:
        assert image.size == (800, 400)
    code, _, _ = run(capsys, "journal", "trade", "2", "--png", str(tmp_path / "s.png"), "--size", "200x100",
                     "--journal", str(journal))
    with Image.open(tmp_path / "s.png") as image:
        assert code == 0 and image.size == (200, 100)


@pytest.mark.parametrize(("argv", "words"), [
    (["trade", "99", "--png", "x.png"], "There is no trade 99"),
    (["trades", "--since", "last week"], "is not a date"),
    (["trade", "1", "--png", "x.png", "--size", "big"], "is not WIDTHxHEIGHT"),
    (["events", "--last", "-1"], "--last must be"),
])
def test_bad_input_is_one_sentence(capsys, journal: Path, argv: list[str], words: str) -> None:
    code, _, err = run(capsys, "journal", *argv, "--journal", str(journal))
    assert code != 0 and words in err and "Traceback" not in err and err.count("\n") == 1


def test_the_raw_view_stays_under_plain_journal_and_events(capsys, journal: Path) -> None:
    _, plain, _ = run(capsys, "journal", "--journal", str(journal), "--last", "5")
    _, events, _ = run(capsys, "journal", "events", "--journal", str(journal), "--last", "5")
    _, before, _ = run(capsys, "journal", "--journal", str(journal), "events", "--last", "5")
    assert plain == events == before and len(plain.splitlines()) == 7
    assert "Engine stopped." in plain
    _, with_data, _ = run(capsys, "journal", "events", "--journal", str(journal), "--last", "3", "--data")
    assert '{"e":"ALGO_UPDATE"' in with_data
