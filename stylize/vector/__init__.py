"""stylize.vector: vector scenes, a differentiable rasterizer and SVG I/O (CLIPDraw's substrate)."""

from stylize.vector.raster import VECTOR_RENDERERS, available_renderers, get_renderer, render
from stylize.vector.scene import (
    Scene,
    VectorPath,
    ellipse_contour,
    polyline_contour,
    random_strokes,
    rect_contour,
)
from stylize.vector.svg import SvgDocument, load_svg, read_svg, save_svg, svg_string

__all__ = [
    "VECTOR_RENDERERS", "Scene", "SvgDocument", "VectorPath", "available_renderers", "ellipse_contour",
    "get_renderer", "load_svg", "polyline_contour", "random_strokes", "read_svg", "rect_contour", "render",
    "save_svg", "svg_string",
]  # fmt: skip
