"""Live-preview snapshots of a Text2Mesh run (``preview_every``): written atomically, the newest
few kept, announced on the JSON progress stream, and without effect on the run's result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylize import api
from stylize.cli import main
from stylize.engine import ModelCache
from stylize.errors import InputError
from stylize.mesh.config import resolve_mesh_config
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import save_mesh
from stylize.mesh.outputs import PreviewSnapshots, collect_result
from stylize.mesh.run import Text2Mesh
from stylize.mesh.text2mesh import Text2MeshRun


@pytest.fixture(scope="module")
def sphere(tmp_path_factory):
    vertices, faces = make_icosphere(1)
    path = tmp_path_factory.mktemp("preview") / "sphere.obj"
    save_mesh(path, vertices * 1.5 + 0.25, faces)
    return path


def _overrides(clip: str, **extra) -> dict:
    return {"iters": 5, "clip": [clip], "seed": 3, "views.n_views": 2, "output.turntable_frames": 1,
            "output.preview_views": 1, **extra}  # fmt: skip


@pytest.mark.slow
def test_snapshots_every_n_steps_newest_kept_and_the_result_unchanged(sphere, tiny_clip_spec, tmp_path):
    cache = ModelCache()
    seen: list[tuple[int, str, tuple]] = []

    def on_preview(step, path):
        with np.load(path) as data:  # readable when announced, with the vertex_data.npz fields
            seen.append((step, path.name, tuple(sorted(data.files))))
            assert data["vertices"].dtype == np.float32 and data["colors"].dtype == np.float32
            assert data["source_index"].dtype == np.int64

    with_previews = api.stylize_mesh(sphere, "a red circle", tmp_path / "a", preset="smoke", model_cache=cache,
                                     overrides=_overrides(tiny_clip_spec, preview_every=1), on_preview=on_preview)  # fmt: skip
    # Every step but the last (the run's own outputs follow it).
    assert [s[0] for s in seen] == [1, 2, 3, 4]
    assert seen[0][1] == "step_000001.npz" and seen[0][2] == ("colors", "source_index", "vertices")
    kept = sorted(p.name for p in (tmp_path / "a" / "preview").iterdir())
    assert kept == ["step_000002.npz", "step_000003.npz", "step_000004.npz"]  # the newest three, no temporaries

    plain = api.stylize_mesh(sphere, "a red circle", tmp_path / "b", preset="smoke", model_cache=cache,
                             overrides=_overrides(tiny_clip_spec))  # fmt: skip
    assert not (tmp_path / "b" / "preview").exists()
    assert np.array_equal(with_previews.vertices, plain.vertices) and np.array_equal(with_previews.colors, plain.colors)
    final = np.load(tmp_path / "a" / "vertex_data.npz")
    last = np.load(tmp_path / "a" / "preview" / "step_000004.npz")
    assert np.array_equal(last["source_index"], final["source_index"])
    # The snapshot is in the file's frame: close to the final result, one step earlier.
    assert np.abs(last["vertices"] - final["vertices"]).max() < 0.05


@pytest.mark.slow
def test_snapshot_matches_the_field_at_that_step(sphere, tiny_clip_spec, tmp_path):
    config = resolve_mesh_config("a red circle", "smoke", overrides=_overrides(tiny_clip_spec, iters=2))
    run = Text2MeshRun(Text2Mesh(config, sphere).mesh, config)
    run.step()
    path = PreviewSnapshots(tmp_path / "p", every=1).write(run, 1)
    expected = collect_result(run)
    with np.load(path) as data:
        np.testing.assert_array_equal(data["vertices"], expected.vertices.astype(np.float32))
        np.testing.assert_array_equal(data["colors"], expected.colors)


def test_snapshots_skip_non_finite_fields_and_stale_files_go(tmp_path):
    import torch

    folder = tmp_path / "preview"
    folder.mkdir()
    (folder / "step_000009.npz").write_bytes(b"stale")
    snapshots = PreviewSnapshots(folder, every=2)
    assert not list(folder.iterdir())
    assert [snapshots.due(s, 6) for s in range(1, 7)] == [False, True, False, True, False, False]

    class Broken:  # a run whose field went non-finite
        def field_colors_and_displacement(self):
            return torch.full((3, 3), float("nan")), torch.zeros(3, 1)

    assert snapshots.write(Broken(), 2) is None and not list(folder.iterdir())
    with pytest.raises(ValueError, match="every >= 1"):
        PreviewSnapshots(folder, every=0)


def test_preview_every_is_checked_and_may_change_on_resume(tiny_clip_spec):
    with pytest.raises(InputError, match="preview_every"):
        resolve_mesh_config("x", "smoke", overrides={"preview_every": -1})
    from stylize.mesh.resume import RESUMABLE_CHANGES

    assert "preview_every" in RESUMABLE_CHANGES


@pytest.mark.slow
def test_cli_announces_each_snapshot_on_the_json_stream(sphere, tiny_clip_spec, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["mesh", str(sphere), "a red circle", "--out", str(out), "--preset", "smoke", "--clip", tiny_clip_spec,
                 "--iters", "5", "--views", "2", "--set", "output.turntable_frames=1", "--set", "preview_every=2",
                 "--progress", "json"])  # fmt: skip
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    # phase events (writing the outputs) come after the last step, before done
    assert [e["event"] for e in events][-4:] == ["phase", "phase", "phase", "done"]
    kinds = [(e["event"], e.get("step")) for e in events if e["event"] != "phase"]
    assert kinds == [("step", 1), ("step", 2), ("preview", 2), ("step", 3), ("step", 4), ("preview", 4), ("step", 5),
                     ("done", None)]  # fmt: skip
    previews = [e for e in events if e["event"] == "preview"]
    assert previews[-1]["path"] == str((out / "preview" / "step_000004.npz").resolve())
    assert all(np.load(e["path"])["vertices"].shape[1] == 3 for e in previews)


@pytest.mark.slow
def test_best_of_warm_up_shows_the_leading_candidate(sphere, tiny_clip_spec, tmp_path):
    """Best of N: snapshots arrive during the warm-up too (the candidate leading on the training
    CLIP), numbered by iteration like the chosen run's that follow."""
    seen: list[tuple[int, np.ndarray]] = []

    def on_preview(step, path):
        with np.load(path) as data:
            seen.append((step, data["colors"].copy()))

    overrides = _overrides(tiny_clip_spec, preview_every=1, best_of=2, best_of_warmup=2, iters=4)
    result = api.stylize_mesh(sphere, "a red circle", tmp_path / "a", preset="smoke", overrides=overrides,
                              on_preview=on_preview)  # fmt: skip
    # warm-up: iterations 1 and 2 (both candidates each), then the chosen run's 3 (4 is the last)
    assert [step for step, _ in seen] == [1, 2, 3]
    assert result.iterations == 4
    # A warm-up snapshot is a candidate's field, not grey: the colours already vary over the surface.
    assert np.ptp(seen[0][1]) > 0


def test_a_bake_preview_shows_the_whole_object(tmp_path):
    """A sphere touching the unit ball (the loader's normalisation) fills its tiles without
    being cut: every tile's border is background and its middle is the object."""
    from PIL import Image

    from stylize.mesh.evaluate import save_mesh_preview
    from stylize.mesh.geometry import make_icosphere
    from stylize.mesh.io import save_mesh

    save_mesh(tmp_path / "ball.obj", *make_icosphere(3))
    path = save_mesh_preview(tmp_path / "ball.obj", tmp_path / "preview.png", size=64, views=2)
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0
    for tile in (pixels[:, :64], pixels[:, 64:]):
        border = np.concatenate([tile[0], tile[-1], tile[:, 0], tile[:, -1]])
        assert (border > 0.99).all()  # white background all round: nothing cut at the edges
        assert tile[24:40, 24:40].max() < 0.9  # the grey ball in the middle
