"""Channel bandwidth ratios (CBR): parsing, file-name tags, symbol counts, per-rate role keys.

The one source of truth for rates, used alike by the torch side (:mod:`gr_semcod.jscc.power`)
and the radio side (:mod:`gr_semcod.runtime`, the blocks).  Pure Python: no numpy, no torch.

The CBR is complex channel uses per real source sample, so an ``H x W x C`` image sends::

    k = round(CBR * H * W * C)          (half rounds up: k = floor(n + 1/2))

Accepted forms: ``"1/12"``, ``"1-12"`` (file-name form), ``"0.0833"`` / ``1/12`` (a decimal
is snapped to the nearest fraction with denominator <= 1000) and ``Fraction(1, 12)``.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Union

CBRLike = Union[str, float, int, Fraction]

#: the rates of the project (the Deep JSCC paper's 0.0208 ... 0.167)
STANDARD_CBRS = ("1/48", "1/24", "1/12", "1/6")

#: decimals snap to the nearest fraction with at most this denominator
MAX_DENOMINATOR = 1000


def parse_cbr(cbr: CBRLike) -> Fraction:
    """``"1/12"``, ``"1-12"``, ``"0.0833"``, ``1/12`` or ``Fraction(1, 12)`` -> ``Fraction(1, 12)``.

    Raises ``ValueError`` for text that is not a rate and for non-positive rates.
    """
    if isinstance(cbr, Fraction):
        f = cbr
    elif isinstance(cbr, str):
        s = cbr.strip()
        if s.count("-") == 1 and "/" not in s and not s.startswith("-"):  # "1-12"
            s = s.replace("-", "/")
        try:
            f = Fraction(s)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"CBR must be a fraction like '1/12' or a decimal, got {cbr!r}") from None
        if "." in s or "e" in s.lower():
            f = f.limit_denominator(MAX_DENOMINATOR)
    elif isinstance(cbr, (int, float)) and not isinstance(cbr, bool):
        f = Fraction(cbr).limit_denominator(MAX_DENOMINATOR)
    else:
        raise ValueError(f"CBR must be a fraction, a number or text, got {cbr!r}")
    if f <= 0:
        raise ValueError(f"CBR must be positive, got {cbr!r}")
    return f


def cbr_text(cbr: CBRLike) -> str:
    """Canonical text form: ``0.0833`` -> ``"1/12"`` (the manifest's and the metadata's form)."""
    f = parse_cbr(cbr)
    return f"{f.numerator}/{f.denominator}"


def cbr_tag(cbr: CBRLike) -> str:
    """File-name friendly form: ``Fraction(1, 12)`` -> ``"1-12"``."""
    f = parse_cbr(cbr)
    return f"{f.numerator}-{f.denominator}"


def num_symbols(cbr: CBRLike, height: int, width: int, channels: int = 3) -> int:
    """Complex channel symbols per image, ``k = floor(CBR * H * W * C + 1/2)``; ``ValueError`` if 0."""
    n = parse_cbr(cbr) * int(height) * int(width) * int(channels)
    k = int(n + Fraction(1, 2))  # floor for n >= 0
    if k < 1:
        raise ValueError(f"CBR {cbr} gives no channel symbols for a {height}x{width}x{channels} image")
    return k


def role_key(role: str, cbr: Union[None, CBRLike] = None) -> str:
    """Manifest key of a per-CBR model: ``role_key("jscc_encoder", "1-12") == "jscc_encoder@1/12"``."""
    if cbr is None:
        return role
    return f"{role}@{cbr_text(cbr)}"


def same_cbr(a: CBRLike, b: CBRLike) -> bool:
    """True when ``a`` and ``b`` name the same rate (``"1/12"`` vs ``"0.08333"``); False if either is not a rate."""
    try:
        return parse_cbr(a) == parse_cbr(b)
    except ValueError:
        return False
