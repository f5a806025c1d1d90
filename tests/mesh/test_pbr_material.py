"""The pbr material (stylize.mesh.pbr_material): channels, shading through every field kind,
per-step random light, the tilt frame, and bakes that reproduce the renders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gltf_validation import assert_valid

from stylize.mesh.bake import bake_mesh
from stylize.mesh.camera import orbit_views
from stylize.mesh.config import FieldConfig
from stylize.mesh.field import NeuralStyleField, load_field
from stylize.mesh.geometry import make_icosphere, vertex_normals
from stylize.mesh.gltf.asset import GltfAsset
from stylize.mesh.lighting import TEXT2MESH_LIGHTS
from stylize.mesh.material import get_material
from stylize.mesh.outputs import bake_sources
from stylize.mesh.pbr import STUDIO, Environment, perturb_normals, shade_metallic_roughness, tilt_tangents
from stylize.mesh.pbr_material import PbrMaterial, render_metal_rough
from stylize.mesh.renderer import get_renderer
from stylize.mesh.surface import StyledMesh


def _sphere(level=2):
    vertices, faces = make_icosphere(level)
    return torch.as_tensor(vertices, dtype=torch.float32) * 0.8, torch.as_tensor(faces, dtype=torch.int64)


def _styled(mode="vertex", seed=0, perturb=0.0, material="pbr", sigma=5.0):
    config = FieldConfig(width=16, depth=1, head_depth=0, n_frequencies=8, progressive=False, mode=mode, sigma=sigma)
    field = NeuralStyleField(config, generator=torch.Generator().manual_seed(seed), material=material)
    if perturb:  # a field that is not flat: every last layer moved off zero
        generator = torch.Generator().manual_seed(seed + 7)
        with torch.no_grad():
            for head in [field.colour_head, *getattr(field, "channel_heads", {}).values()]:
                head[-1].weight.copy_(torch.randn(head[-1].weight.shape, generator=generator) * perturb)
    vertices, faces = _sphere()
    return StyledMesh(field, vertices, faces, vertex_normals(vertices, faces))


def _one_light(direction):
    return Environment(torch.tensor([[direction]], dtype=torch.float32), torch.full((1, 1, 3), 2.0),
                       torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([[0.0, 1.0, 0.0]]))  # fmt: skip


def test_pbr_channels_start_as_a_rough_dielectric_without_tilt():
    material = get_material("pbr")
    assert isinstance(material, PbrMaterial)
    assert [(c.name, c.width) for c in material.channels] == [("base_color", 3), ("roughness", 1), ("metallic", 1),
                                                               ("normal_tilt", 2)]  # fmt: skip
    field = _styled().field
    out = field(torch.rand(20, 3) - 0.5)
    torch.testing.assert_close(out.extras, torch.tensor([0.6, 0.05, 0.5, 0.5]).expand(20, 4), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="max_tilt"):
        PbrMaterial(max_tilt=75.0)


def test_untilted_pbr_shading_is_the_brdf_on_the_smooth_normal():
    material = PbrMaterial()
    generator = torch.Generator().manual_seed(0)
    base, normals = torch.rand(1, 4, 4, 3, generator=generator), torch.randn(1, 4, 4, 3, generator=generator)
    normals = torch.nn.functional.normalize(normals, dim=-1)
    view = torch.nn.functional.normalize(normals + torch.tensor([0.0, 0.0, 2.0]), dim=-1)
    features = torch.cat([base, torch.full((1, 4, 4, 1), 0.3), torch.full((1, 4, 4, 1), 0.8),
                          torch.full((1, 4, 4, 2), 0.5)], dim=-1)  # fmt: skip
    tangents = torch.nn.functional.normalize(torch.linalg.cross(normals, torch.randn(1, 4, 4, 3, generator=generator)), dim=-1)
    shaded = material.shade(features, normals, view, STUDIO, tangents=tangents)
    expected = shade_metallic_roughness(base, features[..., 3:4], features[..., 4:5], normals, view, STUDIO)
    torch.testing.assert_close(shaded, expected)
    tilted = features.clone()
    tilted[..., 5] = 1.0
    assert (material.shade(tilted, normals, view, STUDIO, tangents=tangents) - expected).abs().max() > 0.01


def test_tilt_frame_is_a_unit_tangent_that_depends_on_the_normal_alone():
    normals = torch.nn.functional.normalize(torch.randn(500, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    tangents = tilt_tangents(normals)
    torch.testing.assert_close(tangents.norm(dim=-1), torch.ones(500))
    assert (tangents * normals).sum(-1).abs().max() < 1e-5
    # Around the vertical axis on the equator, the world x axis at the poles.
    torch.testing.assert_close(tilt_tangents(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])),
                               torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))  # fmt: skip


@pytest.mark.parametrize("mode", ["vertex", "surface", "texture"])
def test_every_field_kind_renders_pbr_and_trains_every_channel(mode):
    styled = _styled(mode)
    views = orbit_views([0.0, 2.0], [0.3])
    image = styled.render(get_renderer(height=24), views, lights=_one_light([0.3, 0.8, 0.5]))
    assert image.shape == (2, 3, 24, 24)
    image.mean().backward()
    for name, head in styled.field.channel_heads.items():
        assert head[-1].weight.grad.abs().sum() > 0, name


def test_one_world_light_for_every_view():
    # A light from world +x: a camera on +z sees it on its right (camera x = world x), a camera
    # on -z on its left.
    styled = _styled()
    views = orbit_views([math.pi / 2, -math.pi / 2], [0.0], radius=2.5)
    image = styled.render(get_renderer(height=32), views, background=0.0, lights=_one_light([1.0, 0.0, 0.0])).detach()
    brightness = image.mean(dim=1)
    left, right = brightness[:, :, :16].mean(dim=(1, 2)), brightness[:, :, 16:].mean(dim=(1, 2))
    assert right[0] > 3 * left[0] and left[1] > 3 * right[1]


def test_diffuse_renders_ignore_the_light_seam():
    styled = _styled(material="diffuse", perturb=0.5)
    renderer, views = get_renderer(height=24), orbit_views([0.0, 2.0], [0.3])
    assert styled.material.sample_lights(torch.Generator()) is None
    assert styled.frame(styled.vertices) is None
    default = styled.render(renderer, views)
    explicit = styled.render(renderer, views, lights=TEXT2MESH_LIGHTS)
    assert torch.equal(default, explicit)


def test_field_pt_keeps_the_pbr_settings(tmp_path):
    field = NeuralStyleField(FieldConfig(width=16, depth=1, head_depth=0, n_frequencies=8), material=PbrMaterial(35.0, 2, 0.2))
    loaded = load_field(field.save(tmp_path / "field.pt"))
    assert isinstance(loaded.material, PbrMaterial)
    assert loaded.material.options() == {"max_tilt": 35.0, "lights": 2, "tint": 0.2}


def _baked(styled, tmp_path, size=128):
    with torch.no_grad():
        features, displacement = styled.vertex_features_and_displacement()
    vertices = (styled.vertices + styled.normals * displacement).numpy()
    source, normal_source = bake_sources(styled, False, features.numpy())
    report = bake_mesh(vertices, styled.faces.numpy(), features[:, :3].numpy(), tmp_path / "baked.glb", size=size,
                       source=source, normal_source=normal_source, material=styled.material,
                       features=features.numpy())  # fmt: skip
    return report


@pytest.mark.parametrize("mode", ["vertex", "surface"])
def test_the_baked_maps_render_as_the_field_does(tmp_path, mode):
    # The bake's maps seen through a glTF viewer's shading (normal map in the TANGENT frame)
    # match the field's own render under the same light, and each map carries its share: without
    # the normal map, or without the metallic-roughness map, the match is several times worse.
    styled = _styled(mode, perturb=1.5, sigma=1.0)
    report = _baked(styled, tmp_path)
    assert sorted(report.maps) == ["base_color", "metallic_roughness", "normal"]
    assert (report.maps["metallic_roughness"][..., 0] == 255).all()
    assert_valid(report.path)
    asset = GltfAsset(report.path)
    primitive = asset.document["meshes"][0]["primitives"][0]
    attributes = {name: torch.as_tensor(asset.accessor(index), dtype=torch.float32)
                  for name, index in primitive["attributes"].items()}  # fmt: skip
    faces = torch.as_tensor(asset.accessor(primitive["indices"]).reshape(-1, 3).astype(np.int64))
    maps = {name: torch.as_tensor(pixels, dtype=torch.float32) / 255.0 for name, pixels in report.maps.items()}
    maps["normal"] = maps["normal"] * 2.0 - 1.0
    renderer, views = get_renderer(height=64), orbit_views([0.3, 2.5, 4.4], [0.4, -0.2, 0.9], radius=2.2)
    with torch.no_grad():
        field = styled.render(renderer, views)

    def error(*leave_out: str) -> float:
        kept = {name: image for name, image in maps.items() if name not in leave_out}
        viewer = render_metal_rough(renderer, attributes["POSITION"], faces, attributes["NORMAL"], attributes["TANGENT"],
                                    attributes["TEXCOORD_0"], kept, views)  # fmt: skip
        return (viewer - field).abs().mean().item()

    full = error()
    assert full < 0.005, full
    assert error("normal") > 3 * full and error("metallic_roughness") > 3 * full


def test_the_normal_map_holds_the_tilted_normal_in_uv_tangent_space(tmp_path):
    styled = _styled("surface", perturb=1.5)
    _, normal_source = bake_sources(styled, False)
    points = torch.nn.functional.normalize(torch.randn(50, 3, generator=torch.Generator().manual_seed(3)), dim=-1) * 0.8
    normals = torch.nn.functional.normalize(points, dim=-1)
    tangent = torch.nn.functional.normalize(torch.linalg.cross(normals, torch.tensor([[0.3, 0.5, 0.8]]).expand(50, 3)), dim=-1)
    handedness = torch.where(torch.arange(50) % 2 == 0, 1.0, -1.0)[:, None]
    tilt_tangent = tilt_tangents(normals)
    attributes = torch.cat([points, tilt_tangent, normals, tangent, handedness], dim=1)
    local = normal_source.evaluate(attributes)
    bitangent = torch.linalg.cross(normals, tangent) * handedness
    world = local[:, :1] * tangent + local[:, 1:2] * bitangent + local[:, 2:3] * normals
    expected = perturb_normals(normals, tilt_tangent, styled.field.features_at(points)[:, 5:7],
                               math.radians(styled.material.max_tilt))  # fmt: skip
    torch.testing.assert_close(world, expected.detach(), atol=1e-5, rtol=0)
    assert (expected - normals).norm(dim=-1).max() > 0.05


# --- runs ---------------------------------------------------------------------------------------

SMALL = {"iters": 4, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1, "output.preview_views": 2,
         "output.preview_size": 32, "output.turntable_frames": 2, "output.turntable_size": 32, "output.score_size": 32,
         "output.bake_size": 64, "checkpoint_every": 1, "material": "pbr"}  # fmt: skip


def _sphere_file(tmp_path):
    from stylize.mesh.io import save_mesh

    vertices, faces = make_icosphere(2)
    return save_mesh(tmp_path / "sphere.obj", vertices, faces)


def test_a_pbr_step_draws_one_light_from_its_own_stream_and_checkpoints_it(tiny_clip_spec, tmp_path):
    from stylize.mesh.config import resolve_mesh_config
    from stylize.mesh.io import load_mesh
    from stylize.mesh.text2mesh import Text2MeshRun

    mesh = load_mesh(_sphere_file(tmp_path), normalize=True)
    config = resolve_mesh_config("a red circle", preset="smoke", overrides={"clip": [tiny_clip_spec], **SMALL})
    run = Text2MeshRun(mesh, config)
    drawn = []
    original = run.field.material.sample_lights
    run.field.material.sample_lights = lambda generator: drawn.append(generator.get_state()) or original(generator)
    state = run.state_dict()
    run.step()
    after_one = run.light_generator.get_state()
    run.load_state_dict(state)
    assert torch.equal(run.light_generator.get_state(), state["rng"]["lights"])
    run.step()
    assert len(drawn) == 2 and torch.equal(drawn[0], drawn[1]) and torch.equal(run.light_generator.get_state(), after_one)
    # A diffuse run draws nothing from it (its renders stay Text2Mesh's).
    diffuse = Text2MeshRun(mesh, resolve_mesh_config("a red circle", preset="smoke",
                                                     overrides={"clip": [tiny_clip_spec], **SMALL, "material": "diffuse"}))  # fmt: skip
    before = diffuse.light_generator.get_state()
    diffuse.step()
    assert torch.equal(diffuse.light_generator.get_state(), before)


@pytest.mark.slow
def test_a_pbr_run_resumes_exactly_and_bakes_applies_and_writes_its_channels(tmp_path, tiny_clip_spec):
    from stylize import api
    from stylize.cli import main

    sphere = _sphere_file(tmp_path)
    overrides = {"clip": [tiny_clip_spec], **SMALL}
    reference = api.stylize_mesh(sphere, "a red circle", out=tmp_path / "whole", preset="smoke", overrides=overrides)

    def crash(step, total, metrics):
        if step == 2:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        api.stylize_mesh(sphere, "a red circle", out=tmp_path / "cut", preset="smoke", overrides=overrides, on_step=crash)
    resumed = api.stylize_mesh(resume=tmp_path / "cut")
    assert np.array_equal(resumed.features, reference.features) and np.array_equal(resumed.vertices, reference.vertices)
    for name in ("textures/metallic_roughness.png", "textures/normal.png", "mesh_textured.glb"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert_valid(tmp_path / "whole" / "mesh_textured.glb")
    data = np.load(tmp_path / "whole" / "vertex_data.npz")
    assert str(data["material"]) == "pbr" and data["channel_normal_tilt"].shape == (len(reference.vertices), 2)
    np.testing.assert_allclose(data["channel_metallic"][:, 0], reference.features[:, 4], atol=1e-6, rtol=0)
    # stylize bake RUN: the field, not the vertex colours, with the three maps.
    assert main(["bake", str(tmp_path / "whole"), "--size", "64", "--out", str(tmp_path / "again.glb")]) == 0
    assert_valid(tmp_path / "again.glb")
    assert GltfAsset(tmp_path / "again.glb").document["materials"][0]["normalTexture"]["index"] >= 0
    # ... also when given the run's mesh.glb (its vertex colours cannot carry roughness).
    report = api.bake(tmp_path / "whole" / "mesh.glb", tmp_path / "from_mesh.glb", size=64)
    assert sorted(report.maps) == ["base_color", "metallic_roughness", "normal"]
    applied = api.apply_field(tmp_path / "whole", sphere, tmp_path / "applied", bake_size=64)
    assert {"textures/metallic_roughness.png", "textures/normal.png"} <= set(applied.files)
    assert_valid(tmp_path / "applied" / "mesh_textured.glb")


@pytest.mark.slow
def test_a_pbr_run_on_a_scene_writes_maps_per_material_and_clears_emission(tmp_path, tiny_clip_spec):
    from stylize import api
    from tests.mesh.gltf_assets import write_scene

    scene = write_scene(tmp_path / "scene")
    api.stylize_mesh(scene, "a red circle", out=tmp_path / "run", preset="smoke",
                     overrides={"clip": [tiny_clip_spec], **SMALL, "field.mode": "surface"})  # fmt: skip
    out = tmp_path / "run" / "mesh_textured.glb"
    assert_valid(out)
    materials = GltfAsset(out).document["materials"]
    assert [m["name"] for m in materials] == ["Painted", "Metal"]
    for material in materials:
        assert {"baseColorTexture", "metallicRoughnessTexture"} <= set(material["pbrMetallicRoughness"])
        assert "metallicFactor" not in material["pbrMetallicRoughness"] and "normalTexture" in material
        assert "emissiveFactor" not in material and "emissiveTexture" not in material
