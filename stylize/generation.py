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
- **The 2D run skeleton**: :class:`Generator2D` owns a run from resolved config to run folder
  (folder and ``config.toml``, judge construction, timer, step counting, final scores,
  ``preview.png`` / ``progress.gif`` / ``run.json`` / ``metrics.jsonl``, the interrupt
  convention, closing the folder); a generator (draw, paint, restyle) supplies its state and
  steps (:meth:`Generator2D.generate`) and its own outputs (:meth:`Generator2D.write_outputs`).
- **Run folder layout**: ``config.toml``, ``run.json`` (:data:`stylize.runs.RUN_KEYS`, schema
  :data:`stylize.runs.RUN_SCHEMA`, status one of :data:`stylize.runs.RUN_STATUSES`; a crash
  leaves ``"failed"``), ``metrics.jsonl``, ``preview.png`` and an animation.
- **Scores**: ``{"trainer": {prompt: score, ..., "mean": score}, "judge": {...}}`` (100 x cosine;
  ``judge`` only when a held-out CLIP was named) in results, ``run.json`` and final lines.

This module does not import torch at load time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from stylize.engine.specs import DEFAULT_CLIP
from stylize.errors import Interrupted

logger = logging.getLogger(__name__)

__all__ = [
    "SCORE_SCALE", "GenerationConfig", "Generator2D", "InitContext", "LoopOutcome", "RunContext", "RunOutcome", "as_score",
    "ProgressBar", "StepCallback", "Timer", "chain_callbacks", "frame_due", "metric_floats", "milestone_factor",
    "prompt_scores", "run_steps",
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
        status: ``finished``, ``interrupted`` or ``diverged`` (a loss stopped being finite; see
            :data:`stylize.runs.RUN_STATUSES`).
        files: output name -> path of each file written.
        scores: ``{"trainer": {prompt: score, ..., "mean": score}, "judge": {...}}``, 100 x the
            cosine similarity of the result by each role's CLIP (``judge`` only when one was named).
    """

    out_dir: Path | None = None
    status: str = "finished"
    files: dict[str, Path] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

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
    for milestone, value in zip(milestones, factors, strict=False):
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
    scores = {prompt: as_score(value) for prompt, value in zip(prompts, sims, strict=False)}
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

    def __call__(self, name: str) -> _Phase:
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


# Bounds every 2D generator's settings keep (inclusive): far beyond any real use, far below what
# would allocate gigabytes before the first step.
GENERATION_LIMITS = {"size": (8, 4096), "iters": (1, 10_000_000), "log_every": (1, 10**9), "frame_every": (1, 10**9)}


def check_generation_limits(config: Any) -> None:
    """Raise :class:`~stylize.errors.InputError` naming the first of ``config``'s common settings
    (:data:`GENERATION_LIMITS`: canvas size, steps, log and frame intervals) out of its bounds."""
    from stylize.config import check_limits

    check_limits({key: getattr(config, key) for key in GENERATION_LIMITS if hasattr(config, key)},
                 {key: value for key, value in GENERATION_LIMITS.items() if hasattr(config, key)})  # fmt: skip


def metric_floats(metrics: dict) -> dict[str, float]:
    """Metrics that may hold 0-dim tensors as plain floats, with one device-to-host transfer.

    Steps keep their numbers as tensors on the device (reading each would make the step wait on
    the GPU); they become floats only when someone reads them (a log line, a progress bar)."""
    tensors = {key: value for key, value in metrics.items() if hasattr(value, "detach")}
    floats = {key: float(value) for key, value in metrics.items() if key not in tensors}
    if tensors:
        import torch

        values = torch.stack([value.detach().float().reshape(()) for value in tensors.values()]).tolist()
        floats.update(zip(tensors, values, strict=False))
    return {key: floats[key] for key in metrics}


@dataclass
class LoopOutcome:
    """How a :func:`run_steps` loop ended: steps completed, and whether Ctrl-C (or SIGTERM) stopped
    it (``interrupt``: the KeyboardInterrupt caught, for :meth:`Interrupted.after`)."""

    steps: int = 0
    interrupted: bool = False
    interrupt: BaseException | None = None
    diverged: bool = False


# Without a callback, a loop reads whether its losses stayed finite every this many steps (one
# device read for all of them), not after each step.
FINITE_CHECK_EVERY = 10


def _finite(value: Any) -> bool:
    return math.isfinite(float(value))


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
        saves what exists, then raises :class:`~stylize.errors.Interrupted`); a loss that is not
        finite ends it with ``diverged=True`` (read after each step with a callback, else every
        :data:`FINITE_CHECK_EVERY` steps and at the last).
    """
    outcome = LoopOutcome()
    total = iters if total is None else total
    finite = None  # without a callback: "every loss so far was finite", kept on the device
    try:
        for index in range(iters):
            metrics = step(index)
            outcome.steps = index + 1
            if on_step is not None:
                floats = metric_floats(metrics)
                on_step(done_before + index + 1, total, floats)
                outcome.diverged = not _finite(floats.get("loss", 0.0))
            elif hasattr(metrics.get("loss"), "detach"):
                import torch

                flag = torch.isfinite(metrics["loss"].detach()).all()
                finite = flag if finite is None else finite & flag
                if (index + 1) % FINITE_CHECK_EVERY == 0 or index == iters - 1:
                    outcome.diverged = not bool(finite)
            elif "loss" in metrics:
                outcome.diverged = not _finite(metrics["loss"])
            if outcome.diverged:
                logger.error("the loss is not finite at step %d of %d: stopping (status diverged)", index + 1, iters)
                break
    except KeyboardInterrupt as exc:
        outcome.interrupted, outcome.interrupt = True, exc
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

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------- the 2D run skeleton


@dataclass
class InitContext:
    """What an initialiser (a starting scene, a starting image) may look at.

    Attributes:
        size: the canvas ``(width, height)`` in pixels.
        generator: the random stream of this run (or best-of candidate).
        device: where the run computes (initialisers may build on the CPU; the caller moves).
        target_image: a picture the result should resemble, (3, H, W) in [0, 1] at the canvas
            size (photo-to-sketch starts its strokes where the picture has detail), or None.
    """

    size: tuple[int, int]
    generator: Any
    device: Any = "cpu"
    target_image: Any = None

    @property
    def width(self) -> int:
        return int(self.size[0])

    @property
    def height(self) -> int:
        return int(self.size[1])


@dataclass
class RunContext:
    """What :meth:`Generator2D.generate` runs with: the folder, timer, callback and step count.

    Attributes:
        folder: the :class:`~stylize.runs.RunFolder`, or None when nothing is written.
        timer: the run's :class:`Timer`.
        on_step: the caller's progress callback (or None).
        total: steps the callback counts to (all loops of the run together).
        log_every: a ``metrics.jsonl`` line every this many steps (and the last).
        steps: steps done so far, over every :meth:`loop`.
        interrupt: the KeyboardInterrupt that stopped a loop, if one did.
    """

    folder: Any
    timer: Timer
    on_step: StepCallback | None
    total: int
    log_every: int = 10
    steps: int = 0
    interrupt: BaseException | None = None
    diverged: bool = False

    @property
    def interrupted(self) -> bool:
        return self.interrupt is not None

    def loop(self, iters: int, step: Callable[[int], dict]) -> LoopOutcome:
        """Run ``step(i)`` for ``i`` in ``range(iters)`` with the callback counted on from the steps
        already done (:func:`run_steps`); Ctrl-C ends it early and is remembered."""
        outcome = run_steps(iters, step, on_step=self.on_step, done_before=self.steps, total=self.total)
        self.steps += outcome.steps
        if outcome.interrupt is not None:
            self.interrupt = outcome.interrupt
        self.diverged = self.diverged or outcome.diverged
        return outcome

    def log(self, index: int, iters: int, metrics: dict, **extra: Any) -> None:
        """A ``metrics.jsonl`` line for step ``index`` (0-based) of ``iters`` when it is due:
        the metrics as floats (``score`` on the score scale, as the callback sees it) and ``extra``."""
        if self.folder is not None and (index % self.log_every == 0 or index == iters - 1):
            self.folder.log_metrics(index, **extra, **metric_floats(metrics))


class Generator2D:
    """The skeleton of a 2D generation run (draw, paint, restyle, ...): a subclass supplies the
    state and steps, the skeleton owns everything around them.

    A subclass sets :attr:`kind` and, in ``__init__``, ``config`` (with ``seed``, ``iters``,
    ``log_every``), ``device`` and the CLIP engines (:meth:`build_engines`), then implements:

    - :meth:`generate`: build the state (initialisers get an :class:`InitContext`), optimise
      through ``context.loop(iters, step)`` (each ``step(i)`` returns its metrics, ``loss`` and
      ``score`` on the score scale at least, and may call ``context.log`` and keep animation
      frames), score the result (:meth:`final_scores`) and return its result (a
      :class:`RunOutcome`);
    - :meth:`write_outputs`: write the kind's own files into the folder (:meth:`write_pictures`
      writes ``preview.png`` and ``progress.gif``) and return extra ``run.json`` fields.

    :meth:`run` then does what every generator does alike: refuse a folder that holds another run,
    write ``config.toml`` first and ``run.json`` (:data:`stylize.runs.RUN_KEYS`) last, count steps
    over the whole run for ``on_step``, write what exists and raise
    :class:`~stylize.errors.Interrupted` after Ctrl-C, and leave ``run.json`` saying ``failed``
    when an error escapes.

    Example (a generator that optimises raw pixels; :class:`~stylize.painting.painter.Painter`
    is the full version):
        >>> @dataclass(kw_only=True)
        ... class PixelsResult(RunOutcome):
        ...     image: torch.Tensor
        ...
        >>> class Pixels(Generator2D):
        ...     kind = "pixels"
        ...
        ...     def __init__(self, config):
        ...         self.config, self.device = config, torch.device("cpu")
        ...         self.build_engines(PromptSet.build(config.prompts), config.clip, config.judge)
        ...
        ...     def generate(self, context):
        ...         c = self.config
        ...         image = torch.rand(1, 3, c.size, c.size, requires_grad=True)
        ...         optimiser = torch.optim.Adam([image], lr=0.05)
        ...
        ...         def step(index):
        ...             optimiser.zero_grad()
        ...             out = self.engine(image.clamp(0, 1))
        ...             out.loss.backward()
        ...             optimiser.step()
        ...             metrics = {"loss": out.loss.detach(), "score": SCORE_SCALE * out.similarity_tensor(c.prompts[0])}
        ...             context.log(index, c.iters, metrics)
        ...             return metrics
        ...
        ...         context.loop(c.iters, step)
        ...         final = image.detach().clamp(0, 1)
        ...         return PixelsResult(image=final[0], scores=self.final_scores(final, c.prompts))
        ...
        ...     def write_outputs(self, folder, result, context):
        ...         self.write_pictures(folder, result.files, result.image, [])
        ...         return {}
        >>> Pixels(GenerationConfig(prompts=["a red circle"], iters=50)).run("runs/pixels")  # doctest: +SKIP
    """

    kind: ClassVar[str] = ""
    config: Any
    device: Any
    engine: Any
    judge: Any

    def build_engines(self, prompts, clip: Sequence[str], judge: Sequence[str], model_cache=None,
                      judge_prompts=None, **options: Any) -> None:  # fmt: skip
        """Set ``engine`` (the CLIP(s) trained with, on ``prompts``) and ``judge`` (held-out
        CLIP(s) on ``judge_prompts``, default ``prompts``; the engine itself when ``judge`` names
        none or the same models). ``options`` go to :class:`~stylize.engine.ClipEngine`."""
        from stylize.engine import ClipEngine, ModelCache

        self.model_cache = model_cache if model_cache is not None else ModelCache()
        self.engine = ClipEngine(clip, prompts, device=self.device, model_cache=self.model_cache, **options)
        self.judge = self.engine
        if judge and list(judge) != list(clip):
            self.judge = ClipEngine(judge, judge_prompts if judge_prompts is not None else prompts, device=self.device,
                                    model_cache=self.model_cache, **options)  # fmt: skip

    # -- hooks -------------------------------------------------------------------------------
    def inputs(self) -> list:
        """Input files of the run (a run folder refuses to overwrite them)."""
        return []

    def total_steps(self) -> int:
        """Steps the progress callback counts to (``iters``; best-of runs multiply)."""
        return int(self.config.iters)

    def make_timer(self) -> Timer:
        return Timer()

    def generate(self, context: RunContext) -> RunOutcome:
        """Build the state, optimise through ``context.loop`` and return the result."""
        raise NotImplementedError

    def write_outputs(self, folder, result: RunOutcome, context: RunContext) -> dict[str, Any]:
        """Write the kind's own files (into ``result.files``); return extra ``run.json`` fields."""
        raise NotImplementedError

    # -- shared parts ------------------------------------------------------------------------
    def final_scores(self, image, prompts: Sequence[str]) -> dict[str, dict[str, float]]:
        """Scores of ``image`` (1, 3, H, W): ``{"trainer": {...}, "judge": {...}}`` (judge only
        when it differs from the engine), see :func:`prompt_scores`."""
        scores = {"trainer": prompt_scores(self.engine, image, prompts)}
        if self.judge is not self.engine:
            scores["judge"] = prompt_scores(self.judge, image, prompts)
        return scores

    @staticmethod
    def write_pictures(folder, files: dict[str, Path], preview, frames: Sequence) -> None:
        """``preview.png`` (``preview`` (3, H, W)) and ``progress.gif`` (``frames``, else the preview)."""
        from stylize.images import save_gif, save_image

        files["preview.png"] = save_image(folder.file("preview.png"), preview)
        files["progress.gif"] = save_gif(folder.file("progress.gif"), list(frames) or [preview])

    def run(self, out_dir: str | Path | None = None, on_step: StepCallback | None = None, overwrite: bool = False):
        """Run and, with ``out_dir``, write the run folder (a folder holding another run is
        refused unless ``overwrite``); ``on_step(step, total, metrics)`` after every step.

        Raises:
            Interrupted: Ctrl-C (or SIGTERM in the CLI) stopped the run; what existed was written
                (``run.json`` says ``"status": "interrupted"``) and is in the exception's ``result``.
        """
        from stylize.runs import RunFolder

        c = self.config
        folder = RunFolder(out_dir, self.kind, inputs=self.inputs(), overwrite=overwrite) if out_dir is not None else None
        context = RunContext(folder, self.make_timer(), on_step, self.total_steps(), log_every=int(c.log_every))
        with folder if folder is not None else contextlib.nullcontext():
            if folder is not None:
                folder.write_config(c)
            result = self.generate(context)
            result.out_dir = folder.path if folder is not None else None
            if context.interrupted:
                result.status = "interrupted"
            elif context.diverged:
                result.status = "diverged"
            if folder is not None:
                self._write(folder, result, context)
        if result.interrupted:
            raise Interrupted.after(context.interrupt or KeyboardInterrupt(), result)
        return result

    def _write(self, folder, result: RunOutcome, context: RunContext) -> None:
        from stylize.config import to_dict

        extra = self.write_outputs(folder, result, context)
        result.files["config.toml"] = folder.file("config.toml")
        timings = context.timer.rounded()
        timings["per_iteration"] = context.timer.per_step(context.steps)
        result.files["run.json"] = folder.write_run_json(
            status=result.status, seed=self.config.seed, device=str(self.device), timings=timings, scores=result.scores,
            steps=context.steps, config=to_dict(self.config), **extra,
        )  # fmt: skip
        if folder.has_metrics:
            result.files["metrics.jsonl"] = folder.file("metrics.jsonl")
