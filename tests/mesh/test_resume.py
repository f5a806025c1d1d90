"""Checkpoints and --resume: a resumed run ends bit for bit where an uninterrupted one does (CPU)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from generation_helpers import TEST_THREADS

from stylize import api
from stylize.cli import main
from stylize.errors import InputError, Interrupted
from stylize.mesh.field import load_field
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import save_mesh
from stylize.mesh.resume import load_checkpoint, resumed_config

SETTINGS = {
    "iters": 6,
    "checkpoint_every": 2,
    "log_every": 1,
    "render_size": 32,
    "output.turntable_frames": 2,
    "output.preview_views": 2,
    "output.preview_size": 32,
    "output.score_size": 32,
    "output.turntable_size": 32,
}


class Crash(RuntimeError):
    pass


def _crash_at(step: int):
    def on_step(done: int, total: int, metrics: dict) -> None:
        if done == step + 1:  # after iteration `step` (0-based)
            raise Crash(f"simulated crash at step {step}")

    return on_step


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_clip_spec):
    torch.set_num_threads(TEST_THREADS)  # as the autouse fixture sets for each test: this module fixture runs before it
    folder = tmp_path_factory.mktemp("resume")
    v, f = make_icosphere(2)
    save_mesh(folder / "sphere.ply", v * 1.5 + 0.2, f, np.random.default_rng(3).random((len(v), 3)))
    mask = (v[:, 1] > -0.2).astype(np.float32)
    overrides = {"clip": [tiny_clip_spec], **SETTINGS, "field.input_colours": True}
    reference = api.stylize_mesh(folder / "sphere.ply", "a red circle", out=folder / "uninterrupted", preset="smoke",
                                 overrides=overrides, mask=mask)  # fmt: skip
    return folder, overrides, mask, reference


def _losses(run_dir) -> list[tuple[int, float]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines)]


def _same_result(result, reference) -> None:
    assert np.array_equal(result.colors, reference.colors)
    assert np.array_equal(result.vertices, reference.vertices)
    for name, value in reference.field.state_dict().items():
        assert torch.equal(result.field.state_dict()[name], value), name


@pytest.mark.slow
def test_resume_after_a_crash_equals_the_uninterrupted_run(setup, tmp_path):
    folder, overrides, mask, reference = setup
    out = tmp_path / "crashed"
    with pytest.raises(Crash):
        api.stylize_mesh(folder / "sphere.ply", "a red circle", out=out, preset="smoke", overrides=overrides, mask=mask,
                         on_step=_crash_at(4))  # fmt: skip
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["iteration"] == 4 and not (out / "mesh.glb").exists()
    # Resume from the folder alone: input, prompt, config and mask come from the checkpoint.
    result = api.stylize_mesh(resume=out)
    assert result.status == "finished" and result.iterations == 6 and result.out_dir == out
    _same_result(result, reference)
    assert _losses(out) == _losses(folder / "uninterrupted")  # metrics logged once per step, same values
    field = load_field(out / "field.pt")
    assert torch.equal(field.state_dict()["trunk.0.weight"], reference.field.state_dict()["trunk.0.weight"])
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["iterations"] == 6 and run_json["status"] == "finished"


@pytest.mark.slow
def test_ctrl_c_mid_step_writes_a_checkpoint_that_resumes_to_the_same_result(setup, tmp_path, monkeypatch):
    from stylize.mesh.text2mesh import Text2MeshRun

    folder, overrides, mask, reference = setup
    out = tmp_path / "ctrl-c"
    original_step = Text2MeshRun.step

    def step_then_interrupt(self):
        record = original_step(self)  # the field, Adam and every random stream have moved on ...
        if self.iteration == 5:
            raise KeyboardInterrupt  # ... when Ctrl-C lands, before the step is recorded
        return record

    monkeypatch.setattr(Text2MeshRun, "step", step_then_interrupt)
    no_periodic = {**overrides, "checkpoint_every": 0}
    with pytest.raises(Interrupted) as stopped:
        api.stylize_mesh(folder / "sphere.ply", "a red circle", out=out, preset="smoke", overrides=no_periodic, mask=mask)
    interrupted = stopped.value.result
    monkeypatch.setattr(Text2MeshRun, "step", original_step)
    assert interrupted.status == "interrupted" and interrupted.iterations == 4
    assert torch.load(out / "checkpoint.pt", weights_only=True)["iteration"] == 4  # the start of the cut step

    result = api.stylize_mesh(resume=out)
    assert result.status == "finished" and result.iterations == 6
    _same_result(result, reference)


@pytest.mark.slow
def test_cli_resume_continues_an_interrupted_run_and_can_extend_it(setup, tmp_path, capsys):
    folder, overrides, mask, reference = setup
    out = tmp_path / "cli"
    with pytest.raises(Crash):
        api.stylize_mesh(folder / "sphere.ply", "a red circle", out=out, preset="smoke", overrides=overrides, mask=mask,
                         on_step=_crash_at(3))  # fmt: skip
    # the same thread count as the reference run: a float sum's order depends on it
    assert main(["mesh", "--resume", str(out), "--no-progress", "--threads", str(torch.get_num_threads())]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["iterations"] == 6 and report["out"] == str(out)
    resumed = load_field(out / "field.pt")
    for name, value in reference.field.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    # A finished run keeps its checkpoint, so it can be extended with more iterations.
    assert main(["mesh", "--resume", str(out), "--iters", "7", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["iterations"] == 7


@pytest.mark.slow
def test_resuming_a_finished_run_says_that_nothing_is_trained(setup, caplog):
    folder, _, _, _ = setup
    state = load_checkpoint(folder / "uninterrupted")
    with caplog.at_level(logging.WARNING, logger="stylize.mesh.resume"):
        resumed_config(state, "", None)
    assert "nothing to train: the run already ran its 6 iterations" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stylize.mesh.resume"):
        resumed_config(state, "", {"iters": 7})
    assert "nothing to train" not in caplog.text


@pytest.mark.slow
def test_resume_refuses_changed_settings_inputs_and_missing_checkpoints(setup, tmp_path, capsys):
    folder, overrides, mask, _ = setup
    run_dir = folder / "uninterrupted"
    with pytest.raises(InputError, match="setting 'field.sigma' differs"):
        api.stylize_mesh(resume=run_dir, out=tmp_path / "x", overrides={"field.sigma": 9.0})
    with pytest.raises(InputError, match="prompt 'a blue square' differs"):
        api.stylize_mesh(prompt="a blue square", resume=run_dir, out=tmp_path / "x")
    v, f = make_icosphere(2)
    save_mesh(tmp_path / "other.ply", v, f)
    with pytest.raises(InputError, match="not the file the run started from"):
        api.stylize_mesh(tmp_path / "other.ply", resume=run_dir, out=tmp_path / "x")
    with pytest.raises(InputError, match="the mask differs"):
        api.stylize_mesh(resume=run_dir, out=tmp_path / "x", mask=np.ones(len(mask), dtype=np.float32))
    assert main(["mesh", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "nowhere not found" in capsys.readouterr().err
    assert main(["mesh", "--no-progress"]) == 2
    assert "expected INPUT and PROMPT" in capsys.readouterr().err


def test_a_run_folder_resumes_and_bakes_from_another_directory(tmp_path, tiny_clip_dir, monkeypatch, capsys):
    import shutil

    from PIL import Image

    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(tiny_clip_dir, here / "clip")
    v, f = make_icosphere(2)
    save_mesh(here / "sphere.ply", v, f)
    Image.new("RGB", (32, 32), (200, 30, 30)).save(here / "red.png")
    np.save(here / "mask.npy", (v[:, 1] > -0.2).astype(np.float32))
    monkeypatch.chdir(here)  # every path the run is given is relative to this directory
    settings = [arg for key, value in SETTINGS.items() if key != "iters" for arg in ("--set", f"{key}={value}")]
    assert main(["mesh", "sphere.ply", "a red circle", "--out", "run", "--preset", "smoke", "--clip", "local-dir:clip",
                 "--image-prompt", "red.png", "--mask", "mask.npy", "--iters", "2", "--no-progress", *settings]) == 0  # fmt: skip
    capsys.readouterr()
    config = (here / "run" / "config.toml").read_text()
    assert f'"local-dir:{here / "clip"}"' in config and f'"{here / "red.png"}"' in config
    assert json.loads((here / "run" / "run.json").read_text())["input"]["path"] == str(here / "sphere.ply")

    monkeypatch.chdir(elsewhere)  # nothing of the above is reachable by its relative name now
    assert main(["mesh", "--resume", str(here / "run"), "--iters", "3", "--no-progress"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["iterations"] == 3
    assert main(["bake", str(here / "run"), "--size", "64", "--out", "baked.glb"]) == 0, capsys.readouterr().err
    assert (elsewhere / "baked.glb").stat().st_size > 0
    assert main(["apply", str(here / "run"), str(here / "sphere.ply"), "--out", "applied"]) == 0, capsys.readouterr().err
    applied = json.loads((elsewhere / "applied" / "run.json").read_text())
    assert applied["input"]["path"] == str(here / "sphere.ply") and applied["field"] == str(here / "run" / "field.pt")


def test_absolute_paths_change_only_existing_relative_paths(tmp_path, monkeypatch):
    from stylize.config import absolute_paths
    from stylize.engine.specs import absolute_spec
    from stylize.mesh.config import Text2MeshConfig
    from stylize.vector.config import DrawConfig

    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip").mkdir()
    (tmp_path / "w.pt").write_bytes(b"")
    (tmp_path / "style.png").write_bytes(b"")
    assert absolute_spec("local-dir:clip@0.5") == f"local-dir:{tmp_path / 'clip'}@0.5"
    assert absolute_spec("ViT-B-32:w.pt") == f"ViT-B-32:{tmp_path / 'w.pt'}"
    for unchanged in ("ViT-B-32:openai", "hf-hub:org/name", "local-dir:missing", "local-dir:/abs/clip", "RN50:random"):
        assert absolute_spec(unchanged) == unchanged
    draw = absolute_paths(
        DrawConfig(style="style.png", palette="#ff0000,#00ff00", init="", clip=["local-dir:clip"], judge=["x:y"])
    )
    assert (draw.style, draw.palette, draw.init) == (str(tmp_path / "style.png"), "#ff0000,#00ff00", "")
    assert draw.clip == [f"local-dir:{tmp_path / 'clip'}"] and draw.judge == ["x:y"]
    mesh = absolute_paths(Text2MeshConfig(image_prompts=["style.png", "gone.png"]))
    assert mesh.image_prompts == [str(tmp_path / "style.png"), "gone.png"]
