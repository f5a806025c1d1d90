"""Pieces shared by the 2D generation loops (``draw`` and ``paint``).

Learning-rate milestones, the progress bar, judged scores and the run-folder bookkeeping live here
so that each loop only describes what it optimises.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from stylize.engine import DEFAULT_CLIP

logger = logging.getLogger(__name__)


@dataclass
class GenerationConfig:
    """Settings every 2D generation loop shares (``draw`` and ``paint`` extend it)."""

    prompts: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    negative_weight: float = 0.3
    clip: list[str] = field(default_factory=lambda: [DEFAULT_CLIP])
    size: int = 224
    iters: int = 300
    copies: int = 4
    augment: str = "clipdraw"
    judge: list[str] = field(default_factory=list)
    seed: int = 0
    device: str = "auto"
    log_every: int = 10
    frame_every: int = 10
    progress: bool = True


def milestone_factor(step: int, iters: int, milestones: Sequence[float], factors: Sequence[float]) -> float:
    """Learning-rate factor at ``step``: the factor of the last milestone (a fraction of
    ``iters``) already reached, 1 before the first. CLIPDraw's points use (0.5, 0.75) ->
    (0.4, 0.1)."""
    if len(milestones) != len(factors):
        raise ValueError(f"expected as many lr factors as milestones, got {len(factors)} and {len(milestones)}")
    factor = 1.0
    for milestone, value in zip(milestones, factors):
        if step >= int(milestone * iters):
            factor = value
    return factor


def make_progress(total: int, enabled: bool, description: str):
    """A tqdm bar (a no-op object when ``enabled`` is False)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=description, leave=False, dynamic_ncols=True)


@torch.no_grad()
def prompt_scores(engine, image: torch.Tensor, prompts: Sequence[str]) -> dict[str, float]:
    """Cosine similarity of ``image`` (1, 3, H, W) with each prompt, averaged over the engine's
    models: ``{prompt: score}`` plus ``"mean"`` over the prompts."""
    sims = engine.score_texts(image.to(engine.device), list(prompts)).mean(dim=(0, 1))
    scores = {prompt: float(value) for prompt, value in zip(prompts, sims)}
    scores["mean"] = float(sims.mean())
    return scores


@dataclass
class Timer:
    """Accumulates wall seconds per named phase (``with timer("render"): ...``).

    ``synchronize`` (e.g. ``torch.cuda.synchronize``) is called at each phase's start and end so
    that asynchronous GPU work is charged to the phase that queued it.
    """

    totals: dict[str, float] = field(default_factory=dict)
    synchronize: Callable[[], None] | None = None

    def __call__(self, name: str) -> "_Phase":
        return _Phase(self, name)

    def rounded(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in self.totals.items()}


class _Phase:
    def __init__(self, timer: Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        if self.timer.synchronize is not None:
            self.timer.synchronize()
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        if self.timer.synchronize is not None:
            self.timer.synchronize()
        self.timer.totals[self.name] = self.timer.totals.get(self.name, 0.0) + time.perf_counter() - self.start


def frame_due(step: int, iters: int, every: int) -> bool:
    """Whether ``step`` (0-based) gets a frame in the progress animation (the last always does)."""
    return every > 0 and (step % every == 0 or step == iters - 1)
