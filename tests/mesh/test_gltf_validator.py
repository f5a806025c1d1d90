"""Every kind of GLB the toolkit writes passes the Khronos glTF validator (tools/dev/validate_gltf.mjs).

Kinds: the plain vertex-colour ``mesh.glb`` (save_mesh), the baked ``mesh_textured.glb``
(bake_mesh), and the structure-preserving scene output (write_scene_glb) with new base-colour
textures, and with normal maps + tangents. Each must have 0 errors and 0 warnings. Without node or
the npm package these tests skip with the install command; under CI they fail instead.
"""

from __future__ import annotations

import json
import struct

import gltf_validation
import numpy as np
import pytest
from gltf_validation import INSTALL, assert_valid, describe, require_validator, validate_gltf

from stylize.mesh.bake import bake_mesh
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.gltf.write import write_scene_glb
from stylize.mesh.io import load_mesh, save_mesh

from .gltf_assets import write_scene


def test_plain_vertex_colour_glb_is_valid(tmp_path):
    vertices, faces = make_icosphere(2)
    colors = np.random.default_rng(0).random((len(vertices), 3))
    report = assert_valid(save_mesh(tmp_path / "mesh.glb", vertices, faces, colors, metadata={"prompt": "a red circle"}))
    assert report["info"]["totalTriangleCount"] == len(faces)


def test_baked_textured_glb_is_valid(tmp_path):
    pytest.importorskip("xatlas")
    vertices, faces = make_icosphere(2)
    colors = np.random.default_rng(0).random((len(vertices), 3))
    bake_mesh(vertices, faces, colors, tmp_path / "mesh_textured.glb", size=128, metadata={"prompt": "a red circle"})
    report = assert_valid(tmp_path / "mesh_textured.glb")
    assert report["info"]["hasTextures"] and report["info"]["maxUVs"] == 1


@pytest.mark.parametrize("kind", ["glb", "gltf"])
def test_scene_output_with_new_textures_normal_maps_and_tangents_is_valid(tmp_path, kind):
    mesh = load_mesh(write_scene(tmp_path / "in", kind, twin=True), normalize=False)
    rng = np.random.default_rng(5)
    count = len(mesh.vertices)
    vertices = mesh.file_vertices + rng.normal(0, 0.02, (count, 3))
    normals = rng.normal(size=(count, 3))
    tangents = np.column_stack([rng.normal(size=(count, 3)), np.where(rng.random(count) < 0.5, -1.0, 1.0)])
    out = write_scene_glb(
        mesh, tmp_path / "scene_textured.glb", vertices, normals=normals, tangents=tangents,
        base_color_textures={0: rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), 1: rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)},
        normal_textures={0: np.full((16, 16, 3), [128, 128, 255], np.uint8)},
        vertex_colors=rng.random((count, 3)), metadata={"prompt": "a red circle", "seed": 1},
    )  # fmt: skip
    report = assert_valid(out)
    # Cap stays instanced (one mesh for both nodes): the validator counts 3 primitives to draw
    assert report["info"]["drawCallCount"] == 3 and report["info"]["materialCount"] == 2


def test_the_validator_does_report_errors(tmp_path):
    """The harness can fail: a GLB whose POSITION bounds lie is an error the validator names."""
    vertices, faces = make_icosphere(1)
    path = save_mesh(tmp_path / "mesh.glb", vertices, faces)
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack_from("<I", data, 12)
    document = json.loads(data[20 : 20 + length])
    document["accessors"][0]["max"] = [5.0, 5.0, 5.0]
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (length - len(text))
    assert len(text) == length  # same chunk size: only the bounds changed
    data[20 : 20 + length] = text
    broken = tmp_path / "broken.glb"
    broken.write_bytes(bytes(data))
    report = validate_gltf(broken)
    assert report["issues"]["numErrors"] > 0
    assert any("ACCESSOR_MAX_MISMATCH" in line for line in describe(report, 0))


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_validator_skips_on_a_workstation_and_fails_under_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(gltf_validation, "_unavailable", lambda: "node is not on PATH")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="install it from the repository root with: npm install") as info:
        require_validator()
    assert INSTALL in str(info.value)
