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
