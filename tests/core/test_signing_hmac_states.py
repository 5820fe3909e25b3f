"""The precomputed-state HMAC signer agrees with the standard library for every key length."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traytrader.core.signing import HmacSigner


@pytest.mark.parametrize("secret", ["k", "x" * 63, "y" * 64, "z" * 65, "s" * 200, "clé-ünïcode"])
def test_matches_hmac_module_across_key_lengths(secret: str) -> None:
    payload = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.002&timestamp=1764000000000"
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    assert HmacSigner(secret).sign(payload) == expected


@given(secret=st.text(min_size=1, max_size=150), payload=st.text(max_size=300))
def test_matches_hmac_module_for_any_text(secret: str, payload: str) -> None:
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    signer = HmacSigner(secret)
    assert signer.sign(payload) == expected
    assert signer.sign(payload) == expected   # the stored states are not consumed by a sign
