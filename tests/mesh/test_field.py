"""The neural style field: init, bounds, progressive encoding, normals, field.pt round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylize.errors import InputError
from stylize.mesh.config import FieldConfig
from stylize.mesh.field import NeuralStyleField, load_field, progressive_mask
from stylize.mesh.geometry import Normalization, make_icosphere, vertex_normals

SMALL = FieldConfig(width=32, depth=2, head_depth=1, n_frequencies=16)


def _sphere():
    v, f = make_icosphere(1)
    return torch.tensor(v, dtype=torch.float32), torch.tensor(f)


def test_paper_architecture_shapes_and_zero_init():
    field = NeuralStyleField(FieldConfig(), generator=torch.Generator().manual_seed(0))
    assert field.trunk[0].in_features == 3 + 2 * 256 == 515
    linears = [m for m in field.trunk if isinstance(m, torch.nn.Linear)]
    assert [layer.out_features for layer in linears] == [256] * 5
    assert len([m for m in field.trunk if isinstance(m, torch.nn.ReLU)]) == 5
    assert field.colour_head[-1].out_features == 3 and field.displacement_head[-1].out_features == 1
    assert len([m for m in field.colour_head if isinstance(m, torch.nn.Linear)]) == 3
    out = field(torch.rand(50, 3) * 2 - 1)
    assert torch.equal(out.colors, torch.full((50, 3), 0.5))
    assert torch.equal(out.displacement, torch.zeros(50, 1))


def test_fourier_rows_sorted_by_norm_and_sigma():
    field = NeuralStyleField(FieldConfig(n_frequencies=4096, sigma=5.0), generator=torch.Generator().manual_seed(1))
    norms = field.fourier_basis.norm(dim=1)
    assert field.fourier_basis.shape == (3, 4096)
    assert bool((norms[1:] >= norms[:-1]).all())
    assert abs(float(field.fourier_basis.std()) - 5.0) < 0.2
    sorted_cols = NeuralStyleField(
        FieldConfig(n_frequencies=64, sort_frequencies=True), generator=torch.Generator().manual_seed(1)
    )
    col_norms = sorted_cols.fourier_basis.norm(dim=0)
    assert bool((col_norms[1:] >= col_norms[:-1]).all())


def test_progressive_mask_by_hand():
    # n = 4, T = 8: tau = 1; band i weight = clamp(t - i, 0, 1)
    assert progressive_mask(4, 0, 8).tolist() == [0, 0, 0, 0]
    assert progressive_mask(4, 1.5, 8).tolist() == [1.0, 0.5, 0.0, 0.0]
    assert progressive_mask(4, 4, 8).tolist() == [1, 1, 1, 1]
    assert progressive_mask(4, 0, 8, enabled=False).tolist() == [1, 1, 1, 1]
    # paper: n = 256, T = 1500 -> all bands on after 2 n^2 / T = 87.4 iterations
    assert float(progressive_mask(256, 87, 1500).min()) < 1.0 and float(progressive_mask(256, 88, 1500).min()) == 1.0


def test_encoding_masks_frequencies_at_start():
    field = NeuralStyleField(SMALL, generator=torch.Generator().manual_seed(0))
    field.set_progress(0, 100)
    encoded = field.encode(torch.rand(5, 3))
    assert encoded.shape == (5, 3 + 32)
    assert torch.count_nonzero(encoded[:, 3:]) == 0


def test_displacement_never_exceeds_bound_and_follows_normals():
    field = NeuralStyleField(
        FieldConfig(width=32, depth=1, head_depth=1, n_frequencies=8, max_displacement=0.05),
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        field.displacement_head[-1].weight.normal_(0, 1000.0)
        field.displacement_head[-1].bias.fill_(50.0)
    vertices, faces = _sphere()
    with torch.no_grad():
        out = field(vertices)
    assert float(out.displacement.abs().max()) <= 0.05 + 1e-7
    assert float(out.displacement.abs().max()) > 0.049  # saturated, so the bound is really reached
    displaced, _ = field.stylize(vertices, faces)
    offset = displaced - vertices
    normals = vertex_normals(vertices, faces)
    assert torch.allclose(torch.linalg.cross(offset, normals), torch.zeros_like(offset), atol=1e-6)


def test_vertex_normals_of_sphere_point_outward():
    vertices, faces = _sphere()
    normals = vertex_normals(vertices, faces)
    assert float((normals * torch.nn.functional.normalize(vertices, dim=-1)).sum(-1).min()) > 0.98
    with pytest.raises(ValueError, match=r"\(V, 3\)"):
        vertex_normals(vertices[:, :2], faces)


def test_bad_config_and_positions():
    with pytest.raises(InputError, match="sigma"):
        NeuralStyleField(FieldConfig(sigma=0))
    with pytest.raises(ValueError, match=r"expected positions of shape \(V, 3\), got \(4, 2\)"):
        NeuralStyleField(SMALL)(torch.rand(4, 2))


def test_field_pt_round_trip_reproduces_colours(tmp_path):
    norm = Normalization(center=np.array([1.0, 2.0, 3.0]), scale=2.5)
    field = NeuralStyleField(SMALL, norm, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        field.colour_head[-1].weight.normal_()
    field.set_progress(3, 10)
    path = field.save(tmp_path / "field.pt", prompt="a red square")
    raw = torch.load(path, weights_only=True)
    assert raw["extra"]["prompt"] == "a red square"
    loaded = load_field(path)
    points = torch.rand(20, 3)
    assert torch.equal(loaded(points).colors, field(points).colors)
    assert loaded.normalization.scale == 2.5 and list(loaded.normalization.center) == [1.0, 2.0, 3.0]
    assert loaded.config == SMALL


def test_load_field_rejects_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_field(tmp_path / "missing.pt")
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(InputError, match="stylize.field/1"):
        load_field(tmp_path / "x.pt")


def test_same_generator_same_field():
    a = NeuralStyleField(SMALL, generator=torch.Generator().manual_seed(7))
    b = NeuralStyleField(SMALL, generator=torch.Generator().manual_seed(7))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=False):
        assert torch.equal(x, y), name


def test_field_pt_is_byte_identical_for_the_same_field(tmp_path):
    """Batch runs compare outputs byte for byte: the file must not depend on its name or the time."""
    field = NeuralStyleField(SMALL, Normalization(center=np.zeros(3), scale=1.0), generator=torch.Generator().manual_seed(1))
    first = field.save(tmp_path / "a" / "field.pt", prompt="x").read_bytes()
    second = field.save(tmp_path / "b" / "other.pt", prompt="x").read_bytes()
    assert first == second
    assert field.save(tmp_path / "c.pt", prompt="y").read_bytes() != first


def test_symmetry_backpropagates_to_positions_that_need_gradients():
    """``surface`` fields are evaluated at rasterised positions that carry gradients: folding a
    coordinate in place broke the first backward pass."""
    import dataclasses

    field = NeuralStyleField(dataclasses.replace(SMALL, symmetry="x"), generator=torch.Generator().manual_seed(0))
    positions = torch.randn(20, 3, requires_grad=True)
    out = field(positions)
    (out.colors.sum() + out.displacement.sum()).backward()
    assert positions.grad is not None and torch.isfinite(positions.grad).all()
    mirrored = positions.detach() * torch.tensor([-1.0, 1.0, 1.0])  # the same field on both sides of x = 0
    torch.testing.assert_close(field(mirrored).colors, out.colors.detach())
