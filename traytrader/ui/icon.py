"""The tray icon, drawn with Pillow: one glyph (two candlesticks) on a coloured disc, plus a badge.

The drawing spec lives here as data (``STYLES``); ``assets/`` holds the rendered previews and the
script that renders them. Colour says the state at a glance, the badge says it to a colour-blind
user: a padlock (locked), three dots (connecting), a check (ready), a bolt (armed), an up or down
arrow (long / short) and an exclamation mark (error).

Armed or not must be told at a glance, at 16 pixels, whatever the position: when hotkeys are live
(ARMED, or a position while armed) the disc is filled with its colour; when a keypress would do
nothing (READY is "ready, disarmed"; a position while disarmed) the disc is hollow — a thick ring
of the colour around a dark centre. Filled means a key trades.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

from traytrader.ui.menu_model import IconState

RGB = tuple[int, int, int]

HOLLOW_CENTRE: RGB = (30, 41, 59)   # slate: dark on light and on dark panels alike
HOLLOW_RING_UNITS = 6                 # ring width on the 64-unit grid: a fifth of the radius

#: The looks that are hollow unless hotkeys are armed (READY is disarmed by definition).
HOLLOW_WHEN_DISARMED = frozenset({IconState.READY, IconState.LONG, IconState.SHORT})


@dataclass(frozen=True)
class IconStyle:
    background: RGB
    badge: str      # name of a badge drawer below
    badge_fill: RGB


STYLES: dict[IconState, IconStyle] = {
    IconState.LOCKED: IconStyle((100, 116, 139), "padlock", (226, 232, 240)),
    IconState.CONNECTING: IconStyle((217, 119, 6), "dots", (255, 251, 235)),
    IconState.READY: IconStyle((37, 99, 235), "check", (219, 234, 254)),
    IconState.ARMED: IconStyle((234, 88, 12), "bolt", (254, 240, 138)),
    IconState.LONG: IconStyle((22, 163, 74), "up", (220, 252, 231)),
    IconState.SHORT: IconStyle((220, 38, 38), "down", (254, 226, 226)),
    IconState.ERROR: IconStyle((30, 30, 30), "bang", (248, 113, 113)),
}

_SUPERSAMPLE = 4


def draw_icon(state: IconState, size: int = 64, *, armed: bool = False) -> Image.Image:
    """An RGBA square ``size`` pixels wide for this state (drawn 4x larger, then downsampled)."""
    style = STYLES[state]
    big = size * _SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = big / 64  # every coordinate below is on a 64-unit grid
    pad = 2 * unit
    draw.ellipse((pad, pad, big - pad, big - pad), fill=(*style.background, 255))
    if is_hollow(state, armed):
        ring = HOLLOW_RING_UNITS * unit
        draw.ellipse((pad + ring, pad + ring, big - pad - ring, big - pad - ring), fill=(*HOLLOW_CENTRE, 255))
    _draw_glyph(draw, unit)
    _BADGES[style.badge](draw, unit, style.badge_fill, style.background)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def is_hollow(state: IconState, armed: bool) -> bool:
    """True when a keypress would not trade in this look (drawn hollow)."""
    return state in HOLLOW_WHEN_DISARMED and not (armed and state is not IconState.READY)


def _draw_glyph(draw: ImageDraw.ImageDraw, u: float) -> None:
    """Two candlesticks, white: a short one and a tall one, the trader's universal sign."""
    white = (255, 255, 255, 255)
    for x, wick_top, body_top, body_bottom, wick_bottom in ((20, 14, 22, 38, 46), (34, 8, 14, 32, 40)):
        draw.line((x * u, wick_top * u, x * u, wick_bottom * u), fill=white, width=round(3 * u))
        draw.rectangle(((x - 5) * u, body_top * u, (x + 5) * u, body_bottom * u), fill=white)


def _badge_disc(draw: ImageDraw.ImageDraw, u: float, fill: RGB, ring: RGB) -> tuple[float, float, float]:
    cx, cy, r = 46 * u, 46 * u, 15 * u
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*fill, 255), outline=(*ring, 255),
                 width=round(3 * u))
    return cx, cy, r


def _padlock(draw: ImageDraw.ImageDraw, u: float, fill: RGB, ink: RGB) -> None:
    cx, cy, _ = _badge_disc(draw, u, fill, ink)
    draw.arc((cx - 5 * u, cy - 10 * u, cx + 5 * u, cy + 2 * u), 180, 360, fill=(*ink, 255),
             width=round(3 * u))
    draw.rectangle((cx - 7 * u, cy - 3 * u, cx + 7 * u, cy + 8 * u), fill=(*ink, 255))


def _dots(draw: ImageDraw.ImageDraw, u: float, fill: RGB, ink: RGB) -> None:
    cx, cy, _ = _badge_disc(draw, u, fill, ink)
    for dx in (-7, 0, 7):
        x = cx + dx * u
        draw.ellipse((x - 2.5 * u, cy - 2.5 * u, x + 2.5 * u, cy + 2.5 * u), fill=(*ink, 255))


def _check(draw: ImageDraw.ImageDraw, u: float, fill: RGB, ink: RGB) -> None:
    cx, cy, _ = _badge_disc(draw, u, fill, ink)
    points = [(cx - 7 * u, cy), (cx - 2 * u, cy + 6 * u), (cx + 8 * u, cy - 6 * u)]
    draw.line(points, fill=(*ink, 255), width=round(4 * u), joint="curve")


def _bolt(draw: ImageDraw.ImageDraw, u: float, fill: RGB, ink: RGB) -> None:
    cx, cy, _ = _badge_disc(draw, u, fill, ink)
    points = [(cx + 2 * u, cy - 11 * u), (cx - 6 * u, cy + 2 * u), (cx, cy + 2 * u),
              (cx - 2 * u, cy + 11 * u), (cx + 6 * u, cy - 2 * u), (cx, cy - 2 * u)]
    draw.polygon(points, fill=(*ink, 255))


def _up(draw: ImageDraw.ImageDraw, u: float, fill: RGB, ink: RGB) -> None:
    cx, cy, _ = _badge_disc(draw, u, fill, ink)
    draw.polygon([(cx, cy - 10 * u), (cx + 9 * u, cy + 1 * u), (cx - 9 * u, cy + 1 * u)], fill=(*ink, 255))
    draw.rectangle((cx - 3.5 * u, cy, cx + 3.5 * u, cy + 9 * u), fill=(*ink, 255))


def _down(draw: ImageDraw.ImageDraw, u: float, fill: RGB, ink: RGB) -> None:
    cx, cy, _ = _badge_disc(draw, u, fill, ink)
    draw.polygon([(cx, cy + 10 * u), (cx + 9 * u, cy - 1 * u), (cx - 9 * u, cy - 1 * u)], fill=(*ink, 255))
    draw.rectangle((cx - 3.5 * u, cy - 9 * u, cx + 3.5 * u, cy), fill=(*ink, 255))


def _bang(draw: ImageDraw.ImageDraw, u: float, fill: RGB, ink: RGB) -> None:
    cx, cy, _ = _badge_disc(draw, u, fill, (185, 28, 28))
    draw.rectangle((cx - 2.5 * u, cy - 10 * u, cx + 2.5 * u, cy + 3 * u), fill=(30, 30, 30, 255))
    draw.ellipse((cx - 2.5 * u, cy + 5 * u, cx + 2.5 * u, cy + 10 * u), fill=(30, 30, 30, 255))


_BADGES = {
    "padlock": _padlock, "dots": _dots, "check": _check, "bolt": _bolt,
    "up": _up, "down": _down, "bang": _bang,
}


def render_all(size: int = 64) -> dict[str, Image.Image]:
    """Every look, keyed by file stem (``armed``, ``long``, ``long-armed`` …), for ``assets/``."""
    images = {state.value: draw_icon(state, size) for state in IconState}
    images["long-armed"] = draw_icon(IconState.LONG, size, armed=True)
    images["short-armed"] = draw_icon(IconState.SHORT, size, armed=True)
    images["armed"] = draw_icon(IconState.ARMED, size, armed=True)
    return images
