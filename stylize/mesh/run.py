"""The owner of one ``stylize mesh`` run, from resolved config to run folder.

:class:`Text2Mesh` does for meshes what :class:`~stylize.vector.clipdraw.ClipDraw` does for
drawings: it loads and prepares the input (normalisation, symmetry plane, mask, subdivision),
checks a resumed run against its checkpoint, seeds, runs the optimisation
(:class:`~stylize.mesh.text2mesh.Text2MeshRun`) with metrics and checkpoints going into the run
folder, and writes the outputs (:mod:`stylize.mesh.outputs`). The public API
(:func:`stylize.stylize_mesh`) and the batch jobs call down into it.

Example:
    >>> config = resolve_mesh_config("a wooden vase", "fast", overrides={"clip": ["ViT-B-32:openai"]})
    >>> result = Text2Mesh(config, "vase.obj").run("runs/vase")
    >>> result = Text2Mesh.resume("runs/vase", overrides={"iters": 600}).run("runs/vase")
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from stylize.config import absolute_paths
from stylize.engine import ModelCache
from stylize.errors import InputError, Interrupted, first_line
from stylize.generation import StepCallback, as_score
from stylize.mesh.config import Text2MeshConfig
from stylize.mesh.controls import prepare_mesh
from stylize.mesh.outputs import PreviewSnapshots, Text2MeshResult, collect_result, save_text2mesh_outputs
from stylize.mesh.resume import CHECKPOINT_NAME, load_checkpoint, mask_tensor, resumed_config, same_mask, save_checkpoint
from stylize.mesh.text2mesh import StepRecord, Text2MeshRun, joint_step
from stylize.runs import RunFolder
from stylize.utils import file_sha256, seed_everything

__all__ = ["Text2Mesh"]

logger = logging.getLogger(__name__)

PREVIEW_FOLDER = "preview"
PREVIEW_KEEP = 3  # snapshots kept: a reader of the newest announced one has two more steps' grace


# Below this share of a training view's pixels the object is a speck: CLIP sees an empty picture.
MIN_VIEW_COVERAGE = 0.01


def warn_if_tiny_in_view(mesh, config: Text2MeshConfig, size: int = 64) -> float:
    """Warn when the normalised mesh covers almost nothing of the front training view (a few
    stray faces far away make the normalisation shrink the real object below a pixel). Returns
    the covered fraction."""
    import torch

    from stylize.mesh.camera import orbit_views
    from stylize.mesh.renderer import get_renderer

    v = config.views
    view = orbit_views([v.center_azimuth], [v.center_elevation], radius=v.radius, fov=v.fov)
    vertices, faces, _ = mesh.to_torch("cpu")
    renderer = get_renderer("torch", height=size, fov=v.fov)
    with torch.no_grad():  # both windings: back faces are culled, and an open mesh may face away
        masks = [renderer(vertices, f, torch.ones_like(vertices[:, :1]), view).mask for f in (faces, faces[:, [0, 2, 1]])]
    coverage = float(torch.maximum(*masks).mean())
    if coverage < MIN_VIEW_COVERAGE:
        logger.warning(
            "%s covers only %.2f%% of a training view: the object may be tiny next to a few stray faces far "
            "away (they set the normalisation); remove them, or the run optimises an empty picture",
            mesh.path, 100 * coverage,
        )  # fmt: skip
    return coverage


class Text2Mesh:
    """One Text2Mesh stylization of a mesh file.

    Args:
        config: a resolved, checked :class:`~stylize.mesh.config.Text2MeshConfig` with a prompt
            (or image prompts).
        mesh: the input mesh file (OBJ, PLY, GLB, OFF, STL); never modified.
        mask: limit the change to a region (see :func:`stylize.mesh.controls.load_mask`).
        model_cache: share loaded CLIP models between runs.
        state: a loaded checkpoint to continue from (see :meth:`resume`).

    Raises:
        InputError: no prompt, an unusable mesh or mask, or a checkpoint that does not belong to
            this input and mask.
    """

    def __init__(
        self,
        config: Text2MeshConfig,
        mesh: str | Path,
        *,
        mask: Any = None,
        model_cache: ModelCache | None = None,
        state: dict | None = None,
    ) -> None:
        if not config.prompt and not config.image_prompts:
            raise InputError("no prompt given: expected a text prompt or image_prompts")
        # Absolute paths: config.toml, run.json and the checkpoint then work from any directory.
        self.config = config = absolute_paths(config)
        mesh = Path(os.path.abspath(mesh))
        self.input = mesh
        self.mask_source = Path(os.path.abspath(mask)) if isinstance(mask, (str, Path)) else mask
        self.mesh, self.weights, self.file_weights = prepare_mesh(mesh, config, mask)
        warn_if_tiny_in_view(self.mesh, config)
        self.digest = file_sha256(mesh)
        self.model_cache = model_cache
        self.state = state
        self.resume_folder: Path | None = None
        if state is not None:
            if self.digest != state["input"]["sha256"]:
                raise InputError(f"cannot resume: {mesh} is not the file the run started from (its content differs)")
            if not same_mask(state.get("mask"), self.file_weights):
                raise InputError("cannot resume: the mask differs from the one the run started with")
            self.resume_folder = Path(state["path"]).parent

    def input_files(self) -> list[Path]:
        """The files this run reads (never to be overwritten by its outputs)."""
        files = [self.input, *map(Path, self.config.image_prompts)]
        return files + ([Path(self.mask_source)] if isinstance(self.mask_source, (str, Path)) else [])

    @classmethod
    def resume(
        cls,
        source: str | Path,
        *,
        mesh: str | Path | None = None,
        prompt: str = "",
        overrides: dict | None = None,
        mask: Any = None,
        model_cache: ModelCache | None = None,
    ) -> Text2Mesh:
        """Continue the run in ``source`` (a run folder or its ``checkpoint.pt``) with its own
        config, input and mask; ``overrides`` may change only ``iters``, ``device``, logging and
        outputs (see :func:`stylize.mesh.resume.resumed_config`)."""
        state = load_checkpoint(source)
        config = resumed_config(state, prompt, overrides)
        if mask is None and state.get("mask") is not None:
            mask = state["mask"].numpy()
        return cls(config, mesh if mesh is not None else state["input"]["path"], mask=mask, model_cache=model_cache,
                   state=state)  # fmt: skip

    def run(
        self,
        out: str | Path | None = None,
        on_step: StepCallback | None = None,
        overwrite: bool = False,
        on_preview: Callable[[int, Path], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> Text2MeshResult:
        """Optimise and, with ``out``, write the run folder (see :mod:`stylize.mesh.outputs`).

        Args:
            out: the run folder; None writes nothing and only returns the result. It must not
                hold another run (see :class:`~stylize.runs.RunFolder`), except the one resumed.
            on_step: ``on_step(step, total, metrics)`` after every iteration.
            overwrite: replace an earlier run's outputs in ``out``.
            on_preview: ``on_preview(step, path)`` after each snapshot that ``preview_every``
                asks for (``out/preview/step_NNNNNN.npz``, see
                :class:`~stylize.mesh.outputs.PreviewSnapshots`); only with ``out``.
            on_phase: ``on_phase(name)`` as writing the outputs enters each of
                :data:`~stylize.mesh.outputs.OUTPUT_PHASES`; only with ``out``.

        Returns:
            :class:`~stylize.mesh.outputs.Text2MeshResult` (status ``finished`` or ``diverged``).

        Raises:
            Interrupted: Ctrl-C (or SIGTERM in the CLI) stopped the run; ``checkpoint.pt`` and the
                outputs of the state reached were written, and the result is in ``result``.
        """
        config = self.config
        folder = None
        if out is not None:  # checked before anything loads or trains
            resuming = self.resume_folder is not None and Path(out).resolve() == self.resume_folder.resolve()
            folder = RunFolder(out, "mesh", inputs=self.input_files(), overwrite=overwrite, resume=resuming)
        self.candidates: list[dict] = []
        previews = None
        try:
            if folder is not None and config.preview_every > 0:
                previews = PreviewSnapshots(folder.file(PREVIEW_FOLDER), config.preview_every, keep=PREVIEW_KEEP)
            seed_everything(config.seed)
            started = time.time()
            if self.state is None and config.best_of > 1:
                run, on_step = self._best_of(on_step, _warmup_previews(previews, on_preview))
            else:
                run = Text2MeshRun(self.mesh, config, model_cache=self.model_cache, mask=self.weights)
            if self.state is not None:
                try:
                    run.load_state_dict(self.state)
                except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as exc:
                    raise InputError(f"{self.state['path']}: the checkpoint is damaged ({first_line(exc)}); "
                                     "the run cannot be resumed from it") from None  # fmt: skip
                started -= float(self.state.get("train_seconds", 0.0))
        except KeyboardInterrupt as exc:
            if folder is not None:
                folder.close()
            raise Interrupted.after(exc) from None
        except BaseException:
            if folder is not None:
                folder.close()
            raise
        if folder is None:
            if run.status != "interrupted":  # (interrupted: stopped in the best-of warm-up)
                run.run(on_step=on_step)
            result = collect_result(run)
        else:
            result = self._run_into(run, folder, started, on_step, on_preview, on_phase, previews)
        if run.status == "interrupted":
            raise Interrupted.after(run.interrupt or KeyboardInterrupt(), result)
        return result

    def _best_of(
        self, on_step: StepCallback | None, on_warmup: Callable | None = None
    ) -> tuple[Text2MeshRun, StepCallback | None]:
        """Train ``best_of`` candidates (seeds ``seed``, ``seed + 1``, ...) side by side for
        ``best_of_warmup`` iterations, one CLIP pass for all of them per iteration; keep the one
        the *training* CLIP scores best over the preview views (the judge is never asked).

        Returns the chosen run (its config says ``best_of = 1`` and its own seed, so its checkpoint
        resumes it alone) and the progress callback for the rest of the run, counted on from the
        warm-up (``total = N * warm-up + the remaining iterations``). Ctrl-C in the warm-up still
        chooses among the candidates as they stand; the chosen run then says ``interrupted``.
        ``on_warmup(iteration, iterations, runs, records)`` follows each warm-up iteration (the
        live preview of the candidates)."""
        config = self.config
        count, warmup = config.best_of, min(config.best_of_warmup, config.iters)
        engine = None
        runs = []
        for index in range(count):
            candidate = dataclasses.replace(config, seed=config.seed + index, best_of=1)
            runs.append(Text2MeshRun(self.mesh, candidate, engine=engine, model_cache=self.model_cache, mask=self.weights))
            engine = runs[0].engine
        total = count * warmup + (config.iters - warmup)
        interrupt, snapshots = None, None
        try:
            for step in range(warmup):
                snapshots = [run.state_dict() for run in runs]
                records = joint_step(runs)
                snapshots = None
                if on_step is not None:
                    on_step(count * (step + 1), total, records[0].metrics())
                if on_warmup is not None:
                    on_warmup(step + 1, config.iters, runs, records)
        except KeyboardInterrupt as exc:
            # Stopped in the warm-up: like any interrupt, the best candidate so far is kept and
            # written (marked interrupted); an interrupt inside a joint step goes back to its start.
            interrupt = exc
            if snapshots is not None:
                for run, snapshot in zip(runs, snapshots, strict=False):
                    run.load_state_dict(snapshot)
                    run.optimizer.zero_grad(set_to_none=True)
            logger.warning("interrupted in the best-of warm-up at iteration %d: keeping the best candidate so far",
                           runs[0].iteration)  # fmt: skip
        with torch.no_grad():
            scores = [run.selection_score() for run in runs]
        best = max(range(count), key=lambda index: scores[index])
        self.candidates = [{"seed": run.config.seed, "train_score": round(100.0 * score, 4), "chosen": index == best}
                           for index, (run, score) in enumerate(zip(runs, scores, strict=False))]  # fmt: skip
        logger.info("best of %d after %d iterations: seed %d (training CLIP %s)", count, warmup,
                    runs[best].config.seed, [round(100 * s, 2) for s in scores])  # fmt: skip
        chosen = runs[best]
        if interrupt is not None:
            chosen.status, chosen.interrupt = "interrupted", interrupt
        if on_step is None:
            return chosen, None

        def remaining(step: int, _total: int, metrics: dict) -> None:
            on_step(count * warmup + (step - warmup), total, metrics)

        return chosen, remaining

    def _run_into(
        self,
        run: Text2MeshRun,
        folder: RunFolder,
        started: float,
        on_step: StepCallback | None,
        on_preview: Callable[[int, Path], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
        previews: PreviewSnapshots | None = None,
    ) -> Text2MeshResult:
        if previews is not None:
            progress = on_step

            def on_step(step: int, total: int, metrics: dict) -> None:
                # Progress first: a caller that stops the run there (the worker's cancel) gets
                # no snapshot of a step it no longer wants.
                if progress is not None:
                    progress(step, total, metrics)
                if previews.due(step, total):
                    path = previews.write(run, step)
                    if path is not None and on_preview is not None:
                        on_preview(step, path)

        if self.state is not None:
            folder.truncate_metrics(run.iteration)
        with folder:
            folder.write_config(self.config)

            def log(record: StepRecord) -> None:
                folder.log_metrics(
                    record.step, loss=record.loss, score=as_score(record.similarity), similarity=record.similarity,
                    lr=record.lr, skipped=record.skipped,
                    **{f"loss_{k}": v for k, v in record.losses.items()},
                )  # fmt: skip

            def checkpoint(current: Text2MeshRun) -> None:
                save_checkpoint(
                    current, folder.file(CHECKPOINT_NAME), train_seconds=time.time() - started,
                    input={"path": str(self.input.resolve()), "sha256": self.digest},
                    mask=mask_tensor(self.file_weights),
                )  # fmt: skip

            if run.status == "interrupted":  # stopped in the best-of warm-up: its best candidate
                checkpoint(run)
            else:
                run.run(on_step=on_step, on_log=log, on_checkpoint=checkpoint)
            extra = {"candidates": self.candidates, "best_seed": run.config.seed} if self.candidates else {}
            return save_text2mesh_outputs(run, folder, started, self.config, on_phase=on_phase, **extra)


def _warmup_previews(previews: PreviewSnapshots | None, on_preview: Callable[[int, Path], None] | None):
    """The best-of warm-up's ``on_warmup``: every ``preview_every`` iterations a snapshot of the
    candidate the training CLIP scores best on this iteration's views, numbered by iteration like
    the chosen run's snapshots that follow; None without previews."""
    if previews is None:
        return None

    def on_warmup(iteration: int, iterations: int, runs: list, records: list) -> None:
        if not previews.due(iteration, iterations):
            return
        leader = max(range(len(runs)), key=lambda index: float(records[index].similarity))
        path = previews.write(runs[leader], iteration)
        if path is not None and on_preview is not None:
            on_preview(iteration, path)

    return on_warmup
