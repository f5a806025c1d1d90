from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from stylize.errors import Cancelled
from stylize.images import image_grid, save_gif, save_image, to_uint8_image
from stylize.runs import RUN_KEYS, RUN_SCHEMA, RunFolder
from stylize.utils import atomic_write


def test_run_folder_files(tmp_path):
    with RunFolder(tmp_path / "run", "draw") as run:
        run.write_config({"iters": 3, "render": {"size": 32}})
        run.log_metrics(0, loss=1.5)
        run.log_metrics(1, loss=1.25)
        run.write_run_json(seed=3)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["loss"] for line in lines] == [1.5, 1.25]
    data = json.loads((tmp_path / "run" / "run.json").read_text())
    assert data["kind"] == "draw" and data["seed"] == 3 and "torch" in data["environment"]
    assert "[render]" in (tmp_path / "run" / "config.toml").read_text()


def test_run_json_keys_schema_and_statuses(tmp_path):
    with RunFolder(tmp_path / "run", "paint") as run:
        assert json.loads(run.file("run.json").read_text())["status"] == "running"
        run.write_config({"iters": 1})
        run.write_run_json(status="interrupted", seed=1)
    data = json.loads((tmp_path / "run" / "run.json").read_text())
    assert set(RUN_KEYS) <= set(data) and data["schema"] == RUN_SCHEMA and data["complete"] is True
    assert data["status"] == "interrupted" and data["interrupted"] is True and data["steps"] is None
    with pytest.raises(ValueError, match="expected a run status"), RunFolder(tmp_path / "bad", "paint") as run:
        run.write_run_json(status="done")


@pytest.mark.parametrize(("error", "status"), [(RuntimeError("out of memory"), "failed"), (KeyboardInterrupt(), "interrupted"),
                                               (Cancelled(), "cancelled")])  # fmt: skip
def test_a_run_an_error_stops_is_never_left_running(tmp_path, error, status):
    with pytest.raises(type(error)), RunFolder(tmp_path / "run", "draw") as run:
        run.write_config({"iters": 1})  # something written: the folder stays
        raise error
    data = json.loads((tmp_path / "run" / "run.json").read_text())
    assert data["status"] == status and data["complete"] is False and data["kind"] == "draw"
    assert ("out of memory" in data.get("error", "")) is (status == "failed")
    assert not (tmp_path / "run" / ".stylize.lock").exists()


def test_images_and_gif(tmp_path):
    red = torch.zeros(3, 8, 8)
    red[0] = 1
    save_image(tmp_path / "a.png", red)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png"))[0, 0], [255, 0, 0])
    save_gif(tmp_path / "a.gif", [red, 1 - red])
    assert Image.open(tmp_path / "a.gif").n_frames == 2
    grid = image_grid([red, red, red])
    assert grid.shape == (3, 16, 16) and torch.all(grid[:, 8:, 8:] == 1)
    assert to_uint8_image(torch.full((1, 3, 2, 2), 0.5)).shape == (2, 2, 3)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    try:
        with atomic_write(target) as handle:
            handle.write("new, half")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _stale_lock(folder, pid: int) -> None:
    import socket

    (folder / ".stylize.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))


def test_many_racing_for_a_stale_lock_exactly_one_wins_each_round(tmp_path):
    import subprocess
    import sys
    import threading

    from stylize.errors import InputError

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "run"
    folder.mkdir()
    racers, rounds = 8, 25
    start, tried = threading.Barrier(racers), threading.Barrier(racers)
    winners: list[int] = []
    unexpected: list[str] = []
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race, if any, shows

    def race() -> None:
        for _ in range(rounds):
            start.wait()
            run = None
            try:
                run = RunFolder(folder, "test", overwrite=True)  # (the last round's run.json is replaced)
                winners.append(1)
            except InputError as exc:
                if "in use by another run" not in str(exc):
                    unexpected.append(str(exc))
            tried.wait()  # the winner holds the lock until everyone has tried
            if run is not None:
                run.close()
                _stale_lock(folder, dead.pid)  # the next round races for a stale lock again
            tried.wait()
            if run is not None:
                winners.append(0)  # a round separator

    _stale_lock(folder, dead.pid)
    try:
        threads = [threading.Thread(target=race) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        sys.setswitchinterval(previous)
    per_round = [len(chunk) for chunk in "".join(map(str, winners)).split("0")[:-1]]
    assert not unexpected and per_round == [1] * rounds, (unexpected[:3], per_round)
