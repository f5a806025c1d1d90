"""What an SVG import leaves out or approximates: one warning per kind of feature per file."""

from __future__ import annotations

import logging

logger = logging.getLogger("stylize.vector.svg")

_WARNINGS = {
    "pattern": "patterns are drawn as the average colour of one tile",
    "group-opacity": "opacity on a group of overlapping children is applied to each child, so overlaps show through",
    "non-uniform": "strokes under a non-uniform scale or a skew are drawn with one width (the mean scale)",
    "dashes-too-fine": "stroke-dasharray would cut the stroke into more than 20,000 dashes: drawn solid",
    "markers": "markers are not supported: left out",
    "clip-nested": "clip-paths inside clip-paths are not intersected: the innermost one clips (or, on a clipPath, none)",
    "clip-text": "text in a clipPath is not imported: it clips nothing",
    "mask": "mask is not supported: drawn unmasked",
    "filter": "filter is not supported: drawn unfiltered",
    "text": "text elements are not imported",
    "image": "image elements are not imported",
    "foreignObject": "foreignObject elements are not imported",
    "use-cycle": "a use that references itself or an ancestor is in error: left out",
    "path-data": "invalid path data: drawn up to the error",
    "points": "invalid points: drawn up to the error",
    "transform": "invalid transform attribute: ignored",
    "linejoin": "stroke-linejoin miter-clip and arcs are drawn as miter",
    "css-at-rule": "CSS at-rules are not applied",
    "css-selector": "CSS rules with unsupported selectors are dropped",
}


class Report:
    """Unsupported features of one file, each said once with a count and the first occurrence."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.features: dict[str, list] = {}

    def __call__(self, feature: str, detail: str) -> None:
        entry = self.features.setdefault(feature, [0, detail])
        entry[0] += 1

    def flush(self) -> None:
        for feature, (count, detail) in self.features.items():
            times = "once" if count == 1 else f"{count} times"
            logger.warning("SVG %s: %s (%s; first: %s)", self.name, _WARNINGS[feature], times, detail)
