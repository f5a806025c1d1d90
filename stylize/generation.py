"""The generator contract: what every run (mesh, draw, paint, restyle) shares with its callers.

- **Progress callback**: ``on_step(step, total, metrics)`` after every optimisation step, ``step``
  counting from 1 (over all candidates of a best-of run), ``metrics`` a dict of floats (``loss``
  and, where there is a text prompt, ``score``: the training CLIP's score for it, 100 x the
  cosine similarity, :data:`SCORE_SCALE`).
  Progress bars are the caller's business (:class:`ProgressBar` is one such callback); nothing
  about progress is part of a run's reproducible config.
- **Interrupts**: Ctrl-C (and SIGTERM where the CLI or a batch worker turned it into one, see
  :func:`stylize.errors.terminate_as_interrupt`) stops a run between steps; the run writes what
  exists (marked ``"status": "interrupted"`` in ``run.json``) and then raises
  :class:`~stylize.errors.Interrupted` carrying its result, so a script's loop stops too.
- **Timing**: :class:`Timer` accumulates seconds per phase (render, clip, ...), synchronising
  the GPU at phase edges when asked.
- **The 2D loop**: :func:`run_steps` is the step loop that draw and paint share (lr schedule,
  metrics logging, animation frames and callbacks stay with the caller's ``step`` function).

This module does not import torch at load time.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from stylize.engine.specs import DEFAULT_CLIP

logger = logging.getLogger(__name__)

__all__ = [
    "SCORE_SCALE", "GenerationConfig", "LoopOutcome", "RunOutcome", "as_score", "ProgressBar", "StepCallback", "Timer", "chain_callbacks", "frame_due",
    "metric_floats", "milestone_factor", "prompt_scores", "run_steps",
]  # fmt: skip

# on_step(step, total, metrics): step counts from 1; metrics holds floats such as "loss" and "score".
StepCallback = Callable[[int, int, dict], None]

# Every score a user reads (bars, JSON events, final lines, run.json, manifests, contact sheets)
# is 100 x the CLIP cosine similarity, as X-Mesh's MES and CLIPScore report it, and says which
# model gave it ("trainer": the CLIP optimised with; "judge": a held-out one).
SCORE_SCALE = 100.0


def as_score(cosine: float) -> float:
    """A cosine similarity on the score scale (100 x cosine)."""
    return SCORE_SCALE * float(cosine)


@dataclass
class GenerationConfig:
    """Settings every 2D generation run shares (``draw`` and ``paint`` extend it)."""

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
    clip_batch: int = 0  # images per CLIP forward (0: a default per device); see ClipEngine
    compile: bool = False  # torch.compile the CLIP image towers (pays off on CUDA)


@dataclass(kw_only=True)
class RunOutcome:
    """Fields every generator's result has (its own result dataclass extends this).

    Attributes:
        out_dir: the run folder, or None when nothing was written.
        status: ``finished``, ``interrupted`` (or, for meshes, ``diverged``).
        files: output name -> path of each file written.
    """

    out_dir: Path | None = None
    status: str = "finished"
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return self.status == "interrupted"

    @property
    def out(self) -> Path | None:
        """The run folder (as the CLI's final line calls it)."""
        return self.out_dir


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


def frame_due(step: int, iters: int, every: int) -> bool:
    """Whether ``step`` (0-based) gets a frame in the progress animation (the last always does)."""
    return every > 0 and (step % every == 0 or step == iters - 1)


def prompt_scores(engine, image, prompts: Sequence[str]) -> dict[str, float]:
    """Scores (100 x cosine similarity) of ``image`` (1, 3, H, W) with each prompt, averaged
    over the engine's models: ``{prompt: score}`` plus ``"mean"`` over the prompts."""
    import torch

    with torch.no_grad():
        sims = engine.score_texts(image.to(engine.device), list(prompts)).mean(dim=(0, 1))
    scores = {prompt: as_score(value) for prompt, value in zip(prompts, sims)}
    scores["mean"] = as_score(sims.mean())
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

    def per_step(self, steps: int) -> dict[str, float]:
        """Seconds per step of each phase."""
        return {name: round(value / max(steps, 1), 5) for name, value in self.totals.items()}


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


def metric_floats(metrics: dict) -> dict[str, float]:
    """Metrics that may hold 0-dim tensors as plain floats, with one device-to-host transfer.

    Steps keep their numbers as tensors on the device (reading each would make the step wait on
    the GPU); they become floats only when someone reads them (a log line, a progress bar)."""
    tensors = {key: value for key, value in metrics.items() if hasattr(value, "detach")}
    floats = {key: float(value) for key, value in metrics.items() if key not in tensors}
    if tensors:
        import torch

        values = torch.stack([value.detach().float().reshape(()) for value in tensors.values()]).tolist()
        floats.update(zip(tensors, values))
    return {key: floats[key] for key in metrics}


@dataclass
class LoopOutcome:
    """How a :func:`run_steps` loop ended: steps completed, and whether Ctrl-C stopped it."""

    steps: int = 0
    interrupted: bool = False


def run_steps(
    iters: int,
    step: Callable[[int], dict],
    *,
    on_step: StepCallback | None = None,
    done_before: int = 0,
    total: int | None = None,
) -> LoopOutcome:
    """The shared 2D optimisation loop: ``step(i)`` for ``i`` in ``range(iters)``, then the callback.

    Args:
        iters: steps to run.
        step: one optimisation step; returns its metrics (floats or 0-dim tensors, ``loss`` at least).
        on_step: called as ``on_step(done_before + i + 1, total, metrics)`` after each step, the
            metrics as floats (see :func:`metric_floats`).
        done_before: steps already counted (earlier best-of candidates), for the callback.
        total: the callback's total (default ``iters``).

    Returns:
        A :class:`LoopOutcome`. Ctrl-C ends the loop early with ``interrupted=True`` (the caller
        saves what exists, then raises :class:`~stylize.errors.Interrupted`).
    """
    outcome = LoopOutcome()
    total = iters if total is None else total
    try:
        for index in range(iters):
            metrics = step(index)
            outcome.steps = index + 1
            if on_step is not None:
                on_step(done_before + index + 1, total, metric_floats(metrics))
    except KeyboardInterrupt:
        outcome.interrupted = True
        logger.warning("interrupted after %d of %d steps; saving what exists", outcome.steps, iters)
    return outcome


def chain_callbacks(*callbacks: StepCallback | None) -> StepCallback | None:
    """One ``on_step`` that calls each given callback in turn (None when none is given)."""
    present = [callback for callback in callbacks if callback is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def call_all(step: int, total: int, metrics: dict) -> None:
        for callback in present:
            callback(step, total, metrics)

    return call_all


class ProgressBar:
    """A tqdm bar driven as an ``on_step`` callback; shown only on a terminal unless ``enabled``.

    The bar is made at the first step, so a resumed run's bar starts where the run stands.

    Example:
        >>> with ProgressBar("draw") as bar:
        ...     ClipDraw(config).run(out, on_step=bar)
    """

    def __init__(self, description: str, enabled: bool | None = None, stream: Any = None, unit: str = "it") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled if enabled is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.description, self.unit = description, unit
        self._bar = None

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=step - 1, desc=self.description, unit=self.unit, file=self.stream,
                             dynamic_ncols=True, leave=False)  # fmt: skip
        self._bar.update(step - self._bar.n)
        shown = {key: f"{metrics[key]:.4f}" for key in ("loss", "score") if isinstance(metrics.get(key), float)}
        if shown:
            self._bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
