"""stylize.vector: vector scenes, a differentiable rasterizer and SVG I/O (CLIPDraw's substrate).

Names are imported on first use, so :mod:`stylize.vector.config` (presets) loads without torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "render": "raster",
    "VECTOR_RENDERERS": "renderer", "available_renderers": "renderer", "get_renderer": "renderer",
    "Scene": "scene", "VectorPath": "scene", "ellipse_contour": "scene", "polyline_contour": "scene",
    "random_strokes": "scene", "rect_contour": "scene",
    "SvgDocument": "svg", "load_svg": "svg", "read_svg": "svg", "save_svg": "svg", "svg_string": "svg",
}  # fmt: skip


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stylize.vector' has no attribute {name!r}")
    return getattr(importlib.import_module(f"stylize.vector.{module}"), name)


__all__ = sorted(_EXPORTS)
