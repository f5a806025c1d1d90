"""Checkpoints of a Text2Mesh run (``checkpoint.pt`` in the run folder) and resuming from them.

A checkpoint holds everything the next iteration depends on: the field, Adam's moments, the
learning-rate schedule, the random streams (view sampler, the three augmenters, torch's global
generator), the iteration and the divergence bookkeeping; plus the resolved config, the input
file's SHA-256 and the mask, so a resumed run is the same run. On the CPU, resuming gives the
same result bit for bit as a run that was never stopped. Loading uses ``weights_only=True``.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch

from stylize.config import apply_overrides, flatten_keys, to_dict
from stylize.errors import InputError, first_line
from stylize.utils import atomic_path

if TYPE_CHECKING:
    from stylize.mesh.text2mesh import Text2MeshConfig, Text2MeshRun

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "capture_state", "load_checkpoint", "restore_run",
           "resumed_config", "save_checkpoint"]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "stylize.text2mesh-checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"
# Settings that may change when resuming: they do not alter the iterations already run.
RESUMABLE_CHANGES = ("iters", "device", "log_every", "checkpoint_every", "nan_patience", "output.")


def _augmenters(run: "Text2MeshRun") -> dict[str, Any]:
    return {"global": run.global_aug, "local": run.local_aug, "geometry": run.geometry_aug}


def capture_state(run: "Text2MeshRun") -> dict[str, Any]:
    """Everything the next iteration of ``run`` depends on, as independent copies (later steps do
    not change it): field, Adam, schedule, random streams, counters, timings."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": to_dict(run.config),
        "iteration": run.iteration,
        "skipped_steps": run.skipped_steps,
        "bad_streak": run._bad_streak,
        # Copies stay on the run's device: taken before every iteration, they must not wait on
        # a GPU->CPU transfer (checkpoints load with map_location="cpu").
        "field": {k: v.detach().clone() for k, v in run.field.state_dict().items()},
        "last_good": None if run._last_good is None else {k: v.detach().clone() for k, v in run._last_good.items()},
        "optimizer": copy.deepcopy(run.optimizer.state_dict()),
        "scheduler": copy.deepcopy(run.scheduler.state_dict()),
        "rng": {
            "torch": torch.get_rng_state(),
            "views": run.view_generator.get_state(),
            **{f"augment_{name}": aug.generator.get_state() for name, aug in _augmenters(run).items()},
        },
        "timings": dict(run.timings),
    }


def save_checkpoint(run: "Text2MeshRun", path: str | Path, state: Mapping[str, Any] | None = None, **extra: Any) -> Path:
    """Write ``run``'s state (or an earlier :func:`capture_state` of it) to ``path`` atomically;
    ``extra`` holds plain values (input, mask, ...)."""
    state = {**(capture_state(run) if state is None else state), **extra}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(source: str | Path) -> dict[str, Any]:
    """Read a checkpoint from a run folder (its ``checkpoint.pt``) or a checkpoint file."""
    path = Path(source)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise InputError(f"cannot resume: {path} not found (runs write it every checkpoint_every iterations)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise InputError(f"{path}: not a readable checkpoint ({first_line(exc)})") from None
    if not isinstance(state, Mapping) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    state = dict(state)
    state["path"] = str(path)
    return state


def resumed_config(state: Mapping[str, Any], prompt: str, overrides: Mapping[str, Any] | None) -> "Text2MeshConfig":
    """The checkpoint's config with ``overrides`` on top; only settings that do not change the
    iterations already run (``iters``, ``device``, logging, outputs) may differ."""
    from stylize.mesh.text2mesh import Text2MeshConfig

    stored = apply_overrides(Text2MeshConfig(), state["config"])
    if prompt and prompt != stored.prompt:
        raise InputError(f"cannot resume: the prompt {prompt!r} differs from the run's {stored.prompt!r}")
    config = apply_overrides(stored, dict(overrides or {}))
    before, after = flatten_keys(to_dict(stored)), flatten_keys(to_dict(config))
    for key, value in after.items():
        if value != before.get(key) and not any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_CHANGES):
            raise InputError(f"cannot resume: setting {key!r} differs from the run's ({before.get(key)!r} -> {value!r})")
    if config.iters < int(state["iteration"]):
        raise InputError(f"cannot resume: iters = {config.iters} but the checkpoint is at iteration {state['iteration']}")
    config.check()
    return config


def restore_run(run: "Text2MeshRun", state: Mapping[str, Any]) -> None:
    """Put a freshly built run (same config and mesh) into the checkpoint's state."""
    run.field.load_state_dict(state["field"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    run.view_generator.set_state(rng["views"])
    for name, aug in _augmenters(run).items():
        aug.generator.set_state(rng[f"augment_{name}"])
    run.iteration = int(state["iteration"])
    run.skipped_steps = int(state["skipped_steps"])
    run._bad_streak = int(state["bad_streak"])
    last_good = state.get("last_good")
    run._last_good = None if last_good is None else {k: v.to(run.device) for k, v in last_good.items()}
    run.timings.update({k: float(v) for k, v in state.get("timings", {}).items()})
    logger.info("state restored at iteration %d of %d", run.iteration, run.config.iters)


def mask_tensor(weights: np.ndarray | None) -> torch.Tensor | None:
    """File-order mask weights as stored in a checkpoint."""
    return None if weights is None else torch.as_tensor(np.asarray(weights, dtype=np.float32))


def same_mask(stored: torch.Tensor | None, given: np.ndarray | None) -> bool:
    if stored is None or given is None:
        return stored is None and given is None
    return stored.shape[0] == len(given) and bool(torch.equal(stored, torch.as_tensor(given, dtype=torch.float32)))
