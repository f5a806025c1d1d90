"""Tri-plane encoding (stylize.mesh.encoding) and the ``texture`` field kind built on it."""

from __future__ import annotations

import pytest
import torch

from stylize.errors import InputError
from stylize.mesh.config import FieldConfig
from stylize.mesh.encoding import TriplaneEncoding, triplane_encode
from stylize.mesh.field import NeuralStyleField, load_field


def test_shapes_and_width():
    encoding = TriplaneEncoding((4, 16), features=3, generator=torch.Generator().manual_seed(0))
    assert encoding.output_width == 2 * 3 * 3
    assert encoding(torch.rand(11, 3) * 2 - 1).shape == (11, 18)


def test_exact_bilinear_values_on_a_two_texel_plane():
    # Level of 2 x 2 texels: with align_corners the texel centres sit at -1 and +1.
    plane = torch.zeros(3, 1, 2, 2, dtype=torch.float64)
    plane[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # xy plane: rows are y (-1, +1), columns x (-1, +1)
    plane[1, 0] = torch.tensor([[10.0, 20.0], [30.0, 40.0]])  # xz plane: rows z, columns x
    points = torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 1.0], [-1.0, 0.5, -1.0]], dtype=torch.float64)
    out = triplane_encode(points, [plane])
    assert out.shape == (3, 3)
    torch.testing.assert_close(out[:, 0], torch.tensor([2.5, 2.0, 1.0 + 0.75 * 2.0], dtype=torch.float64))
    torch.testing.assert_close(out[:, 1], torch.tensor([25.0, 40.0, 10.0], dtype=torch.float64))
    assert (out[:, 2] == 0).all()
    # outside [-1, 1] the border texel repeats
    torch.testing.assert_close(triplane_encode(torch.tensor([[3.0, -3.0, 0.0]], dtype=torch.float64), [plane])[0, 0],
                               torch.tensor(2.0, dtype=torch.float64))  # fmt: skip


def test_level_weights_scale_each_level():
    planes = [torch.ones(3, 1, 2, 2), torch.ones(3, 1, 4, 4)]
    out = triplane_encode(torch.zeros(1, 3), planes, torch.tensor([1.0, 0.0]))
    assert out.tolist() == [[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]]


def test_gradcheck_planes_and_points():
    generator = torch.Generator().manual_seed(1)
    plane = torch.rand(3, 2, 5, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    points = (torch.rand(6, 3, generator=generator, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, x: triplane_encode(x, [p]), (plane, points))


def test_bad_input():
    with pytest.raises(ValueError, match=r"expected points of shape \(P, 3\)"):
        triplane_encode(torch.zeros(4, 2), [torch.zeros(3, 1, 2, 2)])
    with pytest.raises(ValueError, match=r"expected planes of shape \(3, F, R, R\)"):
        triplane_encode(torch.zeros(4, 3), [torch.zeros(2, 1, 2, 2)])
    with pytest.raises(ValueError, match="plane resolutions"):
        TriplaneEncoding((1,), features=2)
    with pytest.raises(InputError, match="field.plane_resolutions"):
        FieldConfig(mode="texture", plane_resolutions=[64, 100000]).check()


def _texture_field(seed: int = 0, **config) -> NeuralStyleField:
    settings = {
        "mode": "texture",
        "plane_resolutions": [8, 32],
        "plane_features": 2,
        "plane_width": 16,
        "head_depth": 1,
        "progressive": False,
        **config,
    }
    config = FieldConfig(**settings)
    return NeuralStyleField(config, generator=torch.Generator().manual_seed(seed))


def test_texture_field_starts_grey_and_puts_its_planes_in_their_own_lr_group():
    field = _texture_field()
    out = field(torch.rand(20, 3) * 2 - 1)
    torch.testing.assert_close(out.colors, torch.full((20, 3), 0.5))
    assert out.displacement.abs().max() == 0
    groups = field.parameter_groups(1e-3)
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(3e-3)]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in field.planes.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(field.parameters()))
    assert "planes.planes.0" in field.state_dict() and not any(k.startswith("trunk.6") for k in field.state_dict())


def test_texture_field_round_trips_through_field_pt(tmp_path):
    field = _texture_field(symmetry="x")
    with torch.no_grad():
        field.colour_head[-1].weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(3))
        for plane in field.planes.planes:
            plane.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(4))
    points = torch.rand(15, 3) * 2 - 1
    loaded = load_field(field.save(tmp_path / "field.pt"))
    assert loaded.encoding == "triplane"
    torch.testing.assert_close(loaded(points).colors, field(points).colors)
    mirrored = points * torch.tensor([-1.0, 1.0, 1.0])
    assert torch.equal(loaded(points).colors, loaded(mirrored).colors)  # symmetry folds before encoding


def test_progressive_texture_field_fades_fine_levels_in():
    field = _texture_field(progressive=True)
    field.set_progress(0, 100)
    encoded = field.encode(torch.rand(5, 3))
    coarse = 3 * 2  # the first level's width
    assert encoded[:, 3 + coarse :].abs().max() == 0  # the finest level is off at the start
    field.set_progress(100, 100)
    assert field.encode(torch.rand(5, 3))[:, 3 + coarse :].abs().max() > 0
