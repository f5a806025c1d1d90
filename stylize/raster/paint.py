"""Alias of :mod:`stylize.painting.painter` (the module's name before 0.2)."""

from stylize.painting.painter import PAINT_PRESETS, PaintConfig, Painter, PaintResult, check_paint_config  # noqa: F401
