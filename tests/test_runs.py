from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from stylize.images import image_grid, save_gif, save_image, to_uint8_image
from stylize.runs import RunFolder
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
