"""Text2Mesh stylization as a run object: a neural style field optimised through CLIP.

One iteration (the reference's recipe, threedle/text2mesh):

1. sample views (the exact front view plus ``n_views - 1`` views scattered around it);
2. evaluate the field on the normalised vertices: colours and displacements along the normals;
3. render the displaced, coloured mesh with spherical-harmonic shading on a white background;
4. losses, summed over augmentations (each compares the mean embedding of the views with the
   prompts through :class:`~stylize.engine.ClipEngine` with ``pool=True``):
   - global: ``n_augs`` x (crop scale 1 + perspective) of the coloured renders;
   - local: ``n_local_augs`` x crops of ``local_area`` of the coloured renders;
   - geometry: the displaced mesh rendered flat grey, ``n_local_augs`` crops;
5. one Adam step on the summed loss (the reference runs three backward passes into one step,
   which accumulates the same gradient), then StepLR.

A step whose loss or gradients are not finite is skipped; after ``nan_patience`` such steps in a
row the run stops and keeps the last field state that gave a finite loss. Ctrl-C stops the run
the same way (status ``interrupted``), so the caller can still save what exists.

:class:`Text2MeshRun` is the optimisation alone (tensors in, tensors out); the run owner that
loads the input, resumes, and writes the run folder is :class:`stylize.mesh.run.Text2Mesh`.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from stylize.config import to_dict
from stylize.engine import Augmenter, ClipEngine, ImagePrompt, ModelCache, PromptSet
from stylize.engine.engine import memory_hint
from stylize.errors import InputError
from stylize.generation import StepCallback, Timer, as_score
from stylize.mesh.camera import CameraViews, grid_views, orbit_views, sample_text2mesh_views, turntable_views
from stylize.mesh.config import Text2MeshConfig
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.io import LoadedMesh
from stylize.mesh.material import material_for
from stylize.mesh.renderer import get_renderer
from stylize.mesh.seams import weld_surface
from stylize.mesh.shading import render_deferred, render_shaded
from stylize.mesh.surface import StyledMesh, TextureSet

logger = logging.getLogger(__name__)

__all__ = ["StepRecord", "Text2MeshRun", "joint_step"]


class StepRecord:
    """Metrics of one iteration (``step`` counts from 0).

    The loss terms and the similarity stay 0-dim tensors on the run's device until a number is
    read (logging every ``log_every`` steps, or a progress callback), so a step itself does not
    wait on the GPU for them; :meth:`metrics` converts them all with one transfer.
    """

    def __init__(self, step: int, losses: dict[str, torch.Tensor], similarity: torch.Tensor, lr: float, skipped: bool) -> None:
        self.step, self.lr, self.skipped = step, lr, skipped
        self._tensors = {"loss": torch.stack(list(losses.values())).sum().detach(), "similarity": similarity.detach(),
                         **{f"loss_{k}": v.detach() for k, v in losses.items()}}  # fmt: skip
        self._floats: dict[str, float] | None = None

    def _values(self) -> dict[str, float]:
        if self._floats is None:
            names = list(self._tensors)
            self._floats = dict(zip(names, torch.stack([self._tensors[n].float() for n in names]).tolist(), strict=False))
        return self._floats

    @property
    def loss(self) -> float:
        return self._values()["loss"]

    @property
    def similarity(self) -> float:
        return self._values()["similarity"]

    @property
    def losses(self) -> dict[str, float]:
        return {k[len("loss_") :]: v for k, v in self._values().items() if k.startswith("loss_")}

    def metrics(self) -> dict[str, float]:
        """The generator contract's metrics: ``loss``, ``score`` (the training CLIP's score for the
        prompt, 100 x cosine), ``lr``, ``skipped`` and each loss term as ``loss_NAME``."""
        values = self._values()
        return {"loss": values["loss"], "score": as_score(values["similarity"]), "lr": self.lr, "skipped": float(self.skipped),
                **{f"loss_{k}": v for k, v in self.losses.items()}}  # fmt: skip


#: Views all around from which a restyle sees the untouched input (their mean embedding starts
#: the direction from ``source`` to the prompt).
SOURCE_VIEWS = 8


class Text2MeshRun:
    """Owns the state of one Text2Mesh optimisation.

    Args:
        mesh: the input mesh, loaded with ``normalize=True`` (the field works in that frame).
        config: a checked :class:`Text2MeshConfig` (``prompt`` must be set, or image prompts).
        engine: a ready :class:`ClipEngine`; built from ``config.clip`` and the prompts if None.
        model_cache: shared loaded CLIP models (used when ``engine`` is None).
        mask: per-vertex weights ``(V,)`` in ``[0, 1]`` for ``mesh``'s vertices (see
            :mod:`stylize.mesh.controls`): the field's change is blended in by weight and weight-0
            vertices keep the base colour (the mesh's own, else grey) and position exactly.

    Example:
        >>> run = Text2MeshRun(load_mesh("cube.obj"), config)
        >>> run.run()                 # or run.step() in a loop
        >>> vertices, colors = run.stylized()
    """

    def __init__(
        self,
        mesh: LoadedMesh,
        config: Text2MeshConfig,
        engine: ClipEngine | None = None,
        model_cache: ModelCache | None = None,
        mask: Any = None,
    ) -> None:
        config.check()
        self.config = config
        self.mesh = mesh
        if engine is None:
            images = [ImagePrompt.from_file(p) for p in config.image_prompts]
            if config.source:  # restyle: the prompt's own term plus the direction source -> prompt
                prompts = PromptSet.build(config.prompt, list(config.negatives), images=images,
                                          direction=(config.source, config.prompt))  # fmt: skip
            else:
                prompts = PromptSet.build(config.prompt or None, list(config.negatives), images=images)
            engine = ClipEngine(
                list(config.clip),
                prompts,
                device=config.device,
                model_cache=model_cache,
                clip_batch=config.clip_batch,
                compile=config.compile,
            )
        self.engine = engine
        self.device = engine.device
        seed = int(config.seed)
        self.vertices, self.faces, self.base_colors = mesh.to_torch(self.device)
        self.weights = None
        if mask is not None:
            weights = torch.as_tensor(mask, dtype=torch.float32).reshape(-1)
            if weights.shape[0] != self.vertices.shape[0]:
                raise InputError(f"mask has {weights.shape[0]} weights for a mesh of {self.vertices.shape[0]} vertices")
            self.weights = weights.to(self.device).unsqueeze(1)
        # Copies of a position (UV seams, hard edges) move together: the surface stays closed.
        self.weld, self.normals, self.weights = weld_surface(self.vertices, self.faces, self.weights)
        if config.field.input_colours and self.base_colors is None:
            logger.warning("input_colours is set but the mesh has no colours or texture: starting from grey")
        self.field = NeuralStyleField(config.field, mesh.normalization, torch.Generator().manual_seed(seed),
                                      material=material_for(config)).to(self.device)  # fmt: skip
        # In surface mode a textured input's base colour comes from its texture per pixel and texel.
        uses_base = config.field.input_colours or self.weights is not None
        textures = TextureSet.from_mesh(mesh, self.device) if config.field.mode == "surface" and uses_base else None
        self.styled = StyledMesh(self.field, self.vertices, self.faces, self.normals, self.base_colors, self.weights, textures,
                                 self.weld)  # fmt: skip
        self.view_generator = torch.Generator().manual_seed(seed + 1)
        # One random light per step for materials that learn under varied light (pbr); a material
        # with a fixed light draws nothing from it.
        self.light_generator = torch.Generator().manual_seed(seed + 5)
        losses = config.loss
        self.global_aug = Augmenter("text2mesh", copies=losses.n_augs, seed=seed + 2, fill=config.background)
        self.local_aug = Augmenter(
            "text2mesh_local", copies=losses.n_local_augs, local_area=losses.local_area, seed=seed + 3, fill=config.background
        )
        self.geometry_aug = Augmenter(
            "text2mesh_local", copies=losses.n_local_augs, local_area=losses.local_area, seed=seed + 4, fill=config.background
        )
        self.renderer = self.make_renderer(config.render_size)
        self.content: torch.Tensor | None = None  # this iteration's content term (restyles)
        if config.source:
            with torch.no_grad():  # the untouched input seen all around: the direction's start
                self.engine.set_source(self.render_input(preview_views(config, SOURCE_VIEWS)), pool=True)
        self.optimizer = torch.optim.Adam(self.field.parameter_groups(config.optim.lr), lr=config.optim.lr)
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=config.optim.lr_step, gamma=config.optim.lr_decay
        )
        self.iteration = 0
        self.skipped_steps = 0
        self.bad_streak = 0
        self.last_good: dict[str, torch.Tensor] | None = None
        self.status = "created"
        self.interrupt: KeyboardInterrupt | None = None  # what stopped the run, when it was interrupted
        synchronize = (lambda: torch.cuda.synchronize(self.device)) if self.device.type == "cuda" else None
        self.timer = Timer(totals={"render": 0.0, "clip": 0.0, "backward_step": 0.0}, synchronize=synchronize)
        self.history: list[StepRecord] = []

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent per phase so far (``render``, ``clip``, ``backward_step``)."""
        return self.timer.totals

    def make_renderer(self, size: int):
        """The configured mesh renderer (``config.renderer``) at ``size`` px."""
        return get_renderer(self.config.renderer, height=size, fov=self.config.views.fov)

    @torch.no_grad()
    def render_input(self, views: CameraViews, lights: Any = None) -> torch.Tensor:
        """The untouched input from ``views`` (its colours or texture, grey without; no
        displacement), as this run renders (under ``lights``, the material's): ``(B, 3, H, W)``."""
        cfg = self.config
        textures, material = self.styled.textures, self.field.material
        frame = self.styled.frame(self.vertices)
        if textures is not None:
            return render_deferred(self.renderer, self.vertices, self.faces, textures.attributes(),
                                   lambda attributes: material.neutral(textures.sample(attributes)), views, cfg.background,
                                   lights, material, frame)  # fmt: skip
        base = self.base_colors if self.base_colors is not None else torch.full_like(self.vertices, 0.5)
        return render_shaded(self.renderer, self.vertices, self.faces, material.neutral(base), views, cfg.background,
                             lights, material, frame)  # fmt: skip

    # --- one iteration -------------------------------------------------------------------------

    def _pooled_losses(self, images: torch.Tensor, groups: int) -> tuple[torch.Tensor, list]:
        """Per-group engine losses ``(groups,)`` of copy-major augmented views (each group's
        embedding mean-pooled over its views) and the groups' outputs (similarities)."""
        if self.config.loss.one_pass:
            scored = self.engine.score_groups(images, groups, pool=True)
            return scored.losses, scored.outputs
        outputs = [self.engine(group, pool=True) for group in images.chunk(groups, dim=0)]
        return torch.stack([out.loss for out in outputs]), outputs

    def field_colors_and_displacement(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The field at the mesh's vertices, blended by the mask: colours ``(V, 3)``, displacement ``(V, 1)``."""
        return self.styled.vertex_colors_and_displacement()

    def sample_views(self) -> CameraViews:
        v = self.config.views
        return sample_text2mesh_views(
            v.n_views, v.center_azimuth, v.center_elevation, v.std, v.radius, v.fov, generator=self.view_generator
        )

    def step(self) -> StepRecord:
        """Run one iteration; returns its metrics (``skipped`` when the loss was not finite).

        With ``loss.one_pass`` (the default) the global, local and geometry augmentations of the
        iteration are scored in one engine call (one CLIP batch per model); the step waits on the
        device once, to decide whether the loss and gradients were finite. :func:`joint_step`
        runs several runs' iterations with one CLIP pass for all of them (best-of-N warm-ups).
        """
        return joint_step([self])[0]

    def augmented_parts(self) -> list[tuple[str, float, int, torch.Tensor]]:
        """This iteration's renders, augmented: ``(loss name, weight, groups, images)`` per loss,
        each group holding the views of one augmentation (starts the iteration: zeroes grads)."""
        cfg, timer, weights = self.config, self.timer, self.config.loss
        self.field.set_progress(self.iteration, cfg.iters)
        views = self.sample_views()
        lights = self.field.material.sample_lights(self.light_generator)
        self.optimizer.zero_grad(set_to_none=True)
        styled = self.styled
        with timer("render"):
            if styled.surface:  # colour per covered pixel (timed as "field" inside the render)
                displaced = styled.displaced()
                images = styled.render(self.renderer, views, cfg.background, displaced=displaced, timer=timer,
                                       lights=lights)  # fmt: skip
            else:
                features, displacement = styled.vertex_features_and_displacement()
                displaced = styled.displaced(displacement)
                images = styled.render(self.renderer, views, cfg.background, displaced=displaced, colors=features,
                                       lights=lights)  # fmt: skip
            if cfg.source and weights.content_weight:
                self.content = (images - self.render_input(views, lights)).square().mean()
            use_geometry = bool(weights.geometry_weight) and cfg.field.geometry
            if use_geometry:
                geo_images = styled.render_grey(self.renderer, views, weights.geometry_grey, cfg.background, displaced)
        parts = []
        if weights.global_weight:
            parts.append(("global", weights.global_weight, weights.n_augs, self.global_aug(images)))
        if weights.local_weight:
            parts.append(("local", weights.local_weight, weights.n_local_augs, self.local_aug(images)))
        if use_geometry:
            parts.append(("geometry", weights.geometry_weight, weights.n_local_augs, self.geometry_aug(geo_images)))
        if not parts:
            raise InputError("all loss weights are zero: nothing to optimise")
        return parts

    def losses_of(self, parts, group_losses: torch.Tensor, outputs: list) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The weighted loss terms and the logged similarity from this run's scored groups."""
        cfg, weights = self.config, self.config.loss
        per_part = group_losses.split([p[2] for p in parts])
        losses = {name: weight * part.sum() for (name, weight, _, _), part in zip(parts, per_part, strict=False)}
        if self.content is not None:
            losses["content"] = weights.content_weight * self.content
            self.content = None
        if weights.global_weight:
            # The last global augmentation's score (global comes first), as the reference logs it.
            last_global = outputs[weights.n_augs - 1]
            similarity = last_global.similarity_tensor(cfg.prompt) if cfg.prompt else -last_global.loss.detach()
        else:
            similarity = torch.full((), float("nan"), device=self.device)
        return losses, similarity

    def finite_flag(self, total: torch.Tensor) -> torch.Tensor:
        """A 0-dim bool tensor: the loss and every gradient are finite (read back once per step)."""
        checks = [torch.isfinite(total)] + [torch.isfinite(p.grad).all() for p in self.field.parameters() if p.grad is not None]
        return torch.stack(checks).all()

    def apply_update(self, losses: dict[str, torch.Tensor], similarity: torch.Tensor, finite: bool) -> StepRecord:
        """Take (or skip) the optimiser step after the backward pass; ends the iteration."""
        if finite:
            self.last_good = {k: v.detach().clone() for k, v in self.field.state_dict().items()}
            self.optimizer.step()
            self.scheduler.step()
            self.bad_streak = 0
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_steps += 1
            self.bad_streak += 1
            logger.warning("step %d: non-finite loss or gradient, step skipped", self.iteration)
        record = StepRecord(self.iteration, losses, similarity, float(self.optimizer.param_groups[0]["lr"]), not finite)
        self.iteration += 1
        return record

    # --- state ---------------------------------------------------------------------------------

    def _augmenters(self) -> dict[str, Augmenter]:
        return {"global": self.global_aug, "local": self.local_aug, "geometry": self.geometry_aug}

    def state_dict(self) -> dict[str, Any]:
        """Everything the next iteration depends on, as independent copies (later steps do not
        change it): config, field, Adam, schedule, random streams, counters, timings.

        Copies stay on the run's device (taken before every iteration, they must not wait on a
        GPU->CPU transfer); :mod:`stylize.mesh.resume` writes them as ``checkpoint.pt``."""
        return {
            "config": to_dict(self.config),
            "iteration": self.iteration,
            "skipped_steps": self.skipped_steps,
            "bad_streak": self.bad_streak,
            "field": {k: v.detach().clone() for k, v in self.field.state_dict().items()},
            "last_good": None if self.last_good is None else {k: v.detach().clone() for k, v in self.last_good.items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": copy.deepcopy(self.scheduler.state_dict()),
            "rng": {
                "torch": torch.get_rng_state(),
                "views": self.view_generator.get_state(),
                "lights": self.light_generator.get_state(),
                **{f"augment_{name}": aug.generator.get_state() for name, aug in self._augmenters().items()},
            },
            "timings": dict(self.timings),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Put this run (built from the same config and mesh) into ``state`` (a :meth:`state_dict`)."""
        self.field.load_state_dict(state["field"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        self.view_generator.set_state(rng["views"])
        if "lights" in rng:  # checkpoints from before materials drew lights lack it
            self.light_generator.set_state(rng["lights"])
        for name, aug in self._augmenters().items():
            aug.generator.set_state(rng[f"augment_{name}"])
        self.iteration = int(state["iteration"])
        self.skipped_steps = int(state["skipped_steps"])
        self.bad_streak = int(state["bad_streak"])
        last_good = state.get("last_good")
        self.last_good = None if last_good is None else {k: v.to(self.device) for k, v in last_good.items()}
        self.timer.totals.update({k: float(v) for k, v in state.get("timings", {}).items()})
        logger.info("state restored at iteration %d of %d", self.iteration, self.config.iters)

    # --- the loop ------------------------------------------------------------------------------

    def restore_last_good(self) -> None:
        """Put back the last field state that gave a finite loss (no-op before the first)."""
        if self.last_good is not None:
            self.field.load_state_dict(self.last_good)

    def run(
        self,
        on_step: StepCallback | None = None,
        on_log: Callable[[StepRecord], None] | None = None,
        on_checkpoint: Callable[[Text2MeshRun], None] | None = None,
    ) -> str:
        """Iterate from the current iteration until ``config.iters``, divergence or Ctrl-C.

        Args:
            on_step: ``on_step(step, total, metrics)`` after every iteration (``step`` from 1; see
                :meth:`StepRecord.metrics`).
            on_log: called every ``log_every`` iterations and on the last one (metrics files).
            on_checkpoint: called after every ``checkpoint_every``-th iteration and when the run
                finishes (writes ``checkpoint.pt`` for resuming), and on Ctrl-C. An interrupt inside
                an iteration first puts the run back to that iteration's start (a copy taken
                before each one), so the checkpoint is always a clean state to resume from.

        Returns:
            The status: ``finished``, ``diverged`` (non-finite for ``nan_patience`` steps; the last
            good state is restored) or ``interrupted`` (KeyboardInterrupt; the caller saves what
            exists and re-raises).
        """
        self.status = "running"
        snapshot, in_step = None, False
        try:
            while self.iteration < self.config.iters:
                if on_checkpoint is not None:
                    snapshot = self.state_dict()
                in_step = True
                record = self.step()
                in_step = False
                self.history.append(record)
                last = self.iteration == self.config.iters
                if on_log is not None and (record.step % self.config.log_every == 0 or last):
                    on_log(record)
                if on_step is not None:
                    on_step(record.step + 1, self.config.iters, record.metrics())
                every = self.config.checkpoint_every
                if on_checkpoint is not None and ((every and self.iteration % every == 0) or last):
                    on_checkpoint(self)
                if self.bad_streak >= self.config.nan_patience:
                    logger.error("%d non-finite steps in a row: stopping with the last good state", self.bad_streak)
                    self.restore_last_good()
                    self.status = "diverged"
                    return self.status
        except KeyboardInterrupt as exc:
            self.status = "interrupted"
            self.interrupt = exc
            self.optimizer.zero_grad(set_to_none=True)
            if in_step and snapshot is not None:
                self.load_state_dict(snapshot)  # the interrupt landed mid-step: back to its start
            logger.warning("interrupted at iteration %d: keeping its state", self.iteration)
            if on_checkpoint is not None:
                on_checkpoint(self)
            return self.status
        self.status = "finished"
        return self.status

    # --- results -------------------------------------------------------------------------------

    @torch.no_grad()
    def stylized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Displaced vertices ``(V, 3)`` (normalised frame) and colours ``(V, 3)`` of the current field.

        Falls back to the last good state if the current one gives non-finite values.
        """
        vertices, features = self.stylized_features()
        return vertices, features[:, :3]

    @torch.no_grad()
    def stylized_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Displaced vertices ``(V, 3)`` (normalised frame) and the material's features ``(V, C)``
        (colours first) of the current field, falling back to the last good state as :meth:`stylized`."""
        features, displacement = self.styled.vertex_features_and_displacement()
        if not (torch.isfinite(features).all() and torch.isfinite(displacement).all()):
            logger.warning("current field gives non-finite values: using the last good state")
            self.restore_last_good()
            features, displacement = self.styled.vertex_features_and_displacement()
        return self.styled.displaced(displacement), features

    @torch.no_grad()
    def render_views(self, views: CameraViews, size: int, grey: bool = False) -> torch.Tensor:
        """Render the stylized mesh from ``views`` at ``size`` px: ``(B, 3, size, size)``."""
        vertices, features = self.stylized_features()
        renderer, background = self.make_renderer(size), self.config.background
        if grey:
            return self.styled.render_grey(renderer, views, self.config.loss.geometry_grey, background, vertices)
        return self.styled.render(renderer, views, background, displaced=vertices, colors=features)

    def preview_views(self) -> CameraViews:
        """Evenly spaced views around the front view, at its elevation."""
        return preview_views(self.config)

    def turntable(self) -> CameraViews:
        return turntable_camera_views(self.config)

    @torch.no_grad()
    def selection_score(self) -> float:
        """The training CLIP's similarity of the current result to the prompt over the preview
        views (what best-of-N chooses by; the lower the loss, the higher)."""
        images = self.render_views(self.preview_views(), self.config.output.score_size)
        out = self.engine(images)
        return out.mean_similarity(self.config.prompt) if self.config.prompt else -float(out.loss)

    @torch.no_grad()
    def final_scores(self) -> dict[str, dict[str, float]]:
        """Scores of the result over the 24-view grid, 100 x cosine, by role as every generator
        reports them: ``{"trainer": {prompt: score, ..., "mean": score}, "judge": {...}}``
        (``judge`` when ``judge`` names other models). ``mean`` is the text prompt's score (the
        MES over the grid), else the mean over the prompts."""
        images = self.render_views(grid_views(), self.config.output.score_size)
        engines = {"trainer": self.engine}
        judge = list(self.config.judge)
        if judge and judge != list(self.config.clip):
            # A restyle's judge scores the prompt as a text (a direction needs source renders).
            prompts = PromptSet.build(self.config.prompt) if self.config.source else self.engine.prompts
            engines["judge"] = ClipEngine(judge, prompts, device=self.device,
                                          model_cache=self.engine.model_cache, clip_batch=self.engine.clip_batch)  # fmt: skip
        scores: dict[str, dict[str, float]] = {}
        for role, engine in engines.items():
            out = engine(images)
            sims = {name: 100.0 * value for name, value in _flatten_sims(out.similarities).items()}
            if self.config.prompt:
                sims["mean"] = 100.0 * out.mean_similarity(self.config.prompt)
            elif sims:
                sims["mean"] = sum(sims.values()) / len(sims)
            scores[role] = sims
        return scores


def joint_step(runs: list[Text2MeshRun]) -> list[StepRecord]:
    """One iteration of every run, sharing one CLIP pass: all their augmented images are encoded
    together (one batch per model, chunked only by ``clip_batch``), each run scores its own
    groups, one backward pass serves all (their fields are independent), and one device read
    decides which steps were finite. The runs share the first run's engine and timer.

    Each run's loss and gradients are what its own :meth:`Text2MeshRun.step` gives (the same
    function; batching changes only summation order).
    """
    lead = runs[0]
    engine, timer, one_pass = lead.engine, lead.timer, lead.config.loss.one_pass
    all_parts = [run.augmented_parts() for run in runs]
    with timer("clip"), memory_hint(engine.clip_batch):
        if one_pass:
            counts = [sum(p[2] for p in parts) for parts in all_parts]
            images = torch.cat([p[3] for parts in all_parts for p in parts])
            scored = engine.score_groups(images, sum(counts), pool=True)
            splits = scored.losses.split(counts)
            offsets = [sum(counts[:i]) for i in range(len(runs))]
            per_run = [(splits[i], scored.outputs[offsets[i] : offsets[i] + counts[i]]) for i in range(len(runs))]
        else:
            per_run = []
            for run, parts in zip(runs, all_parts, strict=False):
                scored = [run._pooled_losses(augmented, groups) for _, _, groups, augmented in parts]
                per_run.append((torch.cat([s[0] for s in scored]), [o for s in scored for o in s[1]]))
    results = [run.losses_of(parts, *scored) for run, parts, scored in zip(runs, all_parts, per_run, strict=False)]
    totals = [torch.stack(list(losses.values())).sum() for losses, _ in results]
    with timer("backward_step"), memory_hint(engine.clip_batch):
        torch.stack(totals).sum().backward()
        # One device-to-host read for all runs: which losses and gradients were finite?
        flags = torch.stack([run.finite_flag(total) for run, total in zip(runs, totals, strict=False)]).tolist()
        return [run.apply_update(losses, similarity, finite)
                for run, (losses, similarity), finite in zip(runs, results, flags, strict=False)]  # fmt: skip


def preview_views(config: Text2MeshConfig, count: int | None = None, radius: float | None = None) -> CameraViews:
    """``count`` (default ``output.preview_views``) views evenly spaced around the front view, at
    its elevation and distance (or ``radius``)."""
    v, n = config.views, count or config.output.preview_views
    azimuth = v.center_azimuth + torch.arange(n, dtype=torch.float32) * (2 * math.pi / n)
    return orbit_views(azimuth, [v.center_elevation], radius=radius or v.radius, fov=v.fov)


def turntable_camera_views(config: Text2MeshConfig, radius: float | None = None) -> CameraViews:
    """The ``turntable.gif`` cameras: ``output.turntable_frames`` views around the mesh (at the
    views' distance, or ``radius``)."""
    v, out = config.views, config.output
    return turntable_views(out.turntable_frames, math.degrees(v.center_elevation), radius or v.radius, v.fov,
                           v.center_azimuth)  # fmt: skip


def _flatten_sims(similarities: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    flat: dict[str, list[float]] = {}
    for sims in similarities.values():
        for prompt, value in sims.items():
            flat.setdefault(prompt, []).append(value)
    return {prompt: sum(values) / len(values) for prompt, values in flat.items()}
