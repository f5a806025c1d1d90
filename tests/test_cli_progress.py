"""``--progress json`` of ``stylize mesh`` / ``stylize draw`` / ``stylize paint`` and the order-keeping ``vertex_data.npz``:
the contract the Blender add-on's worker relies on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylize.cli import main
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import save_mesh


def _events(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every stdout line must be JSON


@pytest.fixture(scope="module")
def sphere_with_loose_vertex(tmp_path_factory):
    """An icosphere OBJ whose vertex 3 is used only by a degenerate face (the loader drops both)."""
    vertices, faces = make_icosphere(1)
    loose = np.array([[5.0, 5.0, 5.0]])
    vertices = np.concatenate([vertices[:3], loose, vertices[3:]])
    faces = np.where(faces >= 3, faces + 1, faces)
    faces = np.concatenate([faces, [[3, 3, 4]]])
    path = tmp_path_factory.mktemp("progress") / "sphere.obj"
    save_mesh(path, vertices, faces)
    return path, vertices


def test_mesh_progress_json_one_line_per_step_then_done(sphere_with_loose_vertex, tiny_clip_spec, tmp_path, capsys):
    path, vertices = sphere_with_loose_vertex
    out = tmp_path / "run"
    code = main(["mesh", str(path), "a red circle", "--out", str(out), "--preset", "smoke", "--clip", tiny_clip_spec,
                 "--iters", "3", "--views", "2", "--seed", "1", "--set", "output.turntable_frames=2", "--progress", "json"])  # fmt: skip
    assert code == 0
    events = _events(capsys.readouterr().out)
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3] and all(e["total"] == 3 for e in steps)
    assert all(isinstance(e["loss"], float) and isinstance(e["score"], float) for e in steps)
    assert events[-1]["event"] == "done" and events[-1]["out"] == str(out) and events[-1]["status"] == "finished"
    # between the last step and done: what writing the outputs is doing (no bake asked: no baking)
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == ["scoring", "writing", "rendering"]
    assert [e["event"] for e in events].index("phase") > [e["event"] for e in events].index("step") + 2

    data = np.load(out / "vertex_data.npz")
    source = data["source_index"]
    # Every vertex but the loose one comes back, in file order, with its index in the file.
    assert source.tolist() == [i for i in range(len(vertices)) if i != 3]
    assert data["colors"].shape == (len(source), 3) and data["colors"].dtype == np.float32
    assert ((data["colors"] >= 0) & (data["colors"] <= 1)).all()
    moved = np.linalg.norm(data["vertices"] - vertices[source], axis=1)
    assert moved.max() <= 0.1 * 1.0 + 1e-5  # max_displacement (0.1) x normalisation scale (unit sphere)


def test_mesh_progress_json_error_goes_to_stderr_exit_2(sphere_with_loose_vertex, tiny_clip_spec, tmp_path, capsys):
    path, _ = sphere_with_loose_vertex
    code = main(["mesh", str(path), "", "--out", str(tmp_path / "run"), "--preset", "smoke", "--clip", tiny_clip_spec,
                 "--progress", "json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("stylize: error:") and "prompt" in captured.err.lower()


def test_draw_progress_json_counts_steps_over_candidates(tiny_clip_spec, tmp_path, capsys):
    out = tmp_path / "draw"
    code = main(["draw", "a red circle", "--out", str(out), "--preset", "smoke", "--clip", tiny_clip_spec, "--device", "cpu",
                 "--iters", "2", "--size", "32", "--paths", "3", "--best-of", "2", "--progress", "json"])  # fmt: skip
    assert code == 0
    events = _events(capsys.readouterr().out)
    steps = [e for e in events if e["event"] == "step"]
    assert [(e["step"], e["total"]) for e in steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(isinstance(e["score"], float) for e in steps)
    assert events[-1]["event"] == "done" and events[-1]["svg"] == str(out / "drawing.svg")
    assert (out / "drawing.svg").is_file()


def test_paint_progress_json_one_line_per_step_then_done(tiny_clip_spec, tmp_path, capsys):
    out = tmp_path / "paint"
    code = main(["paint", "a red circle", "--out", str(out), "--preset", "smoke", "--clip", tiny_clip_spec, "--device", "cpu",
                 "--iters", "2", "--size", "32", "--progress", "json"])  # fmt: skip
    assert code == 0
    events = _events(capsys.readouterr().out)
    steps = [e for e in events if e["event"] == "step"]
    assert [(e["step"], e["total"]) for e in steps] == [(1, 2), (2, 2)]
    assert all(isinstance(e["loss"], float) and isinstance(e["score"], float) for e in steps)
    assert events[-1]["event"] == "done" and events[-1]["out"] == str(out) and events[-1]["status"] == "finished"
    assert (out / "image.png").is_file()
