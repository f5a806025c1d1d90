"""stylize.mesh.pbr: glTF metallic-roughness shading, environments, normal tilt."""

import math

import pytest
import torch

from stylize.mesh.pbr import (
    STUDIO,
    Environment,
    linear_to_srgb,
    perturb_normals,
    sample_environment,
    shade_metallic_roughness,
    srgb_to_linear,
)


def _one_light(direction, radiance=1.0, sky=0.0):
    return Environment(
        torch.tensor([[direction]], dtype=torch.float32),
        torch.full((1, 1, 3), radiance),
        torch.full((1, 3), sky),
        torch.full((1, 3), sky),
        torch.tensor([[0.0, 1.0, 0.0]]),
    )


def _pixel(base, rough, metal, normal=(0.0, 0.0, 1.0), view=(0.0, 0.0, 1.0)):
    def t(v):
        return torch.tensor(v, dtype=torch.float32).reshape(1, 1, 1, -1)

    return t(base), t([rough]), t([metal]), t(normal), t(view)


def test_srgb_round_trip_and_known_values():
    x = torch.linspace(0, 1, 101)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    assert srgb_to_linear(torch.tensor(0.5)).item() == pytest.approx(0.21404, abs=1e-4)


def test_white_dielectric_facing_one_light_matches_hand_computation():
    # n = v = l: v.h = 1 so F = F0 = 0.04; diffuse (1 - 0.04) * 1; with roughness 1 (alpha 1)
    # D = 1 / pi, the Smith visibility 0.5 / (1 + 1) = 0.25, so specular = 0.04 / pi * 0.25 * pi = 0.01.
    base, rough, metal, n, v = _pixel([1.0, 1.0, 1.0], 1.0, 0.0)
    rgb = shade_metallic_roughness(base, rough, metal, n, v, _one_light([0.0, 0.0, 1.0]))
    expected = linear_to_srgb(torch.tensor(0.97)).item()
    assert torch.allclose(rgb, torch.full_like(rgb, expected), atol=1e-4)


def test_light_behind_the_surface_gives_only_ambient():
    base, rough, metal, n, v = _pixel([0.8, 0.2, 0.2], 0.5, 0.0)
    dark = shade_metallic_roughness(base, rough, metal, n, v, _one_light([0.0, 0.0, -1.0]))
    assert dark.abs().max().item() == 0.0
    lit = shade_metallic_roughness(base, rough, metal, n, v, _one_light([0.0, 0.0, -1.0], sky=0.3))
    assert lit.min().item() > 0.05


def test_smooth_surfaces_have_brighter_narrower_highlights():
    # Light and camera mirror each other about the normal: the view sits in the highlight.
    light = _one_light([0.6, 0.0, 0.8])
    mirror = (-0.6, 0.0, 0.8)
    off = (0.0, 0.6, 0.8)  # out of the mirror direction
    values = {}
    for rough in (0.15, 0.8):
        for name, view in (("mirror", mirror), ("off", off)):
            base, r, m, n, v = _pixel([0.2, 0.2, 0.2], rough, 0.0, view=view)
            values[rough, name] = shade_metallic_roughness(base, r, m, n, v, light).mean().item()
    assert values[0.15, "mirror"] > 2 * values[0.8, "mirror"]
    assert values[0.15, "mirror"] / values[0.15, "off"] > values[0.8, "mirror"] / values[0.8, "off"]


def test_metal_reflections_take_the_base_colour_and_dielectrics_stay_white():
    light = _one_light([-0.6, 0.0, 0.8], radiance=0.1, sky=0.05)
    base, r, _, n, v = _pixel([0.9, 0.5, 0.1], 0.4, 0.0, view=(0.6, 0.0, 0.8))
    metal = shade_metallic_roughness(base, r, torch.ones_like(r), n, v, light)[0, 0, 0]
    plastic = shade_metallic_roughness(base, r, torch.zeros_like(r), n, v, light)[0, 0, 0]
    # The highlight of a metal is tinted (red > blue); a dielectric's highlight is white light
    # added to its diffuse colour, so its channels sit closer together.
    assert metal[0] - metal[2] > 0.2
    assert (plastic[0] - plastic[2]) < (metal[0] - metal[2])


def test_gradients_flow_to_every_parameter():
    torch.manual_seed(0)
    base = torch.rand(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    rough = (0.3 + 0.5 * torch.rand(2, 3, 3, 1, dtype=torch.float64)).requires_grad_()
    metal = torch.rand(2, 3, 3, 1, dtype=torch.float64, requires_grad=True)
    n = torch.nn.functional.normalize(torch.randn(2, 3, 3, 3, dtype=torch.float64) + torch.tensor([0, 0, 3.0]), dim=-1)
    v = torch.nn.functional.normalize(torch.randn(2, 3, 3, 3, dtype=torch.float64) + torch.tensor([0, 0, 3.0]), dim=-1)
    env = STUDIO

    def f(base, rough, metal):
        return shade_metallic_roughness(base * 0.8 + 0.1, rough, metal, n, v, env)

    assert torch.autograd.gradcheck(f, (base, rough, metal), eps=1e-6, atol=1e-4)


def test_bad_shapes_are_named():
    base, rough, metal, n, v = _pixel([1.0, 1.0, 1.0], 1.0, 0.0)
    with pytest.raises(ValueError, match="roughness"):
        shade_metallic_roughness(base, rough[..., :0], metal, n, v, STUDIO)
    with pytest.raises(ValueError, match="base_color"):
        shade_metallic_roughness(base[0], rough, metal, n, v, STUDIO)


def test_sampled_environments_are_seeded_and_keep_the_key_light_above():
    a = sample_environment(torch.Generator().manual_seed(3))
    b = sample_environment(torch.Generator().manual_seed(3))
    c = sample_environment(torch.Generator().manual_seed(4))
    assert torch.equal(a.directions, b.directions) and not torch.equal(a.directions, c.directions)
    for seed in range(50):
        env = sample_environment(torch.Generator().manual_seed(seed), lights=2)
        assert env.directions[0, 0, 1] > 0
        assert torch.allclose(env.directions.norm(dim=-1), torch.ones(1, 2))
        assert (env.colors > 0).all() and (env.ground <= env.sky).all()


def test_rotated_environment_matches_rotating_the_scene():
    # Shading a normal under a rotated environment equals shading the rotated normal under the
    # world environment (the same light on the object in every view).
    angle = 0.7
    c, s = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]])
    env = sample_environment(torch.Generator().manual_seed(1))
    n_world = torch.nn.functional.normalize(torch.tensor([0.3, 0.5, 0.8]), dim=0)
    v_world = torch.nn.functional.normalize(torch.tensor([-0.2, 0.1, 1.0]), dim=0)
    base, rough, metal, _, _ = _pixel([0.7, 0.4, 0.2], 0.4, 0.5)
    world = shade_metallic_roughness(base, rough, metal, n_world.reshape(1, 1, 1, 3), v_world.reshape(1, 1, 1, 3), env)
    n_cam, v_cam = rotation[0] @ n_world, rotation[0] @ v_world
    camera = shade_metallic_roughness(base, rough, metal, n_cam.reshape(1, 1, 1, 3), v_cam.reshape(1, 1, 1, 3),
                                      env.rotated(rotation))  # fmt: skip
    assert torch.allclose(world, camera, atol=1e-5)


def test_perturb_normals_is_bounded_and_neutral_at_one_half():
    n = torch.tensor([[0.0, 0.0, 1.0]]).expand(5, 3)
    t = torch.tensor([[1.0, 0.0, 0.0]]).expand(5, 3)
    tilt = torch.tensor([[0.5, 0.5], [1.0, 0.5], [0.0, 0.5], [0.5, 1.0], [1.0, 1.0]])
    out = perturb_normals(n, t, tilt, max_tilt=math.radians(30))
    assert torch.allclose(out[0], n[0])
    assert torch.allclose(out.norm(dim=-1), torch.ones(5))
    angles = torch.rad2deg(torch.acos(out[:, 2]))
    assert angles[1:4].sub(30).abs().max() < 1e-3  # one axis at its bound: exactly max_tilt
    assert out[1, 0] > 0 and out[2, 0] < 0 and out[3, 1] > 0  # +x along t, +y along n x t
    with pytest.raises(ValueError, match="max_tilt"):
        perturb_normals(n, t, tilt, max_tilt=2.0)
