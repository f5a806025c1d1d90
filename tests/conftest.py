"""Shared fixtures: tiny random-init open_clip models written as local-dir folders (no download)."""

from __future__ import annotations

import json
import os
from pathlib import Path

# OpenMP workers sleep instead of spinning while they wait (set before torch loads): the suite's
# processes share 2 cores, and spinning workers make each other many times slower (as the CLI does).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402
from generation_helpers import TEST_THREADS  # noqa: E402

# Load triton (torch._dynamo imports it when present) before any test loads bpy: once Blender's
# renderer has loaded its shared libraries (an add-on test renders the camera), importing triton
# later in the same process segfaults (a library clash between PyPI bpy and triton).
try:
    import torch._dynamo  # noqa: E402, F401
except ImportError:  # pragma: no cover - a torch build without dynamo
    pass

TINY_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}

ASSETS = Path(__file__).parent / "assets"


def write_tiny_clip(folder: Path, seed: int = 0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), image_size: int = 32) -> Path:
    """Write a random-init open_clip model folder (config + safetensors) and return it."""
    import open_clip
    from safetensors.torch import save_file

    cfg = json.loads(json.dumps(TINY_CLIP_CFG))
    cfg["vision_cfg"]["image_size"] = image_size
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": cfg, "preprocess_cfg": {"mean": list(mean), "std": list(std)}})
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = open_clip.CLIP(**cfg)
    save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    return write_tiny_clip(tmp_path_factory.mktemp("tiny_clip"), seed=0)


@pytest.fixture(scope="session")
def tiny_clip_spec(tiny_clip_dir) -> str:
    return f"local-dir:{tiny_clip_dir}"


@pytest.fixture(scope="session")
def tiny_clip_pair(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny models with different weights, image sizes and normalisation constants."""
    root = tmp_path_factory.mktemp("tiny_clip_pair")
    first = write_tiny_clip(root / "a", seed=1, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), image_size=32)
    second = write_tiny_clip(root / "b", seed=2, mean=(0.1, 0.2, 0.3), std=(0.5, 0.5, 0.5), image_size=48)
    return first, second


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may reach the network: model downloads fail fast instead."""
    monkeypatch.setenv("STYLIZE_OFFLINE", "1")


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject's addopts): one worker per core, at most 4 (each worker held up to
    1.8 GiB at its peak, README Testing)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _few_threads(monkeypatch):
    torch.set_num_threads(TEST_THREADS)
    # Workers and CLI calls use the same count, not one chosen from the machine's load, so a
    # worker's result can be compared with an in-process reference to the last bit.
    monkeypatch.setenv("STYLIZE_THREADS", str(TEST_THREADS))


# --- Longest files first -------------------------------------------------------------------------
# Under `--dist loadfile` each worker takes whole files from one queue. pytest-xdist orders that
# queue by test count, which hands the few-test, long semantic checks out last, and one worker then
# runs a minute alone. With `--no-loadscope-reorder` the queue follows the collection order, which
# sorts files by their recorded time, longest first (the longest-processing-time rule), so the short
# files fill in at the end. The times are in tests/durations.json; `pytest --store-durations`
# updates the files it ran. A file without a recorded time goes first: it may be long.

DURATIONS = Path(__file__).with_name("durations.json")


def pytest_addoption(parser):
    parser.addoption("--store-durations", action="store_true",
                     help=f"write each test file's time (setup, call and teardown) to {DURATIONS.name}")  # fmt: skip


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _recorded_times() -> dict[str, float]:
    """tests/durations.json, or nothing where it is missing or unreadable."""
    try:
        return json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}


def pytest_collection_modifyitems(config, items):
    recorded = _recorded_times()
    items.sort(key=lambda item: -recorded.get(_file_of(item.nodeid), float("inf")))  # stable: order within a file holds


#: per-file seconds, collected by the process that sees every report when --store-durations is on
_file_times: dict[str, float] | None = None


def pytest_sessionstart(session):
    global _file_times
    # the controller under xdist (workers have ``workerinput``), or the one process under -n 0
    if session.config.getoption("store_durations") and not hasattr(session.config, "workerinput"):
        _file_times = {}


def pytest_runtest_logreport(report):
    if _file_times is not None:
        name = _file_of(report.nodeid)
        _file_times[name] = _file_times.get(name, 0.0) + report.duration


def pytest_sessionfinish(session):
    if not _file_times:
        return
    # A run of some files updates theirs and keeps the others; files that are gone are dropped.
    times = _recorded_times()
    times.update((name, round(seconds, 1)) for name, seconds in _file_times.items())
    root = Path(session.config.rootpath)
    kept = sorted(((name, seconds) for name, seconds in times.items() if (root / name).is_file()), key=lambda kv: (-kv[1], kv[0]))
    DURATIONS.write_text(json.dumps(dict(kept), indent=1) + "\n")
