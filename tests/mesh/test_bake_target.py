"""Where `stylize bake` may write (stylize/mesh/bake_target.py): never over an input, a file it did
not write or a run's own outputs; under the run folder's lock; atomically, sweeping dead temps."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stylize import api
from stylize.cli import main
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.gltf.glb import read_glb
from stylize.mesh.io import save_mesh

pytest.importorskip("xatlas")

SMALL = {"iters": 2, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1, "output.preview_views": 2,
         "output.preview_size": 32, "output.turntable_frames": 2, "output.turntable_size": 32, "output.score_size": 32,
         "output.bake_size": 64}  # fmt: skip


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_clip_spec):
    """A vertex-mode run whose input is a GLB, and a surface-mode run with a normal map."""
    folder = tmp_path_factory.mktemp("bake_target")
    v, f = make_icosphere(2)
    save_mesh(folder / "ball.glb", v, f, np.full((len(v), 3), 0.5))
    api.stylize_mesh(folder / "ball.glb", "a red circle", out=folder / "vertex", preset="smoke",
                     overrides={"clip": [tiny_clip_spec], **SMALL})  # fmt: skip
    api.stylize_mesh(folder / "ball.glb", "a red circle", out=folder / "surface", preset="smoke",
                     overrides={"clip": [tiny_clip_spec], **SMALL, "field.mode": "surface",
                                "output.normal_map": True})  # fmt: skip
    return folder


def _copy_run(runs, name, tmp_path):
    run = tmp_path / name
    shutil.copytree(runs / name, run)
    return run


def _refused(argv, capsys, needle) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_bake_run_refuses_to_write_over_the_runs_input_mesh(runs, tmp_path, capsys):
    run = _copy_run(runs, "vertex", tmp_path)
    before = _digest(runs / "ball.glb")
    _refused(["bake", str(run), "--size", "64", "--out", str(runs / "ball.glb")], capsys, "over its input")
    assert _digest(runs / "ball.glb") == before


def test_bake_refuses_run_json_class_names_inside_a_run_folder(runs, tmp_path, capsys):
    run = _copy_run(runs, "vertex", tmp_path)
    before = _digest(run / "run.json")
    # run.glb's sidecar would be run.json: the run would be unusable
    _refused(["bake", str(run), "--size", "64", "--out", str(run / "run.glb")], capsys, "run's own run.json")
    _refused(["bake", str(run), "--size", "64", "--out", str(run / "mesh.glb")], capsys, "run's own mesh.glb")
    assert _digest(run / "run.json") == before and not (run / "run.glb").exists()
    api.bake(run, size=64)  # the run's own mesh_textured.glb stays allowed
    assert json.loads((run / "run.json").read_text())["complete"] is True


def test_bake_refuses_to_replace_an_unrelated_sidecar_or_glb(runs, tmp_path, capsys):
    (tmp_path / "package.json").write_text('{"name": "my-game"}')
    _refused(["bake", str(runs / "ball.glb"), "--size", "64", "--out", str(tmp_path / "package.glb")], capsys,
             "not a bake's sidecar")  # fmt: skip
    assert (tmp_path / "package.json").read_text() == '{"name": "my-game"}' and not (tmp_path / "package.glb").exists()
    shutil.copy(runs / "ball.glb", tmp_path / "asset.glb")
    _refused(["bake", str(runs / "vertex"), "--size", "64", "--out", str(tmp_path / "asset.glb")], capsys,
             "not an earlier bake")  # fmt: skip
    assert _digest(tmp_path / "asset.glb") == _digest(runs / "ball.glb")
    # an earlier bake (GLB + bake sidecar) is replaced
    api.bake(runs / "ball.glb", tmp_path / "again.glb", size=64)
    assert api.bake(runs / "ball.glb", tmp_path / "again.glb", size=128).size == 128


def test_baking_a_surface_runs_mesh_bakes_its_field_exactly(runs, tmp_path):
    run = _copy_run(runs, "surface", tmp_path)
    report = api.bake(run / "mesh.glb", size=64)
    assert report.exact and report.path == run / "mesh_textured.glb"
    assert json.loads((run / "mesh_textured.json").read_text())["bake"]["exact"] is True
    api.apply_field(run, runs / "ball.glb", tmp_path / "applied")  # an apply folder of the surface field too
    assert api.bake(tmp_path / "applied" / "mesh.ply", tmp_path / "a.glb", size=64).exact
    assert not api.bake(runs / "vertex" / "mesh.glb", tmp_path / "v.glb", size=64).exact  # vertex mode: its colours


def test_bake_refuses_a_run_folder_a_live_run_holds(runs, tmp_path, capsys):
    run = _copy_run(runs, "vertex", tmp_path)
    (run / ".stylize.lock").write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    before = _digest(run / "mesh_textured.json") if (run / "mesh_textured.json").exists() else None
    _refused(["bake", str(run), "--size", "64"], capsys, "in use by another run")
    assert not (run / "mesh_textured.glb").exists() or _digest(run / "mesh_textured.json") == before
    (run / ".stylize.lock").unlink()
    api.bake(run, size=64)
    assert not (run / ".stylize.lock").exists()  # released after the bake


def test_bake_sweeps_the_temporaries_of_a_killed_bake(runs, tmp_path):
    run = _copy_run(runs, "vertex", tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = run / f".mesh_textured.glb.{dead.pid}.abcdefgh.tmp"
    stale.write_bytes(b"half a GLB from a bake killed with SIGKILL")
    elsewhere = tmp_path / "out"
    elsewhere.mkdir()
    stale_out = elsewhere / f".baked.glb.{dead.pid}.abcdefgh.tmp"
    stale_out.write_bytes(b"half a GLB")
    api.bake(run, size=64)
    api.bake(run, elsewhere / "baked.glb", size=64)
    assert not stale.exists() and not stale_out.exists()
    assert not list(run.glob(".*.tmp*")) and not list(elsewhere.glob(".*.tmp*"))


def test_rebaking_a_normal_map_run_at_a_new_size_keeps_the_normal_map_and_its_textures(runs, tmp_path):
    run = _copy_run(runs, "surface", tmp_path)
    assert Image.open(run / "textures" / "normal.png").size == (64, 64)
    report = api.bake(run, size=128)
    document, _ = read_glb((run / "mesh_textured.glb").read_bytes())
    assert "normalTexture" in document["materials"][0] and report.normal_texture is not None
    for name in ("base_color", "normal"):  # the run's textures are the new bake's
        assert Image.open(run / "textures" / f"{name}.png").size == (128, 128)
    assert json.loads((run / "run.json").read_text())["bake"]["size"] == 128
    data = np.load(run / "vertex_data.npz")
    np.testing.assert_array_equal(data["face_uv"], report.face_uv)
    # a vertex-mode run's mesh.glb baked into the run's own mesh_textured.glb: the run follows too
    vertex = _copy_run(runs, "vertex", tmp_path)
    assert not api.bake(vertex / "mesh.glb", size=128).exact
    assert Image.open(vertex / "textures" / "base_color.png").size == (128, 128)
    assert json.loads((vertex / "run.json").read_text())["bake"]["size"] == 128


def test_every_bake_path_writes_its_preview(runs, tmp_path):
    assert not (runs / "vertex" / "mesh_textured.glb").exists()  # no bake asked, none written
    assert (runs / "surface" / "mesh_textured_preview.png").is_file()  # a surface run bakes and pictures it
    applied = api.apply_field(runs / "vertex", runs / "ball.glb", tmp_path / "applied", bake=True, bake_size=64)
    assert applied.files["mesh_textured_preview.png"].is_file()
    report = api.bake(runs / "vertex", tmp_path / "v.glb", size=64)
    assert report.preview == tmp_path / "v_preview.png" and report.preview.is_file()
