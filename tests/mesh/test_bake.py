"""Texture bake (stylize/mesh/bake.py), `stylize bake` and the bake option of `stylize mesh`."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import trimesh
from gltf_validation import assert_valid
from PIL import Image
from trimesh.visual.color import uv_to_interpolated_color

from stylize import __version__, api
from stylize.cli import main
from stylize.errors import InputError
from stylize.mesh.bake import bake_mesh
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.gltf.glb import glb_extras
from stylize.mesh.io import load_mesh, save_mesh

pytest.importorskip("xatlas")


def smooth_colors(points: np.ndarray) -> np.ndarray:
    """A colour field with visible variation, defined at any point (so baked vertices can be checked)."""
    return 0.5 + 0.45 * np.sin(2.5 * points + np.array([0.0, 1.0, 2.0]))


def _glb_document(path) -> dict:
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20 : 20 + length])


def _trimesh_load(path) -> trimesh.Trimesh:
    return trimesh.load(path, process=False, force="mesh")


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bake")
    v, f = make_icosphere(3)
    v = v * np.array([1.0, 1.5, 0.8])
    report = bake_mesh(v, f, smooth_colors(v), folder / "ball.glb", size=1024,
                       metadata={"prompt": "a red circle", "seed": 3, "model": ["m"], "version": __version__})  # fmt: skip
    return folder, v, f, report


def test_baked_texture_matches_the_vertex_colours_at_their_uvs(baked):
    folder, v, _, report = baked
    mesh = _trimesh_load(folder / "ball.glb")
    texture = mesh.visual.material.baseColorTexture
    assert texture.size == (1024, 1024) and report.size == 1024
    assert len(mesh.vertices) == report.vertices > len(v)  # seams split vertices
    expected = smooth_colors(np.asarray(mesh.vertices, dtype=np.float64))  # the colour of each baked vertex's point
    sampled = uv_to_interpolated_color(mesh.visual.uv, texture)[:, :3] / 255.0  # trimesh's own sampler
    error = np.abs(sampled - expected)
    assert error.mean() <= 0.03, error.mean()
    ours = load_mesh(folder / "ball.glb", normalize=False)  # stylize's reader samples the texture too
    assert np.abs(ours.colors - expected).mean() <= 0.01
    assert 0.2 < report.coverage < 0.95 and report.charts >= 1 and not report.reused_uvs


def test_baked_glb_is_a_textured_gltf_with_metadata_and_sidecar(baked):
    folder, _, _, report = baked
    document = _glb_document(folder / "ball.glb")
    primitive = document["meshes"][0]["primitives"][0]
    assert set(primitive["attributes"]) == {"POSITION", "NORMAL", "TEXCOORD_0"}  # no COLOR_0 to tint the texture
    assert document["images"][0]["mimeType"] == "image/png"
    assert document["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"] == {"index": 0}
    extras = glb_extras(folder / "ball.glb")
    assert extras == {"prompt": "a red circle", "seed": 3, "model": ["m"], "version": __version__}
    sidecar = json.loads(report.sidecar.read_text())
    assert sidecar["prompt"] == "a red circle" and sidecar["bake"]["size"] == 1024
    assert set(sidecar["bake"]["timings"]) == {"unwrap", "raster", "dilate", "export"}


def test_bake_is_deterministic(baked, tmp_path):
    folder, v, f, _ = baked
    bake_mesh(v, f, smooth_colors(v), tmp_path / "again.glb", size=1024,
              metadata={"prompt": "a red circle", "seed": 3, "model": ["m"], "version": __version__})  # fmt: skip
    assert (tmp_path / "again.glb").read_bytes() == (folder / "ball.glb").read_bytes()


@pytest.mark.slow
def test_stylize_bake_keeps_existing_uvs_unless_asked(baked, tmp_path, capsys):
    folder, _, _, _ = baked
    source = _trimesh_load(folder / "ball.glb")
    assert main(["bake", str(folder / "ball.glb"), "--size", "256", "--out", str(tmp_path / "kept.glb")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reused_uvs"] and report["size"] == 256
    kept = _trimesh_load(tmp_path / "kept.glb")
    np.testing.assert_allclose(kept.visual.uv, source.visual.uv, atol=1e-7)
    assert kept.visual.material.baseColorTexture.size == (256, 256)
    assert glb_extras(tmp_path / "kept.glb")["prompt"] == "a red circle"  # metadata carried over
    # a picture of the baked GLB as a viewer shows it, listed with the files written
    preview = tmp_path / "kept_preview.png"
    assert report["preview"] == str(preview) and str(preview) in report["files"]
    from PIL import Image

    pixels = np.asarray(Image.open(preview).convert("RGB"), dtype=np.float32) / 255
    assert pixels.shape == (256, 1024, 3)
    covered = pixels[(pixels < 0.98).any(-1)]
    texture = np.asarray(kept.visual.material.baseColorTexture.convert("RGB"), dtype=np.float32).reshape(-1, 3) / 255
    assert len(covered) > 0.1 * 256 * 1024  # the mesh is in the picture
    assert int(covered.mean(0).argmax()) == int(texture.mean(0).argmax())  # in the texture's colour
    assert main(["bake", str(folder / "ball.glb"), "--size", "256", "--unwrap", "--out", str(tmp_path / "new.glb")]) == 0
    assert not json.loads(capsys.readouterr().out)["reused_uvs"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--size", "1000"], "power of two"),
        (["--size", "8"], "power of two"),
        (["--out", "{tmp}/x.obj"], "expected a .glb output path"),
    ],
)
def test_bake_bad_options_exit_2(args, needle, baked, tmp_path, capsys):
    folder, _, _, _ = baked
    argv = ["bake", str(folder / "ball.glb")] + [a.format(tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_bake_refuses_a_mesh_without_colours(tmp_path):
    v, f = make_icosphere(1)
    save_mesh(tmp_path / "plain.obj", v, f)
    with pytest.raises(InputError, match="no vertex colours or texture to bake"):
        api.bake(tmp_path / "plain.obj")


@pytest.mark.slow
def test_stylize_mesh_bake_option_writes_mesh_textured_glb(tiny_clip_spec, tmp_path, capsys):
    v, f = make_icosphere(2)
    save_mesh(tmp_path / "in.obj", v * 3.0, f)
    out = tmp_path / "run"
    code = main(["mesh", str(tmp_path / "in.obj"), "a red circle", "--preset", "smoke", "--clip", tiny_clip_spec,
                 "--iters", "2", "--bake", "--bake-size", "128", "--out", str(out), "--seed", "4",
                 "--set", "output.turntable_frames=2"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    textured = _trimesh_load(out / "mesh_textured.glb")
    assert textured.visual.material.baseColorTexture.size == (128, 128)
    extras = glb_extras(out / "mesh_textured.glb")
    assert extras["prompt"] == "a red circle" and extras["seed"] == 4 and extras["version"] == __version__
    assert extras["model"] == [tiny_clip_spec]
    run = json.loads((out / "run.json").read_text())
    assert run["bake"]["size"] == 128 and (out / "mesh_textured.json").is_file()
    assert Image.open(out / "mesh_textured_preview.png").size == (1024, 256)  # its picture, as every bake writes
    assert_valid(out / "mesh.glb")  # both GLBs of the run folder pass the Khronos validator
    assert_valid(out / "mesh_textured.glb")
    # The textured mesh shows the run's colours: sample it where the run's vertices are.
    coloured = load_mesh(out / "mesh.ply", normalize=False)
    baked_colors = load_mesh(out / "mesh_textured.glb", normalize=False)
    lookup = {tuple(np.round(p, 4)): c for p, c in zip(coloured.file_vertices, coloured.colors, strict=False)}
    expected = np.array([lookup[tuple(np.round(p, 4))] for p in baked_colors.file_vertices])
    assert np.abs(baked_colors.colors - expected).mean() <= 0.03


def test_a_bake_too_big_for_this_machine_is_refused_before_any_work(tmp_path, monkeypatch):
    # The largest size allowed (16384) used to run for minutes and end in MemoryError.
    import stylize.config
    from stylize.mesh.bake import estimate_bake_bytes

    monkeypatch.setattr(stylize.config, "physical_memory_bytes", lambda: 24 * 2**30)
    assert estimate_bake_bytes(16384, 0, 3) > 24 * 2**30 > estimate_bake_bytes(8192, 14, 3)
    vertices, faces = make_icosphere(1)
    with pytest.raises(InputError, match=r"a 16384 px bake would need about \d+ GiB, more than this machine's 24 GiB"):
        bake_mesh(vertices, faces, np.full((len(vertices), 3), 0.5), tmp_path / "huge.glb", size=16384)
    assert not (tmp_path / "huge.glb").exists()
