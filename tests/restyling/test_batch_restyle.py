"""``kind = "restyle"`` batch jobs: the input is the picture, it is hashed by content, the run folder
holds the restyle artefacts and the manifest records the score."""

from __future__ import annotations

import json

import pytest

from stylize.images import save_image
from stylize.pipeline import load_jobs, run_batch
from stylize.pipeline.kinds import JOB_KINDS
from stylize.testing.restyle_check import disc_picture

JOBS = """
[defaults]
clip = ["{clip}"]
device = "cpu"

[defaults.restyle]
preset = "smoke"
iters = 2
size = 32
set = {{ crop_size = 16, num_crops = 2, content_features = "clip" }}

[[jobs]]
kind = "restyle"
input = "pictures/*.png"
prompt = "a blue circle"
source = "a red circle"
"""


@pytest.fixture(scope="module")
def jobs_file(tmp_path_factory, tiny_clip_spec):
    folder = tmp_path_factory.mktemp("restyle_batch")
    (folder / "pictures").mkdir()
    save_image(folder / "pictures" / "a.png", disc_picture(40, (0.4, 0.5), 0.3))
    save_image(folder / "pictures" / "b.png", disc_picture(40, (0.6, 0.5), 0.2))
    path = folder / "jobs.toml"
    path.write_text(JOBS.format(clip=tiny_clip_spec))
    return path


def test_restyle_jobs_resolve_with_the_picture_as_input(jobs_file):
    jobs = load_jobs(jobs_file)
    assert [job.kind for job in jobs] == ["restyle", "restyle"] and [job.name for job in jobs] == ["a", "b"]
    assert jobs[0].config["image"] == str(jobs_file.parent / "pictures" / "a.png") and jobs[0].prompt == "a blue circle"
    assert jobs[0].config["source"] == "a red circle" and jobs[0].config["size"] == 32 and jobs[0].id != jobs[1].id
    assert JOB_KINDS.lookup("restyle").artefacts == ("image.png", "preview.png", "net.pt")


def test_restyle_jobs_run(jobs_file, tmp_path):
    result = run_batch(jobs_file, tmp_path / "out")
    assert not result.failed
    entries = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert [e["status"] for e in entries] == ["done", "done"] and all(isinstance(e["score"], float) for e in entries)
    for entry in entries:
        folder = tmp_path / "out" / entry["id"]
        assert {"image.png", "preview.png", "net.pt", "run.json"} <= {p.name for p in folder.iterdir()}
