"""Make ``docs/images/pbr_maps.png`` (the maps a pbr bake writes) and ``docs/images/pbr_baked_render.png``
(the baked GLB rendered as a glTF viewer shades it).

It stylizes the shipped vase with ``--material pbr --field texture`` for a few iterations with the
committed *trainer* test CLIP (``tests/assets/clip/trainer``; real CLIP weights cannot be
downloaded here, so the look is whatever that tiny model pushes towards, not a real stylization),
then reads ``mesh_textured.glb`` back: the maps picture shows the base colour, roughness (the
metallic-roughness map's G), metalness (its B) and the tangent-space normal map side by side;
the render picture shows the GLB from four sides under the studio light
(:func:`stylize.mesh.pbr_material.render_metal_rough`: maps through the UVs, the normal map in
the ``TANGENT`` frame, glTF's BRDF).

Usage::

    python tools/docs/make_pbr_maps.py [--iters 60] [--out-dir docs/images]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--prompt", default="a red striped circle")
    parser.add_argument("--out-dir", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args()

    from PIL import Image

    from stylize import api
    from stylize.mesh.camera import orbit_views
    from stylize.mesh.gltf.asset import GltfAsset
    from stylize.mesh.pbr_material import render_metal_rough
    from stylize.mesh.renderer import get_renderer

    out_dir = Path(args.out_dir)
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        api.stylize_mesh(ROOT / "examples" / "meshes" / "vase.obj", args.prompt, out=run, preset="fast",
                         overrides={"clip": [f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"],
                                    "material": "pbr", "field.mode": "texture", "iters": args.iters,
                                    "output.bake_size": 512, "output.turntable_frames": 4})  # fmt: skip
        textures = {name: np.asarray(Image.open(run / "textures" / f"{name}.png").convert("RGB"))
                    for name in ("base_color", "metallic_roughness", "normal")}  # fmt: skip
        asset = GltfAsset(run / "mesh_textured.glb")
        primitive = asset.document["meshes"][0]["primitives"][0]
        data = {name: torch.as_tensor(asset.accessor(index), dtype=torch.float32)
                for name, index in primitive["attributes"].items()}  # fmt: skip
        faces = torch.as_tensor(np.asarray(asset.accessor(primitive["indices"])).reshape(-1, 3).astype(np.int64))
    roughness = np.repeat(textures["metallic_roughness"][..., 1:2], 3, axis=2)
    metallic = np.repeat(textures["metallic_roughness"][..., 2:3], 3, axis=2)
    gap = np.full((textures["base_color"].shape[0], 8, 3), 255, np.uint8)
    strip = np.concatenate([textures["base_color"], gap, roughness, gap, metallic, gap, textures["normal"]], axis=1)
    Image.fromarray(strip).save(out_dir / "pbr_maps.png", optimize=True)

    positions = data["POSITION"]
    center = (positions.max(0).values + positions.min(0).values) / 2
    scale = (positions - center).norm(dim=1).max()
    maps = {name: torch.as_tensor(image.copy(), dtype=torch.float32) / 255.0 for name, image in textures.items()}
    maps["normal"] = maps["normal"] * 2.0 - 1.0
    views = orbit_views(torch.arange(4, dtype=torch.float32) * (math.pi / 2) + 0.5, [0.35], radius=2.2)
    with torch.no_grad():
        images = render_metal_rough(get_renderer(height=256), (positions - center) / scale, faces, data["NORMAL"],
                                    data["TANGENT"], data["TEXCOORD_0"], maps, views)  # fmt: skip
    row = np.concatenate(list((images.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)), axis=1)
    Image.fromarray(row).save(out_dir / "pbr_baked_render.png", optimize=True)
    print(f"wrote {out_dir / 'pbr_maps.png'} and {out_dir / 'pbr_baked_render.png'}")


if __name__ == "__main__":
    main()
