"""`stylize apply`: a saved field evaluated on another mesh of the same object."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import trimesh

from stylize import api
from stylize.cli import main
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import load_mesh, save_mesh

SETTINGS = {
    "iters": 4,
    "render_size": 32,
    "output.turntable_frames": 2,
    "output.preview_views": 2,
    "output.preview_size": 32,
    "output.score_size": 32,
    "output.turntable_size": 32,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_clip_spec):
    folder = tmp_path_factory.mktemp("apply")
    v, f = make_icosphere(2)
    v = v * 2.0 + np.array([1.0, 0.5, -0.25])  # not centred, not unit size: the frame matters
    save_mesh(folder / "coarse.ply", v, f)
    dense_v, dense_f = trimesh.remesh.subdivide(v, f)  # keeps the original vertices first
    save_mesh(folder / "dense.ply", dense_v, dense_f)
    result = api.stylize_mesh(folder / "coarse.ply", "a red circle", out=folder / "run", preset="smoke",
                              overrides={"clip": [tiny_clip_spec], **SETTINGS, "field.symmetry": "y"})  # fmt: skip
    return folder, len(v), result


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_apply_on_a_subdivided_copy_keeps_the_runs_colours_at_the_original_vertices(trained, tmp_path):
    folder, n, result = trained
    before = _digest(folder / "dense.ply")
    applied = api.apply_field(folder / "run", folder / "dense.ply", out=tmp_path / "applied")
    assert _digest(folder / "dense.ply") == before
    assert applied.status == "applied" and len(applied.vertices) > n
    assert np.abs(result.colors - 0.5).max() > 0.05  # the run changed colours, so equality means something
    np.testing.assert_allclose(applied.colors[:n], result.colors, rtol=0, atol=1e-6)
    np.testing.assert_allclose(applied.vertices[:n], result.vertices, rtol=0, atol=1e-5)
    # new vertices get the field's colours too (not grey): compare with the mean of their edge's ends
    assert np.abs(applied.colors[n:] - 0.5).max() > 0.05
    names = {p.name for p in (tmp_path / "applied").iterdir()}
    assert {"mesh.glb", "mesh.ply", "mesh.obj", "field.pt", "preview.png", "turntable.gif", "config.toml",
            "run.json"} <= names  # fmt: skip
    written = load_mesh(tmp_path / "applied" / "mesh.ply", normalize=False)
    assert len(written.vertices) == len(applied.vertices)
    # field.pt alone gives the same, and the copied field.pt can be applied again
    again = api.apply_field(folder / "run" / "field.pt", folder / "dense.ply", out=None)
    assert np.array_equal(again.colors, applied.colors)
    twice = api.apply_field(tmp_path / "applied", folder / "dense.ply", out=None)
    assert np.array_equal(twice.colors, applied.colors)


@pytest.mark.slow
def test_cli_apply_with_bake_and_mask(trained, tmp_path, capsys):
    folder, n, _ = trained
    dense = load_mesh(folder / "dense.ply", normalize=False)
    np.savetxt(tmp_path / "mask.txt", np.arange(n, len(dense.vertices)), fmt="%d")  # only the new vertices
    out = tmp_path / "out"
    code = main(["apply", str(folder / "run"), str(folder / "dense.ply"), "--out", str(out), "--bake", "--bake-size",
                 "64", "--mask", str(tmp_path / "mask.txt"), "--device", "cpu"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "applied" and "mesh_textured.glb" in report["files"]
    written = load_mesh(out / "mesh.ply", normalize=False)
    assert np.array_equal(written.file_vertices[:n], dense.file_vertices[:n].astype(np.float32))
    assert np.array_equal(written.colors[:n], np.full((n, 3), 128 / 255, np.float32))  # grey 0.5 as 8 bits
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "apply" and run["status"] == "applied"


@pytest.mark.slow
@pytest.mark.parametrize(
    "source, mesh, needle",
    [
        ("{tmp}/nothing", "{folder}/dense.ply", "not found"),
        ("{tmp}", "{folder}/dense.ply", "no field.pt"),
        ("{folder}/run", "{tmp}/missing.obj", "not found"),
        ("{folder}/dense.ply", "{folder}/dense.ply", "not a readable field checkpoint"),
    ],
)
def test_cli_apply_bad_inputs_exit_2(source, mesh, needle, trained, tmp_path, capsys):
    folder, _, _ = trained
    names = {"tmp": tmp_path, "folder": folder}
    assert main(["apply", source.format(**names), mesh.format(**names), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not (tmp_path / "o" / "mesh.glb").exists()


@pytest.mark.slow
def test_apply_warns_when_the_target_is_not_the_training_object(trained, tmp_path, caplog):
    folder, _, _ = trained
    v, f = make_icosphere(2)
    save_mesh(tmp_path / "elsewhere.ply", v * 2.0 + np.array([6.0, 0.5, -0.25]), f)  # same shape, moved
    save_mesh(tmp_path / "tiny.ply", v * 0.5 + np.array([1.0, 0.5, -0.25]), f)  # same place, a quarter of the size
    with caplog.at_level("WARNING", logger="stylize.mesh.apply"):
        api.apply_field(folder / "run", folder / "dense.ply", out=None)
        assert "does not look like" not in caplog.text  # the same object, denser
        for name in ("elsewhere.ply", "tiny.ply"):
            caplog.clear()
            api.apply_field(folder / "run", tmp_path / name, out=None)
            assert f"{name} does not look like the mesh the field was trained on" in caplog.text
