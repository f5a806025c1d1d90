"""Seed robustness of Text2Mesh as a measured figure, judged by a CLIP it was not trained with.

One *case* is a Text2Mesh run (a preset, a primitive, a colour, a seed) with the training CLIP on
the prompt ``"a {colour} {noun}"`` (``circle`` for the sphere, ``square`` for the cube). The judge
then scores the result over :func:`judge_views` against the eight colour captions
``"a {c} {noun}"`` (mean embedding of the views, as :func:`~stylize.eval.caption_scores`); the case
succeeds when the prompted colour ranks first. The judge never takes part in training.

Used by ``tools/bench/seed_robustness.py`` (all 8 colours x 5 seeds, per preset) and, reduced, by the test
suite (``tests/testing/test_robustness.py``).

Example:
    >>> cases = [RobustnessCase("fast", "sphere", "blue", seed) for seed in range(2)]
    >>> results = [run_case(c, trainer="local-dir:tests/assets/clip/trainer", judge=judge) for c in cases]
    >>> success_rate(results)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from stylize.engine import ClipEngine, ModelCache
from stylize.eval.ranking import caption_scores
from stylize.mesh.camera import CameraViews, orbit_views
from stylize.mesh.config import resolve_mesh_config
from stylize.mesh.evaluate import render_mesh
from stylize.mesh.geometry import make_cube, make_icosphere, normalize_vertices
from stylize.mesh.io import LoadedMesh
from stylize.mesh.text2mesh import Text2MeshRun
from stylize.testing.shapes import COLOURS

__all__ = [
    "PRIMITIVES", "RobustnessCase", "RobustnessResult", "judge_views", "primitive_mesh", "run_case", "success_rate",
]  # fmt: skip

logger = logging.getLogger(__name__)

# primitive -> (mesh maker, caption noun)
PRIMITIVES: Mapping[str, tuple[Callable[[], tuple[np.ndarray, np.ndarray]], str]] = {
    "sphere": (lambda: make_icosphere(3), "circle"),
    "cube": (lambda: make_cube(1.0), "square"),
}


def primitive_mesh(name: str) -> LoadedMesh:
    """A normalised :class:`LoadedMesh` of a primitive of :data:`PRIMITIVES` (no colours)."""
    if name not in PRIMITIVES:
        raise ValueError(f"expected a primitive among {sorted(PRIMITIVES)}, got {name!r}")
    vertices, faces = PRIMITIVES[name][0]()
    vertices, normalization = normalize_vertices(vertices)
    return LoadedMesh(vertices.astype(np.float32), faces, None, normalization)


def judge_views(n_azimuths: int = 8) -> CameraViews:
    """``n_azimuths`` views all around the mesh at 20 and -10 degrees elevation (radius 2)."""
    azimuth = torch.arange(n_azimuths, dtype=torch.float32) * (2 * math.pi / n_azimuths)
    elevation = torch.tensor([math.radians(20.0), math.radians(-10.0)])
    grid_elevation, grid_azimuth = torch.meshgrid(elevation, azimuth, indexing="ij")
    return orbit_views(grid_azimuth.reshape(-1), grid_elevation.reshape(-1))


@dataclass(frozen=True)
class RobustnessCase:
    """One run: ``preset`` on ``primitive`` (a key of :data:`PRIMITIVES`) for ``colour``, ``seed``."""

    preset: str
    primitive: str
    colour: str
    seed: int

    @property
    def noun(self) -> str:
        return PRIMITIVES[self.primitive][1]

    @property
    def prompt(self) -> str:
        return f"a {self.colour} {self.noun}"


@dataclass
class RobustnessResult:
    """What one case gave.

    Attributes:
        case: the run.
        iters: iterations run.
        winner: the colour whose caption the judge scored highest at the end.
        success: ``winner == case.colour``.
        mean_colour: mean vertex colour (r, g, b) at the end.
        scores: judge score (cosine) of each colour caption at the end.
        checkpoints: ``{iteration: winner}`` at intermediate iterations (to see when runs settle).
        seconds: wall time of the run.
    """

    case: RobustnessCase
    iters: int
    winner: str
    success: bool
    mean_colour: tuple[float, float, float]
    scores: dict[str, float]
    checkpoints: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    best_of: int = 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["case"] = asdict(self.case)
        return out


@torch.no_grad()
def judged_colour(
    judge: ClipEngine, mesh: LoadedMesh, noun: str, size: int = 64, views: CameraViews | None = None
) -> tuple[str, dict[str, float]]:
    """The colour whose ``"a {colour} {noun}"`` caption the judge ranks first for ``mesh``, and all scores."""
    captions = [f"a {colour} {noun}" for colour in COLOURS]
    images = render_mesh(mesh, views if views is not None else judge_views(), size, judge.device)
    scores = caption_scores(judge, images, captions)
    by_colour = {colour: scores[caption] for colour, caption in zip(COLOURS, captions, strict=False)}
    return max(by_colour, key=by_colour.get), by_colour


def run_case(
    case: RobustnessCase,
    trainer: str,
    judge: ClipEngine,
    iters: int | None = None,
    size: int = 64,
    n_views: int = 3,
    checkpoints: Sequence[int] = (),
    model_cache: ModelCache | None = None,
    overrides: Mapping[str, Any] | None = None,
    best_of: int = 1,
) -> RobustnessResult:
    """Run ``case`` with the ``trainer`` CLIP spec on the CPU and judge it.

    Args:
        case: preset, primitive, colour, seed.
        trainer: CLIP spec the run optimises against.
        judge: the scoring engine (another CLIP).
        iters: iterations (default: the preset's). ``fast`` decays its learning rate per step, so a
            shorter run is the start of the full one.
        size: render size for training and judging.
        n_views: training views per iteration.
        checkpoints: iterations at which the judge's winner is also recorded.
        model_cache: shared loaded models.
        overrides: further config overrides (to try preset candidates).
        best_of: train this many candidates (seeds ``seed``, ``seed + 1``, ...) for the warm-up
            and finish the one the *training* CLIP scores best (``stylize mesh --best-of``); the
            judge sees only the finished one. No checkpoints then.
    """
    mesh = primitive_mesh(case.primitive)
    settings: dict[str, Any] = {"clip": [trainer], "render_size": size, "views.n_views": n_views, "device": "cpu",
                                "seed": case.seed, **(overrides or {})}  # fmt: skip
    if iters is not None:
        settings["iters"] = iters
    if best_of > 1:
        return _run_best_of(case, mesh, settings, judge, size, model_cache, best_of)
    config = resolve_mesh_config(case.prompt, case.preset, None, settings)
    run = Text2MeshRun(mesh, config, model_cache=model_cache)
    seen: dict[int, str] = {}

    def stylized_mesh() -> LoadedMesh:
        vertices, colors = run.stylized()
        return LoadedMesh(vertices.numpy(), mesh.faces, colors.numpy(), mesh.normalization)

    def on_step(step: int, total: int, metrics: dict) -> None:
        if step in checkpoints and step < total:
            seen[step] = judged_colour(judge, stylized_mesh(), case.noun, size)[0]

    started = time.perf_counter()
    run.run(on_step=on_step)
    final = stylized_mesh()
    winner, scores = judged_colour(judge, final, case.noun, size)
    seen[config.iters] = winner
    seconds = time.perf_counter() - started
    mean = tuple(round(float(c), 4) for c in final.colors.mean(0))
    logger.info("%s seed %d %s: judge says %s (mean colour %s, %.0f s)", case.primitive, case.seed, case.prompt, winner,
                mean, seconds)  # fmt: skip
    return RobustnessResult(case, config.iters, winner, winner == case.colour, mean, scores, seen, round(seconds, 1))


def _run_best_of(case, mesh, settings, judge, size, model_cache, best_of) -> RobustnessResult:
    """The ``best_of`` path goes through the run owner (:class:`stylize.mesh.run.Text2Mesh`), as
    ``stylize mesh --best-of`` does; it reads a file, so the primitive is written to one."""
    import tempfile
    from pathlib import Path

    from stylize.mesh.io import save_mesh
    from stylize.mesh.run import Text2Mesh

    config = resolve_mesh_config(case.prompt, case.preset, None, {**settings, "best_of": best_of})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{case.primitive}.ply"
        save_mesh(path, mesh.vertices, mesh.faces)
        result = Text2Mesh(config, path, model_cache=model_cache).run(out=None)
    # the primitive is already normalised, so the file frame is the normalised frame
    final = LoadedMesh(result.vertices.astype(np.float32), mesh.faces, result.colors.astype(np.float32), mesh.normalization)
    winner, scores = judged_colour(judge, final, case.noun, size)
    seconds = time.perf_counter() - started
    mean = tuple(round(float(c), 4) for c in final.colors.mean(0))
    return RobustnessResult(case, config.iters, winner, winner == case.colour, mean, scores, {config.iters: winner},
                            round(seconds, 1), best_of)  # fmt: skip


def success_rate(results: Sequence[RobustnessResult]) -> float:
    """Fraction of results whose prompted colour the judge ranked first."""
    if not results:
        raise ValueError("expected at least one result")
    return sum(r.success for r in results) / len(results)
