"""``stylize batch``: run folders and manifest, resume, a failing job alone, identical bytes across
executors (in-process, two processes, Ray), the summary table and contact sheet."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stylize.cli import main
from stylize.errors import InputError
from stylize.mesh.geometry import make_cube
from stylize.mesh.io import save_mesh
from stylize.pipeline import format_table, load_jobs, run_batch
from stylize.pipeline import runner as runner_module
from stylize.pipeline.executors import ExecutorSettings, get_executor
from stylize.pipeline.kinds import JOB_KINDS
from stylize.pipeline.manifest import Manifest

ROOT = Path(__file__).resolve().parents[2]
TRAINER = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"

JOBS = f"""
[defaults]
clip = ["{TRAINER}"]
device = "cpu"
seed = 11

[defaults.mesh]
preset = "smoke"
iters = 2
views = 2

[defaults.mesh.set]
render_size = 32
output = {{ preview_size = 32, preview_views = 2, turntable_frames = 2, turntable_size = 24, score_size = 32 }}

[defaults.draw]
preset = "smoke"
iters = 3
size = 32
paths = 4

[[jobs]]
kind = "mesh"
input = "assets/*.obj"
prompt = "a red square"

[[jobs]]
kind = "draw"
name = "circle"
prompt = "a red circle"
negative = "a blue star"

[[jobs]]
kind = "paint"
preset = "smoke"
prompt = "a green star"
size = 32
iters = 3

[[jobs]]
kind = "mesh"
name = "lost"
input = "assets/missing.obj"
prompt = "a red square"
"""

# What must be the same bytes whichever executor ran the job (run.json holds timings).
COMPARED = (
    "mesh.glb",
    "mesh.ply",
    "mesh.obj",
    "field.pt",
    "drawing.svg",
    "drawing.png",
    "image.png",
    "preview.png",
    "turntable.gif",
    "progress.gif",
)


@pytest.fixture(scope="module")
def jobs_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    (folder / "assets").mkdir()
    save_mesh(folder / "assets" / "cube.obj", *make_cube(2.0))
    path = folder / "jobs.toml"
    path.write_text(JOBS)
    return path


@pytest.fixture(scope="module")
def local_run(jobs_file):
    """One in-process batch, shared by the tests that only read its results."""
    out = jobs_file.parent / "local"
    LOCAL_PROGRESS.clear()
    return run_batch(jobs_file, out, on_progress=lambda *event: LOCAL_PROGRESS.append(event)), out


LOCAL_PROGRESS: list[tuple[str, int, int]] = []  # (job id, step, total) of the in-process batch


def _progress_by_job(events) -> dict[str, list[tuple[int, int]]]:
    by_job: dict[str, list[tuple[int, int]]] = {}
    for job_id, step, total in events:
        by_job.setdefault(job_id, []).append((step, total))
    return by_job


def _artefacts(out: Path) -> dict[str, bytes]:
    return {f"{folder.name}/{name}": (folder / name).read_bytes()
            for folder in sorted(out.iterdir()) if folder.is_dir()
            for name in COMPARED if (folder / name).is_file()}  # fmt: skip


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_batch_writes_run_folders_and_a_manifest(local_run, jobs_file):
    result, out = local_run
    entries = _manifest(out)
    assert [e["kind"] for e in entries] == ["mesh", "draw", "paint", "mesh"]
    assert [e["status"] for e in entries] == ["done", "done", "done", "failed"]
    assert [e["id"] for e in entries] == [job.id for job in load_jobs(jobs_file)]
    for entry in entries[:3]:
        folder = Path(entry["out"])
        assert folder == out / entry["id"] and entry["error"] is None
        for name in JOB_KINDS[entry["kind"]].artefacts:
            assert (folder / name).is_file(), (entry["id"], name)
        assert isinstance(entry["score"], float) and -100.0 <= entry["score"] <= 100.0 and entry["seconds"] > 0
        assert entry["score_by"] == "trainer"  # these jobs have no judge
        run = json.loads((folder / "run.json").read_text())
        assert run["seed"] == entry["seed"]  # the derived seed is the one the run used
    mesh, drawing, paint = entries[:3]
    assert mesh["name"] == "cube" and drawing["name"] == "circle" and "mean" in mesh["scores"]["trainer"]
    assert 'negatives = ["a blue star"]' in (out / drawing["id"] / "config.toml").read_text()
    assert len({mesh["seed"], drawing["seed"], paint["seed"]}) == 3
    assert not (out / ".partial").exists()
    assert result.failed and result.count("done") == 3


def test_the_job_in_progress_reports_its_steps(local_run):
    result, _ = local_run
    by_job = _progress_by_job(LOCAL_PROGRESS)
    done = [e["id"] for e in result.entries if e["status"] == "done"]
    assert list(by_job) == done  # in job order, nothing from the job that failed before a step
    for steps in by_job.values():
        total = steps[0][1]
        assert [step for step, _ in steps] == list(range(1, total + 1)) and {t for _, t in steps} == {total}


def test_a_job_with_a_missing_input_fails_alone(local_run):
    result, out = local_run
    failed = result.entries[3]
    assert failed["status"] == "failed" and failed["name"] == "lost"
    assert "missing.obj" in failed["error"] and "not found" in failed["error"] and "\n" not in failed["error"]
    assert not (out / failed["id"]).exists() and failed["files"] == []


def test_summary_table_and_contact_sheet(local_run):
    from PIL import Image

    result, out = local_run
    table = format_table(result.entries).splitlines()
    assert table[0].split()[:6] == ["id", "kind", "name", "status", "score", "seconds"]
    assert len(table) == 2 + len(result.entries)
    for entry, line in zip(result.entries, table[2:], strict=False):
        assert line.startswith(entry["id"]) and entry["status"] in line
    assert "not found" in table[-1] and f"{result.entries[0]['score']:.3f}" in table[2]
    with Image.open(out / "contact_sheet.png") as sheet:
        pixels = np.asarray(sheet.convert("RGB"))
    tile = pixels.shape[1] // 2
    assert pixels.shape[1] == 2 * 160 and pixels.shape[0] > 2 * 160  # 2 x 2 tiles, labels under them
    failed_tile = pixels[-tile:, tile:][20:140, 20:140]
    assert (failed_tile == failed_tile[0, 0]).all() and tuple(failed_tile[0, 0]) != (255, 255, 255)
    assert pixels[:160, :160].std() > 1.0  # the mesh preview is drawn, not blank


def _patch_runner(monkeypatch, kind: str, run) -> None:
    """Replace how jobs of ``kind`` run (its JobKind record's ``run``) for one test."""
    monkeypatch.setitem(JOB_KINDS, kind, dataclasses.replace(JOB_KINDS.lookup(kind), run=run))


def test_resume_does_no_work(local_run, tmp_path, monkeypatch, capsys):
    _, first = local_run
    out = tmp_path / "copy"
    shutil.copytree(first, out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.parent != out}
    calls = []
    for kind in ("mesh", "draw", "paint"):
        _patch_runner(monkeypatch, kind, lambda job, *rest, **kw: calls.append(job.id) or {})
    jobs = first.parent / "jobs.toml"
    jobs.with_name("ok.toml").write_text(jobs.read_text().split('[[jobs]]\nkind = "mesh"\nname = "lost"')[0])
    code = main(["batch", str(jobs.with_name("ok.toml")), "--out", str(out), "--resume", "--no-progress"])
    assert code == 0 and calls == []
    printed = capsys.readouterr().out.strip().splitlines()
    assert json.loads(printed[-1])["skipped"] == 3 and json.loads(printed[-1])["done"] == 0
    statuses = {e["id"]: e["status"] for e in _manifest(out)}
    assert sorted(statuses.values()) == ["failed", "skipped", "skipped", "skipped"]  # the old failure is kept
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # A job whose outputs went missing is run again.
    done = [e for e in _manifest(out) if e["kind"] == "draw"][0]
    (out / done["id"] / "drawing.svg").unlink()
    main(["batch", str(jobs.with_name("ok.toml")), "--out", str(out), "--resume", "--no-progress"])
    assert calls == [done["id"]]


def test_cli_exit_code_is_1_when_a_job_failed(jobs_file, tmp_path, capsys, monkeypatch):
    _patch_runner(monkeypatch, "mesh", lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("boom\nmore")))
    _patch_runner(monkeypatch, "draw", lambda job, folder, *a, **kw: {"scores": {}, "score": 50.0})
    code = main(["batch", str(jobs_file), "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 1
    entries = _manifest(tmp_path / "o")
    # A runner that raises (mesh), or writes nothing (draw), fails its job; paint still runs.
    assert [e["status"] for e in entries] == ["failed", "failed", "done", "failed"]
    assert entries[0]["error"] == "RuntimeError: boom" and "drawing.svg" in entries[1]["error"]
    assert not list((tmp_path / "o").glob("draw-*"))


def test_run_job_restores_threads_and_random_state(jobs_file):
    from stylize.engine import ModelCache

    job = load_jobs(jobs_file)[-1]  # the missing mesh: fails fast
    torch.set_num_threads(2)
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    before = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    outcome = runner_module.run_job(job, jobs_file.parent / "rj", ModelCache(), threads=1)
    assert outcome["status"] == "failed" and torch.get_num_threads() == 2
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == before


def test_executor_settings_are_checked(monkeypatch):
    with pytest.raises(InputError, match="unknown executor 'slurm'"):
        get_executor("slurm", ExecutorSettings())
    with pytest.raises(InputError, match="at least 1 worker"):
        ExecutorSettings(workers=0)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match="pip install"):
        get_executor("ray", ExecutorSettings()).run([object()], Path("."), lambda *a: None)


@pytest.mark.slow
def test_two_local_processes_give_the_same_bytes(local_run, jobs_file):
    _, first = local_run
    out = jobs_file.parent / "local2"
    events: list = []
    result = run_batch(jobs_file, out, workers=2, on_progress=lambda *event: events.append(event))
    assert [e["status"] for e in result.entries] == ["done", "done", "done", "failed"]
    # worker processes report each job's steps too (throttled), always its last one
    done = {e["id"] for e in result.entries if e["status"] == "done"}
    by_job = _progress_by_job(events)
    assert set(by_job) == done and all(steps[-1][0] == steps[-1][1] for steps in by_job.values())
    assert {e["worker"] for e in result.entries} == {"local-0", "local-1"}
    assert _artefacts(out) == _artefacts(first) and len(_artefacts(first)) == 13


@pytest.fixture()
def ray_session():
    ray = pytest.importorskip("ray")
    # Workers import this checkout's stylize, whichever one is installed.
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_gives_the_same_bytes_as_local(ray_session, local_run, jobs_file, capsys):
    _, first = local_run
    out = jobs_file.parent / "ray"
    code = main(["batch", str(jobs_file), "--executor", "ray", "--out", str(out), "--no-progress"])
    assert code == 1
    entries = _manifest(out)
    assert [e["status"] for e in entries] == ["done", "done", "done", "failed"]
    assert {e["worker"] for e in entries} <= {"ray-0", "ray-1"} and "not found" in entries[3]["error"]
    assert _artefacts(out) == _artefacts(first) and len(_artefacts(first)) == 13
    assert Manifest(out).is_complete(load_jobs(jobs_file)[0])


def test_a_second_batch_into_one_out_is_refused_while_the_first_runs(jobs_file, tmp_path):
    from stylize.locks import FolderLock

    out = tmp_path / "shared"
    out.mkdir()
    (out / ".partial" / "theirs").mkdir(parents=True)  # the first batch's job in progress
    with FolderLock(out, holder="another batch"):  # the first batch, still running
        with pytest.raises(InputError, match="in use by another batch"):
            run_batch(jobs_file, out)
        assert (out / ".partial" / "theirs").is_dir()  # its staging folder is left alone
    assert not (out / ".stylize.lock").exists()


def test_a_model_that_cannot_be_loaded_stops_the_batch_before_any_job(jobs_file, tmp_path, capsys, monkeypatch):
    """Weights are checked up front, as unknown keys are: one error naming the model and its
    jobs, exit code 2, no job started and no empty --out folder left behind."""
    text = jobs_file.read_text()
    missing = tmp_path / "no-weights"
    missing.mkdir()
    config = Path(__file__).resolve().parents[1] / "assets" / "clip" / "judge" / "open_clip_config.json"
    (missing / "open_clip_config.json").write_text(config.read_text())  # a model folder without its weights
    bad = jobs_file.parent / "bad_model.toml"
    bad.write_text(text.replace("[defaults]", f'[defaults]\njudge = ["local-dir:{missing}"]', 1))
    started = []
    _patch_runner(monkeypatch, "mesh", lambda *a, **kw: started.append(a))
    code = main(["batch", str(bad), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not started and not (tmp_path / "o").exists()
    assert len(err) == 1 and "no job was run" in err[0] and str(missing) in err[0] and "no weights file" in err[0]


def test_the_table_keeps_the_start_of_a_long_error():
    error = "cannot load CLIP model ViT-B-32:openai: its weights are not cached; supply them as ... " + "x" * 200
    entry = {"id": "mesh-1", "kind": "mesh", "name": "vase", "status": "failed", "error": error}
    line = format_table([entry], error_width=60).splitlines()[-1]
    assert "cannot load CLIP model ViT-B-32:openai: its weights are n" in line and line.endswith("…")
    assert "xxx" not in line
    # A long absolute path at the start gives way to its file name, so the reason still shows.
    entry["error"] = "/very/long/folder/of/the/studio/assets/props/missing.obj: file not found"
    assert format_table([entry], error_width=40).splitlines()[-1].endswith("missing.obj: file not found")
