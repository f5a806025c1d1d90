"""Judge a mesh (or a run folder) with a CLIP it was not trained with.

``mes`` is 100 x the mean cosine similarity between the prompt and each of the 24 views of
:func:`~stylize.mesh.camera.grid_views` (8 azimuths x elevations -30/0/30 degrees, radius 2.5,
field of view 45 degrees), rendered with Text2Mesh's shading on a white background. A mesh
without vertex colours is rendered grey (0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from stylize.engine import ClipEngine
from stylize.errors import InputError
from stylize.eval.ranking import caption_rank, caption_scores
from stylize.mesh.camera import CameraViews, grid_views
from stylize.mesh.io import LoadedMesh
from stylize.mesh.renderer import get_renderer
from stylize.mesh.shading import render_deferred, render_shaded
from stylize.mesh.surface import TextureSet

__all__ = ["judge_views", "mesh_path_of", "render_mesh", "save_mesh_preview", "score_mesh"]

GREY = 0.5


def mesh_path_of(path: str | Path) -> Path:
    """A mesh file itself, or ``mesh.glb`` (then ``.ply``, ``.obj``) inside a run folder."""
    path = Path(path)
    if path.is_dir():
        from stylize.runs import read_run

        read_run(path, "write its meshes")
        for name in ("mesh.glb", "mesh.ply", "mesh.obj"):
            if (path / name).is_file():
                return path / name
        raise InputError(f"{path} is a folder without mesh.glb, mesh.ply or mesh.obj: expected a mesh or a run folder")
    return path


@torch.no_grad()
def render_mesh(mesh: LoadedMesh, views: CameraViews, size: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Shaded renders ``(B, 3, size, size)`` of a loaded (normalised) mesh: a textured mesh with its
    base-colour textures sampled per pixel through its UVs (as a viewer shows it, not reduced to
    vertex colours), else its vertex colours; grey without either."""
    vertices, faces, colors = mesh.to_torch(device)
    renderer = get_renderer("torch", height=size)
    textures = TextureSet.from_mesh(mesh, device)
    if textures is not None:
        return render_deferred(renderer, vertices, faces, textures.attributes(), textures.sample, views)
    if colors is None:
        colors = torch.full_like(vertices, GREY)
    return render_shaded(renderer, vertices, faces, colors, views)


def save_mesh_preview(mesh_path: str | Path, out: str | Path, size: int = 256, views: int = 4) -> Path:
    """Write a picture of a mesh file as a viewer shows it (textures through their UVs): ``views``
    renders around it at 20 degrees elevation, side by side, PNG written atomically."""
    import math

    from stylize.images import image_grid, save_image
    from stylize.mesh.camera import framing_distance, orbit_views
    from stylize.mesh.io import load_mesh

    mesh = load_mesh(mesh_path, normalize=True)
    azimuth = torch.arange(views, dtype=torch.float32) * (2 * math.pi / views) + math.radians(30)
    fov = math.radians(45)
    # The whole object in view, with a margin: a unit sphere seen from 2.5 at 45 degrees is cut.
    extent = float(torch.as_tensor(mesh.vertices).norm(dim=-1).max())
    radius = max(2.5, framing_distance(extent, fov, margin=1.08))
    images = render_mesh(mesh, orbit_views(azimuth, [math.radians(20)], radius=radius, fov=fov), size)
    return save_image(Path(out), image_grid(list(images), columns=views))


def judge_views() -> CameraViews:
    """The 24 evaluation views."""
    return grid_views()


@torch.no_grad()
def score_mesh(
    mesh: LoadedMesh,
    prompt: str,
    judge: ClipEngine,
    captions: Sequence[str] = (),
    size: int = 224,
) -> dict:
    """``{"mes": ..., "views": 24, ...}`` plus caption scores and ranking when captions are given."""
    images = render_mesh(mesh, judge_views(), size, judge.device)
    embeddings = judge.encode(images)  # the 24 views in one batch per model (chunked by clip_batch only)
    per_view = torch.stack(
        [emb @ judge.embeddings.text(model, [prompt])[0] for model, emb in zip(judge.clip_models, embeddings, strict=False)]
    )
    result: dict = {"mes": 100.0 * float(per_view.mean()), "prompt": prompt, "views": int(images.shape[0])}
    if captions:
        candidates = list(dict.fromkeys([*captions, prompt]))
        scores = caption_scores(judge, None, candidates, embeddings=embeddings)
        result["captions"] = {c: round(100.0 * s, 4) for c, s in scores.items()}
        result["ranking"] = sorted(scores, key=scores.get, reverse=True)
        result["rank"] = caption_rank(scores, prompt)
    return result
