"""The fault sweep (stylize/testing/faults.py, fault_cases.py) and the reliability rules it checks (issue 18)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stylize.cli import main
from stylize.config import dumps_toml, load_toml
from stylize.errors import InputError
from stylize.pipeline.jobs import parse_jobs
from stylize.runs import RunFolder
from stylize.testing.fault_cases import CASES
from stylize.testing.faults import MESH_SMALL, TRAINER, _cube_obj, run_case

ROOT = Path(__file__).resolve().parents[1]
FAST = [case for case in CASES if not case.slow]


@pytest.mark.parametrize("case", FAST, ids=[case.name for case in FAST])
def test_fault_gives_one_line_exit_2_and_loses_nothing(case, tmp_path):
    outcome = run_case(case, tmp_path / "case", in_process=True)
    assert not outcome.problems, (outcome.problems, outcome.stderr)


#: slow cases that a test below runs with more checks (each case starts a real process: run it once)
SIGTERM_BATCH, CTRL_C_WARM_UP = "SIGTERM to stylize batch", "Ctrl-C in the mesh best-of warm-up"
SLOW = [case for case in CASES if case.slow and case.name not in (SIGTERM_BATCH, CTRL_C_WARM_UP)]


def _run_command(case, tmp_path, **options):
    """``case`` as a real ``python -m stylize`` process, with this checkout on its path."""
    return run_case(case, tmp_path / "case", env={**os.environ, "PYTHONPATH": str(ROOT)}, **options)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=[case.name for case in SLOW])
def test_slow_fault(case, tmp_path):
    outcome = _run_command(case, tmp_path)
    assert not outcome.problems, (outcome.problems, outcome.stderr)


@pytest.mark.slow
def test_sigterm_to_batch_exits_143_names_sigterm_and_points_nowhere_it_removed(tmp_path):
    outcome = _run_command(next(c for c in CASES if c.name == SIGTERM_BATCH), tmp_path)
    assert not outcome.problems, (outcome.problems, outcome.stderr)  # 143, "interrupted by SIGTERM", no traceback
    # the job's staging folder is removed: the message must not send the user there
    assert not any(".partial" in line for line in outcome.stderr), outcome.stderr
    assert not (tmp_path / "case" / "out" / ".partial").exists()


@pytest.mark.slow
def test_a_ctrl_c_case_interrupts_its_command_even_when_the_test_process_ignores_sigint(tmp_path):
    """pytest-xdist workers ignore SIGINT, and a child inherits that: the harness starts commands
    with SIGINT's default disposition, as a terminal does, and leaves its own setting as it was
    (in CI the Ctrl-C case once ran 300 s into a child that ignored the signal)."""
    case = next(c for c in CASES if c.name == CTRL_C_WARM_UP)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcome = _run_command(case, tmp_path, timeout=120)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not outcome.problems, (outcome.problems, outcome.stderr)


def test_outputs_get_the_users_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with RunFolder(tmp_path / "run", "test") as folder:
            path = folder.write_run_json(status="finished")
            folder.log_metrics(0, loss=1.0)
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert oct((tmp_path / "run" / "metrics.jsonl").stat().st_mode & 0o777) == "0o644"


def test_overwrite_clears_only_what_the_toolkit_wrote_and_a_stale_lock_is_taken_over(tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    (run / "mesh_textured.json").write_text("{}")
    (run / "notes.txt").write_text("mine")
    (run / ".mesh.glb.999999.abcdefgh.tmp").write_text("half a file from a writer killed with SIGKILL")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (run / ".stylize.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with pytest.raises(InputError, match="already holds a run"):
        RunFolder(run, "mesh")
    with RunFolder(run, "mesh", overwrite=True):
        assert not (run / "mesh_textured.json").exists() and (run / "notes.txt").read_text() == "mine"
        assert not list(run.glob("*.tmp"))
        assert json.loads((run / "run.json").read_text())["complete"] is False
        with pytest.raises(InputError, match="in use by another run"):
            RunFolder(run, "mesh", overwrite=True)
    assert "taking over the lock" in caplog.text and not (run / ".stylize.lock").exists()


def test_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    _cube_obj(tmp_path / "in.obj")
    real = os.replace

    def full(source, target):
        if str(target).endswith("config.toml"):
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real(source, target)

    monkeypatch.setattr(os, "replace", full)
    code = main(["mesh", str(tmp_path / "in.obj"), "a cube", "--out", str(tmp_path / "run"), *MESH_SMALL])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0]


def test_run_config_with_control_characters_is_valid_toml_and_a_valid_config(tmp_path, capsys):
    prompt = 'a red circle\r\x1b[31m "quoted"\t'
    text = dumps_toml({"prompts": [prompt]})
    (tmp_path / "c.toml").write_text(text)
    assert load_toml(tmp_path / "c.toml")["prompts"] == [prompt]
    # A run's config.toml is a --config file on its own: no PROMPT argument needed.
    assert main(["draw", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--preset", "smoke",
                 "--clip", TRAINER, "--iters", "1", "--no-progress"]) == 0  # fmt: skip
    again = tmp_path / "run" / "config.toml"
    assert load_toml(again)["prompts"] == [prompt]
    assert main(["draw", "--config", str(again), "--out", str(tmp_path / "again"), "--no-progress"]) == 0


def test_batch_mesh_jobs_take_judge_bake_symmetry_and_the_field_mode(tmp_path):
    _cube_obj(tmp_path / "a.obj")
    data = {"defaults": {"judge": [TRAINER]},
            "jobs": [{"kind": "mesh", "input": "a.obj", "prompt": "a cube", "bake": True, "symmetry": "x",
                      "field": "surface", "normal_map": True, "bake_size": 64}]}  # fmt: skip
    (job,) = parse_jobs(data, base_dir=tmp_path)
    config = job.config
    assert config["judge"] == [TRAINER] and config["output"]["bake"] is True and config["field"]["symmetry"] == "x"
    assert config["field"]["mode"] == "surface" and config["output"]["normal_map"] and config["output"]["bake_size"] == 64


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen:
    _cube_obj(tmp_path / "in.obj")
    argv = [sys.executable, "-m", "stylize", "mesh", "in.obj", "a cube", "--out", "run", "--preset", "smoke", "--clip", TRAINER,
            "--set", "render_size=32", "--set", "checkpoint_every=1", *extra]  # fmt: skip
    return subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip


@pytest.mark.slow
def test_json_progress_into_a_closed_pipe_ends_without_a_traceback(tmp_path):
    process = _start(tmp_path, "--iters", "3", "--progress", "json")
    first = process.stdout.readline()
    process.stdout.close()  # what `| head -1` does
    _, err = process.communicate(timeout=300)
    assert '"event": "step"' in first and "Traceback" not in err and process.returncode == 0, err
    assert json.loads((tmp_path / "run" / "run.json").read_text())["complete"] is True


@pytest.mark.slow
def test_sigterm_checkpoints_like_ctrl_c_and_exits_143(tmp_path):
    process = _start(tmp_path, "--iters", "500", "--progress", "json")
    assert '"event": "step"' in process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143 and "interrupted by SIGTERM" in err and "Traceback" not in err, err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "interrupted" and run["complete"] is True
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
