"""The trade picture is checked, not only written: at the entry, the stop and the exit, as the trade's
numbers place them on the chart's scale, the pixels are the colours those are drawn in — in both
themes, at 800×400 and at a notification's thumbnail size."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image, ImageColor

from traytrader.core.trades import Trade, stop_path, trades_from_rows
from traytrader.engine.journal import JournalEntry
from traytrader.trade_chart import THEMES, Chart, render, save_trade_png, title_of

DATA = Path(__file__).resolve().parents[1] / "data" / "trade_flows"


def trade_of(flow: str, number: int = 1) -> Trade:
    rows = [JournalEntry(**row) for row in json.loads((DATA / f"{flow}.json").read_text())["rows"]]
    return trades_from_rows(rows)[number - 1]


def count(image: Image.Image, color: str) -> int:
    wanted = ImageColor.getrgb(color)
    return sum(n for n, pixel in image.getcolors(image.width * image.height) or [] if pixel == wanted)


def near(chart: Chart, x: int, y: int, color: str, reach: int = 1) -> bool:
    """Is ``color`` drawn at (x, y) or a pixel next to it (rounding of a line's edge)?"""
    wanted = ImageColor.getrgb(color)
    image = chart.image
    return any(image.getpixel((x + dx, y + dy)) == wanted
               for dx in range(-reach, reach + 1) for dy in range(-reach, reach + 1)
               if 0 <= x + dx < image.width and 0 <= y + dy < image.height)


def longest_stop_step(trade: Trade) -> tuple[int, int, object]:
    """The (start ms, end ms, level) of the longest flat stretch of the stop."""
    path = stop_path(trade)
    end = trade.closed_ms or path[-1][0]
    spans = [(path[i][0], path[i + 1][0] if i + 1 < len(path) else end, path[i][1]) for i in range(len(path))]
    return max(spans, key=lambda span: span[1] - span[0])


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize(("width", "height"), [(800, 400), (360, 180)])
@pytest.mark.parametrize("flow", ["long_hard_stop", "short_trailing_stop", "long_scale_in_hard_stop"])
def test_entry_stop_and_exit_are_drawn_where_the_trade_puts_them(flow: str, theme: str, width: int,
                                                                  height: int) -> None:
    trade = trade_of(flow)
    chart = render(trade, width=width, height=height, theme=theme)
    colors = THEMES[theme]
    assert chart.image.size == (width, height)
    assert chart.image.getpixel((1, height - 2)) == ImageColor.getrgb(colors.background)

    for fill in trade.entries:   # each entry where it filled
        assert near(chart, chart.x(fill.at_ms), chart.y(fill.price), colors.entry)
    entry = (chart.x(trade.opened_ms), chart.y(trade.entry_price))   # and the average, dashed
    assert trade.exit_price is not None and trade.closed_ms is not None
    exit_color = colors.win if trade.net_pnl >= 0 else colors.loss
    assert near(chart, chart.x(trade.closed_ms), chart.y(trade.exit_price), exit_color)

    start, end, level = longest_stop_step(trade)
    middle = (chart.x((start + end) // 2), chart.y(level))   # type: ignore[arg-type]
    assert near(chart, *middle, colors.stop)
    # The entry line runs across the chart: the entry's colour half-way along it too (a dash
    # or the gap next to it: dashes are 8 line widths long).
    row = [chart.image.getpixel((x, entry[1])) for x in range(chart.left, chart.right)]
    assert row.count(ImageColor.getrgb(colors.entry)) > (chart.right - chart.left) // 4


def test_the_stop_sits_on_the_right_side_of_the_price() -> None:
    long_ = trade_of("long_hard_stop")
    chart = render(long_)
    level = longest_stop_step(long_)[2]
    assert chart.y(level) > chart.y(long_.entry_price), "a long's stop is below its entry"  # type: ignore[arg-type]
    short = trade_of("short_trailing_stop")
    chart = render(short)
    first_stop = stop_path(short)[0][1]
    assert chart.y(first_stop) < chart.y(short.entry_price), "a short's first stop is above its entry"


def test_the_title_says_the_result_in_its_colour() -> None:
    trade = trade_of("short_trailing_stop")
    assert title_of(trade).startswith("#1 BTCUSDT short · trailing stop · +")
    chart = render(trade, theme="light")
    title_band = chart.image.crop((0, 0, chart.image.width, chart.top - 20))
    assert count(title_band, THEMES["light"].win) > 50


def test_each_stop_move_is_labelled_with_its_tier() -> None:
    trade = trade_of("short_trailing_stop")
    chart = render(trade)
    assert [text for text, _, _ in chart.labels] == [f"T{m.tier}" for m in trade.stops] == ["T0", "T1", "T2"]
    firsts = {}
    for at, level, move in stop_path(trade):
        firsts.setdefault(id(move), (chart.x(at), chart.y(level)))
    assert [(x, y) for _, x, y in chart.labels] == list(firsts.values())
    for _, x, y in chart.labels:   # and the words are there, in the stop's colour, beside the step
        box = chart.image.crop((x + 3, y - 16, x + 20, y + 16))
        assert count(box, THEMES["dark"].stop) > 12
    assert render(trade, width=360, height=180).labels == [], "the thumbnail has no room for labels"


def test_a_trade_without_marks_or_stops_still_draws(tmp_path: Path) -> None:
    trade = trade_of("limit_long_close_key")
    bare = dataclasses.replace(trade, marks=(), stops=())
    path = save_trade_png(bare, tmp_path / "sub" / "t.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (800, 400)
