"""The Text2Mesh step: one CLIP pass for all augmentation groups, and what it waits for."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stylize.engine import ModelCache
from stylize.mesh.config import resolve_mesh_config
from stylize.mesh.io import load_mesh
from stylize.mesh.text2mesh import Text2MeshRun
from stylize.testing.syncs import count_host_reads

VASE = Path(__file__).resolve().parents[2] / "examples" / "meshes" / "vase.obj"


@pytest.fixture(scope="module")
def cache():
    return ModelCache()


def _run(spec, cache, **overrides) -> Text2MeshRun:
    config = resolve_mesh_config("a red circle", "smoke", None, {"clip": [spec], "loss.n_local_augs": 3, **overrides})
    return Text2MeshRun(load_mesh(VASE), config, model_cache=cache)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
def test_one_pass_equals_one_call_per_group(tiny_clip_pair, cache):
    spec = f"local-dir:{tiny_clip_pair[0]}"
    runs = {one_pass: _run(spec, cache, **{"loss.one_pass": one_pass, "loss.local_weight": 0.7}) for one_pass in (True, False)}
    records, grads = {}, {}
    for one_pass, run in runs.items():
        run.optimizer.step = lambda *a, **k: None  # keep the gradients of the first step to compare them
        records[one_pass] = run.step()
        grads[one_pass] = {name: p.grad.clone() for name, p in run.field.named_parameters() if p.grad is not None}
    assert records[True].losses.keys() == {"global", "local", "geometry"}
    for name in ("global", "local", "geometry"):
        assert records[True].losses[name] == pytest.approx(records[False].losses[name], rel=1e-5, abs=1e-6)
    assert records[True].similarity == pytest.approx(records[False].similarity, abs=1e-6)
    assert grads[True].keys() == grads[False].keys() and grads[True]
    for name, grad in grads[True].items():
        torch.testing.assert_close(grad, grads[False][name], atol=1e-7, rtol=1e-4)
    assert any(grad.abs().sum() > 0 for grad in grads[True].values())


def test_a_step_reads_one_value_back_from_the_device(tiny_clip_spec, cache):
    """Only the finite check waits on the device; losses and scores stay tensors until logged."""
    run = _run(tiny_clip_spec, cache)
    run.step()
    with count_host_reads() as reads:
        record = run.step()
    sites = [site.rsplit(":", 1)[0] for site in reads.project_sites()]
    assert sites == ["stylize/mesh/text2mesh.py"], reads.project_sites()
    assert isinstance(record.loss, float) and record.metrics()["loss"] == record.loss


@pytest.mark.slow
def test_joint_step_gives_each_run_what_its_own_step_gives(tiny_clip_spec, cache):
    from stylize.mesh.text2mesh import joint_step

    alone = [_run(tiny_clip_spec, cache, seed=seed) for seed in (3, 4)]
    together = [_run(tiny_clip_spec, cache, seed=seed) for seed in (3, 4)]
    for _ in range(2):
        expected = [run.step() for run in alone]
        records = joint_step(together)
        for record, reference in zip(records, expected, strict=False):
            assert record.loss == pytest.approx(reference.loss, rel=1e-5, abs=1e-6)
    for run, reference in zip(together, alone, strict=False):
        for name, value in reference.field.state_dict().items():
            torch.testing.assert_close(run.field.state_dict()[name], value, atol=1e-6, rtol=1e-4)


@pytest.mark.slow
def test_best_of_keeps_the_candidate_the_training_clip_scores_best(tiny_clip_spec, tmp_path):
    import json

    from stylize import api
    from stylize.mesh.geometry import make_icosphere
    from stylize.mesh.io import save_mesh

    vertices, faces = make_icosphere(1)
    save_mesh(tmp_path / "ball.obj", vertices, faces)
    small = {"clip": [tiny_clip_spec], "iters": 4, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1,
             "output.preview_views": 2, "output.preview_size": 32, "output.turntable_frames": 2,
             "output.turntable_size": 32, "output.score_size": 32, "best_of": 3, "best_of_warmup": 2, "seed": 10}  # fmt: skip
    steps = []
    result = api.stylize_mesh(tmp_path / "ball.obj", "a red circle", out=tmp_path / "run", preset="smoke", overrides=small,
                              on_step=lambda step, total, metrics: steps.append((step, total)))  # fmt: skip
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    candidates = run["candidates"]
    assert [c["seed"] for c in candidates] == [10, 11, 12] and sum(c["chosen"] for c in candidates) == 1
    chosen = max(candidates, key=lambda c: c["train_score"])
    assert chosen["chosen"] and run["best_seed"] == chosen["seed"] and result.iterations == 4
    # progress counts every candidate's warm-up: 3 x 2 + the 2 remaining iterations
    assert steps[0] == (3, 8) and steps[-1] == (8, 8)
    assert "best_of = 3" in (tmp_path / "run" / "config.toml").read_text()


def test_ctrl_c_in_the_best_of_warm_up_writes_the_best_candidate_so_far(tiny_clip_spec, tmp_path):
    import json

    from stylize import api
    from stylize.errors import Interrupted
    from stylize.mesh.geometry import make_icosphere
    from stylize.mesh.io import save_mesh

    vertices, faces = make_icosphere(1)
    save_mesh(tmp_path / "ball.obj", vertices, faces)
    small = {"clip": [tiny_clip_spec], "iters": 6, "render_size": 32, "views.n_views": 2, "loss.n_local_augs": 1,
             "output.preview_views": 2, "output.preview_size": 32, "output.turntable_frames": 2,
             "output.turntable_size": 32, "output.score_size": 32, "best_of": 2, "best_of_warmup": 4, "seed": 10}  # fmt: skip

    def stop_after_two_warm_up_steps(step, total, metrics):
        if step >= 4:  # 2 candidates x 2 warm-up iterations
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as raised:
        api.stylize_mesh(tmp_path / "ball.obj", "a red circle", out=tmp_path / "run", preset="smoke", overrides=small,
                         on_step=stop_after_two_warm_up_steps)  # fmt: skip
    assert raised.value.signal_name == "SIGINT" and raised.value.result is not None
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "interrupted" and run["complete"] is True
    assert sum(c["chosen"] for c in run["candidates"]) == 1
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and (tmp_path / "run" / "config.toml").is_file()
    assert raised.value.result.iterations == 2
