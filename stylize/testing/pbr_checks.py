"""Measurements of the pbr material with the test CLIPs (issue 28).

- :func:`light_spread`: is the light kept out of the base colour? The baked base colour of a
  result, seen through its UVs from several views, against the same views lit (the baked GLB
  shaded as a glTF viewer would, :func:`~stylize.mesh.pbr_material.render_metal_rough`, under
  the studio light): the spread (standard deviation over the covered pixels, averaged over RGB)
  of the first should be a small share of the second's.
- :func:`finish_scores`: does a run look like the finish it was prompted with? The held-out
  judge ranks ``"a {finish} {colour} {shape}"`` against the other finishes and the other colours;
  the run's mean roughness and metalness say whether the maps moved the right way.

Runs are in memory (:func:`pbr_run`: a :class:`~stylize.mesh.text2mesh.Text2MeshRun` on a sphere
or a cube); ``tools/bench/pbr_light_check.py`` and ``tools/bench/pbr_finish_check.py`` print the
tables, and ``tests/mesh/test_pbr_checks.py`` runs reduced versions.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.engine import ClipEngine, ModelCache
from stylize.eval.ranking import caption_scores
from stylize.mesh.camera import CameraViews, orbit_views
from stylize.mesh.config import resolve_mesh_config
from stylize.mesh.text2mesh import Text2MeshRun
from stylize.testing.shapes import COLOURS

__all__ = ["FINISH_WORDS", "SHAPE_WORDS", "FinishResult", "finish_scores", "light_spread", "pbr_run", "shape_mesh"]

#: The finishes the v4 test CLIPs learn (stylize.testing.shapes.FINISHES once it lands).
FINISH_WORDS = ("matte", "glossy", "metallic")
#: The 2D shape word a 3D test shape is captioned with (the test CLIPs see a sphere as a circle).
SHAPE_WORDS = {"sphere": "circle", "cube": "square"}


def shape_mesh(shape: str, folder: str | Path) -> Path:
    """``sphere`` (an icosphere of 642 vertices) or ``cube`` (386 shared vertices, each side
    subdivided) written as ``folder/SHAPE.obj``."""
    import trimesh

    from stylize.mesh.geometry import make_cube, make_icosphere
    from stylize.mesh.io import save_mesh

    if shape == "sphere":
        vertices, faces = make_icosphere(3)
    elif shape == "cube":
        vertices, faces = make_cube(1.2)
        for _ in range(3):
            vertices, faces = trimesh.remesh.subdivide(vertices, faces)
    else:
        raise ValueError(f"expected a shape among {sorted(SHAPE_WORDS)}, got {shape!r}")
    return save_mesh(Path(folder) / f"{shape}.obj", np.asarray(vertices), np.asarray(faces))


def pbr_run(
    shape: str,
    prompt: str,
    trainer: str,
    seed: int = 0,
    preset: str = "fast",
    overrides: dict[str, Any] | None = None,
    model_cache: ModelCache | None = None,
) -> Text2MeshRun:
    """A finished pbr run on ``shape`` towards ``prompt``, optimised with ``trainer`` (``overrides``
    may name another material, e.g. ``diffuse`` for a control)."""
    from stylize.mesh.io import load_mesh

    with tempfile.TemporaryDirectory() as folder:
        mesh = load_mesh(shape_mesh(shape, folder))
    config = resolve_mesh_config(prompt, preset, None, {"clip": [trainer], "seed": seed, "material": "pbr",
                                                        **dict(overrides or {})})  # fmt: skip
    run = Text2MeshRun(mesh, config, model_cache=model_cache)
    started = time.perf_counter()
    run.run()
    run.seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    return run


def check_views(count: int = 8, elevation: float = 0.35, radius: float = 2.2) -> CameraViews:
    """``count`` views evenly around the object at one elevation (radians)."""
    azimuth = torch.arange(count, dtype=torch.float32) * (2 * math.pi / count) + 0.3
    return orbit_views(azimuth, [elevation], radius=radius)


@torch.no_grad()
def light_spread(run: Text2MeshRun, folder: str | Path, size: int = 128, bake_size: int = 256) -> dict[str, float]:
    """Bake ``run`` into ``folder/baked.glb`` and compare the spread of its base colour with the
    spread of its lit renders (see the module docstring). Both images come from the baked GLB
    through the same pixels, so only the light differs.

    Returns:
        ``{"base_color": spread, "lit": spread, "ratio": base_color / lit, "mean_rgb": [r, g, b]}``
        (spreads in sRGB units; ``mean_rgb`` the mean base colour of the covered pixels).
    """
    from stylize.mesh.bake import bake_mesh
    from stylize.mesh.gltf.asset import GltfAsset
    from stylize.mesh.outputs import bake_sources
    from stylize.mesh.pbr_material import render_metal_rough
    from stylize.mesh.renderer import get_renderer
    from stylize.mesh.shading import sample_texture_torch

    vertices, features = run.stylized_features()
    styled = run.styled
    feature_array = features.cpu().numpy()
    material_features = feature_array if styled.material.extra_channels else None
    source, normal_source = bake_sources(styled, False, feature_array)
    report = bake_mesh(vertices.cpu().numpy(), styled.faces.cpu().numpy(), feature_array[:, :3], Path(folder) / "baked.glb",
                       size=bake_size, source=source, normal_source=normal_source, material=styled.material,
                       features=material_features)  # fmt: skip
    asset = GltfAsset(report.path)
    primitive = asset.document["meshes"][0]["primitives"][0]
    data = {name: torch.as_tensor(asset.accessor(index), dtype=torch.float32) for name, index in primitive["attributes"].items()}
    faces = torch.as_tensor(np.asarray(asset.accessor(primitive["indices"])).reshape(-1, 3).astype(np.int64))
    maps = {name: torch.as_tensor(pixels, dtype=torch.float32) / 255.0 for name, pixels in report.maps.items()}
    if "normal" in maps:
        maps["normal"] = maps["normal"] * 2.0 - 1.0
    # A diffuse run (the control) has no tangents: its normal map is absent, so any frame does.
    tangents = data.get("TANGENT", torch.cat([torch.zeros_like(data["NORMAL"]), torch.ones_like(data["NORMAL"][:, :1])], 1))
    renderer, views = get_renderer(height=size), check_views()
    lit = render_metal_rough(renderer, data["POSITION"], faces, data["NORMAL"], tangents, data["TEXCOORD_0"], maps, views,
                             background=0.0)  # fmt: skip
    out = renderer(data["POSITION"], faces, data["TEXCOORD_0"], views)
    covered = out.face_index >= 0
    base = sample_texture_torch(maps["base_color"], out.features[covered])
    lit_pixels = lit.permute(0, 2, 3, 1)[covered]
    spread_base = float(base.std(dim=0).mean())
    spread_lit = float(lit_pixels.std(dim=0).mean())
    return {"base_color": spread_base, "lit": spread_lit, "ratio": spread_base / max(spread_lit, 1e-8),
            "mean_rgb": [round(float(v), 4) for v in base.mean(dim=0)]}  # fmt: skip


@dataclass
class FinishResult:
    """How the judge sees one run prompted ``a {finish} {colour} {shape}``.

    Attributes:
        finish_rank: 1-based rank of the prompted finish among :data:`FINISH_WORDS` (same colour
            and shape).
        colour_rank: 1-based rank of the prompted colour among the eight colours (same finish).
        roughness, metallic: the run's mean roughness and metalness over the surface (area-weighted).
        scores: judge score (100 x cosine) of each caption compared.
    """

    finish_rank: int
    colour_rank: int
    roughness: float
    metallic: float
    scores: dict[str, float]

    @property
    def right(self) -> bool:
        """The prompted finish ranked first, with the colour right."""
        return self.finish_rank == 1 and self.colour_rank == 1


def caption_of(finish: str, colour: str, shape: str) -> str:
    """``a glossy red circle``: the test CLIPs' caption of a finished 3D shape."""
    return f"a {finish} {colour} {SHAPE_WORDS.get(shape, shape)}"


@torch.no_grad()
def finish_scores(run: Text2MeshRun, judge: ClipEngine, finish: str, colour: str, shape: str, size: int = 224) -> FinishResult:
    """Judge ``run`` (rendered under the studio light from :func:`check_views`) against the other
    finishes and colours, and read its mean roughness and metalness."""
    images = run.render_views(check_views(), size)
    finishes = [caption_of(f, colour, shape) for f in FINISH_WORDS]
    colours = [caption_of(finish, c, shape) for c in COLOURS]
    scores = caption_scores(judge, images, list(dict.fromkeys(finishes + colours)))
    prompt = caption_of(finish, colour, shape)
    finish_rank = 1 + sum(scores[c] >= scores[prompt] for c in finishes if c != prompt)
    colour_rank = 1 + sum(scores[c] >= scores[prompt] for c in colours if c != prompt)
    _, features = run.stylized_features()
    vertices, faces = run.vertices, run.faces
    corners = vertices[faces]
    area = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]).norm(dim=-1) / 2
    weight = torch.zeros(len(vertices), device=vertices.device).index_add_(0, faces.reshape(-1), area.repeat_interleave(3))
    weight = weight / weight.sum()
    roughness = float((features[:, 3] * weight).sum())
    metallic = float((features[:, 4] * weight).sum())
    return FinishResult(finish_rank, colour_rank, roughness, metallic, {k: 100.0 * v for k, v in scores.items()})
