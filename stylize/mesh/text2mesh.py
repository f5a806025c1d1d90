"""Text2Mesh stylization as a run object: a neural style field optimised through CLIP.

One iteration (the reference's recipe, ``shared/reference/text2mesh.md``):

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
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Callable, Mapping

import torch

from stylize.engine import DEFAULT_CLIP, Augmenter, ClipEngine, ImagePrompt, ModelCache, PromptSet
from stylize.errors import InputError
from stylize.mesh.camera import (
    TEXT2MESH_CENTER_AZIMUTH,
    TEXT2MESH_CENTER_ELEVATION,
    CameraViews,
    grid_views,
    orbit_views,
    sample_text2mesh_views,
    turntable_views,
)
from stylize.mesh.controls import compose
from stylize.mesh.field import FieldConfig, NeuralStyleField, vertex_normals
from stylize.mesh.io import LoadedMesh
from stylize.mesh.raster import MeshRenderer, make_renderer
from stylize.mesh.shading import TEXT2MESH_LIGHTS, spherical_harmonic_lighting

logger = logging.getLogger(__name__)

__all__ = [
    "TEXT2MESH_PRESETS",
    "Text2MeshConfig",
    "Text2MeshRun",
    "render_shaded",
]


@dataclass
class ViewConfig:
    """Training cameras (Text2Mesh's front-view sampler)."""

    n_views: int = 5
    std: float = 4.0
    center_azimuth: float = TEXT2MESH_CENTER_AZIMUTH
    center_elevation: float = TEXT2MESH_CENTER_ELEVATION
    radius: float = 2.0
    fov: float = math.pi / 3


@dataclass
class LossConfig:
    """Which CLIP losses run and how many augmentations each gets."""

    global_weight: float = 1.0
    local_weight: float = 1.0
    geometry_weight: float = 1.0
    n_augs: int = 1
    n_local_augs: int = 4
    local_area: float = 0.1
    geometry_grey: float = 0.5


@dataclass
class OptimConfig:
    """Adam + StepLR as the reference."""

    lr: float = 5e-4
    lr_decay: float = 0.9
    lr_step: int = 100


@dataclass
class OutputConfig:
    """What is rendered and written for the run folder (``bake``: also ``mesh_textured.glb``,
    ``bake_unwrap``: new UVs even when the input has some)."""

    preview_views: int = 8
    preview_size: int = 224
    turntable_frames: int = 36
    turntable_size: int = 160
    score_size: int = 224
    bake: bool = False
    bake_size: int = 1024
    bake_unwrap: bool = False


@dataclass
class Text2MeshConfig:
    """A complete Text2Mesh run; the defaults are the published demo settings (``paper``)."""

    prompt: str = ""
    clip: list[str] = dataclass_field(default_factory=lambda: [DEFAULT_CLIP])
    negatives: list[str] = dataclass_field(default_factory=list)
    image_prompts: list[str] = dataclass_field(default_factory=list)
    iters: int = 1500
    seed: int = 0
    device: str = "auto"
    render_size: int = 224
    background: float = 1.0
    target_vertices: int = 0
    max_faces: int = 500_000
    log_every: int = 10
    nan_patience: int = 10
    checkpoint_every: int = 50
    field: FieldConfig = dataclass_field(default_factory=FieldConfig)
    views: ViewConfig = dataclass_field(default_factory=ViewConfig)
    loss: LossConfig = dataclass_field(default_factory=LossConfig)
    optim: OptimConfig = dataclass_field(default_factory=OptimConfig)
    output: OutputConfig = dataclass_field(default_factory=OutputConfig)

    def check(self) -> None:
        """Raise :class:`InputError` naming the first setting out of range."""
        positive = {
            "iters": self.iters, "render_size": self.render_size, "log_every": self.log_every,
            "nan_patience": self.nan_patience, "views.n_views": self.views.n_views,
            "optim.lr_step": self.optim.lr_step, "output.preview_views": self.output.preview_views,
            "output.preview_size": self.output.preview_size, "output.turntable_size": self.output.turntable_size,
            "output.score_size": self.output.score_size,
        }
        for key, value in positive.items():
            if value < 1:
                raise InputError(f"config key {key!r}: expected a positive value, got {value}")
        if self.checkpoint_every < 0:
            raise InputError(f"config key 'checkpoint_every': expected 0 (never) or more, got {self.checkpoint_every}")
        from stylize.mesh.bake import check_texture_size

        check_texture_size(self.output.bake_size, "config key 'output.bake_size'")
        if self.optim.lr <= 0:
            raise InputError(f"config key 'optim.lr': expected a positive number, got {self.optim.lr}")
        if not 0.0 < self.loss.local_area <= 1.0:
            raise InputError(f"config key 'loss.local_area': expected a value in (0, 1], got {self.loss.local_area}")
        if self.loss.n_augs < 1 or self.loss.n_local_augs < 1:
            raise InputError("config keys 'loss.n_augs' and 'loss.n_local_augs' must be at least 1")
        if not self.clip:
            raise InputError("config key 'clip': expected at least one CLIP model spec")
        self.field.check()


# Overrides of the defaults (which are the paper's demo settings) by preset name.
# ``fast``: 2x the paper's learning rate decayed every 30 steps instead of 100, all Fourier
# frequencies from the start, 300 iterations. Measured with the test CLIPs
# (tools/t2m_iters_to_threshold.py, sphere, "a blue circle", BENCHMARKS.md): it reached 90 % of
# the paper run's judged gain in 190 / 110 / 260 iterations (seeds 0-2) against the paper's
# 340 / 320 / not within 500. lr 2e-3, lr 5e-4 without progressive encoding and lr 1e-3 with a
# 100-step decay did not reach it within 300.
TEXT2MESH_PRESETS: Mapping[str, Mapping[str, Any]] = {
    "paper": {},
    "fast": {
        "iters": 300,
        "optim.lr": 1e-3,
        "optim.lr_step": 30,
        "field.progressive": False,
    },
    "smoke": {
        "iters": 30,
        "device": "cpu",
        "render_size": 64,
        "log_every": 5,
        "checkpoint_every": 10,
        "views.n_views": 3,
        "field.width": 64,
        "field.depth": 2,
        "field.head_depth": 1,
        "field.n_frequencies": 32,
        "field.progressive": False,
        "loss.n_local_augs": 2,
        "optim.lr": 1e-2,
        "optim.lr_step": 10,
        "output.preview_views": 4,
        "output.preview_size": 64,
        "output.turntable_frames": 4,
        "output.turntable_size": 48,
        "output.score_size": 64,
    },
}


def render_shaded(
    renderer: MeshRenderer,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    colors: torch.Tensor,
    views: CameraViews,
    background: float = 1.0,
    lights: tuple[float, ...] = TEXT2MESH_LIGHTS,
) -> torch.Tensor:
    """Text2Mesh's render: per-vertex colours times SH lighting, clamped, over a flat background.

    Args:
        renderer: a mesh renderer (its size sets the image size).
        vertices: ``(V, 3)`` world space.
        faces: ``(F, 3)`` int64.
        colors: ``(V, 3)`` in ``[0, 1]``.
        views: cameras.
        background: grey level of empty pixels (1 = white).

    Returns:
        Images ``(B, 3, H, W)`` in ``[0, 1]``, differentiable w.r.t. vertices and colours.
    """
    if colors.dim() != 2 or colors.shape != vertices.shape:
        raise ValueError(f"expected colors of shape {tuple(vertices.shape)}, got {tuple(colors.shape)}")
    features = torch.cat([colors, torch.ones_like(colors[:, :1])], dim=1)
    out = renderer(vertices, faces, features, views.to(vertices.device))
    rgb, alpha = out.features[..., :3], out.features[..., 3:]
    shade = spherical_harmonic_lighting(out.pixel_normals(), lights)
    image = (rgb * shade.unsqueeze(-1)).clamp(0.0, 1.0) * alpha + background * (1.0 - alpha)
    return image.permute(0, 3, 1, 2).contiguous()


@dataclass
class StepRecord:
    """Metrics of one iteration."""

    step: int
    loss: float
    losses: dict[str, float]
    similarity: float
    lr: float
    skipped: bool = False


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
            prompts = PromptSet.build(config.prompt or None, list(config.negatives), images=images)
            engine = ClipEngine(list(config.clip), prompts, device=config.device, model_cache=model_cache)
        self.engine = engine
        self.device = engine.device
        seed = int(config.seed)
        self.vertices, self.faces, self.base_colors = mesh.to_torch(self.device)
        self.normals = vertex_normals(self.vertices, self.faces)
        self.weights = None
        if mask is not None:
            weights = torch.as_tensor(mask, dtype=torch.float32).reshape(-1)
            if weights.shape[0] != self.vertices.shape[0]:
                raise InputError(f"mask has {weights.shape[0]} weights for a mesh of {self.vertices.shape[0]} vertices")
            self.weights = weights.to(self.device).unsqueeze(1)
        if config.field.input_colours and self.base_colors is None:
            logger.warning("input_colours is set but the mesh has no colours or texture: starting from grey")
        self.field = NeuralStyleField(config.field, mesh.normalization, torch.Generator().manual_seed(seed)).to(self.device)
        self.view_generator = torch.Generator().manual_seed(seed + 1)
        losses = config.loss
        self.global_aug = Augmenter("text2mesh", copies=losses.n_augs, seed=seed + 2, fill=config.background)
        self.local_aug = Augmenter(
            "text2mesh_local", copies=losses.n_local_augs, local_area=losses.local_area, seed=seed + 3, fill=config.background
        )
        self.geometry_aug = Augmenter(
            "text2mesh_local", copies=losses.n_local_augs, local_area=losses.local_area, seed=seed + 4, fill=config.background
        )
        self.renderer = make_renderer("torch", height=config.render_size, fov=config.views.fov)
        self.optimizer = torch.optim.Adam(self.field.parameters(), lr=config.optim.lr)
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=config.optim.lr_step, gamma=config.optim.lr_decay
        )
        self.iteration = 0
        self.skipped_steps = 0
        self._bad_streak = 0
        self._last_good: dict[str, torch.Tensor] | None = None
        self.status = "created"
        self.timings = {"render": 0.0, "clip": 0.0, "backward_step": 0.0}
        self.history: list[StepRecord] = []

    # --- one iteration -------------------------------------------------------------------------

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _pooled_loss(self, images: torch.Tensor, groups: int) -> tuple[torch.Tensor, Any]:
        """Sum over augmentation copies of the engine loss on each copy's views (mean-pooled)."""
        total, last = None, None
        for group in images.chunk(groups, dim=0):
            last = self.engine(group, pool=True)
            total = last.loss if total is None else total + last.loss
        return total, last

    def field_colors_and_displacement(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The field at the mesh's vertices, blended by the mask: colours ``(V, 3)``, displacement ``(V, 1)``."""
        out = self.field(self.vertices, self.base_colors)
        return compose(out.colors, out.displacement, self.base_colors, self.weights)

    def sample_views(self) -> CameraViews:
        v = self.config.views
        return sample_text2mesh_views(
            v.n_views, v.center_azimuth, v.center_elevation, v.std, v.radius, v.fov, generator=self.view_generator
        )

    def step(self) -> StepRecord:
        """Run one iteration; returns its metrics (``skipped`` when the loss was not finite)."""
        cfg = self.config
        self.field.set_progress(self.iteration, cfg.iters)
        views = self.sample_views()
        self.optimizer.zero_grad(set_to_none=True)
        start = time.perf_counter()
        colors, displacement = self.field_colors_and_displacement()
        displaced = self.vertices + self.normals * displacement
        images = render_shaded(self.renderer, displaced, self.faces, colors, views, cfg.background)
        self._sync()
        render_done = time.perf_counter()
        losses: dict[str, torch.Tensor] = {}
        similarity = float("nan")
        weights = cfg.loss
        if weights.global_weight:
            loss, scored = self._pooled_loss(self.global_aug(images), weights.n_augs)
            losses["global"] = weights.global_weight * loss
            similarity = scored.mean_similarity(cfg.prompt) if cfg.prompt else -float(scored.loss)
        if weights.local_weight:
            loss, _ = self._pooled_loss(self.local_aug(images), weights.n_local_augs)
            losses["local"] = weights.local_weight * loss
        clip_time = time.perf_counter() - render_done
        if weights.geometry_weight and cfg.field.geometry:
            start_geo = time.perf_counter()
            grey = torch.full_like(colors, weights.geometry_grey)
            geo_images = render_shaded(self.renderer, displaced, self.faces, grey, views, cfg.background)
            self._sync()
            geo_rendered = time.perf_counter()
            render_done += geo_rendered - start_geo
            loss, _ = self._pooled_loss(self.geometry_aug(geo_images), weights.n_local_augs)
            losses["geometry"] = weights.geometry_weight * loss
            clip_time += time.perf_counter() - geo_rendered
        if not losses:
            raise InputError("all loss weights are zero: nothing to optimise")
        total = torch.stack(list(losses.values())).sum()
        backward_start = time.perf_counter()
        finite = bool(torch.isfinite(total))
        if finite:
            total.backward()
            finite = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in self.field.parameters())
        if finite:
            self._last_good = {k: v.detach().clone() for k, v in self.field.state_dict().items()}
            self.optimizer.step()
            self.scheduler.step()
            self._bad_streak = 0
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_steps += 1
            self._bad_streak += 1
            logger.warning("step %d: non-finite loss or gradient, step skipped", self.iteration)
        self._sync()
        now = time.perf_counter()
        self.timings["render"] += render_done - start
        self.timings["clip"] += clip_time
        self.timings["backward_step"] += now - backward_start
        record = StepRecord(
            step=self.iteration,
            loss=float(total.detach()),
            losses={k: float(v.detach()) for k, v in losses.items()},
            similarity=similarity,
            lr=float(self.optimizer.param_groups[0]["lr"]),
            skipped=not finite,
        )
        self.iteration += 1
        return record

    # --- the loop ------------------------------------------------------------------------------

    def restore_last_good(self) -> None:
        """Put back the last field state that gave a finite loss (no-op before the first)."""
        if self._last_good is not None:
            self.field.load_state_dict(self._last_good)

    def run(
        self,
        on_step: Callable[[StepRecord, "Text2MeshRun"], None] | None = None,
        on_log: Callable[[StepRecord], None] | None = None,
        on_checkpoint: Callable[["Text2MeshRun"], None] | None = None,
    ) -> str:
        """Iterate from the current iteration until ``config.iters``, divergence or Ctrl-C.

        Args:
            on_step: called after every iteration (progress bars, early checks).
            on_log: called every ``log_every`` iterations and on the last one (metrics files).
            on_checkpoint: called after every ``checkpoint_every``-th iteration and when the run
                finishes (writes ``checkpoint.pt`` for resuming), and on Ctrl-C. An interrupt inside
                an iteration first puts the run back to that iteration's start (a copy taken
                before each one), so the checkpoint is always a clean state to resume from.

        Returns:
            The status: ``finished``, ``diverged`` (non-finite for ``nan_patience`` steps; the last
            good state is restored) or ``interrupted`` (KeyboardInterrupt).
        """
        from stylize.mesh.resume import capture_state, restore_run

        self.status = "running"
        snapshot, in_step = None, False
        try:
            while self.iteration < self.config.iters:
                if on_checkpoint is not None:
                    snapshot = capture_state(self)
                in_step = True
                record = self.step()
                in_step = False
                self.history.append(record)
                last = self.iteration == self.config.iters
                if on_log is not None and (record.step % self.config.log_every == 0 or last):
                    on_log(record)
                if on_step is not None:
                    on_step(record, self)
                every = self.config.checkpoint_every
                if on_checkpoint is not None and ((every and self.iteration % every == 0) or last):
                    on_checkpoint(self)
                if self._bad_streak >= self.config.nan_patience:
                    logger.error("%d non-finite steps in a row: stopping with the last good state", self._bad_streak)
                    self.restore_last_good()
                    self.status = "diverged"
                    return self.status
        except KeyboardInterrupt:
            self.status = "interrupted"
            self.optimizer.zero_grad(set_to_none=True)
            if in_step and snapshot is not None:
                restore_run(self, snapshot)  # the interrupt landed mid-step: back to its start
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
        colors, displacement = self.field_colors_and_displacement()
        if not (torch.isfinite(colors).all() and torch.isfinite(displacement).all()):
            logger.warning("current field gives non-finite values: using the last good state")
            self.restore_last_good()
            colors, displacement = self.field_colors_and_displacement()
        return self.vertices + self.normals * displacement, colors

    @torch.no_grad()
    def render_views(self, views: CameraViews, size: int, grey: bool = False) -> torch.Tensor:
        """Render the stylized mesh from ``views`` at ``size`` px: ``(B, 3, size, size)``."""
        vertices, colors = self.stylized()
        if grey:
            colors = torch.full_like(colors, self.config.loss.geometry_grey)
        renderer = make_renderer("torch", height=size)
        return render_shaded(renderer, vertices, self.faces, colors, views, self.config.background)

    def preview_views(self) -> CameraViews:
        """Evenly spaced views around the front view, at its elevation."""
        return preview_views(self.config)

    def turntable(self) -> CameraViews:
        return turntable_camera_views(self.config)

    @torch.no_grad()
    def final_scores(self) -> dict[str, float]:
        """Similarities of the result under the training CLIP(s) over the 24-view grid (x 100)."""
        images = self.render_views(grid_views(), self.config.output.score_size)
        out = self.engine(images)
        scores = {f"train_sim/{name}": 100.0 * value for name, value in _flatten_sims(out.similarities).items()}
        if self.config.prompt:
            scores["train_mes"] = 100.0 * out.mean_similarity(self.config.prompt)
        return scores


def preview_views(config: Text2MeshConfig) -> CameraViews:
    """``output.preview_views`` views evenly spaced around the front view, at its elevation."""
    v, n = config.views, config.output.preview_views
    azimuth = v.center_azimuth + torch.arange(n, dtype=torch.float32) * (2 * math.pi / n)
    return orbit_views(azimuth, [v.center_elevation], radius=v.radius, fov=v.fov)


def turntable_camera_views(config: Text2MeshConfig) -> CameraViews:
    """The ``turntable.gif`` cameras: ``output.turntable_frames`` views around the mesh."""
    v, out = config.views, config.output
    return turntable_views(out.turntable_frames, math.degrees(v.center_elevation), v.radius, v.fov, v.center_azimuth)


def _flatten_sims(similarities: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    flat: dict[str, list[float]] = {}
    for sims in similarities.values():
        for prompt, value in sims.items():
            flat.setdefault(prompt, []).append(value)
    return {prompt: sum(values) / len(values) for prompt, values in flat.items()}
