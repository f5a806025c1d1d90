"""Surface vs vertex mode on a mesh with too few vertices for a pattern, judged by the judge CLIP.

A 2-triangle square (4 vertices) is stylized towards a patterned prompt ("a blue striped square")
with the trainer test CLIP, once with the field evaluated at the vertices (``field.mode =
"vertex"``: 4 colours, interpolated) and once per pixel (``"surface"``). The judge then scores the
front view against the patterned caption and the plain one ("a blue square"); the *margin*
(patterned minus plain, 100 x cosine) says how much of the pattern it sees. Used by
``tools/bench/surface_pattern_check.py`` (figures and the README picture) and the suite.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stylize.engine import ClipEngine, ModelCache
from stylize.eval.ranking import caption_scores
from stylize.mesh.camera import orbit_views
from stylize.mesh.config import resolve_mesh_config
from stylize.mesh.io import load_mesh, save_mesh
from stylize.mesh.text2mesh import Text2MeshRun

__all__ = ["PatternResult", "pattern_run", "plain_caption"]

#: Front views of the square, a wide field with all frequencies: what lets a pattern form.
SETTINGS = {"views.center_azimuth": math.pi / 2, "views.center_elevation": 0.0, "views.std": 8.0,
            "field.geometry": False, "field.width": 128, "field.n_frequencies": 128, "field.sigma": 5.0,
            "loss.n_local_augs": 4}  # fmt: skip


@dataclass
class PatternResult:
    mode: str
    seed: int
    prompt: str
    margin: float  # judge: patterned caption minus plain caption, 100 x cosine
    scores: dict[str, float]
    seconds: float
    image: torch.Tensor  # (3, H, W) front view


def plain_caption(prompt: str) -> str:
    """``"a blue striped square"`` -> ``"a blue square"``."""
    words = prompt.split()
    return " ".join(words[:2] + words[3:]) if len(words) == 4 else prompt


def _square(folder: Path) -> Path:
    vertices = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float64)
    path = folder / "square.obj"
    save_mesh(path, vertices, np.array([[0, 1, 2], [0, 2, 3]]))
    return path


def pattern_run(
    mode: str,
    prompt: str,
    trainer: str,
    judge: ClipEngine,
    iters: int = 150,
    seed: int = 0,
    size: int = 64,
    model_cache: ModelCache | None = None,
) -> PatternResult:
    """Stylize the 4-vertex square in ``mode`` towards ``prompt`` with ``trainer``; judge its front view."""
    with tempfile.TemporaryDirectory() as folder:
        mesh = load_mesh(_square(Path(folder)))
    config = resolve_mesh_config(prompt, "smoke", None, {"clip": [trainer], "iters": iters, "field.mode": mode,
                                                         "seed": seed, "render_size": size, **SETTINGS})  # fmt: skip
    run = Text2MeshRun(mesh, config, model_cache=model_cache)
    started = time.perf_counter()
    run.run()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        image = run.render_views(orbit_views([math.pi / 2], [0.0]), size)
    plain = plain_caption(prompt)
    scores = caption_scores(judge, image, [prompt, plain])
    return PatternResult(mode, seed, prompt, 100.0 * (scores[prompt] - scores[plain]),
                         {k: 100.0 * v for k, v in scores.items()}, seconds, image[0].cpu())  # fmt: skip
