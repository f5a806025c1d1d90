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

import importlib
from typing import Any

# The public names, each loaded from its module on first use, so that a caller that only writes
# SVG (a drawing run) does not load the importer, the CSS cascade and the paint servers.
_HOMES = {
    "MAX_CANVAS_PIXELS": "importer", "MAX_COORDINATE": "importer", "MAX_IMPORT_PATHS": "importer",
    "MAX_IMPORT_SEGMENTS": "importer", "MAX_NESTING": "importer", "MAX_VISITS": "importer",
    "MAX_XML_ELEMENTS": "importer", "MAX_SVG_BYTES": "read", "SvgDocument": "read", "load_svg": "read",
    "read_svg": "read", "save_svg": "write", "svg_string": "write",
}  # fmt: skip

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
