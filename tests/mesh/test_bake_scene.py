"""Scene bakes (stylize.mesh.bake_scene): UV layouts as artists make them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylize import api
from stylize.mesh.io import load_mesh
from stylize.mesh.uv_layout import face_tiles
from tests.mesh.gltf_assets import write_scene

SMALL = {"iters": 2, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1, "output.preview_views": 2,
         "output.preview_size": 32, "output.turntable_frames": 2, "output.turntable_size": 32, "output.score_size": 32,
         "output.bake_size": 32}  # fmt: skip


def test_face_tiles():
    assert face_tiles(np.array([[[0.0, 1.0], [0.5, 0.0], [1.0, 0.5]]])).tolist() == [[0.0, 0.0]]
    assert face_tiles(np.array([[[0.1, 1.0005], [0.9, 1.9987], [0.5, 1.5]]])).tolist() == [[0.0, 1.0]]
    assert face_tiles(np.array([[[1.0, 0.0], [2.0, 0.0], [2.0, 1.0]]])).tolist() == [[1.0, 0.0]]  # UDIM 1002
    assert face_tiles(np.array([[[-0.5, 0.5], [-0.2, 0.5], [-0.4, 0.7]]])).tolist() == [[-1.0, 0.0]]


@pytest.mark.parametrize("mode", ["vertex", "surface"])
def test_uvs_one_tile_up_are_baked_into_their_tile(tmp_path, tiny_clip_spec, mode):
    """The best-known glTF sample asset keeps all its UVs one tile up (v in [1, 2]): legal with
    REPEAT, and it crashed both modes' bakes (a None texture reached the image writer)."""
    from tests.gltf_validation import assert_valid

    source = write_scene(tmp_path / "in", "glb", uv_tile=(0, 1))
    original = load_mesh(source, normalize=False)
    assert np.nanmin(1.0 - original.uv[:, 1]) >= 1.0  # glTF v all in [1, 2]
    result = api.stylize_mesh(source, "a red square", out=tmp_path / mode, preset="smoke",
                              overrides={"clip": [tiny_clip_spec], **SMALL, "field.mode": mode, "output.bake": True,
                                         "output.uv": "reuse"})  # fmt: skip
    assert result.status == "finished"
    assert json.loads((tmp_path / mode / "run.json").read_text())["status"] == "finished"
    baked = load_mesh(tmp_path / mode / "mesh_textured.glb", normalize=False)
    for index, material in enumerate(baked.materials):  # every material got its new texture
        assert material.base_color_texture.shape[:2] == (32, 32)
        assert not np.array_equal(material.base_color_texture[..., :3], original.materials[index].base_color_texture[..., :3])
    v = 1.0 - baked.uv[:, 1]
    assert np.nanmin(v) >= 0.0 and np.nanmax(v) <= 1.0  # written in tile (0, 0)
    np.testing.assert_allclose(baked.uv[:, 0], original.uv[:, 0], atol=1e-6)  # u untouched
    np.testing.assert_allclose(v, 1.0 - original.uv[:, 1] - 1.0, atol=1e-6)
    assert (tmp_path / mode / "textures" / "base_color.png").is_file()
    assert_valid(tmp_path / mode / "mesh_textured.glb")
