"""Photo to vector sketch (CLIPasso): saliency-placed strokes optimised against CLIP layer features.

- :mod:`~stylize.sketching.config`: :class:`SketchConfig` (the reference settings and their
  sources), presets, checks (no torch at import);
- :mod:`~stylize.sketching.saliency`: XDoG edges, ViT attention relevance, initial strokes;
- :mod:`~stylize.sketching.loss`: the geometric + semantic (+ text) loss of many sketches at once;
- :mod:`~stylize.sketching.order`: strokes in drawing order for the SVG;
- :mod:`~stylize.sketching.sketcher`: :class:`Sketcher`, the run owner.
"""

from stylize.sketching.config import SKETCH_PRESETS, SketchConfig, check_sketch_config, parse_strokes

__all__ = ["SKETCH_PRESETS", "SketchConfig", "check_sketch_config", "parse_strokes"]
