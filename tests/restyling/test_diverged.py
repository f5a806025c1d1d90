"""A restyle whose loss stops being finite ends ``diverged`` (never ``finished``), and
``metrics.jsonl`` holds null where a value was not finite, never a bare ``NaN``."""

from __future__ import annotations

import json

import torch

from stylize import api
from stylize.generation import run_steps
from stylize.images import save_image
from stylize.runs import RunFolder
from stylize.testing.restyle_check import disc_picture


def test_a_non_finite_loss_ends_the_restyle_diverged(tiny_clip_spec, tmp_path, monkeypatch):
    save_image(tmp_path / "disc.png", disc_picture(32))
    adam_step = torch.optim.Adam.step

    calls = []

    def poisoned(self, *args, **kwargs):  # the third update sends every weight to NaN
        result = adam_step(self, *args, **kwargs)
        calls.append(1)
        if len(calls) < 3:
            return result
        for group in self.param_groups:
            for parameter in group["params"]:
                parameter.data.fill_(float("nan"))
        return result

    monkeypatch.setattr(torch.optim.Adam, "step", poisoned)
    result = api.restyle(tmp_path / "disc.png", "a blue circle", source="a red circle", preset="smoke", clip=[tiny_clip_spec],
                         iters=30, size=32, crop_size=16, num_crops=2, lambda_content=0.0, device="cpu", log_every=1,
                         out=tmp_path / "run")  # fmt: skip
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert result.status == "diverged" and run["status"] == "diverged" and run["steps"] < 30
    # the picture written is the last state whose loss was finite, not NaN (black)
    assert torch.isfinite(result.image).all() and float(result.image.max()) > 0.05
    text = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert any(json.loads(line)["loss"] is None for line in text.splitlines())


def test_run_steps_stops_at_a_non_finite_loss_with_or_without_a_callback():
    losses = [1.0, 0.5, float("nan"), 0.25] + [0.1] * 30

    with_callback = run_steps(len(losses), lambda i: {"loss": torch.tensor(losses[i])}, on_step=lambda *a: None)
    assert with_callback.diverged and with_callback.steps == 3
    without = run_steps(len(losses), lambda i: {"loss": torch.tensor(losses[i])})
    assert without.diverged and without.steps == 10  # read every FINITE_CHECK_EVERY steps
    assert not run_steps(5, lambda i: {"loss": torch.tensor(1.0)}).diverged


def test_metrics_lines_write_null_for_values_that_are_not_finite(tmp_path):
    with RunFolder(tmp_path / "run", "test") as folder:
        folder.log_metrics(0, loss=float("nan"), score=float("inf"), extra={"x": [float("-inf"), 1.0]})
    line = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert json.loads(line) == {"step": 0, "loss": None, "score": None, "extra": {"x": [None, 1.0]}}
