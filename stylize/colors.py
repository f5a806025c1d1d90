"""Colour values as users write them: hex colours (``"#aa3300"``, ``"a30"``), ``white`` and
``black``, and comma-separated lists of them (palettes). Used by every generator (drawing
backgrounds and palettes, painting canvases).

The SVG reader has its own, wider colour grammar (CSS names, ``rgb()``, ``currentColor``):
:func:`stylize.vector.svg.values.parse_color`.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from stylize.errors import InputError

__all__ = ["parse_color", "parse_palette"]

_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def parse_color(text: str) -> tuple[float, float, float]:
    """``"#aa3300"``, ``"a30"`` or ``"white"``/``"black"`` -> RGB in [0, 1].

    Raises:
        InputError: the text is not a hex colour.
    """
    named = {"white": "#ffffff", "black": "#000000"}
    value = named.get(str(text).strip().lower(), str(text).strip())
    match = _HEX.match(value)
    if not match:
        raise InputError(f"bad colour {text!r}: expected a hex colour such as #aa3300")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def parse_palette(text: str) -> Tensor:
    """A comma-separated list of hex colours -> (K, 3).

    Raises:
        InputError: an empty list or a malformed colour (the message names it).
    """
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise InputError(f"bad palette {text!r}: expected comma-separated hex colours such as #aa3300,#ffffff")
    try:
        return torch.tensor([parse_color(item) for item in items])
    except InputError as exc:
        raise InputError(f"bad palette {text!r}: {exc}") from None
