"""SVG in and out for :class:`~stylize.vector.scene.Scene`.

- :mod:`stylize.vector.svg.read`: :func:`read_svg` / :func:`load_svg`, a file read the way an SVG
  renderer draws it, within size limits;
- :mod:`stylize.vector.svg.importer`: the document walked into scene paths (structure, geometry,
  paint, warnings), with :mod:`~stylize.vector.svg.style` and :mod:`~stylize.vector.svg.css` for
  the cascade, :mod:`~stylize.vector.svg.values` for attribute values,
  :mod:`~stylize.vector.svg.path` for geometry and :mod:`~stylize.vector.svg.paint` for gradients
  and patterns;
- :func:`svg_string` / :func:`save_svg`: a scene written as plain cubic paths.
"""

from stylize.vector.svg.read import SvgDocument, load_svg, read_svg, save_svg, svg_string

__all__ = ["SvgDocument", "load_svg", "read_svg", "save_svg", "svg_string"]
