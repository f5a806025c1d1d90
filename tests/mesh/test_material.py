"""The material seam (stylize.mesh.material) and the field-kind registry (stylize.mesh.kinds).

A material registered from outside the package (``_Glaze``, below: a base colour and a roughness
channel, exported as a metallic-roughness map) must get a field head, shade renders in both field
kinds, and come out of every bake in its glTF slot, with nothing downstream changed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylize.errors import InputError
from stylize.mesh.bake import bake_mesh
from stylize.mesh.camera import orbit_views
from stylize.mesh.config import FieldConfig
from stylize.mesh.field import NeuralStyleField, load_field
from stylize.mesh.geometry import make_icosphere, vertex_normals
from stylize.mesh.gltf.glb import read_glb
from stylize.mesh.kinds import FIELD_KINDS, FieldKind, VertexField, get_field_kind
from stylize.mesh.lighting import TEXT2MESH_LIGHTS, spherical_harmonic_lighting
from stylize.mesh.material import (
    MATERIALS,
    TEXTURE_SLOTS,
    Channel,
    DiffuseMaterial,
    Material,
    encode_map,
    get_material,
)  # fmt: skip
from stylize.mesh.renderer import get_renderer
from stylize.mesh.shading import render_shaded
from stylize.mesh.surface import StyledMesh

ROUGHNESS_START = 0.7


class _Glaze(Material):
    """Base colour darkened by roughness (so the renders depend on it); exports metallic-roughness."""

    name = "test-glaze"
    channels = (Channel("base_color", 3), Channel("roughness", 1, initial=ROUGHNESS_START))

    def shade(self, features, normals, view_dirs=None, lights=None):
        parts = self.split(features)
        light = spherical_harmonic_lighting(normals, TEXT2MESH_LIGHTS).unsqueeze(-1)
        return (parts["base_color"] * light * (1.0 - 0.5 * parts["roughness"])).clamp(0.0, 1.0)

    def export(self, features):
        roughness = features[..., 3:4]
        packed = np.concatenate([np.ones_like(roughness), roughness, np.zeros_like(roughness)], axis=-1)
        return {"base_color": features[..., :3], "metallic_roughness": packed}


@pytest.fixture
def glaze():
    MATERIALS.register(_Glaze.name, _Glaze)
    yield _Glaze()
    del MATERIALS[_Glaze.name]


def _field(material="diffuse", mode="vertex", seed=0) -> NeuralStyleField:
    config = FieldConfig(width=16, depth=1, head_depth=0, n_frequencies=8, progressive=False, mode=mode)
    return NeuralStyleField(config, generator=torch.Generator().manual_seed(seed), material=material)


def _sphere():
    vertices, faces = make_icosphere(1)
    vertices = torch.as_tensor(vertices, dtype=torch.float32) * 0.8
    faces = torch.as_tensor(faces, dtype=torch.int64)
    return vertices, faces


# --- the table and the encodings --------------------------------------------------------------


def test_every_slot_names_a_gltf_texture_info_and_a_colour_space():
    for name, slot in TEXTURE_SLOTS.items():
        assert slot.name == name and slot.gltf[-1].endswith("Texture")
        assert slot.color_space in ("sRGB", "Non-Color") and slot.encoding in ("unit", "signed")
    assert TEXTURE_SLOTS["base_color"].color_space == "sRGB"  # glTF: baseColorTexture is sRGB
    assert TEXTURE_SLOTS["metallic_roughness"].gltf == ("pbrMetallicRoughness", "metallicRoughnessTexture")


def test_encode_map_by_slot_exact_values():
    unit = encode_map("base_color", np.array([[[0.0, 0.5, 1.0]]]))
    signed = encode_map("normal", np.array([[[-1.0, 0.0, 1.0]]]))
    assert unit.dtype == np.uint8 and unit.tolist() == [[[0, 128, 255]]]
    assert signed.tolist() == [[[0, 128, 255]]]
    assert encode_map("base_color", np.array([[[-3.0, 7.0, 0.25]]])).tolist() == [[[0, 255, 64]]]  # clipped


def test_unknown_material_is_one_line_naming_the_known_ones():
    with pytest.raises(InputError, match="unknown material 'gold'.*diffuse"):
        get_material("gold")


def test_config_checks_the_material_name():
    from stylize.mesh.config import resolve_mesh_config

    with pytest.raises(InputError, match="config key 'material': unknown material 'chrome'"):
        resolve_mesh_config("a vase", preset="smoke", overrides={"material": "chrome"})


def test_diffuse_shades_as_text2mesh():
    generator = torch.Generator().manual_seed(0)
    colors = torch.rand(2, 4, 5, 3, generator=generator)
    normals = torch.nn.functional.normalize(torch.randn(2, 4, 5, 3, generator=generator), dim=-1)
    expected = (colors * spherical_harmonic_lighting(normals, TEXT2MESH_LIGHTS).unsqueeze(-1)).clamp(0, 1)
    assert torch.equal(DiffuseMaterial().shade(colors, normals), expected)
    assert list(DiffuseMaterial().export(np.zeros((2, 2, 3)))) == ["base_color"]


# --- the field's heads ----------------------------------------------------------------------


def test_a_diffuse_field_keeps_text2meshs_state_dict():
    keys = set(_field().state_dict())
    assert not any(key.startswith("channel_heads") for key in keys)


def test_an_extra_channel_gets_a_head_that_starts_at_its_initial_value(glaze):
    field = _field(glaze.name)
    out = field(torch.rand(50, 3))
    assert out.features.shape == (50, 4)
    torch.testing.assert_close(out.extras, torch.full((50, 1), ROUGHNESS_START))
    torch.testing.assert_close(out.colors, torch.full((50, 3), 0.5))
    assert "channel_heads.roughness.0.weight" in field.state_dict()
    torch.testing.assert_close(field.features_at(torch.rand(7, 3)).shape, torch.Size([7, 4]))


def test_field_pt_keeps_the_material_and_its_heads(tmp_path, glaze):
    field = _field(glaze.name)
    with torch.no_grad():
        field.channel_heads["roughness"][-1].bias.fill_(1.0)
    points = torch.rand(9, 3)
    loaded = load_field(field.save(tmp_path / "field.pt"))
    assert loaded.material.name == glaze.name
    torch.testing.assert_close(loaded(points).features, field(points).features)


# --- shading through both field kinds -------------------------------------------------------


@pytest.mark.parametrize("mode", ["vertex", "surface"])
def test_the_material_shades_renders_and_its_channels_get_gradients(glaze, mode):
    vertices, faces = _sphere()
    field = _field(glaze.name, mode)
    styled = StyledMesh(field, vertices, faces, vertex_normals(vertices, faces))
    renderer, views = get_renderer("torch", height=24), orbit_views([0.3, 2.0], [0.4])
    images = styled.render(renderer, views)
    assert images.shape == (2, 3, 24, 24)
    images.sum().backward()
    gradient = field.channel_heads["roughness"][-1].weight.grad
    assert gradient is not None and gradient.abs().sum() > 0
    # the roughness channel darkens: the same field as diffuse renders brighter where covered
    diffuse = StyledMesh(_field("diffuse", mode), vertices, faces, vertex_normals(vertices, faces))
    with torch.no_grad():
        brighter = diffuse.render(renderer, views) - styled.render(renderer, views)
    assert brighter.min() >= -1e-6 and brighter.max() > 0.1


def test_render_shaded_refuses_features_of_the_wrong_width(glaze):
    vertices, faces = _sphere()
    with pytest.raises(ValueError, match=r"expected colors of shape \(42, 4\)"):
        render_shaded(get_renderer("torch", height=8), vertices, faces, torch.rand(42, 3), orbit_views([0.0], [0.0]),
                      material=glaze)  # fmt: skip


def test_masked_out_points_keep_the_channels_initial_values(glaze):
    vertices, faces = _sphere()
    field = _field(glaze.name)
    with torch.no_grad():
        field.channel_heads["roughness"][-1].bias.fill_(2.0)
    weights = torch.zeros(len(vertices), 1)
    weights[: len(vertices) // 2] = 1.0
    styled = StyledMesh(field, vertices, faces, vertex_normals(vertices, faces), weights=weights)
    features, _ = styled.vertex_features_and_displacement()
    keep = weights[:, 0] == 0
    assert torch.equal(features[keep, 3], torch.full((int(keep.sum()),), ROUGHNESS_START))
    assert (features[~keep, 3] > 0.9).all()


# --- bakes write what export() returns, in its slot ------------------------------------------


def test_bake_writes_every_exported_map_in_its_gltf_slot(tmp_path, glaze):
    vertices, faces = make_icosphere(1)
    colors = np.full((len(vertices), 3), 0.25)
    features = np.concatenate([colors, np.full((len(vertices), 1), 0.6)], axis=1)
    report = bake_mesh(vertices, faces, colors, tmp_path / "glaze.glb", size=64, material=glaze, features=features)
    assert sorted(report.maps) == ["base_color", "metallic_roughness"]
    texels = report.maps["metallic_roughness"].reshape(-1, 3)
    assert (texels[:, 0] == 255).all() and (np.abs(texels[:, 1].astype(int) - 153) <= 1).all() and (texels[:, 2] == 0).all()
    document, _ = read_glb((tmp_path / "glaze.glb").read_bytes())
    pbr = document["materials"][0]["pbrMetallicRoughness"]
    assert "baseColorTexture" in pbr and "metallicRoughnessTexture" in pbr
    assert pbr["metallicFactor"] == pbr["roughnessFactor"] == 1.0  # the map is the whole value
    with pytest.raises(ValueError, match="features of shape"):
        bake_mesh(vertices, faces, colors, tmp_path / "bad.glb", size=64, material=glaze)


def test_a_diffuse_bake_is_a_rough_dielectric_with_one_map(tmp_path):
    vertices, faces = make_icosphere(1)
    report = bake_mesh(vertices, faces, np.full((len(vertices), 3), 0.5), tmp_path / "plain.glb", size=32)
    assert list(report.maps) == ["base_color"] and report.texture is report.maps["base_color"]
    pbr = read_glb((tmp_path / "plain.glb").read_bytes())[0]["materials"][0]["pbrMetallicRoughness"]
    assert (pbr["metallicFactor"], pbr["roughnessFactor"]) == (0.0, 1.0) and "metallicRoughnessTexture" not in pbr


def test_the_scene_writer_replaces_each_slot_it_is_given(tmp_path):
    from stylize.mesh.gltf.write import write_scene_glb
    from stylize.mesh.io import load_mesh
    from tests.mesh.gltf_assets import write_scene

    mesh = load_mesh(write_scene(tmp_path / "in", "glb"), normalize=False)
    packed = np.zeros((8, 8, 3), dtype=np.uint8)
    packed[..., 1] = 200
    write_scene_glb(mesh, tmp_path / "out.glb", mesh.file_vertices, maps={"metallic_roughness": {0: packed}})
    document, _ = read_glb((tmp_path / "out.glb").read_bytes())
    first, second = (m.get("pbrMetallicRoughness", {}) for m in document["materials"][:2])
    assert "metallicRoughnessTexture" in first and "metallicFactor" not in first
    assert "metallicRoughnessTexture" not in second
    with pytest.raises(ValueError, match="unknown map 'sheen'"):
        write_scene_glb(mesh, tmp_path / "bad.glb", mesh.file_vertices, maps={"sheen": {0: packed}})


# --- field kinds -----------------------------------------------------------------------------


def test_field_kinds_are_a_registry_and_a_registered_kind_renders():
    assert set(FIELD_KINDS) >= {"vertex", "surface"}
    assert get_field_kind("surface").per_point and not get_field_kind("vertex").per_point
    with pytest.raises(InputError, match="config key 'field.mode': unknown field kind 'texel'"):
        FieldConfig(mode="texel").check()
    calls = []

    class Counting(VertexField):
        name = "counting"

        def render(self, styled, *args, **kwargs):
            calls.append(styled)
            return super().render(styled, *args, **kwargs)

    FIELD_KINDS.register("counting", Counting)
    try:
        vertices, faces = _sphere()
        styled = StyledMesh(_field(mode="counting"), vertices, faces, vertex_normals(vertices, faces))
        image = styled.render(get_renderer("torch", height=16), orbit_views([0.0], [0.3]))
        assert calls == [styled] and image.shape == (1, 3, 16, 16)
        assert isinstance(styled.kind, FieldKind) and not styled.surface
    finally:
        del FIELD_KINDS["counting"]


def test_a_run_with_a_registered_material_writes_its_maps(tmp_path, tiny_clip_spec, glaze):
    from stylize import api
    from stylize.mesh.io import load_mesh

    result = api.stylize_mesh(_sphere_file(tmp_path), "a red circle",
                              out=tmp_path / "run", preset="smoke",
                              overrides={"clip": [tiny_clip_spec], "iters": 2, "render_size": 32, "views.n_views": 2,
                                         "loss.n_local_augs": 1, "output.preview_views": 2, "output.preview_size": 32,
                                         "output.turntable_frames": 2, "output.turntable_size": 32,
                                         "output.score_size": 32, "output.bake": True, "output.bake_size": 32,
                                         "material": glaze.name})  # fmt: skip
    assert result.features.shape == (len(result.vertices), 4)
    assert (tmp_path / "run" / "textures" / "metallic_roughness.png").is_file()
    assert load_field(tmp_path / "run" / "field.pt").material.name == glaze.name
    baked = load_mesh(tmp_path / "run" / "mesh_textured.glb", normalize=False)
    assert baked.uv is not None
    data = np.load(tmp_path / "run" / "vertex_data.npz")
    assert str(data["material"]) == glaze.name
    np.testing.assert_allclose(data["channel_roughness"][:, 0], result.features[:, 3], rtol=0, atol=1e-6)


def _sphere_file(tmp_path):
    from stylize.mesh.io import save_mesh

    vertices, faces = make_icosphere(1)
    return save_mesh(tmp_path / "sphere.obj", vertices, faces)
