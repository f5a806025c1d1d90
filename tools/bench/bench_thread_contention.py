"""Wall time of a whole ``stylize mesh`` smoke run per thread setting, with other busy processes.

    python tools/bench/bench_thread_contention.py --busy 2      # two spinning processes alongside
    python tools/bench/bench_thread_contention.py --busy 0      # only what else runs on the machine
    python tools/bench/bench_thread_contention.py --busy 2 --settings default t1 t2 t2-active
    python tools/bench/bench_thread_contention.py --busy 2 --micro   # one parallel op per OpenMP setting

Settings: ``default`` (no ``--threads``: stylize decides), ``tN`` (``--threads N``), and
``tN-active`` (``--threads N`` with ``OMP_WAIT_POLICY=ACTIVE``: workers spin while they wait, as
GNU OpenMP does by default). Each run is its own process; the spinning processes are killed at the
end (and stop by themselves after ``--limit`` seconds). Prints one table row per run: the run's
own ``seconds`` (from its JSON line), the threads and wait policy ``run.json`` recorded, the
1-minute load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = ("OMP_NUM_THREADS", "STYLIZE_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def _run(setting: str, out: Path, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLS}
    env["PYTHONPATH"] = str(ROOT)
    extra: list[str] = []
    if setting != "default":
        threads, _, policy = setting[1:].partition("-")
        extra = ["--threads", threads]
        if policy:
            env["OMP_WAIT_POLICY"] = policy.upper()
    command = [sys.executable, "-m", "stylize", "mesh", "examples/meshes/vase.obj", "a red circle", "--preset", "smoke",
               "--clip", "local-dir:tests/assets/clip/trainer", "--out", str(out), "--overwrite", "--no-progress", *extra]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{setting}: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    environment = json.loads((out / "run.json").read_text())["environment"]
    return {"seconds": json.loads(done.stdout.strip().splitlines()[-1])["seconds"], "threads": environment["threads"],
            "policy": environment.get("omp_wait_policy") or "(runtime default)"}  # fmt: skip


MICRO = """
import time, torch
torch.set_num_threads(THREADS)
x, y = torch.rand(1_000_000), torch.rand(1_000_000)
for _ in range(20): (x * y).sum()
start = time.perf_counter()
for _ in range(300): (x * y).sum()
print((time.perf_counter() - start) / 300 * 1e3)
"""
MICRO_SETTINGS = {"runtime default": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
                  "GOMP_SPINCOUNT=0": {"GOMP_SPINCOUNT": "0"}, "KMP_BLOCKTIME=0": {"KMP_BLOCKTIME": "0"}}  # fmt: skip


def _micro(rounds: int = 2) -> None:
    """Milliseconds per 1M-element multiply + sum at 2 threads per OpenMP wait setting, and at 1 thread."""
    print("| setting | ms per op (one value per round) |\n|---|---|")
    rows: dict[str, list[str]] = {}
    for _ in range(rounds):
        for name, extra in [*MICRO_SETTINGS.items(), ("1 thread", {})]:
            env = {**{k: v for k, v in os.environ.items() if k not in CONTROLS}, **extra}
            code = MICRO.replace("THREADS", "1" if name == "1 thread" else "2")
            done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
            rows.setdefault(name, []).append(f"{float(done.stdout.strip()):.2f}")
    for name, values in rows.items():
        print(f"| {name} | {', '.join(values)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2, help="spinning processes to start alongside")
    parser.add_argument("--settings", nargs="+", default=["default", "t1", "t2"])
    parser.add_argument("--limit", type=float, default=900, help="seconds after which the spinners stop by themselves")
    parser.add_argument("--micro", action="store_true", help="time one parallel op per OpenMP setting instead of runs")
    args = parser.parse_args()
    spin = f"import time\nend = time.monotonic() + {args.limit}\nwhile time.monotonic() < end: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(args.busy)]
    try:
        time.sleep(1.0 if spinners else 0.0)
        print(f"# {os.cpu_count()} cores, {args.busy} busy processes alongside")
        if args.micro:
            _micro()
            return
        print("| setting | run seconds | threads | wait policy | load 1 min |\n|---|---:|---:|---|---:|")
        with tempfile.TemporaryDirectory() as folder:
            for setting in args.settings:
                row = _run(setting, Path(folder) / "run", args.limit)
                print(f"| {setting} | {row['seconds']:.1f} | {row['threads']} | {row['policy']} | {os.getloadavg()[0]:.1f} |",
                      flush=True)  # fmt: skip
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.wait()


if __name__ == "__main__":
    main()
