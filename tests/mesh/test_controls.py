"""Region masks, input colours and symmetry (stylize/mesh/controls.py and their use in runs)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from stylize import api
from stylize.cli import main
from stylize.errors import InputError
from stylize.mesh.config import FieldConfig
from stylize.mesh.controls import compose, load_mask, symmetric_normalization
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import load_mesh, save_mesh

SMOKE = {
    "iters": 3,
    "render_size": 32,
    "output.turntable_frames": 2,
    "output.preview_views": 2,
    "output.preview_size": 32,
    "output.score_size": 32,
    "output.turntable_size": 32,
}


# --- load_mask -------------------------------------------------------------------------------


def test_mask_from_npy_weights_and_indices(tmp_path):
    weights = np.array([0.0, 0.25, 1.0, 0.0], dtype=np.float32)
    np.save(tmp_path / "w.npy", weights)
    np.testing.assert_array_equal(load_mask(tmp_path / "w.npy", 4), weights)
    np.save(tmp_path / "i.npy", np.array([3, 1]))
    np.testing.assert_array_equal(load_mask(tmp_path / "i.npy", 4), [0, 1, 0, 1])
    # an integer .npy is always indices, even when it could read as 0/1 weights
    np.save(tmp_path / "i01.npy", np.array([0, 1, 1, 0]))
    np.testing.assert_array_equal(load_mask(tmp_path / "i01.npy", 4), [1, 1, 0, 0])
    np.testing.assert_array_equal(load_mask(np.array([True, False, False, True]), 4), [1, 0, 0, 1])
    np.testing.assert_array_equal(load_mask(torch.tensor([0.5, 0.0]), 2), [0.5, 0.0])


def test_mask_from_text_weights_indices_and_the_binary_rule(tmp_path):
    (tmp_path / "w.txt").write_text("0.0\n0.5\n1\n# a comment\n0\n")
    np.testing.assert_array_equal(load_mask(tmp_path / "w.txt", 4), [0, 0.5, 1, 0])
    (tmp_path / "i.txt").write_text("2, 3\n")
    np.testing.assert_array_equal(load_mask(tmp_path / "i.txt", 4), [0, 0, 1, 1])
    (tmp_path / "b.txt").write_text("0\n1\n1\n0\n")  # one 0/1 per vertex: weights, not indices
    np.testing.assert_array_equal(load_mask(tmp_path / "b.txt", 4), [0, 1, 1, 0])


@pytest.mark.parametrize(
    "content, needle",
    [
        (np.array([0.5, 0.5, 0.5], dtype=np.float32), "expected 4 per-vertex weights"),
        (np.array([0.0, 1.5, 0.0, 0.0]), "weights must be in [0, 1], got 1.5 at vertex 1"),
        (np.array([0.0, np.nan, 0.0, 1.0]), "at vertex 1"),
        (np.array([1, 4]), "vertex index 4 out of range for a mesh of 4 vertices"),
        (np.array([-1]), "vertex index -1"),
        (np.zeros(4, dtype=np.float32), "no vertex has a weight above 0"),
        (np.ones((2, 2)), "flat list"),
        ("0.5\nabc\n", "'abc' is not a number"),
        (b"\x93NUMPY garbage", "not a readable .npy"),
        (None, "not found"),
    ],
)
def test_bad_masks_are_one_line_input_errors(content, needle, tmp_path):
    if isinstance(content, np.ndarray):
        path = tmp_path / "mask.npy"
        np.save(path, content)
    elif isinstance(content, bytes):
        path = tmp_path / "mask.npy"
        path.write_bytes(content)
    elif isinstance(content, str):
        path = tmp_path / "mask.txt"
        path.write_text(content)
    else:
        path = tmp_path / "missing.npy"
    with pytest.raises(InputError) as info:
        load_mask(path, 4)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_compose_keeps_weight_zero_exactly_and_blends_the_rest():
    colors = torch.tensor([[0.9, 0.1, 0.2], [0.9, 0.1, 0.2], [0.9, 0.1, 0.2]])
    base = torch.tensor([[0.123456789, 0.3, 0.7], [0.0, 0.0, 0.0], [0.2, 0.4, 0.6]])
    displacement = torch.tensor([[0.05], [0.05], [-0.02]])
    out_colors, out_disp = compose(colors, displacement, base, torch.tensor([0.0, 1.0, 0.5]))
    assert torch.equal(out_colors[0], base[0]) and float(out_disp[0]) == 0.0
    torch.testing.assert_close(out_colors[1], colors[1])
    torch.testing.assert_close(out_colors[2], (colors[2] + base[2]) / 2)
    torch.testing.assert_close(out_disp[1:], torch.tensor([[0.05], [-0.01]]))
    grey, _ = compose(colors, displacement, None, torch.tensor([0.0, 1.0, 1.0]))
    assert torch.equal(grey[0], torch.full((3,), 0.5))
    assert compose(colors, displacement, base, None)[0] is colors  # no mask: the field as is


# --- masked runs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sphere_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("controls")
    v, f = make_icosphere(2)
    colors = np.random.default_rng(0).random((len(v), 3))
    save_mesh(folder / "coloured.ply", v * 2.0 + np.array([1.0, -0.5, 0.25]), f, colors)
    save_mesh(folder / "plain.obj", v * 3.0, f)
    weights = np.where(v[:, 0] > 0.3, 1.0, 0.0).astype(np.float32)
    weights[np.abs(v[:, 0] - 0.3) < 0.15] = 0.5
    np.save(folder / "mask.npy", weights)
    return folder, weights


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coloured.ply", "plain.obj"])
def test_weight_zero_vertices_are_unchanged_bit_for_bit_in_every_output(name, sphere_files, tiny_clip_spec, tmp_path):
    folder, weights = sphere_files
    before = _digest(folder / name)
    result = api.stylize_mesh(
        folder / name,
        "a red circle",
        out=tmp_path / "run",
        preset="smoke",
        overrides={"clip": [tiny_clip_spec], **SMOKE},
        mask=folder / "mask.npy",
    )
    assert _digest(folder / name) == before
    source = load_mesh(folder / name, normalize=False)
    keep, moved = weights == 0, weights > 0
    expected_colors = source.colors if source.colors is not None else np.full((len(weights), 3), 0.5, np.float32)
    assert np.array_equal(result.vertices[keep], source.file_vertices[keep])
    assert np.array_equal(result.colors[keep], expected_colors[keep])
    # the masked region really changed, so the comparison above could have failed
    assert np.abs(result.colors[moved] - expected_colors[moved]).max() > 0.05
    assert np.abs(result.vertices[moved] - source.file_vertices[moved]).max() > 1e-4
    # Each format holds the input's own values at its precision: PLY and GLB float32, OBJ 8 decimals.
    stored = {
        "mesh.ply": lambda x: x.astype(np.float32),
        "mesh.glb": lambda x: x.astype(np.float32),
        "mesh.obj": lambda x: np.round(x, 8),
    }
    for output, as_stored in stored.items():
        written = load_mesh(tmp_path / "run" / output, normalize=False)
        assert np.array_equal(written.file_vertices[keep], as_stored(source.file_vertices[keep])), output
        if output == "mesh.glb":  # linear float32 COLOR_0, converted back to sRGB on load
            np.testing.assert_allclose(written.colors[keep], expected_colors[keep], atol=1e-6)
        else:  # 8-bit sRGB
            assert np.array_equal(np.round(written.colors[keep] * 255), np.round(expected_colors[keep] * 255)), output


@pytest.mark.slow
def test_mask_carries_through_subdivision(sphere_files, tiny_clip_spec):
    folder, weights = sphere_files
    result = api.stylize_mesh(folder / "coloured.ply", "a red circle", out=None, preset="smoke",
                              overrides={"clip": [tiny_clip_spec], "target_vertices": 400, **SMOKE},
                              mask=np.flatnonzero(weights == 1))  # fmt: skip
    source = load_mesh(folder / "coloured.ply", normalize=False)
    n = len(source.vertices)
    assert len(result.vertices) > n
    keep = weights < 1  # indices mean weight 1, everything else 0
    assert np.array_equal(result.vertices[:n][keep], source.file_vertices[keep])
    assert np.array_equal(result.colors[:n][keep], source.colors[keep])


def test_cli_mask_errors_exit_2_and_write_nothing(sphere_files, tiny_clip_spec, tmp_path, capsys):
    folder, _ = sphere_files
    np.save(tmp_path / "short.npy", np.ones(5, dtype=np.float32))
    out = tmp_path / "out"
    code = main(
        [
            "mesh",
            str(folder / "plain.obj"),
            "a cat",
            "--preset",
            "smoke",
            "--clip",
            tiny_clip_spec,
            "--mask",
            str(tmp_path / "short.npy"),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "short.npy" in err[0] and "expected 162 per-vertex weights" in err[0]
    assert not (out / "mesh.glb").exists()


# --- symmetry --------------------------------------------------------------------------------


def _random_heads(field: NeuralStyleField, seed: int = 0) -> NeuralStyleField:
    """The last layers start at zero (a grey, flat field); give them values so outputs vary."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for head in (field.colour_head, field.displacement_head):
            head[-1].weight.copy_(torch.randn(head[-1].weight.shape, generator=generator))
    return field


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_symmetric_field_is_exactly_mirrored(axis):
    config = FieldConfig(width=32, depth=1, head_depth=1, n_frequencies=16, symmetry=axis)
    field = _random_heads(NeuralStyleField(config, generator=torch.Generator().manual_seed(1)))
    points = torch.rand(500, 3) * 2 - 1
    mirrored = points.clone()
    mirrored[:, "xyz".index(axis)] *= -1
    out, out_mirrored = field(points), field(mirrored)
    assert torch.equal(out.colors, out_mirrored.colors) and torch.equal(out.displacement, out_mirrored.displacement)
    plain = _random_heads(NeuralStyleField(FieldConfig(width=32, depth=1, head_depth=1, n_frequencies=16),
                                           generator=torch.Generator().manual_seed(1)))  # fmt: skip
    assert (plain(points).colors - plain(mirrored).colors).abs().max() > 1e-3


def _mirrored_sphere() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An icosphere snapped to exact mirror symmetry about x = 0; returns (v, f, partner index)."""
    v, f = make_icosphere(2)
    partner = np.array([np.argmin(np.linalg.norm(v - p * np.array([-1.0, 1.0, 1.0]), axis=1)) for p in v])
    assert (partner[partner] == np.arange(len(v))).all()
    for i, j in enumerate(partner):
        if i == j:
            v[i, 0] = 0.0
        elif i < j:
            v[j] = v[i] * np.array([-1.0, 1.0, 1.0])
    return v, f, partner


@pytest.mark.slow
def test_symmetric_run_gives_mirrored_colours_about_the_files_origin_plane(tiny_clip_spec, tmp_path):
    v, f, partner = _mirrored_sphere()
    # Off-centre in y and z and scaled, but symmetric about the file's x = 0 plane.
    save_mesh(tmp_path / "sym.ply", v * np.array([1.5, 2.0, 1.0]) + np.array([0.0, 3.0, -1.0]), f)
    overrides = {"clip": [tiny_clip_spec], **SMOKE, "views.center_azimuth": 0.3}
    result = api.stylize_mesh(tmp_path / "sym.ply", "a red circle", out=None, preset="smoke",
                              overrides={**overrides, "field.symmetry": "x"})  # fmt: skip
    assert np.array_equal(result.colors, result.colors[partner])
    mirrored = result.vertices[partner] * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(result.vertices, mirrored, atol=1e-5)
    assert np.abs(result.colors - 0.5).max() > 0.05  # the field did change colours
    plain = api.stylize_mesh(tmp_path / "sym.ply", "a red circle", out=None, preset="smoke", overrides=overrides)
    assert np.abs(plain.colors - plain.colors[partner]).max() > 1e-3  # without symmetry they differ


def test_symmetric_normalization_centres_the_mirror_axis_on_the_file_origin(tmp_path):
    v, f, _ = _mirrored_sphere()
    save_mesh(tmp_path / "s.ply", v + np.array([0.0, 5.0, 0.0]), f)
    mesh = symmetric_normalization(load_mesh(tmp_path / "s.ply"), "x")
    assert mesh.normalization.center[0] == 0.0 and abs(mesh.normalization.center[1] - 5.0) < 1e-6
    assert np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InputError, match="symmetry axis 'w'"):
        symmetric_normalization(mesh, "w")


# --- starting from the input's colours --------------------------------------------------------


def test_input_colours_start_the_field_from_the_mesh_colours(sphere_files, tiny_clip_spec):
    from stylize.mesh.controls import prepare_mesh
    from stylize.mesh.text2mesh import Text2MeshRun

    folder, _ = sphere_files
    config = api.mesh_config("a red circle", "smoke", overrides={"clip": [tiny_clip_spec], "field.input_colours": True})
    mesh, _, _ = prepare_mesh(folder / "coloured.ply", config)
    _, colors = Text2MeshRun(mesh, config).stylized()
    expected = np.clip(mesh.colors, 0.02, 0.98)  # kept off 0 and 1 so the logit stays finite
    np.testing.assert_allclose(colors.numpy(), expected, atol=1e-5)
    config.field.input_colours = False
    _, grey = Text2MeshRun(mesh, config).stylized()
    assert torch.equal(grey, torch.full_like(grey, 0.5))


@pytest.mark.slow
def test_cli_symmetry_and_input_colours_reach_the_config(sphere_files, tiny_clip_spec, tmp_path, capsys):
    folder, _ = sphere_files
    out = tmp_path / "run"
    code = main(["mesh", str(folder / "coloured.ply"), "a red circle", "--preset", "smoke", "--clip", tiny_clip_spec,
                 "--iters", "2", "--symmetry", "y", "--input-colours", "--out", str(out),
                 "--set", "output.turntable_frames=2"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    config = (out / "config.toml").read_text()
    assert 'symmetry = "y"' in config and "input_colours = true" in config
