"""``stylize worker``: jobs as JSON lines on stdin, events tagged with the job id on stdout, CLIP
models loaded once, cancel without losing the worker, exit when stdin closes."""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stylize.cli.worker import Worker, request_parser
from stylize.engine import ModelCache
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import save_mesh

ROOT = Path(__file__).resolve().parents[1]


class _Events(io.TextIOBase):
    """An events stream that hands every JSON line to a queue."""

    def __init__(self) -> None:
        self.lines: queue.Queue = queue.Queue()

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.lines.put(json.loads(line))  # every line the worker writes is JSON
        return len(text)


class _InProcessWorker:
    """A :class:`Worker` serving in a thread, fed through a pipe."""

    def __init__(self, cache: ModelCache) -> None:
        read_fd, write_fd = os.pipe()
        self.requests = os.fdopen(write_fd, "w", buffering=1)
        self.events = _Events()
        self.worker = Worker(os.fdopen(read_fd, "r"), self.events, cache)
        self.code = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.code = self.worker.serve()

    def send(self, **request) -> None:
        self.requests.write(json.dumps(request) + "\n")

    def next(self, timeout: float = 120.0) -> dict:
        return self.events.lines.get(timeout=timeout)

    def until(self, event: str, job_id=None, timeout: float = 120.0) -> list[dict]:
        """Events up to and including the first ``event`` of ``job_id``."""
        seen, deadline = [], time.monotonic() + timeout
        while True:
            record = self.next(max(deadline - time.monotonic(), 0.01))
            seen.append(record)
            if record["event"] == event and record.get("id") == job_id:
                return seen

    def close(self) -> None:
        self.requests.close()
        self.thread.join(60)


@pytest.fixture(scope="module")
def sphere(tmp_path_factory):
    vertices, faces = make_icosphere(1)
    path = tmp_path_factory.mktemp("worker") / "sphere.obj"
    save_mesh(path, vertices, faces)
    return path


def _mesh_args(sphere, out, clip, iters=2, *extra) -> list[str]:
    return [str(sphere), "a red circle", "--out", str(out), "--preset", "smoke", "--clip", clip, "--iters", str(iters),
            "--views", "2", "--set", "output.turntable_frames=1", "--set", "output.preview_views=1", *extra]  # fmt: skip


def test_two_jobs_one_model_load_events_tagged_with_the_job(sphere, tiny_clip_spec, tmp_path):
    cache = ModelCache()
    served = _InProcessWorker(cache)
    try:
        ready = served.next()
        assert ready["event"] == "ready" and ready["pid"] == os.getpid() and ready["version"]
        served.send(id="a", command="mesh", args=_mesh_args(sphere, tmp_path / "a", tiny_clip_spec))
        first = served.until("done", "a")
        served.send(id=7, command="mesh", args=_mesh_args(sphere, tmp_path / "b", tiny_clip_spec, 3, "--set", "preview_every=1"))
        second = served.until("done", 7)
        served.send(id="d", command="draw", args=["a red circle", "--out", str(tmp_path / "d"), "--preset", "smoke",
                                                  "--clip", tiny_clip_spec, "--iters", "2", "--paths", "2"])  # fmt: skip
        drawing = served.until("done", "d")
    finally:
        served.close()
    assert served.code == 0
    # The outputs' phases reach the add-on tagged like the steps (the progress between the last step and done).
    assert [(e["event"], e.get("phase")) for e in first] == [
        ("started", None), ("step", None), ("step", None), ("phase", "scoring"), ("phase", "writing"),
        ("phase", "rendering"), ("done", None),
    ]  # fmt: skip
    assert all(e["id"] == "a" for e in first)
    second = [e for e in second if e["event"] != "phase"]
    assert first[-1]["models_loaded"] == 1 and first[-1]["status"] == "finished" and first[-1]["out"] == str(tmp_path / "a")
    assert [(e["event"], e.get("step")) for e in second] == [
        ("started", None),
        ("step", 1),
        ("preview", 1),
        ("step", 2),
        ("preview", 2),
        ("step", 3),
        ("done", None),
    ]
    assert Path(second[-2]["path"] if second[-2]["event"] == "preview" else second[4]["path"]).is_file()
    # The second and third jobs found the model loaded: one load in all.
    assert second[-1]["models_loaded"] == 1 and drawing[-1]["models_loaded"] == 1 and cache.loads == 1
    assert Path(drawing[-1]["svg"]).is_file()


def test_cancel_bad_requests_and_errors_leave_the_worker_serving(sphere, tiny_clip_spec, tmp_path):
    served = _InProcessWorker(ModelCache())
    try:
        assert served.next()["event"] == "ready"
        served.requests.write("not json\n")
        assert served.next()["message"].startswith("not a JSON request")
        served.send(id="p", command="paint", args=[])
        assert served.next() == {
            "event": "error",
            "id": "p",
            "message": "unknown command 'paint': expected mesh, draw, sketch or cancel",
        }
        served.send(id="bad", command="mesh", args=[str(sphere), "x", "--nope"])
        assert served.until("error", "bad")[-1]["message"] == "stylize: unrecognized arguments: --nope"
        served.send(id="empty", command="mesh", args=[str(sphere), ""])  # the command's own error, one line
        assert "expected INPUT and PROMPT" in served.until("error", "empty")[-1]["message"]

        served.send(id="long", command="mesh", args=_mesh_args(sphere, tmp_path / "long", tiny_clip_spec, 10_000))
        served.send(id="queued", command="mesh", args=_mesh_args(sphere, tmp_path / "queued", tiny_clip_spec))
        served.until("step", "long")
        served.send(id="queued", command="cancel")  # dropped before it starts
        served.send(id="long", command="cancel")
        events = served.until("cancelled", "queued")
        assert ("cancelled", "long") in [(e["event"], e.get("id")) for e in events]
        assert not [e for e in events if e.get("id") == "queued" and e["event"] != "cancelled"]
        # Nothing half-done: the cancelled run wrote no results (its config and metrics stay).
        assert not (tmp_path / "long" / "vertex_data.npz").exists() and not (tmp_path / "queued").exists()

        served.send(id="after", command="mesh", args=_mesh_args(sphere, tmp_path / "after", tiny_clip_spec))
        done = served.until("done", "after")[-1]
        assert done["status"] == "finished" and (tmp_path / "after" / "vertex_data.npz").is_file()
        assert done["models_loaded"] == 1
    finally:
        served.close()
    assert served.code == 0


def _worker_with_a_long_job(sphere, clip_spec, folder):
    """A ``stylize worker`` process, ready, that was sent a 10,000-step mesh job ``long``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "stylize", "worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=folder)  # fmt: skip
    assert json.loads(process.stdout.readline())["event"] == "ready"
    job = {"id": "long", "command": "mesh", "args": _mesh_args(sphere, folder / "long", clip_spec, 10_000)}
    process.stdin.write(json.dumps(job) + "\n")
    process.stdin.flush()
    return process


@pytest.mark.slow
def test_worker_exits_when_stdin_closes_and_writes_only_events(sphere, tiny_clip_spec, tmp_path):
    process = _worker_with_a_long_job(sphere, tiny_clip_spec, tmp_path)
    try:
        events = []
        while not any(e["event"] == "step" for e in events):
            events.append(json.loads(process.stdout.readline()))
        process.stdin.close()  # Blender quit: the worker stops the job and exits
        code = process.wait(60)
        rest = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0
    events += [json.loads(line) for line in rest.splitlines() if line.strip()]  # nothing but JSON events
    assert events[-1] == {"event": "cancelled", "id": "long"}
    assert not (tmp_path / "long" / "vertex_data.npz").exists()


def test_request_parser_is_the_commands_own():
    args = request_parser().parse_args(["mesh", "in.obj", "a vase", "--iters", "4", "--set", "preview_every=5"])
    assert (args.command, args.input, args.prompt, args.iters, args.set) == ("mesh", "in.obj", "a vase", 4, ["preview_every=5"])
    from stylize.errors import InputError

    with pytest.raises(InputError, match="stylize: unrecognized arguments: --nope"):
        request_parser().parse_args(["mesh", "in.obj", "x", "--nope"])
    with pytest.raises(InputError, match="invalid int"):
        request_parser().parse_args(["mesh", "in.obj", "x", "--iters", "many"])


def test_one_bad_line_gets_one_error_and_the_worker_stays_up():
    served = _InProcessWorker(ModelCache())
    try:
        assert served.next()["event"] == "ready"
        served.requests.write("[" * 100_000 + "]" * 100_000 + "\n")  # RecursionError in json
        assert served.next()["event"] == "error"
        served.send(id=["a", "list"], command="mesh", args=[])
        assert "expected 'id' to be a string or a number" in served.next()["message"]
        served.send(id={"an": "object"}, command="cancel")
        assert served.next()["event"] == "error"
        served.requests.write('{"id": ' + "1" * 10_000 + ', "command": "cancel"}\n')  # an integer too long
        assert served.next()["event"] == "error"
        served.send(id="p", command="paint", args=[])  # still serving
        assert served.next()["id"] == "p"
    finally:
        served.close()
    assert served.code == 0


@pytest.mark.slow
def test_worker_whose_reader_went_away_stops_quietly(sphere, tiny_clip_spec, tmp_path):
    process = _worker_with_a_long_job(sphere, tiny_clip_spec, tmp_path)
    try:
        assert json.loads(process.stdout.readline())["event"] == "started"
        process.stdout.close()  # the reader is gone; stdin stays open
        code = process.wait(120)
        err = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
    assert not (tmp_path / "long" / "vertex_data.npz").exists()


def test_a_sketch_job_runs_in_the_worker(tiny_clip_spec, tmp_path):
    from stylize.images import save_image
    from stylize.testing.restyle_check import disc_picture

    save_image(tmp_path / "camera.png", disc_picture(48))
    served = _InProcessWorker(ModelCache())
    try:
        assert served.next()["event"] == "ready"
        served.send(id="s", command="sketch", args=[str(tmp_path / "camera.png"), "--out", str(tmp_path / "s"), "--preset",
                                                    "smoke", "--clip", tiny_clip_spec, "--iters", "2", "--size", "32",
                                                    "--strokes", "3"])  # fmt: skip
        events = served.until("done", "s")
    finally:
        served.close()
    assert [e["event"] for e in events] == ["started", "step", "step", "done"]
    assert events[-1]["svg"] == str(tmp_path / "s" / "sketch.svg") and Path(events[-1]["svg"]).is_file()
