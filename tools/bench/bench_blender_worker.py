"""First-step latency of the Blender add-on's jobs, cold vs warm, and the cost of live previews.

What Blender waits for between pressing Stylize and the first step event, measured with the
add-on's own client code (``blender_addon/worker.py``, no bpy needed):

- ``one process``: ``python -m stylize mesh ... --progress json`` per job (the add-on with Warm
  Worker off): torch import, CLIP load, then the first step;
- ``warm worker, cold``: the first job sent to a fresh ``python -m stylize worker``;
- ``warm worker, warm``: the next jobs (CLIP loaded; only the run's own set-up and first step).

Then, in this process on the worker's own code path, the exact set-up before the first step
(first job: CLIP load; later jobs: CLIP cached), and the preview overhead: one snapshot's time
against one step's, on a small and a large icosphere.

Usage::

    python tools/bench/bench_blender_worker.py [--clip tiny] [--subdivisions 3] [--iters 20] [--repeats 3]
        [--preset smoke] [--device cpu]

The default ``--clip tiny`` is a random-init CLIP of one 32-px layer written to a temporary
folder: its step costs milliseconds, so the first step event measures the set-up before it, not
the step. Any spec works (``local-dir:tests/assets/clip/trainer``; ``ViT-B-32:random`` costs what
the pretrained model does to build and run, without a download). Prints one line per figure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _addon(name: str):
    """A bpy-free module of the add-on (``blender_addon/<name>.py``) without its ``__init__``."""
    if "stylize_addon" not in sys.modules:
        package = types.ModuleType("stylize_addon")
        package.__path__ = [str(ROOT / "blender_addon")]
        sys.modules["stylize_addon"] = package
    return importlib.import_module(f"stylize_addon.{name}")


def _tiny_clip(folder: Path) -> Path:
    """A random-init open_clip model folder (config + safetensors) of one small layer."""
    import json

    import open_clip
    import torch
    from safetensors.torch import save_file

    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": cfg, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.25] * 3}})
    )
    torch.manual_seed(0)
    save_file(open_clip.CLIP(**cfg).state_dict(), str(folder / "open_clip_model.safetensors"))
    return folder


def _mesh(folder: Path, subdivisions: int) -> Path:
    from stylize.mesh.geometry import make_icosphere
    from stylize.mesh.io import save_mesh

    vertices, faces = make_icosphere(subdivisions)
    path = folder / f"ico{subdivisions}.obj"
    save_mesh(path, vertices, faces)
    return path


def _settings(args, iters: int, preview_every: int = 0):
    jobs = _addon("jobs")
    return jobs.MeshJobSettings(prompt="a red circle", preset=args.preset, iterations=iters, device=args.device,
                                clip=[args.clip], preview_every=preview_every)  # fmt: skip


def _wait(job, on_event=None, timeout: float = 900.0):
    jobs = _addon("jobs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        update = jobs.poll_job(job)
        if on_event is not None:
            on_event(update)
        if update.finished:
            return update
        time.sleep(0.002)
    job.cancel()
    raise SystemExit("a job did not finish in time")


def first_step(job) -> tuple[float, float, object]:
    """Seconds from now to the job's first step event; the set-up before that step began (the
    first event less the median time of the steps after it); the job's final update."""
    started = time.perf_counter()
    arrivals: dict[int, float] = {}

    def on_event(update):
        arrivals.setdefault(update.step, time.perf_counter() - started)

    update = _wait(job, on_event)
    if update.state != "done":
        raise SystemExit(f"the job failed: {update.message}")
    steps = sorted(s for s in arrivals if s > 0)
    step_seconds = statistics.median(arrivals[b] - arrivals[a] for a, b in zip(steps, steps[1:], strict=False) if b == a + 1)
    return arrivals[1], arrivals[1] - step_seconds, update


def _report(name: str, runs: list[tuple[float, float]]) -> None:
    first, setup = [r[0] for r in runs], [r[1] for r in runs]
    print(f"{name:<28} first step event median {statistics.median(first):6.2f} s, set-up before the first step "
          f"median {statistics.median(setup):6.2f} s  (set-up runs: {', '.join(f'{t:.2f}' for t in setup)})")  # fmt: skip


def _report(name: str, runs: list[tuple[float, float]]) -> None:
    first, setup = [r[0] for r in runs], [r[1] for r in runs]
    print(f"{name:<28} first step event median {statistics.median(first):6.2f} s, set-up before the first step "
          f"median {statistics.median(setup):6.2f} s  (set-up runs: {', '.join(f'{t:.2f}' for t in setup)})")  # fmt: skip


def step_times(job) -> list[float]:
    """Arrival time of every step event of the job."""
    arrivals: dict[int, float] = {}

    def on_event(update):
        arrivals.setdefault(update.step, time.perf_counter())

    update = _wait(job, on_event)
    if update.state != "done":
        raise SystemExit(f"the job failed: {update.message}")
    steps = sorted(s for s in arrivals if s > 0)
    return [arrivals[b] - arrivals[a] for a, b in zip(steps, steps[1:], strict=False) if b == a + 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="tiny", help="a CLIP spec, or tiny (see above)")
    parser.add_argument("--subdivisions", type=int, default=3, help="icosphere subdivisions (3: 642 vertices)")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--snapshot-subdivisions", type=int, default=7, help="icosphere for timing one snapshot write alone (7: 163842 vertices)"
    )
    args = parser.parse_args(argv)
    jobs, worker = _addon("jobs"), _addon("worker")
    env = jobs.worker_env(True)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    python = sys.executable
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; clip {args.clip}, "
          f"preset {args.preset}, device {args.device}")  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="stylize-bench-") as tmp:
        tmp = Path(tmp)
        if args.clip == "tiny":
            args.clip = f"local-dir:{_tiny_clip(tmp / 'tiny_clip')}"
        mesh = _mesh(tmp, args.subdivisions)
        count = sum(1 for line in mesh.read_text().splitlines() if line.startswith("v "))
        print(f"mesh: icosphere, {count} vertices")

        def run_dir(name: str) -> Path:
            return tmp / name

        # One process per job: what every Stylize costs without the warm worker.
        cold_process = []
        for i in range(args.repeats):
            argv = jobs.mesh_argv(python, mesh, run_dir(f"process{i}"), _settings(args, 4))
            job = jobs.Job(argv, tmp, env=env, keep_workdir=True).start()
            cold_process.append(first_step(job)[:2])
        _report("one process per job:", cold_process)

        # The warm worker: its first job is cold, the later ones find CLIP loaded.
        client = worker.WarmWorker()
        try:
            cold, warm = [], []
            for i in range(args.repeats):
                client.close()
                job = client.submit(python, env, "mesh", jobs.mesh_args(mesh, run_dir(f"cold{i}"), _settings(args, 4)), tmp)
                cold.append(first_step(job)[:2])
                for j in range(2):
                    job = client.submit(python, env, "mesh",
                                        jobs.mesh_args(mesh, run_dir(f"warm{i}-{j}"), _settings(args, 4)), tmp)  # fmt: skip
                    *latency, update = first_step(job)
                    warm.append(latency)
                    assert update.result["models_loaded"] == 1, update.result
            _report("warm worker, first job:", cold)
            _report("warm worker, later jobs:", warm)

        finally:
            client.close()

        first, later, step = _set_up_in_process(args, mesh, tmp)
        print(f"set-up before the first step, measured exactly in this process on the worker's code path: first job "
              f"{first:.2f} s (CLIP load), later jobs median {statistics.median(later):.3f} s "
              f"(runs: {', '.join(f'{t:.3f}' for t in later)}); a step takes {step:.3f} s")  # fmt: skip
        for subdivisions in sorted({args.subdivisions, args.snapshot_subdivisions}):
            snapshot, step, count = _snapshot_seconds(args, subdivisions, tmp)
            print(f"{count} vertices: one snapshot (field evaluation + npz write) {snapshot * 1000:.1f} ms, one step "
                  f"{step * 1000:.0f} ms: {100 * snapshot / step:.1f} % of a step with preview_every=1, "
                  f"{10 * snapshot / step:.2f} % with the add-on's 10")  # fmt: skip
    return 0


def _set_up_in_process(args, mesh: Path, tmp: Path) -> tuple[float, list[float], float]:
    """Seconds from a job's start to its first step's start, on the worker's own code path
    (``stylize.cli.worker``'s mesh command with a shared ModelCache): the first job, the later
    ones, and the median step time."""
    from stylize.cli.common import CommandContext
    from stylize.cli.worker import WORKER_COMMANDS, request_parser
    from stylize.engine import ModelCache
    from stylize.mesh.text2mesh import Text2MeshRun

    jobs = _addon("jobs")
    cache, entered = ModelCache(), []
    original = Text2MeshRun.step

    def timed_step(self):
        entered.append(time.perf_counter())
        return original(self)

    Text2MeshRun.step = timed_step
    set_ups, steps = [], []
    try:
        for i in range(args.repeats + 1):
            parsed = request_parser().parse_args(["mesh", *jobs.mesh_args(mesh, tmp / f"inproc{i}", _settings(args, 3))])
            parsed.progress = "json"
            entered.clear()
            started = time.perf_counter()
            WORKER_COMMANDS["mesh"][1](parsed, CommandContext(emit=lambda *a, **k: None, model_cache=cache))
            set_ups.append(entered[0] - started)
            steps += [b - a for a, b in zip(entered, entered[1:], strict=False)]
    finally:
        Text2MeshRun.step = original
    return set_ups[0], set_ups[1:], statistics.median(steps)


def _snapshot_seconds(args, subdivisions: int, tmp: Path) -> tuple[float, float, int]:
    """Seconds to write one snapshot and to run one step on an icosphere (medians), in this
    process, and its vertex count."""
    from stylize.mesh.config import resolve_mesh_config
    from stylize.mesh.outputs import PreviewSnapshots
    from stylize.mesh.run import Text2Mesh
    from stylize.mesh.text2mesh import Text2MeshRun

    mesh = _mesh(tmp, subdivisions)
    config = resolve_mesh_config("a red circle", args.preset, overrides={"clip": [args.clip], "device": args.device})
    run = Text2MeshRun(Text2Mesh(config, mesh).mesh, config)
    snapshots = PreviewSnapshots(tmp / f"preview{subdivisions}", every=1)
    writes, steps = [], []
    for step in range(1, 4):
        started = time.perf_counter()
        run.step()
        steps.append(time.perf_counter() - started)
        started = time.perf_counter()
        snapshots.write(run, step)
        writes.append(time.perf_counter() - started)
    return statistics.median(writes), statistics.median(steps), len(run.vertices)


if __name__ == "__main__":
    sys.exit(main())
