"""The material's meaning (stylize.mesh.gltf.materials): spec-gloss written as metallic-roughness,
the kept-maps policy around a new base colour, tangents for every normal map."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from stylize.errors import InputError
from stylize.mesh.bake_scene import bake_scene
from stylize.mesh.config import KEEPABLE_MAPS, parse_keep_maps
from stylize.mesh.gltf.glb import read_glb
from stylize.mesh.gltf.materials import follows_picture
from stylize.mesh.io import load_mesh
from tests.mesh.gltf_assets import PAINTED, _Buffer, glb_bytes, png_bytes, split_cube

LOGO = np.zeros((16, 16, 3), np.uint8)
LOGO[4:12, 4:12] = [250, 240, 10]  # a yellow square on black: the old picture


def _document(material: dict, images: list[np.ndarray], extensions: list[str] = ()) -> bytes:
    """A split cube with one material (its texture infos index ``images`` in order)."""
    cube = split_cube()
    buf = _Buffer()
    attributes = {name: buf.accessor(cube[name], {2: "VEC2", 3: "VEC3"}[cube[name].shape[1]], 5126, name == "POSITION")
                  for name in ("POSITION", "NORMAL", "TEXCOORD_0")}  # fmt: skip
    indices = buf.accessor(cube["faces"].reshape(-1).astype(np.uint16), "SCALAR", 5123, target=34963)
    views = [buf.view(png_bytes(pixels)) for pixels in images]
    document = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "Box"}],
        "meshes": [{"primitives": [{"attributes": attributes, "indices": indices, "material": 0}]}],
        "materials": [material], "textures": [{"source": i} for i in range(len(images))],
        "images": [{"bufferView": v, "mimeType": "image/png"} for v in views],
        "accessors": buf.accessors, "bufferViews": buf.views, "buffers": [{"byteLength": len(buf.data)}],
    }  # fmt: skip
    if extensions:
        document["extensionsUsed"] = list(extensions)
    return glb_bytes(document, bytes(buf.data))


def _bake(tmp_path, raw: bytes, **options) -> tuple[dict, object]:
    source = tmp_path / "in.glb"
    source.write_bytes(raw)
    mesh = load_mesh(source, normalize=False)
    out = tmp_path / "out.glb"
    colors = np.random.default_rng(0).uniform(0, 1, (len(mesh.vertices), 3))
    bake_scene(mesh, mesh.file_vertices, colors, out, size=32, uv="reuse", **options)
    return read_glb(out.read_bytes())[0], mesh


def test_keep_maps_values():
    assert parse_keep_maps("auto") == "auto"
    assert parse_keep_maps("all") == KEEPABLE_MAPS and parse_keep_maps("none") == ()
    assert parse_keep_maps("normal, occlusion") == ("normal", "occlusion")
    assert parse_keep_maps(["emissive"]) == ("emissive",)
    with pytest.raises(InputError, match="unknown map 'logo'"):
        parse_keep_maps("normal,logo")


def test_follows_picture():
    picture = png_bytes(LOGO), "image/png"
    luminance = (LOGO @ np.array([0.2126, 0.7152, 0.0722])).astype(np.uint8)
    lettered = np.stack([np.full_like(luminance, 255), 255 - luminance, luminance], -1)  # rough / metal letters
    assert follows_picture(picture, (png_bytes(lettered), "image/png"))
    plain = np.stack([np.full((16, 16), 255, np.uint8)] * 3, -1)
    plain[..., 1] = np.random.default_rng(1).integers(100, 140, (16, 16))  # roughness noise, no picture
    assert not follows_picture(picture, (png_bytes(plain), "image/png"))
    assert not follows_picture(None, (png_bytes(plain), "image/png"))


def test_spec_gloss_is_written_as_metallic_roughness(tmp_path, caplog):
    from tests.gltf_validation import assert_valid

    spec_gloss = {"diffuseTexture": {"index": 0}, "diffuseFactor": [1.0, 1.0, 1.0, 0.8], "glossinessFactor": 0.3,
                  "specularFactor": [0.5, 0.5, 0.5], "specularGlossinessTexture": {"index": 1}}  # fmt: skip
    material = {"name": "Boombox", "extensions": {"KHR_materials_pbrSpecularGlossiness": spec_gloss}}
    raw = _document(material, [PAINTED, LOGO], ["KHR_materials_pbrSpecularGlossiness"])
    with caplog.at_level(logging.INFO, logger="stylize.mesh.gltf.write"):
        document, mesh = _bake(tmp_path, raw)
    assert mesh.materials[0].base_color_texture is not None  # the input's colours came from its diffuse
    written = document["materials"][0]
    assert "extensions" not in written and "KHR_materials_pbrSpecularGlossiness" not in document.get("extensionsUsed", [])
    pbr = written["pbrMetallicRoughness"]
    assert pbr["baseColorFactor"] == [1.0, 1.0, 1.0, 0.8] and pbr["metallicFactor"] == 0.0
    assert pbr["roughnessFactor"] == pytest.approx(0.7)
    assert len(document["images"]) == 1  # only the new base colour: the spec-gloss maps are gone
    assert "Boombox: specular-glossiness written as metallic-roughness" in caplog.text
    tmp = tmp_path / "check.glb"
    tmp.write_bytes((tmp_path / "out.glb").read_bytes())
    assert_valid(tmp)


def _full_material(metallic_roughness: np.ndarray) -> tuple[dict, list[np.ndarray]]:
    material = {
        "name": "Sign", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicRoughnessTexture": {"index": 1}},
        "emissiveTexture": {"index": 0}, "emissiveFactor": [1.0, 1.0, 1.0], "occlusionTexture": {"index": 2},
        "normalTexture": {"index": 3},
    }  # fmt: skip
    flat_normal = np.full((4, 4, 3), [128, 128, 255], np.uint8)
    occlusion = np.full((4, 4, 3), 200, np.uint8)
    return material, [LOGO, metallic_roughness, occlusion, flat_normal]


@pytest.mark.parametrize(
    ("policy", "lettered", "kept"),
    [
        ("auto", True, {"occlusionTexture", "normalTexture"}),
        ("auto", False, {"occlusionTexture", "normalTexture", "metallicRoughnessTexture"}),
        ("all", True, {"occlusionTexture", "normalTexture", "metallicRoughnessTexture", "emissiveTexture"}),
        ("none", False, set()),
        ("emissive", False, {"emissiveTexture"}),
    ],
)
def test_kept_maps_follow_the_policy(tmp_path, policy, lettered, kept):
    from tests.gltf_validation import assert_valid

    luminance = (LOGO @ np.array([0.2126, 0.7152, 0.0722])).astype(np.uint8)
    noise = np.random.default_rng(2).integers(100, 140, (16, 16)).astype(np.uint8)
    channel = 255 - luminance if lettered else noise
    metallic_roughness = np.stack([np.full_like(channel, 255), channel, np.zeros_like(channel)], -1)
    document, _ = _bake(tmp_path, _document(*_full_material(metallic_roughness)), keep_maps=policy)
    written = document["materials"][0]
    present = {key for key in ("occlusionTexture", "normalTexture", "emissiveTexture") if key in written}
    present |= {"metallicRoughnessTexture"} & set(written["pbrMetallicRoughness"])
    assert present == kept
    assert ("emissiveFactor" in written) == ("emissiveTexture" in kept)  # a dropped glow is cleared, factor too
    if "normalTexture" in kept:  # a kept normal map gets tangents: no validator warning
        assert "TANGENT" in document["meshes"][0]["primitives"][0]["attributes"]
    assert_valid(tmp_path / "out.glb")


@pytest.mark.slow
def test_every_output_path_follows_the_policy(tmp_path, tiny_clip_spec):
    """mesh.glb (COLOR_0 is the new base colour) drops the old glow like a bake and gives the kept
    normal map tangents; ``stylize bake RUN`` takes the run's output.keep_maps, or ``keep_maps``."""
    from stylize import api
    from tests.gltf_validation import assert_valid

    noise = np.random.default_rng(2).integers(100, 140, (16, 16)).astype(np.uint8)
    metallic_roughness = np.stack([np.full_like(noise, 255), noise, np.zeros_like(noise)], -1)
    source = tmp_path / "sign.glb"
    source.write_bytes(_document(*_full_material(metallic_roughness)))
    small = {"iters": 1, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1, "output.preview_views": 2,
             "output.preview_size": 32, "output.turntable_frames": 2, "output.turntable_size": 32,
             "output.score_size": 32}  # fmt: skip
    run = tmp_path / "run"
    api.stylize_mesh(source, "a red square", out=run, preset="smoke", overrides={"clip": [tiny_clip_spec], **small})
    document = read_glb((run / "mesh.glb").read_bytes())[0]
    written = document["materials"][0]
    assert "baseColorTexture" not in written["pbrMetallicRoughness"]  # COLOR_0 is the whole base colour
    assert "emissiveTexture" not in written and "emissiveFactor" not in written
    assert {"occlusionTexture", "normalTexture"} <= set(written)
    assert "TANGENT" in document["meshes"][0]["primitives"][0]["attributes"]
    assert_valid(run / "mesh.glb")
    for policy, glows in ((None, False), ("all", True)):
        out = api.bake(run, out=tmp_path / f"baked_{policy}.glb", size=32, keep_maps=policy).path
        baked = read_glb(out.read_bytes())[0]["materials"][0]
        assert ("emissiveTexture" in baked) == glows, policy
        assert_valid(out)
