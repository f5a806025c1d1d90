"""One conformance test of the generator contract (stylize.generation), parametrized over every
generator (mesh, draw, paint, restyle, sketch) at tiny settings with the trainer test CLIP: the progress
callback, the score scale, the interrupt convention, a crash's run.json, the run folder layout,
the result's scores shape and the score column of metrics.jsonl. A new generator joins by adding
a launcher to GENERATORS."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from generation_helpers import test_clip_specs

from stylize import api
from stylize.engine import ModelCache
from stylize.errors import Interrupted
from stylize.generation import RunOutcome
from stylize.images import save_image
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import save_mesh
from stylize.runs import RUN_KEYS, RUN_SCHEMA, RUN_STATUSES
from stylize.testing.restyle_check import disc_picture

PROMPT = "a red circle"
STEPS = 3
#: Keys every generator's run.json fills (never null).
FILLED_KEYS = ("kind", "schema", "status", "complete", "environment", "seed", "device", "timings", "scores", "steps",
               "config")  # fmt: skip


def _mesh(inputs: Path, clips: dict, **run) -> RunOutcome:
    settings = {"render_size": 32, "output.turntable_frames": 2, "output.turntable_size": 32, "output.preview_views": 2,
                "output.preview_size": 32, "output.score_size": 32, "views.n_views": 2, "log_every": 1}  # fmt: skip
    return api.stylize_mesh(inputs / "sphere.obj", PROMPT, preset="smoke", overrides=settings, clip=[clips["trainer"]],
                            judge=[clips["judge"]], iters=STEPS, seed=1, device="cpu", model_cache=clips["cache"], **run)  # fmt: skip


def _draw(inputs: Path, clips: dict, **run) -> RunOutcome:
    return api.draw(PROMPT, preset="smoke", clip=[clips["trainer"]], judge=[clips["judge"]], iters=STEPS, size=32,
                    paths=3, device="cpu", log_every=1, model_cache=clips["cache"], **run)  # fmt: skip


def _paint(inputs: Path, clips: dict, **run) -> RunOutcome:
    return api.paint(PROMPT, preset="smoke", clip=[clips["trainer"]], judge=[clips["judge"]], iters=STEPS, size=32,
                     device="cpu", log_every=1, model_cache=clips["cache"], **run)  # fmt: skip


def _restyle(inputs: Path, clips: dict, **run) -> RunOutcome:
    return api.restyle(inputs / "disc.png", PROMPT, source="a blue circle", preset="smoke", clip=[clips["trainer"]],
                       judge=[clips["judge"]], iters=STEPS, size=32, crop_size=16, num_crops=2, lambda_content=0.0,
                       device="cpu", log_every=1, model_cache=clips["cache"], **run)  # fmt: skip


def _sketch(inputs: Path, clips: dict, **run) -> RunOutcome:
    # Red ink and thick strokes: a few black hairlines score about 0 for "a red circle" on either scale.
    return api.sketch(inputs / "disc.png", prompt=PROMPT, preset="smoke", clip=[clips["trainer"]], judge=[clips["judge"]],
                      iters=STEPS, size=32, strokes=6, color="#dd1a1a", width=6.0, max_width=12.0, device="cpu",
                      log_every=1, model_cache=clips["cache"], **run)  # fmt: skip


# kind -> (launcher, its animation file)
GENERATORS: dict[str, tuple[Callable[..., RunOutcome], str]] = {
    "mesh": (_mesh, "turntable.gif"),
    "draw": (_draw, "progress.gif"),
    "paint": (_paint, "progress.gif"),
    "restyle": (_restyle, "progress.gif"),
    "sketch": (_sketch, "progress.gif"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("contract-inputs")
    save_mesh(folder / "sphere.obj", *make_icosphere(1))
    save_image(folder / "disc.png", disc_picture((40, 48), (0.45, 0.55), 0.3))
    return folder


@pytest.fixture(scope="module")
def clips() -> dict:
    """The test CLIP specs, and one model cache so each generator's three runs load them once."""
    trainer, judge = test_clip_specs()
    return {"trainer": trainer, "judge": judge, "cache": ModelCache()}


def _check_scores(scores: dict) -> None:
    """``{"trainer": {prompt: score, "mean": score}, "judge": {...}}`` on the 100 x cosine scale."""
    assert set(scores) == {"trainer", "judge"}, scores
    for role, values in scores.items():
        assert set(values) == {PROMPT, "mean"}, (role, values)
        assert all(isinstance(value, float) and -100.0 <= value <= 100.0 for value in values.values()), values
    # A cosine (at most 1) would betray the raw scale: the trainer, which the run optimised, scores
    # its picture ~10-80 on the 100 x cosine scale (the judge may score a 4-step picture near 0).
    assert abs(scores["trainer"]["mean"]) > 1.0, scores


def _check_run_json(folder: Path, kind: str, status: str, steps: int) -> dict:
    run = json.loads((folder / "run.json").read_text())
    assert set(RUN_KEYS) <= set(run), sorted(set(RUN_KEYS) - set(run))
    assert [key for key in FILLED_KEYS if run[key] is None] == []
    assert run["kind"] == kind and run["schema"] == RUN_SCHEMA and run["status"] == status and run["complete"] is True
    assert run["status"] in RUN_STATUSES and run["interrupted"] is (status == "interrupted")
    assert run["steps"] == steps and run["seed"] is not None and run["device"] == "cpu"
    return run


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_generator_contract(kind, inputs, clips, tmp_path, monkeypatch):
    launch, animation = GENERATORS[kind]
    monkeypatch.chdir(tmp_path)  # the default run folder lands under tmp_path/runs

    # Finished, into the default folder (the API writes where the command does).
    calls: list[tuple[int, int, dict]] = []
    result = launch(inputs, clips, on_step=lambda step, total, metrics: calls.append((step, total, metrics)))
    assert isinstance(result, RunOutcome) and result.status == "finished"
    assert [(step, total) for step, total, _ in calls] == [(i, STEPS) for i in range(1, STEPS + 1)]
    assert all(isinstance(metrics["loss"], float) and isinstance(metrics["score"], float) for *_, metrics in calls)
    assert max(abs(metrics["score"]) for *_, metrics in calls) > 1.0  # 100 x cosine, not a cosine
    folder = result.out
    assert folder is not None and folder.parent == Path("runs") and folder.name.startswith(f"{kind}-")
    names = {path.name for path in folder.iterdir()}
    assert {"config.toml", "run.json", "metrics.jsonl", "preview.png", animation} <= names
    assert {"config.toml", "run.json", "preview.png", animation} <= set(result.files)
    _check_scores(result.scores)
    run = _check_run_json(folder, kind, "finished", STEPS)
    assert {role: pytest.approx(values) for role, values in result.scores.items()} == run["scores"]
    logged = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert logged and all(isinstance(line["score"], float) and abs(line["score"]) <= 100.0 for line in logged)
    assert max(abs(line["score"]) for line in logged) > 1.0  # the score column is 100 x cosine too

    # Ctrl-C during a step: what exists is written, then Interrupted carries the result.
    def interrupt(step: int, total: int, metrics: dict) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        launch(inputs, clips, out=tmp_path / "stopped", on_step=interrupt)
    assert info.value.result is not None and info.value.result.status == "interrupted"
    _check_run_json(tmp_path / "stopped", kind, "interrupted", 2)
    assert {"config.toml", "preview.png", animation} <= {path.name for path in (tmp_path / "stopped").iterdir()}

    # An error escaping the run leaves run.json saying "failed", never "running".
    def crash(step: int, total: int, metrics: dict) -> None:
        raise RuntimeError("a bug in a callback")

    with pytest.raises(RuntimeError, match="a bug in a callback"):
        launch(inputs, clips, out=tmp_path / "crashed", on_step=crash)
    crashed = json.loads((tmp_path / "crashed" / "run.json").read_text())
    assert crashed["status"] == "failed" and crashed["complete"] is False and crashed["schema"] == RUN_SCHEMA
    assert "a bug in a callback" in crashed["error"]


def test_api_out_none_writes_nothing(inputs, clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _paint(inputs, clips, out=None)
    assert result.out is None and result.files == {} and not (tmp_path / "runs").exists()
    _check_scores(result.scores)
