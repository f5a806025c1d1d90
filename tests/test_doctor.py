"""``stylize doctor`` reports what the machine gives the toolkit, and finds downloaded weights."""

from __future__ import annotations

import json

import torch

from stylize.cli import main
from stylize.utils import default_threads


def _fake_hub_cache(root, repo="timm/vit_base_patch32_clip_224.openai", filename="open_clip_model.safetensors"):
    """The Hugging Face cache layout: models--ORG--NAME/{refs/main, snapshots/REV/FILE}."""
    folder = root / f"models--{repo.replace('/', '--')}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / filename).write_bytes(b"not really weights")
    return snapshot / filename


def test_doctor_reports_torch_devices_threads_and_missing_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert main(["doctor", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["torch"] == torch.__version__
    assert found["cuda"]["available"] == torch.cuda.is_available()
    assert found["device"] == ("cuda" if torch.cuda.is_available() else found["device"])
    assert 1 <= found["threads"]["default"] <= found["threads"]["cores"]
    assert abs(found["threads"]["default"] - default_threads()) <= 1  # the load may move in between
    assert found["clip_weights"] == [{"spec": "ViT-B-32:openai", "source": "pretrained", "path": None, "cached": False}]
    assert found["caches"]["huggingface"] == str(tmp_path / "hub")
    assert "xatlas" not in found["optional"] and found["xatlas"] is True  # a dependency, not an optional backend
    assert all(not entry["cached"] and entry["path"].startswith(str(tmp_path / "torch")) for entry in found["vgg_weights"])
    # the text form says where the offline demo is when no CLIP weights are here
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "CLIP ViT-B-32:openai: not downloaded" in text and "--clip local-dir:" in text and "stylize mesh" in text


def test_doctor_finds_downloaded_clip_weights_and_local_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    weights = _fake_hub_cache(tmp_path / "hub")
    assert main(["doctor", "--json", "--clip", "ViT-B-32:openai", "--clip", "nonsense-arch:openai"]) == 0
    found = json.loads(capsys.readouterr().out)["clip_weights"]
    assert found[0]["cached"] is True and found[0]["path"] == str(weights)
    assert "nonsense-arch" in found[1]["spec"] and "error" in found[1]
    assert main(["doctor"]) == 0
    assert f"CLIP ViT-B-32:openai: cached at {weights}" in capsys.readouterr().out


def test_default_threads_leave_busy_cores_alone_and_follow_stylize_threads():
    import pytest

    from stylize.errors import InputError
    from stylize.threads import thread_choice

    def threads(busy: float, cores: int = 2, **environ: str) -> int:
        return thread_choice(None, environ, busy=busy, cores=cores).threads

    assert threads(0.1) == 2  # quiet: both cores (0.62x the time of 1 thread, measured)
    assert threads(1.9) == 1  # busy: one thread
    assert threads(0.0, cores=128) == 16  # a many-core machine: capped
    assert threads(5.0, cores=4) == 1  # more busy than cores: still one
    assert thread_choice(None, {}, busy=60.0, cores=4, machine_cores=64).threads == 4  # 4 usable of 64, 60 busy
    assert thread_choice(None, {}, busy=62.5, cores=4, machine_cores=64).threads == 2
    assert threads(1.9, STYLIZE_THREADS="3") == 3
    with pytest.raises(InputError, match="STYLIZE_THREADS"):
        threads(0.0, STYLIZE_THREADS="lots")


def test_omp_num_threads_is_honoured_after_threads_and_stylize_threads():
    import pytest

    from stylize.errors import InputError
    from stylize.threads import thread_choice

    environ = {"OMP_NUM_THREADS": "3"}
    choice = thread_choice(None, environ, busy=2.0, cores=2)  # the user's number, whatever the load
    assert (choice.threads, choice.source) == (3, "OMP_NUM_THREADS") and "set by OMP_NUM_THREADS" in choice.describe()
    assert thread_choice(None, {"OMP_NUM_THREADS": "4,2"}, busy=0.0, cores=2).threads == 4  # one count per nesting level
    assert thread_choice(None, {**environ, "STYLIZE_THREADS": "5"}, busy=0.0, cores=2).threads == 5
    assert thread_choice(1, {**environ, "STYLIZE_THREADS": "5"}, busy=0.0, cores=2).source == "--threads"
    assert thread_choice(None, {"OMP_NUM_THREADS": " "}, busy=0.0, cores=2).source == "automatic"
    for bad in ("0", "-1", "two"):
        with pytest.raises(InputError, match="OMP_NUM_THREADS"):
            thread_choice(None, {"OMP_NUM_THREADS": bad}, busy=0.0, cores=2)
    with pytest.raises(InputError, match="--threads"):
        thread_choice(0, {}, busy=0.0, cores=2)


def test_openmp_workers_wait_passively_unless_the_user_chose():
    from stylize.threads import quiet_openmp_environment

    environ: dict[str, str] = {}
    assert quiet_openmp_environment(environ) and environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    for setting in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "100000"}, {"KMP_BLOCKTIME": "200"}):
        environ = dict(setting)
        assert not quiet_openmp_environment(environ) and environ == setting


def test_the_command_line_sets_the_wait_policy_before_torch_loads(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    environ["PYTHONPATH"] = str(root)
    done = subprocess.run([sys.executable, "-m", "stylize", "doctor", "--json"], env=environ, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["threads"]["wait_policy"] == "PASSIVE"


def test_busy_cores_reads_what_runs_now():
    import os
    import threading
    import time

    from stylize.threads import busy_cores

    stop = time.monotonic() + 1.0
    spinner = threading.Thread(target=lambda: [None for _ in iter(lambda: time.monotonic() > stop, True)])
    spinner.start()
    try:
        busy = busy_cores(0.3)
    finally:
        spinner.join()
    assert 0.5 <= busy <= (os.cpu_count() or 1) + 0.01  # at least the spinning thread
