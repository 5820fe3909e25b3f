"""``FrameTemplate`` against ``FrameBuilder.build``: the same signed frame, byte for byte, for any
params and slot values (and the same JSON once an Ed25519 session is logged on)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traytrader.core.frames import FrameBuilder
from traytrader.core.models import ApiCredentials, KeyType
from traytrader.sim import DEMO_API_KEY, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM, DEMO_SECRET

HMAC = ApiCredentials("h", KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET)
ED25519 = ApiCredentials("e", KeyType.ED25519, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM)
names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="=&"),
                min_size=1, max_size=12).filter(lambda n: n not in ("apiKey", "timestamp", "signature",
                                                                    "recvWindow"))
values = st.text(min_size=0, max_size=20)   # braces, quotes, backslashes and non-ASCII included


@settings(max_examples=300, deadline=None)
@given(params=st.dictionaries(names, values, min_size=1, max_size=8), data=st.data(),
       recv_window=st.sampled_from([None, 5000]), timestamp=st.integers(0, 2**42),
       request_id=st.text(min_size=1, max_size=6))
def test_a_filled_template_is_the_frame_the_builder_builds(params: dict[str, str], data: st.DataObject,
                                                           recv_window: int | None, timestamp: int,
                                                           request_id: str) -> None:
    slots = tuple(data.draw(st.lists(st.sampled_from(sorted(params)), unique=True, max_size=3)))
    fixed = {name: value for name, value in params.items() if name not in slots}
    for credentials in (HMAC, ED25519):
        builder = FrameBuilder(credentials, recv_window=recv_window)
        template = builder.template("order.place", fixed, slots)
        filled = tuple(params[name] for name in slots)
        for logged_on in (False, True):
            builder.logged_on = logged_on
            built = builder.build(request_id, "order.place", params, timestamp)
            made = template.fill(request_id, filled, timestamp)
            if builder.signs_each_request:
                assert made == built
            else:
                assert json.loads(made) == json.loads(built)


def test_reserved_or_repeated_names_are_refused() -> None:
    builder = FrameBuilder(HMAC)
    for fixed, slots in (({"timestamp": "1"}, ()), ({}, ("apiKey",)), ({"a": "1"}, ("a",)), ({}, ("b", "b"))):
        with pytest.raises(ValueError):
            builder.template("order.place", fixed, slots)
