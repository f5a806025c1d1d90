"""Checkpoints of a Text2Mesh run (``checkpoint.pt`` in the run folder) and resuming from them.

A checkpoint holds :meth:`Text2MeshRun.state_dict() <stylize.mesh.text2mesh.Text2MeshRun.state_dict>`
(everything the next iteration depends on: the field, Adam's moments, the learning-rate schedule,
the random streams, the iteration and the divergence bookkeeping, and the resolved config), plus
the input file's SHA-256 and the mask, so a resumed run is the same run. On the CPU, resuming
gives the same result bit for bit as a run that was never stopped. Loading uses
``weights_only=True``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from stylize.config import absolute_paths, apply_overrides, flatten_keys, to_dict
from stylize.errors import InputError, first_line
from stylize.mesh.config import Text2MeshConfig
from stylize.utils import save_torch

if TYPE_CHECKING:
    from stylize.mesh.text2mesh import Text2MeshRun

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "load_checkpoint", "resumed_config", "save_checkpoint"]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "stylize.text2mesh-checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"
# Settings that may change when resuming: they do not alter the iterations already run.
# (clip_batch changes only how images are chunked: a smaller GPU can pick up a run.)
RESUMABLE_CHANGES = (
    "iters",
    "device",
    "log_every",
    "checkpoint_every",
    "nan_patience",
    "output.",
    "clip_batch",
    "compile",
    "profile",
    "preview_every",
)


def save_checkpoint(run: Text2MeshRun, path: str | Path, state: Mapping[str, Any] | None = None, **extra: Any) -> Path:
    """Write ``run``'s state (or an earlier :meth:`~Text2MeshRun.state_dict` of it) to ``path``
    atomically; ``extra`` holds plain values (input, mask, ...)."""
    state = {"format": CHECKPOINT_FORMAT, **(run.state_dict() if state is None else state), **extra}
    return save_torch(path, state)


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
    problem = checkpoint_problem(state)
    if problem:
        raise InputError(f"{path}: the checkpoint is damaged ({problem}); the run cannot be resumed from it")
    state = dict(state)
    state["path"] = str(path)
    return state


# What a checkpoint holds, key -> the type its value must have.
_CHECKPOINT_SHAPE: dict[str, type | tuple[type, ...]] = {
    "config": Mapping, "iteration": int, "skipped_steps": int, "bad_streak": int, "field": Mapping,
    "optimizer": Mapping, "scheduler": Mapping, "rng": Mapping, "input": Mapping,
}  # fmt: skip
_RNG_STREAMS = ("torch", "views", "augment_global", "augment_local", "augment_geometry")


def checkpoint_problem(state: Mapping[str, Any]) -> str | None:
    """What is wrong with a loaded checkpoint's layout (a missing key, a wrong type), or None."""
    for key, kind in _CHECKPOINT_SHAPE.items():
        if key not in state:
            return f"missing {key!r}"
        if not isinstance(state[key], kind) or (kind is int and isinstance(state[key], bool)):
            return f"{key!r} is a {type(state[key]).__name__}"
    for stream in _RNG_STREAMS:
        value = state["rng"].get(stream)
        if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8:
            return f"random stream {stream!r} is missing or not a byte tensor"
    if not all(isinstance(v, torch.Tensor) for v in state["field"].values()):
        return "the field's weights are not all tensors"
    if not isinstance(state["input"].get("path"), str) or not isinstance(state["input"].get("sha256"), str):
        return "'input' names no file"
    if state.get("mask") is not None and not isinstance(state["mask"], torch.Tensor):
        return "'mask' is not a tensor"
    if not 0 <= state["iteration"] <= 10**9:
        return f"iteration {state['iteration']}"
    return None


def resumed_config(state: Mapping[str, Any], prompt: str, overrides: Mapping[str, Any] | None) -> Text2MeshConfig:
    """The checkpoint's config with ``overrides`` on top; only settings that do not change the
    iterations already run (``iters``, ``device``, logging, outputs) may differ."""
    # Absolute on both sides: a folder given relative to this directory is the same setting (and a
    # run written before paths were recorded absolute resumes from the directory it ran in).
    stored = absolute_paths(apply_overrides(Text2MeshConfig(), state["config"]))
    if prompt and prompt != stored.prompt:
        raise InputError(f"cannot resume: the prompt {prompt!r} differs from the run's {stored.prompt!r}")
    config = absolute_paths(apply_overrides(stored, dict(overrides or {})))
    before, after = flatten_keys(to_dict(stored)), flatten_keys(to_dict(config))
    for key, value in after.items():
        if value != before.get(key) and not any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_CHANGES):
            raise InputError(f"cannot resume: setting {key!r} differs from the run's ({before.get(key)!r} -> {value!r})")
    if config.iters < int(state["iteration"]):
        raise InputError(f"cannot resume: iters = {config.iters} but the checkpoint is at iteration {state['iteration']}")
    if config.iters == int(state["iteration"]):
        logger.warning("nothing to train: the run already ran its %d iterations (--iters N to continue it); "
                       "writing its outputs again", config.iters)  # fmt: skip
    config.check()
    return config


def mask_tensor(weights: np.ndarray | None) -> torch.Tensor | None:
    """File-order mask weights as stored in a checkpoint."""
    return None if weights is None else torch.as_tensor(np.asarray(weights, dtype=np.float32))


def same_mask(stored: torch.Tensor | None, given: np.ndarray | None) -> bool:
    if stored is None or given is None:
        return stored is None and given is None
    return stored.shape[0] == len(given) and bool(torch.equal(stored, torch.as_tensor(given, dtype=torch.float32)))
