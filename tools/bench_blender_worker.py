"""First-step latency of the Blender add-on's jobs, cold vs warm, and the cost of live previews.

What Blender waits for between pressing Stylize and the first step event, measured with the
add-on's own client code (``blender_addon/worker.py``, no bpy needed):

- ``one process``: ``python -m stylize mesh ... --progress json`` per job (the add-on with Warm
  Worker off): torch import, CLIP load, then the first step;
- ``warm worker, cold``: the first job sent to a fresh ``python -m stylize worker``;
- ``warm worker, warm``: the next jobs (CLIP loaded; only the run's own set-up and first step).

Then the preview overhead: the same run with ``preview_every=1`` and without, its mean seconds
per step from the step events' arrival times, and the seconds one snapshot takes to write.

Usage::

    python tools/bench_blender_worker.py [--clip local-dir:tests/assets/clip/trainer]
        [--subdivisions 3] [--iters 20] [--repeats 3] [--preset smoke] [--device cpu]

A random-init CLIP (``--clip ViT-B-32:random``) costs what the pretrained one does to build, so it
stands in for the real load without a download. Prints one line per figure.
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

ROOT = Path(__file__).resolve().parent.parent


def _addon(name: str):
    """A bpy-free module of the add-on (``blender_addon/<name>.py``) without its ``__init__``."""
    if "stylize_addon" not in sys.modules:
        package = types.ModuleType("stylize_addon")
        package.__path__ = [str(ROOT / "blender_addon")]
        sys.modules["stylize_addon"] = package
    return importlib.import_module(f"stylize_addon.{name}")


def _mesh(folder: Path, subdivisions: int) -> Path:
    from stylize.mesh.io import make_icosphere, save_mesh

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
    step_seconds = statistics.median(arrivals[b] - arrivals[a] for a, b in zip(steps, steps[1:]) if b == a + 1)
    return arrivals[1], arrivals[1] - step_seconds, update


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
    return [arrivals[b] - arrivals[a] for a, b in zip(steps, steps[1:]) if b == a + 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}")
    parser.add_argument("--subdivisions", type=int, default=3, help="icosphere subdivisions (3: 642 vertices)")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--snapshot-subdivisions", type=int, default=7,
                        help="icosphere for timing one snapshot write alone (7: 163842 vertices)")
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

            # Preview overhead: alternate runs with and without a snapshot every step.
            plain, previewed = [], []
            for i in range(args.repeats):
                for every, into in ((0, plain), (1, previewed)):
                    args_list = jobs.mesh_args(mesh, run_dir(f"p{every}-{i}"), _settings(args, args.iters, every))
                    into.extend(step_times(client.submit(python, env, "mesh", args_list, tmp)))
            per_step = statistics.mean(previewed) - statistics.mean(plain)
            print(f"seconds per step: {statistics.mean(plain):.4f} without previews, {statistics.mean(previewed):.4f} with "
                  f"one every step: {per_step * 1000:+.1f} ms per snapshot "
                  f"({100 * per_step / statistics.mean(plain):+.1f} % of a step)")  # fmt: skip
        finally:
            client.close()
    for subdivisions in sorted({args.subdivisions, args.snapshot_subdivisions}):
        seconds, count = _snapshot_seconds(args, subdivisions)
        print(f"one snapshot (field evaluation + npz write) alone: {seconds * 1000:.1f} ms for {count} vertices")
    return 0


def _snapshot_seconds(args, subdivisions: int) -> tuple[float, int]:
    """Seconds to write one snapshot of a fresh run on the mesh (median of 5), in this process."""
    from stylize.mesh.config import resolve_mesh_config
    from stylize.mesh.outputs import PreviewSnapshots
    from stylize.mesh.run import Text2Mesh
    from stylize.mesh.text2mesh import Text2MeshRun

    with tempfile.TemporaryDirectory(prefix="stylize-bench-") as tmp:
        mesh = _mesh(Path(tmp), subdivisions)
        config = resolve_mesh_config("a red circle", args.preset, overrides={"clip": [args.clip], "device": args.device})
        run = Text2MeshRun(Text2Mesh(config, mesh).mesh, config)
        snapshots = PreviewSnapshots(Path(tmp) / "preview", every=1)
        times = []
        for step in range(1, 6):
            started = time.perf_counter()
            snapshots.write(run, step)
            times.append(time.perf_counter() - started)
        return statistics.median(times), len(run.vertices)


if __name__ == "__main__":
    sys.exit(main())
