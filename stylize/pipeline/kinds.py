"""Job kinds: what a batch needs to know about mesh, draw, paint, restyle and sketch jobs, one record per kind.

A :class:`JobKind` holds the keys a job of that kind takes, which of them are input files, the
artefacts a finished run folder must hold, how its config is resolved, and how it runs: by
calling down into the kind's run owner (:class:`~stylize.mesh.run.Text2Mesh`,
:class:`~stylize.vector.clipdraw.ClipDraw`, :class:`~stylize.painting.painter.Painter`,
:class:`~stylize.restyling.restyler.Restyler`, :class:`~stylize.sketching.sketcher.Sketcher`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylize.errors import InputError
from stylize.registry import Registry

__all__ = ["JOB_KINDS", "JobKind"]

# Job keys every kind takes (job key -> config key; None: handled by the batch itself).
_COMMON_KEYS: dict[str, str | None] = {
    "kind": None, "name": None, "input": None, "preset": None, "config": None, "set": None,
    "prompt": "prompts", "negative": "negatives", "iters": "iters", "clip": "clip", "seed": "seed",
    "device": "device",
}  # fmt: skip
# Keys whose value may be one string or a list of strings (always passed on as a list).
_LIST_KEYS = ("prompt", "negative", "clip", "judge", "image_prompt")


def _resolve_mesh(preset: str | None, config_file: str | None, overrides: dict) -> Any:
    from stylize.mesh.config import resolve_mesh_config

    config = resolve_mesh_config("", preset, config_file, overrides)
    if not config.prompt and not config.image_prompts:
        raise InputError("no prompt given: expected 'prompt' or 'image_prompt'")
    return config


def _resolve_draw(preset: str | None, config_file: str | None, overrides: dict) -> Any:
    from stylize.config import resolve_config
    from stylize.vector.config import DRAW_PRESETS, DrawConfig, check_draw_config

    config = resolve_config(DrawConfig, DRAW_PRESETS, preset, config_file, overrides)
    check_draw_config(config)
    return config


def _resolve_paint(preset: str | None, config_file: str | None, overrides: dict) -> Any:
    from stylize.config import resolve_config
    from stylize.painting.config import PAINT_PRESETS, PaintConfig, check_paint_config

    config = resolve_config(PaintConfig, PAINT_PRESETS, preset, config_file, overrides)
    check_paint_config(config)
    return config


def _resolve_restyle(preset: str | None, config_file: str | None, overrides: dict) -> Any:
    from stylize.config import resolve_config
    from stylize.restyling.config import RESTYLE_PRESETS, RestyleConfig, check_restyle_config

    config = resolve_config(RestyleConfig, RESTYLE_PRESETS, preset, config_file, overrides)
    check_restyle_config(config)
    return config


def _resolve_sketch(preset: str | None, config_file: str | None, overrides: dict) -> Any:
    from stylize.config import resolve_config
    from stylize.sketching.config import SKETCH_PRESETS, SketchConfig, check_sketch_config, parse_strokes

    if "strokes" in overrides:  # a job may say strokes = 16 or strokes = [4, 8, 16, 32]
        overrides = {**overrides, "strokes": parse_strokes(overrides["strokes"])}
    config = resolve_config(SketchConfig, SKETCH_PRESETS, preset, config_file, overrides)
    check_sketch_config(config)
    return config


def _with_device(config: dict, device: str | None) -> dict:
    """The worker's device replaces ``auto`` (a job that names a device keeps it)."""
    if device is not None and config.get("device", "auto") == "auto":
        return {**config, "device": device}
    return config


def _check_input(job: Any) -> None:
    if job.input is not None and not Path(job.input).is_file():
        raise InputError(f"input file {job.input} not found")


def _run_mesh(job: Any, folder: Path, model_cache: Any, device: str | None, on_step: Any = None) -> dict[str, Any]:
    from stylize.config import apply_overrides
    from stylize.mesh.config import Text2MeshConfig, imply_source
    from stylize.mesh.run import Text2Mesh

    config = imply_source(apply_overrides(Text2MeshConfig(), _with_device(job.config, device)))
    config.check()
    result = Text2Mesh(config, job.input, model_cache=model_cache).run(folder, on_step=on_step)
    if result.status != "finished":
        raise InputError(f"the run {result.status} after {result.iterations} iterations (non-finite losses)")
    return _generation_score(result.scores)


def _generation_score(scores: dict) -> dict[str, Any]:
    """The manifest's score of a run: the judge's mean if it had one, else the trainer's."""
    by = "judge" if "judge" in scores else "trainer"
    return {"scores": scores, "score": scores.get(by, {}).get("mean"), "score_by": by}


def _run_draw(job: Any, folder: Path, model_cache: Any, device: str | None, on_step: Any = None) -> dict[str, Any]:
    from stylize.config import apply_overrides
    from stylize.vector.clipdraw import ClipDraw
    from stylize.vector.config import DrawConfig

    _check_input(job)
    result = ClipDraw(apply_overrides(DrawConfig(), _with_device(job.config, device)), model_cache).run(folder, on_step=on_step)
    return _generation_score(result.scores)


def _run_paint(job: Any, folder: Path, model_cache: Any, device: str | None, on_step: Any = None) -> dict[str, Any]:
    from stylize.config import apply_overrides
    from stylize.painting.config import PaintConfig
    from stylize.painting.painter import Painter

    _check_input(job)
    result = Painter(apply_overrides(PaintConfig(), _with_device(job.config, device)), model_cache).run(folder, on_step=on_step)
    return _generation_score(result.scores)


def _run_restyle(job: Any, folder: Path, model_cache: Any, device: str | None, on_step: Any = None) -> dict[str, Any]:
    from stylize.config import apply_overrides
    from stylize.restyling.config import RestyleConfig
    from stylize.restyling.restyler import Restyler

    _check_input(job)
    result = Restyler(apply_overrides(RestyleConfig(), _with_device(job.config, device)), model_cache).run(
        folder, on_step=on_step
    )
    return _generation_score(result.scores)


def _run_sketch(job: Any, folder: Path, model_cache: Any, device: str | None, on_step: Any = None) -> dict[str, Any]:
    from stylize.config import apply_overrides
    from stylize.sketching.config import SketchConfig
    from stylize.sketching.sketcher import Sketcher

    _check_input(job)
    config = apply_overrides(SketchConfig(), _with_device(job.config, device))
    return _generation_score(Sketcher(config, model_cache).run(folder, on_step=on_step).scores)


@dataclass(frozen=True)
class JobKind:
    """What the batch needs to know about one kind of job.

    Attributes:
        name: ``mesh``, ``draw``, ``paint``, ``restyle`` or ``sketch``.
        options: job keys beyond the common ones -> config keys (the CLI option names).
        input_key: config key the job's ``input`` goes to; None keeps it apart (the mesh file).
        file_keys: config keys that hold input files (hashed by content, resolved relative to
            the jobs file).
        default_preset: preset used when the job names none (as the CLI command).
        artefacts: files a finished run folder must hold (checked by ``--resume``, compared
            between executors).
        resolve: ``(preset, config_file, overrides) -> config`` dataclass; raises InputError.
        run: ``(job, staging folder, model cache, worker device, on_step=None) -> {"scores",
            "score"}``: runs the job into the folder through the kind's run owner (``on_step(step,
            total, metrics)`` after each step); raises on failure.
        prompt_key: config key of the prompt(s); ``prompt`` (one string) or ``prompts`` (list).
    """

    name: str
    options: Mapping[str, str]
    input_key: str | None
    file_keys: tuple[str, ...]
    default_preset: str | None
    artefacts: tuple[str, ...]
    resolve: Callable[[str | None, str | None, dict], Any]
    run: Callable[..., dict[str, Any]]
    prompt_key: str = "prompts"

    @property
    def keys(self) -> set[str]:
        return set(_COMMON_KEYS) | set(self.options)


JOB_KINDS: Registry[JobKind] = Registry("job kind", {
    "mesh": JobKind(
        "mesh",
        {"views": "views.n_views", "image_prompt": "image_prompts", "judge": "judge", "bake": "output.bake",
         "bake_size": "output.bake_size", "symmetry": "field.symmetry", "input_colours": "field.input_colours",
         "field": "field.mode", "normal_map": "output.normal_map", "best_of": "best_of", "source": "source",
         "material": "material"},
        None, ("image_prompts",), "fast",
        ("mesh.glb", "mesh.ply", "mesh.obj", "field.pt", "preview.png"), _resolve_mesh, _run_mesh, prompt_key="prompt",
    ),
    "draw": JobKind(
        "draw",
        {k: k for k in ("init", "style", "size", "paths", "shapes", "palette", "background", "best_of",
                        "final_scale", "judge")},
        "init", ("init", "style", "palette"), None, ("drawing.svg", "drawing.png", "preview.png"), _resolve_draw,
        _run_draw,
    ),
    "paint": JobKind(
        "paint", {k: k for k in ("init", "size", "param", "judge")}, "init", ("init",), None,
        ("image.png", "preview.png"), _resolve_paint, _run_paint,
    ),
    "restyle": JobKind(
        "restyle", {k: k for k in ("source", "size", "judge")}, "image", ("image",), None,
        ("image.png", "preview.png", "net.pt"), _resolve_restyle, _run_restyle, prompt_key="prompt",
    ),
    "sketch": JobKind(
        "sketch", {k: k for k in ("mask", "strokes", "size", "best_of", "judge")}, "image", ("image", "mask"), None,
        ("sketch.svg", "sketch.png", "preview.png"), _resolve_sketch, _run_sketch,
    ),
})  # fmt: skip
