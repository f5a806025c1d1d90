"""The add-on's worker plumbing (``blender_addon/jobs.py``): no bpy needed, runs in any Python.

Worker processes here are tiny stand-in scripts run by this interpreter, so states, errors and
cancel are checked in well under a second each; the real toolkit worker runs in test_addon.py.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

from stylize.mesh.geometry import make_icosphere

from .helpers import addon_jobs, addon_module

jobs = addon_jobs()
mesh_exchange = addon_module("exchange")


def _fake_worker(tmp_path, body: str) -> jobs.Job:
    script = tmp_path / "worker.py"
    script.write_text("import json, sys, time\n" + body)
    workdir = tmp_path / "job"
    workdir.mkdir()
    return jobs.Job([sys.executable, str(script)], workdir).start()


def _wait(job, seconds: float = 20.0) -> jobs.JobUpdate:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        update = jobs.poll_job(job)
        if update.finished:
            return update
        time.sleep(0.01)
    job.cancel()
    raise AssertionError("the job did not finish")


def test_poll_reads_steps_and_done(tmp_path):
    job = _fake_worker(
        tmp_path,
        """
print("a warning that is not JSON")
for i in range(1, 4):
    print(json.dumps({"event": "step", "step": i, "total": 3, "loss": 1.0 / i, "score": 0.1 * i}), flush=True)
print('{"not": "an event"}')
print(json.dumps({"event": "done", "out": "/somewhere", "status": "finished"}))
""",
    )
    update = _wait(job)
    assert update.state == jobs.DONE and update.step == 3 and update.total == 3
    assert update.score == pytest.approx(0.3) and update.fraction == 1.0
    assert update.result == {"event": "done", "out": "/somewhere", "status": "finished"}
    assert jobs.poll_job(job) is update  # finished jobs stay finished


def test_progress_shows_while_running(tmp_path):
    job = _fake_worker(
        tmp_path,
        """
print(json.dumps({"event": "step", "step": 1, "total": 4, "loss": 2.0, "score": 27.4}), flush=True)
while not __import__("os").path.exists("go"):  # the test's go-ahead (its folder is the job's)
    time.sleep(0.01)
print(json.dumps({"event": "step", "step": 4, "total": 4, "loss": 2.0, "score": 28.0}), flush=True)
print(json.dumps({"event": "phase", "phase": "baking"}), flush=True)
time.sleep(30)
""",
    )
    try:
        deadline = time.monotonic() + 20
        while jobs.poll_job(job).step == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        update = jobs.poll_job(job)
        # The steps fill the bar up to the training share; the score on the CLI's 0-100 scale.
        assert update.state == jobs.RUNNING and update.fraction == pytest.approx(0.25 * jobs.TRAINING_SHARE)
        assert update.describe() == "step 1/4  score 27/100"
        (job.workdir / "go").touch()
        while jobs.poll_job(job).phase == "" and time.monotonic() < deadline:
            time.sleep(0.01)
        # After the last step the bar says what the worker does (a bake takes seconds), with the share done.
        assert update.phase == "baking" and update.describe() == "baking texture  88%"
        assert jobs.TRAINING_SHARE < update.fraction < 1.0
    finally:
        job.cancel()
    assert job.process.poll() is not None and job.update.state == jobs.CANCELLED


def test_worker_error_line_becomes_the_message(tmp_path):
    job = _fake_worker(
        tmp_path,
        """
print(json.dumps({"event": "step", "step": 1, "total": 9, "loss": 1.0, "score": 0.0}), flush=True)
print("some log line", file=sys.stderr)
print("stylize: error: local-dir:/x: open_clip_config.json not found", file=sys.stderr)
sys.exit(2)
""",
    )
    update = _wait(job)
    assert update.state == jobs.FAILED and update.message == "local-dir:/x: open_clip_config.json not found"


def test_exit_0_without_done_is_a_failure(tmp_path):
    update = _wait(_fake_worker(tmp_path, "print('Traceback: boom', file=sys.stderr)\n"))
    assert update.state == jobs.FAILED and "boom" in update.message


def test_cancel_ends_a_busy_worker_quickly(tmp_path):
    job = _fake_worker(tmp_path, "time.sleep(60)\n")
    started = time.monotonic()
    job.cancel()
    assert job.process.poll() is not None and time.monotonic() - started < 5
    assert jobs.poll_job(job).state == jobs.CANCELLED


def test_missing_python_is_a_one_line_error(tmp_path):
    missing = str(tmp_path / "nowhere" / "python")
    with pytest.raises(jobs.JobError, match="cannot run the Python") as error:
        jobs.Job([missing, "-m", "stylize"], tmp_path).start()
    assert missing in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(jobs.JobError, match="no Python set"):
        jobs.Job(["", "-m", "stylize"], tmp_path).start()


@pytest.mark.slow
def test_check_python_reports_version_and_cuda():
    import torch

    import stylize

    info = jobs.check_python(sys.executable)
    assert info["stylize"] == stylize.__version__ and info["cuda"] is torch.cuda.is_available()


def test_check_python_without_stylize_names_the_problem(tmp_path):
    fake = tmp_path / "python3"  # an "interpreter" that fails the way one without stylize does
    fake.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'stylize'\" >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(jobs.JobError, match="stylize is not usable with .*No module named 'stylize'"):
        jobs.check_python(str(fake))
    with pytest.raises(jobs.JobError, match="cannot run the Python"):
        jobs.check_python(str(tmp_path / "missing"))


def test_mesh_argv_is_a_list_with_the_prompt_as_one_argument(tmp_path):
    settings = jobs.MeshJobSettings(prompt='a "vase"; rm -rf ~', negative_prompt=" blurry ", preset="smoke",
                                    iterations=5, seed=4, displace=False, device="cpu", clip=["A:x", "local-dir:/m"])  # fmt: skip
    argv = jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run", settings, mask_path=tmp_path / "m.npy")
    assert argv[:6] == ["/py", "-m", "stylize", "mesh", str(tmp_path / "in.obj"), 'a "vase"; rm -rf ~']
    pairs = list(zip(argv, argv[1:], strict=False))
    for pair in [("--out", str(tmp_path / "run")), ("--preset", "smoke"), ("--iters", "5"), ("--seed", "4"),
                 ("--device", "cpu"), ("--progress", "json"), ("--set", "target_vertices=0"),
                 ("--set", "field.geometry=false"), ("--negative", "blurry"), ("--clip", "A:x"),
                 ("--clip", "local-dir:/m"), ("--mask", str(tmp_path / "m.npy"))]:  # fmt: skip
        assert pair in pairs, pair
    default = jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run", jobs.MeshJobSettings(prompt="x"))
    assert "--iters" not in default and "--mask" not in default and "--negative" not in default
    assert "field.geometry=false" not in default and "--clip" not in default


def test_draw_argv(tmp_path):
    settings = jobs.DrawJobSettings(prompt="a fox", preset="smoke", iterations=3, paths=8, seed=1, clip=["A:x"])
    argv = jobs.draw_argv("/py", tmp_path / "run", settings)
    assert argv[:5] == ["/py", "-m", "stylize", "draw", "a fox"]
    assert ("--paths", "8") in list(zip(argv, argv[1:], strict=False)) and argv[argv.index("--progress") + 1] == "json"


def test_clip_specs_and_worker_env():
    assert jobs.parse_clip_specs(" A:x ,, local-dir:/m@0.5,") == ["A:x", "local-dir:/m@0.5"]
    assert jobs.parse_clip_specs("") == []
    offline = jobs.worker_env(False, {"PYTHONHOME": "/blender/python", "PATH": "/bin"})
    assert offline["STYLIZE_OFFLINE"] == "1" and "PYTHONHOME" not in offline and offline["PATH"] == "/bin"
    assert "STYLIZE_OFFLINE" not in jobs.worker_env(True, {})


def test_parse_event_ignores_anything_but_event_objects():
    assert jobs.parse_event('{"event": "step", "step": 2}') == {"event": "step", "step": 2}
    for line in ["", "warning", "{broken", '{"step": 2}', "[1, 2]"]:
        assert jobs.parse_event(line) is None


def test_job_folder_is_removed_by_cleanup(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = jobs.new_workdir()
    (folder / "input.obj").write_text("v 0 0 0\n")
    assert folder.parent == tmp_path
    jobs.Job([], folder).cleanup()
    assert not folder.exists()


def test_update_describe_before_the_first_step():
    assert "starting" in jobs.JobUpdate().describe()
    assert jobs.JobUpdate(state=jobs.FAILED, message="boom").describe() == "boom"
    assert json.dumps(jobs.JobUpdate().fraction) == "0.0"


# --- the add-on and the toolkit agree ------------------------------------------------------------


def test_addon_preset_lists_are_the_toolkits():
    from stylize.mesh.config import TEXT2MESH_PRESETS
    from stylize.vector.config import DRAW_PRESETS

    assert sorted(item[0] for item in jobs.MESH_PRESETS) == sorted(TEXT2MESH_PRESETS)
    assert sorted(item[0] for item in jobs.DRAW_PRESETS) == sorted(DRAW_PRESETS)


def _parse_with_the_toolkit(argv: list[str]):
    from stylize.cli import build_parser

    assert argv[1:3] == ["-m", "stylize"]
    return build_parser().parse_args(argv[3:])


def test_addon_argv_parses_with_the_toolkits_own_parser(tmp_path):
    settings = jobs.MeshJobSettings(prompt="a vase", negative_prompt="blurry", preset="smoke", iterations=5, seed=4,
                                    displace=False, device="cpu", clip=["A:x"])  # fmt: skip
    args = _parse_with_the_toolkit(jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run", settings,
                                                  mask_path=tmp_path / "m.npy"))  # fmt: skip
    assert (args.command, args.input, args.prompt, args.preset) == ("mesh", str(tmp_path / "in.obj"), "a vase", "smoke")
    assert (args.iters, args.seed, args.device, args.progress, args.mask) == (5, 4, "cpu", "json", str(tmp_path / "m.npy"))
    assert args.negative == ["blurry"] and args.clip == ["A:x"] and "field.geometry=false" in args.set
    from stylize.cli.mesh import mesh_overrides
    from stylize.mesh.config import resolve_mesh_config

    overrides = {k: v for k, v in mesh_overrides(args).items() if k != "clip"}
    config = resolve_mesh_config(args.prompt, args.preset, None, overrides)  # every --set key is a real setting
    assert config.field.geometry is False and config.target_vertices == 0 and config.output.turntable_frames == 1
    draw = _parse_with_the_toolkit(jobs.draw_argv("/py", tmp_path / "run", jobs.DrawJobSettings(
        prompt="a fox", preset="smoke", iterations=3, paths=8, device="cpu")))  # fmt: skip
    assert (draw.command, draw.prompt, draw.preset, draw.paths, draw.iters, draw.device) == (
        "draw",
        "a fox",
        "smoke",
        8,
        3,
        "cpu",
    )


def test_preview_throttle_caps_the_time_blender_spends_showing():
    throttle = jobs.PreviewThrottle(interval=0.25, busy=0.2)
    assert throttle.due(now=0.0)
    throttle.shown(cost=0.01, now=1.0)
    assert not throttle.due(now=1.2) and throttle.due(now=1.25)
    throttle.shown(cost=0.5, now=2.0)  # a big mesh: wait four times what showing took
    assert not throttle.due(now=3.9) and throttle.due(now=4.0)


# --- the warm worker's client ----------------------------------------------------------------------

worker = addon_module("worker")
batch = addon_module("batch")
textures = addon_module("textures")

# A stand-in for `python -m stylize worker`: the protocol, no toolkit. A job's args say what to do.
FAKE_WORKER = r"""
import json, os, sys, time
print(json.dumps({"event": "ready", "version": "fake", "pid": os.getpid()}), flush=True)
loads = 0
for line in sys.stdin:
    request = json.loads(line)
    job, args = request.get("id"), request.get("args", [])
    if request["command"] == "cancel":
        print(json.dumps({"event": "cancelled", "id": job}), flush=True)
        continue
    print(json.dumps({"event": "started", "id": job}), flush=True)
    if "die" in args:
        print("Traceback: the worker crashed", file=sys.stderr, flush=True)
        os._exit(3)
    if "hang" in args:
        continue  # never answers: a cancel gets its "cancelled" from the line above
    if "deaf" in args:
        time.sleep(60)
    loads = loads or 1
    for step in (1, 2):
        print(json.dumps({"event": "step", "id": job, "step": step, "total": 2, "loss": 1.0, "score": 0.5}), flush=True)
    print(json.dumps({"event": "preview", "id": job, "step": 1, "path": "/p/step_000001.npz"}), flush=True)
    if "fail" in args:
        print(json.dumps({"event": "error", "id": job, "message": "local-dir:/x: not found"}), flush=True)
    else:
        print(json.dumps({"event": "done", "id": job, "out": args[0], "models_loaded": loads}), flush=True)
"""


@pytest.fixture
def fake_worker(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    client = worker.WarmWorker(command=lambda python: [python, str(script)])
    yield client
    client.close()


def _submit(client, tmp_path, *args):
    folder = tmp_path / f"job{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    return client.submit(sys.executable, None, "mesh", [str(folder / "run"), *args], folder)


def test_warm_worker_routes_events_by_job_and_serves_many_jobs(fake_worker, tmp_path):
    first = _submit(fake_worker, tmp_path)
    second = _submit(fake_worker, tmp_path, "fail")
    one, two = _wait(first), _wait(second)
    assert one.state == jobs.DONE and one.step == 2 and one.result["models_loaded"] == 1
    assert one.preview == "/p/step_000001.npz" and one.preview_step == 1
    assert two.state == jobs.FAILED and two.message == "local-dir:/x: not found"
    assert fake_worker.starts == 1 and fake_worker.ready["version"] == "fake" and not fake_worker.busy
    first.cleanup()
    assert not first.workdir.exists()


def test_a_dead_worker_fails_its_job_and_the_next_job_restarts_it(fake_worker, tmp_path):
    update = _wait(_submit(fake_worker, tmp_path, "die"))
    assert update.state == jobs.FAILED and "the stylize worker stopped" in update.message and "crashed" in update.message
    assert _wait(_submit(fake_worker, tmp_path)).state == jobs.DONE
    assert fake_worker.starts == 2
    fake_worker.process.kill()  # dies while idle: the next job does not notice
    fake_worker.process.wait()
    assert _wait(_submit(fake_worker, tmp_path)).state == jobs.DONE and fake_worker.starts == 3


def test_cancel_returns_at_once_and_a_stuck_worker_is_replaced(fake_worker, tmp_path, monkeypatch):
    job = _submit(fake_worker, tmp_path, "hang")
    job.cancel(grace=10)  # here: wait for the worker's confirmation
    assert job.update.state == jobs.CANCELLED and not fake_worker.pending(job) and fake_worker.alive
    job.cleanup()
    assert not job.workdir.exists()

    deaf = _submit(fake_worker, tmp_path, "deaf")
    time.sleep(0.5)  # busy: it reads the cancel only after its "step"
    started = time.monotonic()
    deaf.cancel()
    assert deaf.update.state == jobs.CANCELLED and time.monotonic() - started < 0.5  # Blender does not wait
    deaf.cleanup()
    assert deaf.workdir.exists() and fake_worker.pending(deaf)  # still in use: removed once the worker stops it
    stuck = fake_worker.process
    monkeypatch.setattr(worker, "CANCEL_GRACE", 0.1)
    time.sleep(0.2)
    assert _wait(_submit(fake_worker, tmp_path)).state == jobs.DONE
    assert fake_worker.process is not stuck and stuck.poll() is not None
    assert fake_worker.wait_idle(10) and not deaf.workdir.exists()


def test_missing_python_for_the_worker_is_a_one_line_error(tmp_path):
    client = worker.WarmWorker()
    with pytest.raises(jobs.JobError, match="cannot run the Python"):
        client.submit(str(tmp_path / "nowhere" / "python"), None, "mesh", [], tmp_path)
    with pytest.raises(jobs.JobError, match="no Python set"):
        client.submit("", None, "mesh", [], tmp_path)


@pytest.mark.slow
def test_the_real_worker_loads_the_model_once_for_two_jobs(tmp_path):
    """The add-on's client against the toolkit's `stylize worker` (this interpreter, trainer CLIP)."""
    from .helpers import ROOT, TRAINER_CLIP

    vertices, faces = make_icosphere(1)
    exchange_obj = tmp_path / "in.obj"
    mesh_exchange.write_obj(exchange_obj, vertices, faces)
    env = jobs.worker_env(True)
    env["PYTHONPATH"] = str(ROOT)
    client = worker.WarmWorker()
    try:
        results = []
        for name in ("a", "b"):
            settings = jobs.MeshJobSettings(prompt="a red circle", preset="smoke", iterations=2, device="cpu",
                                            clip=[TRAINER_CLIP], preview_every=1)  # fmt: skip
            job = client.submit(sys.executable, env, "mesh", jobs.mesh_args(exchange_obj, tmp_path / name, settings), tmp_path)
            update = _wait(job, seconds=300)
            assert update.state == jobs.DONE, update.message
            assert update.preview_step == 1 and update.preview.endswith("step_000001.npz")
            results.append(update.result)
        assert [r["models_loaded"] for r in results] == [1, 1] and client.starts == 1
    finally:
        client.close()
    assert client.process is None


# --- batch folders ----------------------------------------------------------------------------------


def test_batch_folder_parses_with_the_toolkit_and_maps_results_back(tmp_path):
    from stylize.pipeline.jobs import load_jobs

    vertices, faces = make_icosphere(1)
    objects = [batch.BatchObject("Rock.001", "a mossy rock", vertices, faces, np.eye(3)),
               batch.BatchObject("Rock/2 \"big\"", "a mossy rock", vertices, faces, np.eye(3)),
               batch.BatchObject("Vase", 'a "glazed" vase', vertices * 2, faces, np.eye(3))]  # fmt: skip
    settings = jobs.MeshJobSettings(prompt="", preset="smoke", iterations=3, seed=5, clip=["A:random"], displace=False,
                                    negative_prompt="blurry")  # fmt: skip
    path = batch.write_batch(tmp_path, objects, settings)
    parsed = load_jobs(path)
    # The two identical rocks are one job for the toolkit; the vase is another.
    assert sorted(job.name for job in parsed) == ["Rock.001", "Vase"]
    vase = next(job for job in parsed if job.name == "Vase")
    assert vase.config["prompt"] == 'a "glazed" vase' and vase.config["iters"] == 3 and vase.config["negatives"] == ["blurry"]
    assert vase.config["target_vertices"] == 0 and vase.config["field"]["geometry"] is False
    assert batch.batch_size(tmp_path) == 3 and batch.batch_displaces(tmp_path) is False
    assert batch.batch_argv("/py", tmp_path)[:4] == ["/py", "-m", "stylize", "batch"]

    # What `stylize batch` would write: one entry per job, the vase failed.
    runs = tmp_path / "runs"
    runs.mkdir()
    rock = next(job for job in parsed if job.name == "Rock.001")
    lines = [{"id": rock.id, "kind": "mesh", "status": "done", "out": str(runs / rock.id), "input": rock.input,
              "prompt": rock.prompt, "error": None},
             {"id": vase.id, "kind": "mesh", "status": "failed", "out": str(runs / vase.id), "input": vase.input,
              "prompt": vase.prompt, "error": "out of memory"}]  # fmt: skip
    (runs / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    results = {r.name: r for r in batch.batch_results(tmp_path)}
    assert results["Rock.001"].run_dir == runs / rock.id and results['Rock/2 "big"'].run_dir == runs / rock.id
    assert results["Vase"].run_dir is None and results["Vase"].error == "out of memory"
    assert np.array_equal(batch.check_object(tmp_path, "Vase", vertices * 2, faces, np.eye(3)).used, np.unique(faces))
    with pytest.raises(jobs.JobError, match="changed since"):
        batch.check_object(tmp_path, "Vase", vertices * 3, faces, np.eye(3))
    with pytest.raises(jobs.JobError, match="no prompt for 'X'"):
        batch.write_batch(tmp_path / "other", [batch.BatchObject("X", " ", vertices, faces, np.eye(3))], settings)


def test_mesh_argv_asks_for_previews():
    args = jobs.mesh_args("in.obj", "run", jobs.MeshJobSettings(prompt="x", preview_every=7))
    assert ("--set", "preview_every=7") in list(zip(args, args[1:], strict=False))
    assert not any("preview_every" in a for a in jobs.mesh_args("in.obj", "run", jobs.MeshJobSettings(prompt="x")))


def test_best_of_becomes_the_toolkits_option(tmp_path):
    args = _parse_with_the_toolkit(jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run",
                                                  jobs.MeshJobSettings(prompt="x", best_of=3)))  # fmt: skip
    assert args.best_of == 3
    plain = _parse_with_the_toolkit(
        jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run", jobs.MeshJobSettings(prompt="x"))
    )
    assert plain.best_of is None


def test_texture_settings_become_the_toolkits_options(tmp_path):
    surface = jobs.MeshJobSettings(prompt="x", texture="surface", normal_map=True, texture_size=256)
    args = _parse_with_the_toolkit(jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run", surface))
    assert (args.field_mode, args.normal_map, args.bake_size) == ("surface", True, 256) and not surface.shape_key
    baked = jobs.MeshJobSettings(prompt="x", texture="bake", displace=False, normal_map=True)
    args = _parse_with_the_toolkit(jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run", baked))
    assert args.bake is True and args.normal_map is None and args.bake_size is None  # no relief to map
    assert jobs.MeshJobSettings(prompt="x", normal_map=True).shape_key  # no texture: the shape key carries it


# --- restyle: the source text travels as the toolkit's option -----------------------------------


def test_restyle_source_becomes_the_toolkits_option(tmp_path):
    settings = jobs.MeshJobSettings(prompt="a toon crate", source="  a wooden crate ")
    args = _parse_with_the_toolkit(jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run", settings))
    assert args.source == "a wooden crate" and args.prompt == "a toon crate"
    blank = _parse_with_the_toolkit(jobs.mesh_argv("/py", tmp_path / "in.obj", tmp_path / "run",
                                                   jobs.MeshJobSettings(prompt="x", source="  ")))  # fmt: skip
    assert blank.source is None
