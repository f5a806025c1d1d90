"""Make ``docs/images/bake_preview.png``: a baked texture atlas next to renders of the textured GLB.

It paints ``examples/meshes/vase.obj`` with procedural stripes (standing in for an artist's own
vertex colours), stylizes only its upper part (a ``--mask`` ramp over the height) for a few
iterations with the committed *trainer* test CLIP (``tests/assets/clip/trainer``; real CLIP weights
cannot be downloaded here, so the colours are whatever that tiny model pushes towards, not a real
stylization), bakes the run's colours with ``--bake``, then loads ``mesh_textured.glb`` back through trimesh and renders it with the texture
looked up per pixel (UVs interpolated by the rasterizer, bilinear texture samples, Text2Mesh's
shading), beside the vertex-colour render of ``mesh.ply`` and the atlas itself.

Usage::

    python tools/docs/make_bake_preview.py [--out docs/images/bake_preview.png] [--iters 40]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]


def render_textured(glb: Path, normalization, size: int, azimuth: float) -> np.ndarray:
    """The textured GLB rendered with per-pixel texture lookups, ``(size, size, 3)`` in [0, 1]."""
    import trimesh

    from stylize.mesh.camera import orbit_views
    from stylize.mesh.lighting import TEXT2MESH_LIGHTS, spherical_harmonic_lighting
    from stylize.mesh.renderer import get_renderer as make_renderer
    from stylize.mesh.texture import sample_texture

    mesh = trimesh.load(glb, process=False, force="mesh")
    vertices = torch.as_tensor(normalization.apply(np.asarray(mesh.vertices)), dtype=torch.float32)
    faces = torch.as_tensor(np.asarray(mesh.faces), dtype=torch.int64)
    uv = np.asarray(mesh.visual.uv, dtype=np.float64).copy()
    uv[:, 1] = 1.0 - uv[:, 1]  # trimesh (v up) -> glTF (v down)
    features = torch.cat([torch.as_tensor(uv, dtype=torch.float32), torch.ones(len(uv), 1)], dim=1)
    views = orbit_views([azimuth], [0.35], radius=2.0)
    with torch.no_grad():
        out = make_renderer("torch", height=size)(vertices, faces, features, views)
        shade = spherical_harmonic_lighting(out.pixel_normals(), TEXT2MESH_LIGHTS)[0].numpy()
    pixel_uv, alpha = out.features[0, ..., :2].numpy(), out.features[0, ..., 2:].numpy()
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"))
    color = sample_texture(texture, pixel_uv.reshape(-1, 2)).reshape(size, size, 3)
    return np.clip(color * shade[..., None], 0, 1) * alpha + (1 - alpha)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "bake_preview.png"))
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--size", type=int, default=256, help="render size of each panel")
    parser.add_argument("--prompt", default="a blue circle")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from PIL import Image

    from stylize import api
    from stylize.mesh.camera import orbit_views
    from stylize.mesh.evaluate import render_mesh
    from stylize.mesh.io import load_mesh, save_mesh

    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        vase = load_mesh(ROOT / "examples" / "meshes" / "vase.obj", normalize=False)
        height = vase.file_vertices[:, 1]
        height = (height - height.min()) / np.ptp(height)
        stripes = (np.sin(height * 40.0) > 0)[:, None]
        colors = np.where(stripes, [0.93, 0.86, 0.70], [0.10, 0.35, 0.40])
        save_mesh(Path(folder) / "vase.ply", vase.file_vertices, vase.faces, colors)
        mask = np.clip((height - 0.45) / 0.15, 0.0, 1.0).astype(np.float32)
        api.stylize_mesh(Path(folder) / "vase.ply", args.prompt, out=run, preset="smoke", mask=mask,
                         overrides={"clip": [f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"],
                                    "iters": args.iters, "output.bake": True, "output.bake_size": 1024})  # fmt: skip
        source = load_mesh(Path(folder) / "vase.ply")
        start = time.perf_counter()
        panels = [render_textured(run / "mesh_textured.glb", source.normalization, args.size, a) for a in (0.6, 0.6 + math.pi)]
        coloured = load_mesh(run / "mesh.ply", normalize=False)
        coloured.vertices = source.normalization.apply(coloured.file_vertices).astype(np.float32)
        vertex_render = render_mesh(coloured, orbit_views([0.6], [0.35], radius=2.0), args.size)[0].permute(1, 2, 0).numpy()
        import trimesh

        atlas = trimesh.load(run / "mesh_textured.glb", process=False, force="mesh").visual.material.baseColorTexture
        atlas = np.asarray(atlas.convert("RGB").resize((args.size, args.size), Image.LANCZOS)) / 255.0
        print(f"rendered in {time.perf_counter() - start:.1f} s")
    row = np.concatenate([atlas, vertex_render, *panels], axis=1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(row, 0, 1) * 255 + 0.5).astype(np.uint8)).save(args.out, optimize=True)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB): atlas | vertex colours | textured GLB x 2")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
