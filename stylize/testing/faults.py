"""A fault sweep: bad inputs and hostile conditions against the command line, with what must hold.

Each :class:`FaultCase` builds its inputs in a fresh folder, runs ``stylize ARGS`` and checks:
the exit code, that stderr is one line (``stylize: error: ...``) naming the problem and holding
no traceback, that the protected files (the inputs) are byte for byte unchanged, and any
case-specific check (e.g. "no run folder that looks complete"). :func:`run_case` runs a case in
a subprocess (any interpreter and checkout: ``tools/dev/fault_sweep.py`` prints the table for the
current code and for an older one) or in this process (the test suite's fast path). The cases
themselves, grouped by class, are :data:`stylize.testing.fault_cases.CASES`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DRAW_SMALL", "FaultCase", "FaultOutcome", "MESH_SMALL", "TRAINER", "run_case"]

ROOT = Path(__file__).resolve().parents[2]
TRAINER = f"local-dir:{ROOT / 'tests' / 'assets' / 'clip' / 'trainer'}"
MESH_SMALL = ["--preset", "smoke", "--clip", TRAINER, "--iters", "2", "--set", "render_size=32", "--set",
              "output.turntable_frames=2", "--set", "output.preview_views=2", "--no-progress"]  # fmt: skip
DRAW_SMALL = ["--preset", "smoke", "--clip", TRAINER, "--iters", "2", "--no-progress"]


@dataclass
class FaultCase:
    """One hostile input.

    Attributes:
        name: short label (the table's row).
        group: ``data loss``, ``traceback``, ``silent``, ``security``, ``signals``, ``worker``,
            ``concurrency`` or ``cost``.
        setup: ``setup(folder) -> argv`` (after ``stylize``): writes the inputs, returns the command.
        code: the exit code the toolkit must give.
        text: a substring the one-line error must contain (any line of stderr when ``code`` is 0).
        protected: files (relative to the folder) whose bytes must not change.
        check: ``check(folder) -> problem or None`` after the run.
        slow: needs a real run (seconds); the suite runs the fast ones.
        stdin: text fed to the command's standard input (``stylize worker`` requests); what the
            command writes to stdout is kept in ``stdout.txt`` beside the inputs for ``check``.
        signal: ``(signum, seconds)`` or ``(signum, seconds, marker)``: send the signal that long
            after the start, or after the marker (a path relative to the folder that must appear,
            or ``stdout:TEXT``, a text an output line must contain), so a loaded machine's slow
            start cannot make the signal land before the command got going (a subprocess only:
            such a case is ``slow``).
    """

    name: str
    group: str
    setup: Callable[[Path], list[str]]
    code: int = 2
    text: str = ""
    protected: tuple[str, ...] = ()
    check: Callable[[Path], str | None] | None = None
    slow: bool = False
    stdin: str | None = None
    signal: tuple[int, float] | tuple[int, float, str] | None = None


@dataclass
class FaultOutcome:
    code: int
    stderr: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def first_line(self) -> str:
        return self.stderr[0] if self.stderr else ""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def run_case(case: FaultCase, folder: Path, python: str | None = None, env: dict | None = None,
             in_process: bool = False, timeout: float = 300) -> FaultOutcome:  # fmt: skip
    """Run ``case`` in ``folder`` (created) and check what must hold; see the module docstring."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = case.setup(folder)
    before = {name: _digest(folder / name) for name in case.protected}
    if in_process:
        from stylize.cli import main

        err, out = io.StringIO(), io.StringIO()
        cwd, stdin = os.getcwd(), sys.stdin
        os.chdir(folder)
        sys.stdin = io.StringIO(case.stdin or "")
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                code = main(argv)
        finally:
            os.chdir(cwd)
            sys.stdin = stdin
        stderr, stdout = err.getvalue(), out.getvalue()
    else:
        code, stdout, stderr = _run_subprocess(case, argv, folder, python, env, timeout)
    if case.stdin is not None:
        (folder / "stdout.txt").write_text(stdout)
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("WARNING", "INFO"))]
    outcome = FaultOutcome(code, lines)
    if code != case.code:
        outcome.problems.append(f"exit code {code}, expected {case.code}")
    if "Traceback" in stderr:
        outcome.problems.append("a traceback")
    if case.code == 2 and len(lines) != 1:
        outcome.problems.append(f"{len(lines)} lines on stderr, expected one")
    if case.text and case.text not in (stderr if case.code == 0 else outcome.first_line):
        outcome.problems.append(f"message lacks {case.text!r}")
    for name, digest in before.items():
        if _digest(folder / name) != digest:
            outcome.problems.append(f"{name} changed")
    if case.check is not None:
        problem = case.check(folder)
        if problem:
            outcome.problems.append(problem)
    return outcome


@contextlib.contextmanager
def _interruptible_children():
    """Children started within get SIGINT's default disposition, as a command typed at a terminal
    does. A child inherits an *ignored* SIGINT (pytest-xdist workers ignore it, as POSIX shells do
    for ``cmd &`` in scripts), and Python then never raises KeyboardInterrupt: a Ctrl-C case would
    test nothing but the parent's setting. Only the main thread may change it; elsewhere, nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for_start(process: subprocess.Popen, folder: Path, marker: str, timeout: float) -> str:
    """Wait until the command got going: ``marker`` is a path (relative to ``folder``) that must
    appear, or ``stdout:TEXT``, a text one of its output lines must contain. Returns the output
    read meanwhile. Gives up when the command ends or after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    if marker.startswith("stdout:"):
        lines = []
        for line in process.stdout:
            lines.append(line)
            if marker[len("stdout:") :] in line or time.monotonic() > deadline:
                break
        return "".join(lines)
    while not (folder / marker).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return ""


def _run_subprocess(case: FaultCase, argv: list[str], folder: Path, python: str | None, env: dict | None,
                    timeout: float) -> tuple[int, str, str]:  # fmt: skip
    """``python -m stylize ARGV`` in ``folder``: (exit code, stdout, stderr); -1 when it hung."""
    import time

    with _interruptible_children():
        process = subprocess.Popen([python or sys.executable, "-m", "stylize", *argv], cwd=folder, env=env, text=True,
                                   stdin=subprocess.PIPE if case.stdin is not None else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    if case.signal is not None:
        signum, seconds, *after = case.signal
        early = _wait_for_start(process, folder, after[0], timeout) if after else ""
        time.sleep(seconds)
        process.send_signal(signum)
    else:
        early = ""
    try:
        stdout, stderr = process.communicate(case.stdin, timeout=timeout)
        return process.returncode, early + stdout, stderr
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        return -1, stdout, f"(still running after {timeout:.0f} s: killed)\n" + stderr


# --- builders --------------------------------------------------------------------------------


def _cube_obj(path: Path, scale: float = 1.0, stray: bool = False) -> Path:
    vertices = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    faces = [(1, 3, 4), (1, 4, 2), (5, 6, 8), (5, 8, 7), (1, 2, 6), (1, 6, 5), (3, 7, 8), (3, 8, 4), (1, 5, 7),
             (1, 7, 3), (2, 4, 8), (2, 8, 6)]  # fmt: skip
    lines = [f"v {x * scale!r} {y * scale!r} {z * scale!r}" for x, y, z in vertices]
    if stray:  # one tiny triangle very far away: the cube shrinks below a pixel when normalised
        lines += ["v 1e5 0 0", "v 1e5 1 0", "v 1e5 0 1"]
        faces.append((9, 10, 11))
    lines += [f"f {a} {b} {c}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` but whose data is one tiny compressed row:
    a 'decompression bomb' that must be refused from the header alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def _score_with_weights(folder: Path, weights: bytes) -> list[str]:
    """``stylize score`` argv whose CLIP weights file holds ``weights`` (a damaged checkpoint)."""
    (folder / "w.pt").write_bytes(weights)
    _small_png(folder / "a.png")
    return ["score", "a.png", "a cat", "--clip", f"RN50:{folder / 'w.pt'}"]


def _small_png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 30, 30)).save(path)
    return path


def _svg(path: Path) -> Path:
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
                    '<path d="M 5 5 L 60 60" stroke="#000" stroke-width="3" fill="none"/></svg>')  # fmt: skip
    return path


def _fake_run(folder: Path, complete: bool) -> Path:
    """A mesh run folder with a field (a real one, tiny) and a run.json marked complete or not."""
    import torch

    from stylize.mesh.config import FieldConfig
    from stylize.mesh.field import NeuralStyleField

    run = folder / "run"
    run.mkdir()
    NeuralStyleField(FieldConfig(width=8, depth=0, head_depth=0, n_frequencies=4), generator=torch.Generator()).save(
        run / "field.pt"
    )
    _cube_obj(run / "mesh.obj")
    (run / "run.json").write_text(json.dumps({"kind": "mesh", "complete": complete, "input": {"path": str(folder / "in.obj")}}))
    _cube_obj(folder / "in.obj")
    return run


def _no_complete_looking_run(name: str) -> Callable[[Path], str | None]:
    def check(folder: Path) -> str | None:
        run_json = folder / name / "run.json"
        if run_json.is_file() and json.loads(run_json.read_text()).get("complete") is not False:
            return f"{name}/run.json looks complete"
        return None

    return check


def _pickle_weights(path: Path) -> Path:
    """A .pt file whose unpickling would run code (weights_only must refuse it)."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > pwned.txt",))

    path.write_bytes(pickle.dumps({"state_dict": Payload()}))
    return path


def _tampered_checkpoint(folder: Path) -> list[str]:
    import torch

    run = folder / "run"
    run.mkdir()
    torch.save({"format": "stylize.text2mesh-checkpoint/1", "config": {}, "iteration": 1}, run / "checkpoint.pt")
    return ["mesh", "--resume", str(run), "--no-progress"]


def _local_dir_without_weights(folder: Path) -> list[str]:
    clip = folder / "clip"
    clip.mkdir()
    (clip / "open_clip_config.json").write_text(
        (ROOT / "tests" / "assets" / "clip" / "trainer" / "open_clip_config.json").read_text()
    )
    _cube_obj(folder / "in.obj")
    return ["mesh", "in.obj", "a red square", "--out", "run", *MESH_SMALL[:2], "--clip", f"local-dir:{clip}", "--no-progress"]


def _deep_toml(folder: Path) -> list[str]:
    (folder / "deep.toml").write_text("x = " + "[" * 10000 + "]" * 10000 + "\n")
    _cube_obj(folder / "in.obj")
    return ["mesh", "in.obj", "a cube", "--config", "deep.toml", "--no-progress"]


def _symlinked_metrics(folder: Path) -> list[str]:
    (folder / "elsewhere.txt").write_text("precious\n")
    (folder / "run").mkdir()
    (folder / "run" / "metrics.jsonl").symlink_to(folder / "elsewhere.txt")
    _cube_obj(folder / "in.obj")
    return ["mesh", "in.obj", "a cube", "--out", "run", *MESH_SMALL]


def _locked_folder(folder: Path) -> list[str]:
    (folder / "run").mkdir()
    import socket

    # A live holder: this very process (the sweep's parent or the test) keeps running meanwhile.
    (folder / "run" / ".stylize.lock").write_text(json.dumps({"pid": os.getppid() if os.getppid() > 1 else os.getpid(),
                                                                "host": socket.gethostname()}))  # fmt: skip
    _cube_obj(folder / "in.obj")
    return ["mesh", "in.obj", "a cube", "--out", "run", *MESH_SMALL]


def _earlier_run(folder: Path) -> list[str]:
    (folder / "run").mkdir()
    (folder / "run" / "mesh_textured.json").write_text('{"from": "an earlier --bake run"}')
    (folder / "run" / "run.json").write_text('{"complete": true}')
    _cube_obj(folder / "in.obj")
    return ["mesh", "in.obj", "a cube", "--out", "run", *MESH_SMALL]


def _gltf_cube(folder: Path, buffer_uri: str, image_uri: str | None = None) -> Path:
    """``folder/asset/in.gltf``: a cube whose buffer is the file ``buffer_uri`` names (written by
    the caller), and with ``image_uri`` an emissive texture (an image only carried to outputs)."""
    positions = struct.pack("<24f", *[c for x in (-1, 1) for y in (-1, 1) for z in (-1, 1) for c in (x, y, z)])
    triangles = [0, 2, 3, 0, 3, 1, 4, 5, 7, 4, 7, 6, 0, 1, 5, 0, 5, 4, 2, 6, 7, 2, 7, 3, 0, 4, 6, 0, 6, 2, 1, 3, 7, 1, 7, 5]
    (folder / "asset").mkdir(exist_ok=True)
    (folder / "cube.bin").write_bytes(positions + struct.pack(f"<{len(triangles)}H", *triangles))
    document: dict = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "material": 0}]}],
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.8, 0.8, 1.0]}}],
        "buffers": [{"uri": buffer_uri, "byteLength": 96 + 2 * len(triangles)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 96},
                        {"buffer": 0, "byteOffset": 96, "byteLength": 2 * len(triangles)}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 8, "type": "VEC3", "min": [-1, -1, -1], "max": [1, 1, 1]},
                      {"bufferView": 1, "componentType": 5123, "count": len(triangles), "type": "SCALAR"}],
    }  # fmt: skip
    if image_uri is not None:
        document.update(images=[{"uri": image_uri, "mimeType": "image/png"}], textures=[{"source": 0}])
        document["materials"][0]["emissiveTexture"] = {"index": 0}
    (folder / "asset" / "in.gltf").write_text(json.dumps(document))
    return folder / "asset" / "in.gltf"


def _gltf_buffer_outside(uri: str, link: bool = False) -> Callable[[Path], list[str]]:
    """A .gltf whose buffer is read from outside its folder (by ``uri``, or a link planted inside)."""

    def setup(folder: Path) -> list[str]:
        _gltf_cube(folder, uri)
        if link:
            (folder / "asset" / uri).symlink_to(folder / "cube.bin")
        return ["mesh", "asset/in.gltf", "a cube", "--out", "run", *MESH_SMALL]

    return setup


def _gltf_image_not_an_image(folder: Path) -> list[str]:
    _gltf_cube(folder, "cube.bin", image_uri="notes.txt")
    (folder / "asset" / "cube.bin").write_bytes((folder / "cube.bin").read_bytes())
    (folder / "asset" / "notes.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")  # declared image/png
    return ["bake", "asset/in.gltf", "--size", "64", "--out", "baked.glb"]


def _paint_jobs(folder: Path, iters: int = 100000) -> Path:
    (folder / "jobs.toml").write_text(f'[[jobs]]\nkind = "paint"\npreset = "smoke"\nprompt = "a green star"\nsize = 32\n'
                                      f'iters = {iters}\nclip = ["{TRAINER}"]\ndevice = "cpu"\n')  # fmt: skip
    return folder / "jobs.toml"


def _batch_into_a_busy_out(folder: Path) -> list[str]:
    import socket

    _paint_jobs(folder, iters=2)
    (folder / "out" / ".partial" / "theirs").mkdir(parents=True)
    # A live holder: this very process (the sweep's parent or the test) keeps running meanwhile.
    (folder / "out" / ".stylize.lock").write_text(json.dumps({"pid": os.getppid() if os.getppid() > 1 else os.getpid(),
                                                                "host": socket.gethostname()}))  # fmt: skip
    return ["batch", "jobs.toml", "--out", "out"]


def _nothing_staged_left(folder: Path) -> str | None:
    partial = folder / "out" / ".partial"
    return "a staging folder was left behind" if partial.exists() and any(partial.iterdir()) else None


def _interrupted_run(name: str) -> Callable[[Path], str | None]:
    def check(folder: Path) -> str | None:
        run_json = folder / name / "run.json"
        if not run_json.is_file():
            return f"no {name}/run.json"
        status = json.loads(run_json.read_text()).get("status")
        if status != "interrupted" or not (folder / name / "checkpoint.pt").is_file():
            return f"{name}: status {status!r}, checkpoint {'kept' if (folder / name / 'checkpoint.pt').is_file() else 'missing'}"
        return None

    return check


# Bad request lines for ``stylize worker``: each must get one error event, the worker staying up.
WORKER_BAD_LINES = ["[" * 100_000 + "]" * 100_000, '{"id": ["a"], "command": "mesh", "args": []}',
                    '{"id": {"a": 1}, "command": "cancel"}', '{"id": 1' + "0" * 10_000 + ', "command": "cancel"}',
                    '{"id": "p", "command": "paint"}']  # fmt: skip


def _worker_answers_every_bad_line(folder: Path) -> str | None:
    events = [json.loads(line) for line in (folder / "stdout.txt").read_text().splitlines() if line.strip()]
    errors = [event for event in events if event.get("event") == "error"]
    if len(errors) != len(WORKER_BAD_LINES):
        return f"{len(errors)} error events for {len(WORKER_BAD_LINES)} bad lines"
    return None
