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


def test_default_threads_leave_busy_cores_alone_and_follow_stylize_threads(monkeypatch):
    import os

    import pytest

    from stylize import utils
    from stylize.errors import InputError

    monkeypatch.delenv("STYLIZE_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(utils, "_busy_cores", lambda: 0.1)
    assert default_threads() == 2  # quiet: both cores (0.62x the time of 1 thread, measured)
    monkeypatch.setattr(utils, "_busy_cores", lambda: 1.9)
    assert default_threads() == 1  # busy: one thread (2 ran 5-15x slower there)
    monkeypatch.setattr(os, "cpu_count", lambda: 128)
    monkeypatch.setattr(utils, "_busy_cores", lambda: 0.0)
    assert default_threads() == 16  # a many-core machine: capped
    monkeypatch.setenv("STYLIZE_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("STYLIZE_THREADS", "lots")
    with pytest.raises(InputError, match="STYLIZE_THREADS"):
        default_threads()


def test_busy_cores_reads_what_runs_now():
    import os
    import threading
    import time

    from stylize.utils import _busy_cores

    stop = time.monotonic() + 1.0
    spinner = threading.Thread(target=lambda: [None for _ in iter(lambda: time.monotonic() > stop, True)])
    spinner.start()
    try:
        busy = _busy_cores(0.3)
    finally:
        spinner.join()
    assert 0.5 <= busy <= (os.cpu_count() or 1) + 0.01  # at least the spinning thread
