"""Each icon state is drawn distinctly, at the sizes trays ask for."""

from __future__ import annotations

import pytest
from PIL import Image

from traytrader.ui.icon import HOLLOW_CENTRE, STYLES, draw_icon, is_hollow, render_all
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
        # left edge of the disc (inside a hollow look's ring), away from glyph and badge
        pixel = draw_icon(state, 64).getpixel((5, 32))
        assert max(abs(a - b) for a, b in zip(pixel[:3], STYLES[state].background, strict=True)) < 12, state


def test_badges_differ() -> None:
    badges = {state: draw_icon(state, 64).crop((31, 31, 62, 62)).tobytes() for state in IconState}
    assert len(set(badges.values())) == len(IconState)


def share_of(image: Image.Image, colour: tuple[int, int, int]) -> float:
    """The share of the icon's opaque pixels that are ``colour`` (within a small distance)."""
    opaque = [p for p in image.convert("RGBA").get_flattened_data() if p[3] > 200]
    return sum(max(abs(a - b) for a, b in zip(p[:3], colour, strict=True)) < 40 for p in opaque) / len(opaque)


@pytest.mark.parametrize("size", [16, 22, 32])
def test_armed_and_disarmed_differ_at_a_glance_with_or_without_a_position(size: int) -> None:
    """Disarmed is hollow: at tray sizes over a quarter of the icon turns from the state's colour
    to the dark centre (the old thin ring changed a few edge pixels)."""
    for state, armed_look in ((IconState.LONG, IconState.LONG), (IconState.SHORT, IconState.SHORT),
                              (IconState.READY, IconState.ARMED)):
        armed = draw_icon(armed_look, size, armed=True)
        disarmed = draw_icon(state, size, armed=False)
        colour = STYLES[state].background
        assert share_of(armed, STYLES[armed_look].background) - share_of(disarmed, colour) > 0.25, state
        assert share_of(disarmed, HOLLOW_CENTRE) > 0.2 > share_of(armed, HOLLOW_CENTRE), state
    assert not is_hollow(IconState.ARMED, True) and is_hollow(IconState.READY, True)
    assert not is_hollow(IconState.LOCKED, False) and not is_hollow(IconState.ERROR, False)


def test_render_all_names_every_look() -> None:
    assert set(render_all(32)) == {s.value for s in IconState} | {"long-armed", "short-armed"}
