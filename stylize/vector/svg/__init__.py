"""SVG in and out for :class:`~stylize.vector.scene.Scene`.

- :mod:`stylize.vector.svg.read`: :func:`read_svg` / :func:`load_svg`, a file read the way an SVG
  renderer draws it, within size limits;
- :mod:`stylize.vector.svg.importer`: the document walked into scene paths (structure, geometry,
  paint, warnings), with :mod:`~stylize.vector.svg.style` and :mod:`~stylize.vector.svg.css` for
  the cascade, :mod:`~stylize.vector.svg.values` for attribute values,
  :mod:`~stylize.vector.svg.path` for geometry and :mod:`~stylize.vector.svg.paint` for gradients
  and patterns; the size limits (``MAX_*``) are read from the modules that check them, so
  patch them there;
- :mod:`stylize.vector.svg.write`: :func:`svg_string` / :func:`save_svg`, a scene written as
  plain cubic paths.
"""

from stylize.vector.svg.importer import (
    MAX_CANVAS_PIXELS,
    MAX_COORDINATE,
    MAX_IMPORT_PATHS,
    MAX_IMPORT_SEGMENTS,
    MAX_NESTING,
    MAX_VISITS,
    MAX_XML_ELEMENTS,
)
from stylize.vector.svg.read import MAX_SVG_BYTES, SvgDocument, load_svg, read_svg
from stylize.vector.svg.write import save_svg, svg_string

__all__ = [
    "MAX_CANVAS_PIXELS",
    "MAX_COORDINATE",
    "MAX_IMPORT_PATHS",
    "MAX_IMPORT_SEGMENTS",
    "MAX_NESTING",
    "MAX_SVG_BYTES",
    "MAX_VISITS",
    "MAX_XML_ELEMENTS",
    "SvgDocument",
    "load_svg",
    "read_svg",
    "save_svg",
    "svg_string",
]
