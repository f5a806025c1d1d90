"""A photo-to-sketch job (``stylize sketch IMAGE``, CLIPasso) as the worker runs it (no bpy).

The add-on sends a picture (an image file, or the active camera's render) and reads back
``sketch.svg``: an S x S canvas of open cubic Bezier strokes, each with its width and colour, in
drawing order. With several stroke counts (``4,8,16,32``) the run writes one SVG per level; the
add-on imports the largest (the ``done`` event's ``svg``); the job folder goes afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .jobs import JobError, JobSettings

# The toolkit's sketch presets as Blender enum items (a test checks they are exactly the toolkit's).
SKETCH_PRESETS = [
    ("fast", "Fast", "One ViT-B/32, one seed, 500 steps at most: minutes on a CPU"),
    ("clipasso", "CLIPasso", "CLIPasso's published settings (best of 3 seeds, 2000 steps at most)"),
    ("test", "Test", "Small and quick (96 px)"),
    ("smoke", "Smoke", "A tiny run to check the setup (64 px, seconds)"),
]
SKETCH_SOURCES = [
    ("FILE", "Image File", "Sketch an image file (placed at the 3D cursor, Size wide)"),
    ("CAMERA", "Camera", "Render the scene from the active camera (square) and sketch that, placed in front of the "
     "camera over what it draws"),
]  # fmt: skip
SKETCH_OUTPUTS = [
    ("CURVES", "Curves", "One curve per stroke: bevel = half the stroke's width, a material per colour"),
    ("GREASE_PENCIL", "Grease Pencil", "One Grease Pencil object: radius = half the stroke's width (Blender 4.3+)"),
]
MAX_STROKES = 2000  # the toolkit's limit per level


def parse_strokes(text: str) -> list[int]:
    """``"16"`` or ``"4, 8,16,32"`` -> sorted stroke counts without repeats.

    Raises:
        JobError: not a comma-separated list of positive whole numbers (at most :data:`MAX_STROKES`).
    """
    try:
        counts = sorted({int(part) for part in str(text).replace(" ", "").split(",") if part})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1 or counts[-1] > MAX_STROKES:
        raise JobError(f"strokes: expected a number of strokes such as 16, or levels such as 4,8,16,32, got {text!r}")
    return counts


@dataclass
class SketchJobSettings(JobSettings):
    """A sketch job: ``strokes`` is one count or a ladder (``"4,8,16,32"``); ``prompt`` is optional
    (text that steers the style); ``size`` and ``best_of`` 0 take the preset's. Sketching optimises
    with one CLIP (its layers are the loss): the first of ``clip``."""

    preset: str = "fast"
    strokes: str = "16"
    size: int = 0
    best_of: int = 0


def sketch_args(image: Path, out_dir: Path, settings: SketchJobSettings) -> list[str]:
    """``stylize sketch``'s arguments for one job (what the warm worker's request carries).

    Raises:
        JobError: unusable stroke counts.
    """
    strokes = ",".join(str(n) for n in parse_strokes(settings.strokes))
    argv = [str(image), "--out", str(out_dir), "--strokes", strokes, "--preset", settings.preset,
            "--seed", str(int(settings.seed)), "--progress", "json"]  # fmt: skip
    if settings.prompt.strip():
        argv += ["--prompt", settings.prompt.strip()]
    if settings.iterations > 0:
        argv += ["--iters", str(int(settings.iterations))]
    if settings.size > 0:
        argv += ["--size", str(int(settings.size))]
    if settings.best_of > 0:
        argv += ["--best-of", str(int(settings.best_of))]
    if settings.device != "auto":
        argv += ["--device", settings.device]
    if settings.clip:
        argv += ["--clip", settings.clip[0]]
    return argv


def sketch_svg(result: dict) -> Path:
    """The SVG a ``done`` event points at: its ``svg``, else the largest level's, else ``out/sketch.svg``."""
    if isinstance(result.get("svg"), str):
        return Path(result["svg"])
    levels = result.get("levels")
    if isinstance(levels, dict) and levels:
        return Path(levels[max(levels, key=lambda key: int(key))])
    return Path(result["out"]) / "sketch.svg"
