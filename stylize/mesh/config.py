"""Settings of a Text2Mesh run (``stylize mesh``): typed sections, presets and their checks.

A run's config is a :class:`Text2MeshConfig` composed of small sections (field, views, losses,
optimiser, outputs). :func:`resolve_mesh_config` composes defaults (the paper's) <- preset <- TOML
file <- overrides, then checks every value and every component name before anything loads.

The defaults are Text2Mesh's published demo settings (Michel et al., CVPR 2022,
threedle/text2mesh; not its argparse defaults): 1500 iterations, Adam lr 5e-4 with StepLR x0.9
every 100 steps, Fourier features with sigma 5, 5 views around the front view (azimuth 1.963,
elevation 0.628 rad, std 4), camera radius 2, field of view pi/3, 224 px, white background,
1 global + 4 local + 4 geometry augmentations per iteration (45 CLIP encodings), CLIP ViT-B/32.

This module does not import torch, so the command line can list presets instantly.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, ClassVar

from stylize.config import check_limits, check_memory, check_seed
from stylize.engine.specs import DEFAULT_CLIP
from stylize.errors import InputError
from stylize.registry import check_names

__all__ = [
    "FieldConfig", "LossConfig", "OptimConfig", "OutputConfig", "PbrConfig", "TEXT2MESH_CENTER_AZIMUTH",
    "TEXT2MESH_CENTER_ELEVATION", "TEXT2MESH_PRESETS", "Text2MeshConfig", "ViewConfig", "check_texture_size",
    "resolve_mesh_config",
]  # fmt: skip

# Text2Mesh's published demos put the front view here (radians).
TEXT2MESH_CENTER_AZIMUTH = 1.96349
TEXT2MESH_CENTER_ELEVATION = 0.6283


def check_texture_size(size: Any, name: str = "texture size") -> int:
    """A power of two from 16 to 16384 (any integer type), else :class:`InputError` naming ``name``."""
    try:
        value = None if isinstance(size, bool) else operator.index(size)
    except TypeError:
        value = None
    if value is None or not 16 <= value <= 16384 or value & (value - 1):
        raise InputError(f"{name} must be a power of two from 16 to 16384, got {size}")
    return value


@dataclass
class FieldConfig:
    """Hyperparameters of :class:`NeuralStyleField` (defaults: the paper's).

    Attributes:
        width: hidden width of trunk and heads.
        depth: trunk layers after the input layer.
        head_depth: hidden layers in each head.
        n_frequencies: columns of the Fourier matrix (the encoding has ``3 + 2 n`` values).
        sigma: standard deviation of the Fourier matrix.
        progressive: fade frequency bands in over the run.
        sort_frequencies: also sort the Fourier *columns* by norm, so progressive encoding really
            goes from low to high frequencies (the reference sorts only the three rows).
        max_displacement: bound on the displacement along the normal, in normalised units.
        colour: learn colours (else grey).
        geometry: learn displacements (else none).
        input_colours: start from the mesh's own colours (passed to :meth:`NeuralStyleField.forward`
            as ``base_colors``) rather than grey.
        symmetry: ``""`` (none) or ``"x"``, ``"y"``, ``"z"``: mirror-symmetric about that axis plane.
        mode: the field kind (a name in :data:`stylize.mesh.kinds.FIELD_KINDS`): where the
            colour is evaluated. ``vertex`` (Text2Mesh): at the vertices, interpolated
            across each triangle, so detail is bounded by the tessellation. ``surface``: at every
            covered pixel of a render (deferred, from the interpolated surface point) and at every
            texel of the baked texture, so detail is bounded by the texture size; displacement
            stays per vertex in both modes (it moves geometry). ``texture``: where ``surface`` is,
            with a tri-plane encoding and a small MLP instead of the Fourier MLP (the ``plane_*``
            settings): the same per-point detail at about a vertex field's cost.
        plane_resolutions: ``texture`` kind: texels across ``[-1, 1]`` of each tri-plane level.
        plane_features: ``texture`` kind: channels per plane and level.
        plane_width: ``texture`` kind: hidden width of its MLP (trunk and heads); ``width`` and
            ``depth`` size the Fourier MLP only.
        plane_lr_scale: ``texture`` kind: the planes' learning rate is ``optim.lr`` times this
            (grid encodings learn with a larger step than the MLP behind them, as Instant-NGP's).
    """

    width: int = 256
    depth: int = 4
    head_depth: int = 2
    n_frequencies: int = 256
    sigma: float = 5.0
    progressive: bool = True
    sort_frequencies: bool = False
    max_displacement: float = 0.1
    colour: bool = True
    geometry: bool = True
    input_colours: bool = False
    symmetry: str = ""
    mode: str = "vertex"
    plane_resolutions: list[int] = dataclass_field(default_factory=lambda: [64, 256])
    plane_features: int = 8
    plane_width: int = 64
    plane_lr_scale: float = 3.0

    def check(self) -> None:
        for name in ("width", "n_frequencies"):
            if getattr(self, name) < 1:
                raise InputError(f"field.{name}: expected a positive integer, got {getattr(self, name)}")
        for name in ("depth", "head_depth"):
            if getattr(self, name) < 0:
                raise InputError(f"field.{name}: expected an integer >= 0, got {getattr(self, name)}")
        # Upper bounds: far beyond any real field, far below gigabytes of weights before a step.
        for name, high in (("width", 4096), ("n_frequencies", 4096), ("depth", 64), ("head_depth", 64)):
            if getattr(self, name) > high:
                raise InputError(f"field.{name}: expected at most {high}, got {getattr(self, name)}")
        if not self.plane_resolutions or any(not 2 <= int(r) <= 4096 for r in self.plane_resolutions):
            raise InputError(f"field.plane_resolutions: expected a list of sizes from 2 to 4096, got {self.plane_resolutions}")
        for name in ("plane_features", "plane_width"):
            if not 1 <= getattr(self, name) <= 4096:
                raise InputError(f"field.{name}: expected an integer from 1 to 4096, got {getattr(self, name)}")
        if not self.plane_lr_scale > 0:
            raise InputError(f"field.plane_lr_scale: expected a positive number, got {self.plane_lr_scale}")
        if self.sigma <= 0:
            raise InputError(f"field.sigma: expected a positive number, got {self.sigma}")
        if self.max_displacement < 0:
            raise InputError(f"field.max_displacement: expected a number >= 0, got {self.max_displacement}")
        check_names(self, {"mode": "stylize.mesh.kinds:FIELD_KINDS"}, section="field.")
        if self.symmetry not in ("", "x", "y", "z"):
            raise InputError(f'field.symmetry: expected "", "x", "y" or "z", got {self.symmetry!r}')


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
    # With ``source`` (directional restyling) only: weight of the mean squared difference between
    # each render and the untouched input's render from the same view, so what the prompt does not
    # ask to change stays as it was.
    content_weight: float = 10.0
    # Encode every augmented image of an iteration (global, local, geometry) in one CLIP batch
    # per model; false scores each augmentation group with its own engine call (the reference's
    # order of work: same loss and gradients, slower; kept for comparison and benchmarks).
    one_pass: bool = True


@dataclass
class OptimConfig:
    """Adam + StepLR as the reference."""

    lr: float = 5e-4
    lr_decay: float = 0.9
    lr_step: int = 100


#: Where a scene bake lays out its new maps (``output.uv``, ``--uv``; see stylize.mesh.uv_layout).
UV_CHOICES = ("auto", "reuse", "new")


def check_uv_choice(choice: Any, name: str = "output.uv") -> str:
    """``choice`` when it is one of :data:`UV_CHOICES`, else a one-line :class:`InputError`."""
    if choice not in UV_CHOICES:
        raise InputError(f"{name}: expected one of {', '.join(UV_CHOICES)}, got {choice!r}")
    return choice


#: Maps of a glTF material that ``output.keep_maps`` may keep when its base colour is replaced.
KEEPABLE_MAPS = ("emissive", "occlusion", "metallic_roughness", "normal")


def parse_keep_maps(value: Any, name: str = "output.keep_maps") -> str | tuple[str, ...]:
    """``output.keep_maps`` as ``"auto"`` or a tuple of :data:`KEEPABLE_MAPS` names: ``auto``,
    ``all``, ``none``, a comma-separated string or a list of names; else a one-line
    :class:`InputError`."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text in ("all", "none"):
            return KEEPABLE_MAPS if text == "all" else ()
        value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{name}: expected auto, all, none or names among {', '.join(KEEPABLE_MAPS)}, got {value!r}")
    unknown = [v for v in value if v not in KEEPABLE_MAPS]
    if unknown:
        raise InputError(f"{name}: unknown map {unknown[0]!r}: expected auto, all, none or names among "
                         f"{', '.join(KEEPABLE_MAPS)}")  # fmt: skip
    return tuple(dict.fromkeys(value))


@dataclass
class OutputConfig:
    """What is rendered and written for the run folder (``bake``: also ``mesh_textured.glb``,
    ``bake_unwrap``: new UVs even when the input has some; ``normal_map``: ``mesh_textured.glb``
    keeps the input's geometry and carries the displacement as a tangent-space normal map).
    A surface-mode field and a material with maps beyond the base colour (pbr) always write
    ``mesh_textured.glb``. ``uv``: where a glTF scene's new maps are laid out
    (:mod:`stylize.mesh.uv_layout`): ``auto`` reuses a material's ``TEXCOORD_0`` when it is clean
    (one tile, no overlap) and writes a new set ``TEXCOORD_n`` otherwise; ``reuse`` always bakes
    into ``TEXCOORD_0``; ``new`` always writes a new set."""

    preview_views: int = 8
    preview_size: int = 224
    turntable_frames: int = 36
    turntable_size: int = 160
    score_size: int = 224
    bake: bool = False
    bake_size: int = 1024
    bake_unwrap: bool = False
    normal_map: bool = False
    uv: str = "auto"
    # Which of the input's emissive, occlusion, metallic_roughness and normal maps a material
    # whose base colour is replaced keeps (stylize.mesh.gltf.materials): auto, all, none or names.
    keep_maps: str = "auto"


@dataclass
class PbrConfig:
    """Settings of the ``pbr`` material (:class:`stylize.mesh.pbr_material.PbrMaterial`).

    Attributes:
        max_tilt: the largest tilt of the learned normal per tangent axis, degrees (0: no
            normal detail; at most 60).
        lights: directional lights in each step's random environment.
        light_tint: how far those lights' colours may move from white (0 to 1).
    """

    max_tilt: float = 20.0
    lights: int = 3
    light_tint: float = 0.1

    def check(self) -> None:
        if not 0.0 <= self.max_tilt <= 60.0:
            raise InputError(f"config key 'pbr.max_tilt': expected degrees from 0 to 60, got {self.max_tilt}")
        if not 1 <= self.lights <= 16:
            raise InputError(f"config key 'pbr.lights': expected 1 to 16 lights, got {self.lights}")
        if not 0.0 <= self.light_tint <= 1.0:
            raise InputError(f"config key 'pbr.light_tint': expected a value from 0 to 1, got {self.light_tint}")


@dataclass
class Text2MeshConfig:
    """A complete Text2Mesh run; the defaults are the published demo settings (``paper``)."""

    #: settings naming files, recorded absolute (see :func:`stylize.config.absolute_paths`)
    PATH_KEYS: ClassVar[tuple[str, ...]] = ("image_prompts",)
    prompt: str = ""
    clip: list[str] = dataclass_field(default_factory=lambda: [DEFAULT_CLIP])
    negatives: list[str] = dataclass_field(default_factory=list)
    image_prompts: list[str] = dataclass_field(default_factory=list)
    # Restyle instead of stylizing from grey: a text describing the input as it is ("a red
    # vase"). The run starts from the input's colours or texture (field.input_colours is implied)
    # and the CLIP loss is StyleGAN-NADA's directional one: the change of the renders' embedding
    # from the untouched input's must point from ``source`` to ``prompt``; loss.content_weight
    # keeps the rest of the renders close to the input's.
    source: str = ""
    # The material the field predicts and renders are shaded with (a name in
    # stylize.mesh.material.MATERIALS): "diffuse" is Text2Mesh's lit base colour; "pbr" learns
    # glTF metallic-roughness maps (base colour, roughness, metallic, normal; settings in [pbr]).
    material: str = "diffuse"
    # CLIP models that also score the result (never optimised with): run.json's judge_* scores.
    judge: list[str] = dataclass_field(default_factory=list)
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
    # Write a small snapshot of the per-vertex result (preview/step_NNNNNN.npz) every this many
    # steps for programs that show the run as it forms (the Blender add-on); 0: none. It reads
    # the field without changing it: the run's result is the same with or without previews.
    preview_every: int = 0
    # Best of N: train N fields (seeds seed, seed + 1, ...) side by side for best_of_warmup
    # iterations, keep the one the training CLIP scores best, and run it to the end.
    best_of: int = 1
    best_of_warmup: int = 30
    renderer: str = "torch"
    # Images per CLIP forward (0: a default per device); bigger batches are chunked with
    # activation checkpointing, so a small GPU degrades to chunks instead of running out of memory.
    clip_batch: int = 0
    compile: bool = False  # torch.compile the CLIP image towers (pays off on CUDA)
    profile: bool = False  # synchronise the GPU at phase edges so run.json's phase timings are exact
    field: FieldConfig = dataclass_field(default_factory=FieldConfig)
    views: ViewConfig = dataclass_field(default_factory=ViewConfig)
    loss: LossConfig = dataclass_field(default_factory=LossConfig)
    optim: OptimConfig = dataclass_field(default_factory=OptimConfig)
    output: OutputConfig = dataclass_field(default_factory=OutputConfig)
    pbr: PbrConfig = dataclass_field(default_factory=PbrConfig)

    def estimate_step_bytes(self) -> float:
        """A rough upper estimate of one iteration's memory: the rasterizer's per-pixel buffers
        and autograd state for every view (about 600 bytes a pixel), and CLIP's activations for
        every augmented view (about 60 MB each for a ViT-B/32 at 224 px, forward and backward)."""
        pixels = self.views.n_views * self.render_size**2
        encodes = self.views.n_views * (self.loss.n_augs + 2 * self.loss.n_local_augs)
        return (pixels * 600.0 + encodes * 60e6) * self.best_of

    def check(self) -> None:
        """Raise :class:`InputError` naming the first setting out of range (also absurd sizes and
        a step that would not fit in this machine's memory)."""
        positive = {
            "iters": self.iters,
            "render_size": self.render_size,
            "log_every": self.log_every,
            "nan_patience": self.nan_patience,
            "views.n_views": self.views.n_views,
            "optim.lr_step": self.optim.lr_step,
            "output.preview_views": self.output.preview_views,
            "output.preview_size": self.output.preview_size,
            "output.turntable_size": self.output.turntable_size,
            "output.score_size": self.output.score_size,
        }
        for key, value in positive.items():
            if value < 1:
                raise InputError(f"config key {key!r}: expected a positive value, got {value}")
        check_seed(self.seed)
        if not (math.isfinite(self.views.radius) and self.views.radius > 0):
            raise InputError(f"config key 'views.radius': expected a positive camera distance, got {self.views.radius}")
        if not 0 < self.views.fov < math.pi:
            raise InputError(f"config key 'views.fov': expected a field of view between 0 and pi radians, got {self.views.fov}")
        out = self.output
        check_limits({**positive, "loss.n_augs": self.loss.n_augs, "loss.n_local_augs": self.loss.n_local_augs,
                      "output.turntable_frames": out.turntable_frames, "best_of": self.best_of,
                      "best_of_warmup": self.best_of_warmup}, MESH_LIMITS)  # fmt: skip
        check_memory(self.estimate_step_bytes(), "one iteration", "render_size or views.n_views")
        if self.clip_batch < 0:
            raise InputError(f"config key 'clip_batch': expected 0 (auto) or a positive number of images, got {self.clip_batch}")
        if self.checkpoint_every < 0:
            raise InputError(f"config key 'checkpoint_every': expected 0 (never) or more, got {self.checkpoint_every}")
        if self.preview_every < 0:
            raise InputError(f"config key 'preview_every': expected 0 (never) or more, got {self.preview_every}")
        check_texture_size(self.output.bake_size, "config key 'output.bake_size'")
        check_uv_choice(self.output.uv, "config key 'output.uv'")
        parse_keep_maps(self.output.keep_maps, "config key 'output.keep_maps'")
        if self.output.normal_map and not self.field.geometry:
            raise InputError(
                "config key 'output.normal_map': a normal map carries the field's displacement, and "
                "field.geometry is false (no displacement): drop --normal-map or turn geometry on"
            )
        if self.optim.lr <= 0:
            raise InputError(f"config key 'optim.lr': expected a positive number, got {self.optim.lr}")
        if not 0.0 < self.loss.local_area <= 1.0:
            raise InputError(f"config key 'loss.local_area': expected a value in (0, 1], got {self.loss.local_area}")
        if self.loss.n_augs < 1 or self.loss.n_local_augs < 1:
            raise InputError("config keys 'loss.n_augs' and 'loss.n_local_augs' must be at least 1")
        if not self.clip:
            raise InputError("config key 'clip': expected at least one CLIP model spec")
        self.field.check()
        self.pbr.check()
        check_names(self, {"renderer": "stylize.mesh.renderer:MESH_RENDERERS", "material": "stylize.mesh.material:MATERIALS"})


# Overrides of the defaults (which are the paper's demo settings) by preset name.
# ``fast``: 2x the paper's learning rate decayed every 30 steps instead of 100, all Fourier
# frequencies from the start, 300 iterations. Measured with the test CLIPs
# (tools/bench/t2m_iters_to_threshold.py, sphere, "a blue circle", BENCHMARKS.md): it reached 90 % of
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


# Upper bounds of sizes and counts (inclusive): far beyond any real use, far below what would
# allocate gigabytes before the first step.
MESH_LIMITS: Mapping[str, tuple[float, float]] = {
    "iters": (1, 10_000_000), "render_size": (8, 4096), "views.n_views": (1, 256), "log_every": (1, 10**9),
    "nan_patience": (1, 10**9), "optim.lr_step": (1, 10**9), "output.preview_views": (1, 64),
    "output.preview_size": (8, 4096), "output.turntable_size": (8, 4096), "output.score_size": (8, 4096),
    "loss.n_augs": (1, 64), "loss.n_local_augs": (1, 64), "output.turntable_frames": (1, 720),
    "best_of": (1, 64), "best_of_warmup": (1, 10**6),
}  # fmt: skip


# The ``stylize mesh`` options (CLI flags and keyword arguments of :func:`stylize.stylize_mesh`)
# and the config keys they set: one table for both, so the API takes what the CLI takes.
MESH_OPTIONS: Mapping[str, str] = {
    "clip": "clip", "negatives": "negatives", "image_prompts": "image_prompts", "judge": "judge", "iters": "iters",
    "views": "views.n_views", "device": "device", "seed": "seed", "symmetry": "field.symmetry",
    "input_colours": "field.input_colours", "field": "field.mode", "bake": "output.bake", "bake_size": "output.bake_size",
    "normal_map": "output.normal_map", "best_of": "best_of", "source": "source", "material": "material",
    "uv": "output.uv", "keep_maps": "output.keep_maps",
}  # fmt: skip


def mesh_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Named options (None: not given) -> config overrides; an unknown name is one line."""
    unknown = set(options) - set(MESH_OPTIONS)
    if unknown:
        raise InputError(f"unknown option {sorted(unknown)[0]!r}: expected one of {', '.join(MESH_OPTIONS)} "
                         "(or any config key through overrides)")  # fmt: skip
    return {MESH_OPTIONS[name]: value for name, value in options.items() if value is not None}


def resolve_mesh_config(
    prompt: str = "",
    preset: str | None = "fast",
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Text2MeshConfig:
    """Resolve and check a :class:`Text2MeshConfig`: defaults (the paper's) <- preset <- TOML
    file <- overrides (dotted keys such as ``"field.sigma"``); ``prompt`` fills ``prompt`` unless
    the overrides set it."""
    from stylize.config import resolve_config

    merged = dict(overrides or {})
    if prompt:
        merged.setdefault("prompt", prompt)
    config = imply_source(resolve_config(Text2MeshConfig, TEXT2MESH_PRESETS, preset=preset, config_file=config_file,
                                         overrides=merged))  # fmt: skip
    config.check()
    return config


def imply_source(config: Text2MeshConfig) -> Text2MeshConfig:
    """A restyle (``source`` set) starts from what is there: ``field.input_colours`` on."""
    if config.source and not config.field.input_colours:
        config.field.input_colours = True
    return config
