"""One trade as a picture (Pillow only): the mark-price path across the trade, the entry, the stop as
a step line with each move labelled by its tier, take-profits, the exit, and the result in the title.

Two layouts from one drawing: the full one (800×400 and up: axes, labels, legend) for
``traytrader journal trade N --png`` and the trades page, and a compact one (below 480 px wide:
thick lines, the result in large type, no axes) for a notification's thumbnail, where thin lines
and small type would vanish. Dark and light themes. ``Chart`` keeps the scale, so a test can ask
where a price at a time was drawn and check the pixel there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from traytrader.core.trades import Trade, stop_path

COMPACT_BELOW_PX = 480


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    grid: str
    text: str
    muted: str
    price: str
    entry: str
    stop: str
    take_profit: str
    win: str
    loss: str


THEMES = {
    "dark": Theme("dark", "#16181d", "#2b2f38", "#e6e9ef", "#8b93a1", "#a9b4c2", "#4c9aff", "#ff9f1a",
                  "#2ecc71", "#2ecc71", "#ff5c5c"),
    "light": Theme("light", "#ffffff", "#e6e8ec", "#1f2430", "#6b7280", "#59606b", "#1d5fd8", "#d97706",
                   "#15803d", "#15803d", "#dc2626"),
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


@dataclass(frozen=True)
class Chart:
    """The picture and its scale: ``x(ms)`` and ``y(price)`` are pixel coordinates."""

    image: Image.Image
    theme: Theme
    left: int
    top: int
    right: int
    bottom: int
    start_ms: int
    end_ms: int
    low: Decimal
    high: Decimal
    labels: list[tuple[str, int, int]]   # the stop labels drawn: (text, x, y of the step)

    def x(self, at_ms: int) -> int:
        span = max(1, self.end_ms - self.start_ms)
        return round(self.left + (at_ms - self.start_ms) * (self.right - self.left) / span)

    def y(self, price: Decimal) -> int:
        span = (self.high - self.low) or Decimal(1)
        return round(self.bottom - float((price - self.low) / span) * (self.bottom - self.top))

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.image.save(target, "PNG", optimize=True)
        return target


def _fmt(price: Decimal) -> str:
    text = f"{price:,.8f}".rstrip("0").rstrip(".")
    if "." in text and len(text.split(".")[1]) > 4 and abs(price) >= 1:
        text = f"{price:,.2f}"
    return text


def _duration(ms: int) -> str:
    seconds = ms // 1000
    if seconds < 10:
        return f"{ms / 1000:.1f} s"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _tier_label(tier: int) -> str:
    return "S" if tier < 0 else f"T{tier}"


def title_of(trade: Trade) -> str:
    """``#3 BTCUSDT short · trailing stop · +2.07 USDT (+1.2%, 0.6 R)``."""
    head = f"#{trade.number} {trade.symbol} {trade.side_word}"
    if not trade.closed:
        return f"{head} · open"
    bits = [f"{trade.net_pnl:+.2f} USDT"]
    extra = []
    if trade.return_pct is not None:
        extra.append(f"{trade.return_pct:+.1f}%")
    if trade.r_multiple is not None:
        extra.append(f"{trade.r_multiple:.1f} R")
    if extra:
        bits.append(f"({', '.join(extra)})")
    return f"{head} · {trade.exit_reason.value} · {' '.join(bits)}"


def render(trade: Trade, *, width: int = 800, height: int = 400, theme: str = "dark") -> Chart:
    """Draw ``trade``; below ``COMPACT_BELOW_PX`` wide, the compact (thumbnail) layout."""
    colors = THEMES[theme]
    compact = width < COMPACT_BELOW_PX
    scale = max(1.0, width / 400) if not compact else max(1.0, width / 160)
    image = Image.new("RGB", (width, height), colors.background)
    draw = ImageDraw.Draw(image)
    title_size = round(height * (0.16 if compact else 0.05))
    small = _font(max(9, round(height * 0.032)))
    title_font = _font(max(10, title_size))
    top = title_size + round(height * (0.06 if compact else 0.1))
    left = round(width * (0.03 if compact else 0.02))
    right = width - round(width * (0.03 if compact else 0.13))
    bottom = height - round(height * (0.05 if compact else 0.1))

    points = _price_points(trade)
    stops = stop_path(trade)
    end_ms = trade.closed_ms if trade.closed_ms is not None else max(at for at, _ in points)
    prices = [p for _, p in points] + [level for _, level, _ in stops] + \
        [tp.trigger_price for tp in trade.take_profits]
    low, high = min(prices), max(prices)
    pad = (high - low) * Decimal("0.08") or max(abs(high) * Decimal("0.001"), Decimal("0.0001"))
    span_ms = max(1000, end_ms - trade.opened_ms)
    chart = Chart(image, colors, left, top, right, bottom, trade.opened_ms - span_ms // 20,
                  end_ms + span_ms // 20, low - pad, high + pad, [])

    pnl_color = colors.win if trade.closed and trade.net_pnl >= 0 else colors.loss
    if not trade.closed:
        pnl_color = colors.text
    line = max(1, round(1.2 * scale))

    if not compact:   # grid and price labels
        for index in range(5):
            price = chart.low + (chart.high - chart.low) * index / 4
            y = chart.y(price)
            draw.line([(left, y), (right, y)], fill=colors.grid, width=1)
            draw.text((right + 6, y), _fmt(price), fill=colors.muted, font=small, anchor="lm")
        middle_ms = (chart.start_ms + chart.end_ms) // 2
        for at_ms, anchor in ((chart.start_ms, "lt"), (middle_ms, "mt"), (chart.end_ms, "rt")):
            stamp = time.strftime("%H:%M:%S", time.localtime(at_ms / 1000))
            draw.text((chart.x(at_ms), bottom + 6), stamp, fill=colors.muted, font=small, anchor=anchor)

    entry_y = chart.y(trade.entry_price)   # the average entry, dashed across the chart
    _dashed(draw, left, right, entry_y, colors.entry, line, 8 * line)
    for tp in trade.take_profits:
        _dashed(draw, chart.x(tp.at_ms), right, chart.y(tp.trigger_price), colors.take_profit, line, 6 * line)

    path = [(chart.x(at), chart.y(price)) for at, price in points]
    if len(path) > 1:
        draw.line(path, fill=colors.price, width=max(1, line), joint="curve")

    stop_width = max(2, round(1.6 * scale))
    for index, (at, level, move) in enumerate(stops):
        x0 = chart.x(at)
        x1 = chart.x(stops[index + 1][0]) if index + 1 < len(stops) else chart.x(end_ms)
        y = chart.y(level)
        if index:
            draw.line([(x0, chart.y(stops[index - 1][1])), (x0, y)], fill=colors.stop, width=stop_width)
        draw.line([(x0, y), (max(x0, x1), y)], fill=colors.stop, width=stop_width)
        first_of_move = index == 0 or stops[index - 1][2] is not move
        if first_of_move and not compact:
            label = _tier_label(move.tier)
            below = trade.direction > 0   # on the far side from the price: under a long's stop
            offset = 4 if below else -4
            draw.text((x0 + 3, y + offset), label, fill=colors.stop, font=small,
                      anchor="lt" if below else "lb")
            chart.labels.append((label, x0, y))

    radius = max(3, round(3.5 * scale))
    for fill in reversed(trade.entries):   # each entry where it filled (scale-ins too); the first on top
        _dot(draw, chart.x(fill.at_ms), chart.y(fill.price), radius, colors.entry, colors.background)
    if trade.closed and trade.exit_price is not None:
        _dot(draw, chart.x(end_ms), chart.y(trade.exit_price), radius, pnl_color, colors.background)

    if compact:
        result = f"{trade.net_pnl:+.2f}" if trade.closed else "open"
        draw.text((left, round(height * 0.04)), result, fill=pnl_color, font=title_font, anchor="lt")
        tag = f"{trade.symbol} {trade.side_word}"
        draw.text((width - left, round(height * 0.04)), tag, fill=colors.muted,
                  font=_font(max(9, round(title_size * 0.55))), anchor="rt")
    else:
        draw.text((left, round(height * 0.03)), title_of(trade), fill=pnl_color, font=title_font, anchor="lt")
        subtitle = _subtitle(trade)
        draw.text((left, round(height * 0.03) + title_size + 4), subtitle, fill=colors.muted, font=small,
                  anchor="lt")
        _legend(draw, colors, right, round(height * 0.03), small, trade)
    return chart


def _subtitle(trade: Trade) -> str:
    bits = [f"{_fmt(trade.size)} {trade.symbol}", f"entry {_fmt(trade.entry_price)}"]
    if trade.exit_price is not None:
        bits.append(f"exit {_fmt(trade.exit_price)}")
    if trade.duration_ms is not None:
        bits.append(_duration(trade.duration_ms))
    if trade.highest_tier is not None:
        bits.append(f"tier {trade.highest_tier}")
    bits.append(f"fees {trade.fees:.2f} USDT")
    return " · ".join(bits)


def _legend(draw: ImageDraw.ImageDraw, colors: Theme, right: int, top: int,
            font: ImageFont.FreeTypeFont | ImageFont.ImageFont, trade: Trade) -> None:
    items = [("entry", colors.entry), ("stop", colors.stop)]
    if trade.take_profits:
        items.append(("take-profit", colors.take_profit))
    items.append(("mark", colors.price))
    x = right + 70
    for label, color in reversed(items):
        width = round(draw.textlength(label, font=font))
        x -= width
        draw.text((x, top), label, fill=color, font=font, anchor="lt")
        x -= 12


def _price_points(trade: Trade) -> list[tuple[int, Decimal]]:
    """The mark path, starting at the first entry and ending at the exit (old journals have no
    marks: then the fills alone)."""
    points = [(fill.at_ms, fill.price) for fill in trade.entries[:1]]
    points += [(at, price) for at, price in trade.marks if at >= trade.opened_ms and
               (trade.closed_ms is None or at <= trade.closed_ms)]
    points += [(fill.at_ms, fill.price) for fill in trade.entries[1:] + trade.exits]
    return sorted(points, key=lambda point: point[0])


def _dashed(draw: ImageDraw.ImageDraw, x0: int, x1: int, y: int, color: str, width: int, dash: int) -> None:
    x = x0
    while x < x1:
        draw.line([(x, y), (min(x + dash, x1), y)], fill=color, width=width)
        x += dash * 2


def _dot(draw: ImageDraw.ImageDraw, x: int, y: int, radius: int, color: str, ring: str) -> None:
    draw.ellipse([x - radius - 2, y - radius - 2, x + radius + 2, y + radius + 2], fill=ring)
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)


def save_trade_png(trade: Trade, path: str | Path, *, width: int = 800, height: int = 400,
                   theme: str = "dark") -> Path:
    return render(trade, width=width, height=height, theme=theme).save(path)
