"""One rates module for torch and numpy: the same parsing, the same symbol counts, the same role keys."""
from fractions import Fraction

import pytest

from gr_semcod import rates
from gr_semcod.runtime import bundle as rt_bundle
from gr_semcod.runtime import channels as rt_channels


def test_every_side_uses_the_same_functions():
    assert rt_channels.parse_cbr is rates.parse_cbr and rt_channels.num_symbols is rates.num_symbols
    assert rt_bundle.role_key is rates.role_key
    torch = pytest.importorskip("torch")  # noqa: F841
    from gr_semcod.jscc import power

    assert power.parse_cbr is rates.parse_cbr and power.num_symbols is rates.num_symbols
    assert power.cbr_tag is rates.cbr_tag


@pytest.mark.parametrize("text", ["1/12", " 1/12 ", "1-12", "0.0833", "0.083333", 1 / 12, Fraction(1, 12)])
def test_forms_of_one_twelfth(text):
    assert rates.parse_cbr(text) == Fraction(1, 12)
    # the two sides disagreed here: 16377 (exact 0.0833) vs 16384 (snapped to 1/12) at 256x256
    assert rates.num_symbols(text, 256, 256) == 16384
    assert rates.role_key("jscc_encoder", text) == "jscc_encoder@1/12"
    assert rates.cbr_tag(text) == "1-12" and rates.cbr_text(text) == "1/12"


def test_refused_rates():
    for bad in ("0", "-1/12", "fast", "1/0", None, True):
        with pytest.raises(ValueError):
            rates.parse_cbr(bad)
    with pytest.raises(ValueError, match="no channel symbols"):
        rates.num_symbols("1/1000", 2, 2, 1)
    assert rates.same_cbr("1/12", "0.08333") and not rates.same_cbr("1/12", "1/6") and not rates.same_cbr("x", "1/6")
