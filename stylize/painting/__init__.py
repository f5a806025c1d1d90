"""stylize.painting: CLIP-guided raster painting with pixel and FFT image parameterisations.

- :mod:`stylize.painting.config`: :class:`PaintConfig` and its presets (no torch at import).
- :mod:`stylize.painting.params`: the image parameterisations (``get_image("pixel" | "fft")``).
- :mod:`stylize.painting.painter`: :class:`Painter`, the run owner.
"""

from __future__ import annotations

import importlib

_EXPORTS = ("IMAGE_PARAMETERISATIONS", "FFTImage", "PixelImage", "get_image")


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stylize.painting' has no attribute {name!r}")
    return getattr(importlib.import_module("stylize.painting.params"), name)


__all__ = list(_EXPORTS)
