"""Each icon state is drawn distinctly, at the sizes trays ask for."""

from __future__ import annotations

import pytest

from traytrader.ui.icon import ARMED_RING, STYLES, draw_icon, render_all
from traytrader.ui.menu_model import IconState


@pytest.mark.parametrize("size", [16, 22, 32, 64])
def test_every_state_draws_an_rgba_square(size: int) -> None:
    for state in IconState:
        image = draw_icon(state, size)
        assert image.mode == "RGBA" and image.size == (size, size)
        assert image.getpixel((0, 0))[3] == 0  # transparent corner: a disc, not a square


def test_states_differ_by_background_colour() -> None:
    backgrounds = {style.background for style in STYLES.values()}
    assert len(backgrounds) == len(IconState)
    for state in IconState:
        # left edge of the disc, away from glyph and badge
        pixel = draw_icon(state, 64).getpixel((8, 32))
        assert max(abs(a - b) for a, b in zip(pixel[:3], STYLES[state].background, strict=True)) < 12, state


def test_badges_differ() -> None:
    badges = {state: draw_icon(state, 64).crop((31, 31, 62, 62)).tobytes() for state in IconState}
    assert len(set(badges.values())) == len(IconState)


def test_armed_ring_only_on_positions() -> None:
    long_armed = draw_icon(IconState.LONG, 64, armed=True).getpixel((3, 32))
    long_plain = draw_icon(IconState.LONG, 64, armed=False).getpixel((3, 32))
    assert max(abs(a - b) for a, b in zip(long_armed[:3], ARMED_RING, strict=True)) < 40
    assert long_armed != long_plain
    assert draw_icon(IconState.READY, 64, armed=True).tobytes() == draw_icon(IconState.READY, 64).tobytes()


def test_render_all_names_every_look() -> None:
    assert set(render_all(32)) == {s.value for s in IconState} | {"long-armed", "short-armed"}
