"""The public Python API: a thin facade over the run owners. Each function is what the CLI
command of the same name calls; the work is done by :class:`stylize.mesh.run.Text2Mesh`,
:class:`stylize.vector.clipdraw.ClipDraw`, :class:`stylize.painting.painter.Painter`,
:class:`stylize.restyling.restyler.Restyler`, :class:`stylize.sketching.sketcher.Sketcher` and
:mod:`stylize.pipeline`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stylize.engine import DEFAULT_CLIP, ClipEngine, EngineOutput, PromptSet, load_image
from stylize.errors import InputError
from stylize.runs import default_out_marker, resolve_out

# The default run folders: ``out="runs/KIND"`` (each function's default) means a new
# ``runs/KIND-YYYYmmdd-HHMMSS`` for every run (or, when resuming a mesh, the folder resumed from),
# so runs never land in each other's folders; ``out=None`` writes nothing. The CLI commands share
# this choice (:func:`stylize.runs.default_out`).
DEFAULT_MESH_OUT = default_out_marker("mesh")
DEFAULT_DRAW_OUT = default_out_marker("draw")
DEFAULT_PAINT_OUT = default_out_marker("paint")
DEFAULT_RESTYLE_OUT = default_out_marker("restyle")
DEFAULT_SKETCH_OUT = default_out_marker("sketch")


@dataclass
class ScoreResult:
    """What :func:`score` returns: 100 x cosine, in the shape every generator's result uses.

    Attributes:
        loss: the engine's loss (positive prompts, minus weighted negatives; lower is better).
        scores: ``{"judge": {prompt: score, ..., "mean": score}}``: each positive prompt's score
            averaged over the models, and the mean over the prompts.
        models: ``{model name: {prompt: score}}`` per model, negatives included.
        output: the raw :class:`~stylize.engine.EngineOutput` (cosines, tensors).
    """

    loss: float
    scores: dict[str, dict[str, float]]
    models: dict[str, dict[str, float]]
    output: EngineOutput


def score(
    image: str | Path | torch.Tensor,
    prompt: str | Sequence[str],
    clip: Sequence[str] | str = (DEFAULT_CLIP,),
    negatives: Sequence[str] = (),
    device: str = "auto",
) -> ScoreResult:
    """Score an image against prompts with one or more CLIP models.

    Args:
        image: a path (a PNG/JPEG/... picture, or an SVG such as ``stylize draw`` writes, drawn
            on white with its longest side at 512 px), or a tensor (3, H, W) / (B, 3, H, W) in [0, 1].
        prompt: one or more positive prompts.
        clip: model specs (``ViT-B-32:openai``, ``local-dir:/path``, ...).
        negatives: negative prompts.
        device: ``auto``, ``cpu`` or ``cuda``.

    Returns:
        :class:`ScoreResult`: the loss, ``scores`` (100 x cosine, ``{"judge": {prompt: score,
        "mean": score}}`` as the generators report them), per-model scores and the raw output.
    """
    from stylize.generation import as_score

    if isinstance(image, (str, Path)) and str(image).lower().endswith((".svg", ".svgz")):
        pixels = svg_pixels(image).unsqueeze(0)
    elif isinstance(image, (str, Path)):
        pixels = load_image(image).unsqueeze(0)
    elif isinstance(image, torch.Tensor):
        pixels = image.unsqueeze(0) if image.ndim == 3 else image
    else:
        raise InputError(f"expected an image path or tensor, got {type(image).__name__}")
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    engine = ClipEngine(clip, PromptSet.build(prompts, list(negatives)), device=device)
    with torch.no_grad():
        output = engine(pixels.to(engine.device))
    judged = {text: as_score(output.mean_similarity(text)) for text in prompts}
    judged["mean"] = sum(judged.values()) / len(prompts)
    models = {model: {text: as_score(value) for text, value in sims.items()} for model, sims in output.similarities.items()}
    return ScoreResult(loss=float(output.loss), scores={"judge": judged}, models=models, output=output)


def svg_pixels(path: str | Path, longest: int = 512) -> torch.Tensor:
    """Rasterize an SVG file on white, its longest side ``longest`` pixels: (3, H, W) in [0, 1]."""
    from stylize.vector.raster import render
    from stylize.vector.svg import read_svg

    document = read_svg(path)
    factor = longest / max(document.width, document.height, 1e-6)
    width, height = max(1, round(document.width * factor)), max(1, round(document.height * factor))
    with torch.no_grad():
        return render(document.scene.scaled(factor), width, height).permute(2, 0, 1).clamp(0, 1)


def mesh_config(
    prompt: str = "",
    preset: str | None = "fast",
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
):
    """Resolve a :class:`~stylize.mesh.config.Text2MeshConfig`: defaults (the paper's) <-
    preset <- TOML file <- overrides (dotted keys such as ``"field.sigma"``)."""
    from stylize.mesh.config import resolve_mesh_config

    return resolve_mesh_config(prompt, preset, config_file, overrides)


def stylize_mesh(
    mesh: str | Path | None = None,
    prompt: str = "",
    out: str | Path | None = DEFAULT_MESH_OUT,
    preset: str | None = "fast",
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    on_step: Callable[[int, int, dict], None] | None = None,
    model_cache: Any = None,
    *,
    mask: Any = None,
    resume: str | Path | None = None,
    on_preview: Callable[[int, Path], None] | None = None,
    overwrite: bool = False,
    on_phase: Callable[[str], None] | None = None,
    **options: Any,
):
    """Stylize a mesh with Text2Mesh and write the run folder.

    Args:
        mesh: input mesh file (OBJ, PLY, GLB, OFF, STL); never modified. May be None when
            resuming (the checkpoint names it).
        prompt: the text prompt (may also come from the config).
        out: run folder (default: a new ``runs/mesh-TIMESTAMP``); None writes nothing and only
            returns the result. When resuming, the run folder resumed from unless another one is
            given. A folder holding another run is refused unless ``overwrite``.
        preset: ``fast`` (default), ``paper`` or ``smoke``.
        config_file: a TOML file of settings.
        overrides: settings by dotted key (``{"iters": 200, "clip": ["local-dir:..."]}``).
        on_step: called as ``on_step(step, total, metrics)`` after every iteration (``step`` from
            1; ``metrics`` has ``loss``, ``score``, ``lr``, ...).
        model_cache: a :class:`~stylize.engine.ModelCache` to share loaded CLIPs.
        mask: limit the change to a region: a ``.npy`` / text file or an array of per-vertex
            weights in ``[0, 1]`` (or of vertex indices, weight 1) in the input file's vertex
            order; weight-0 vertices keep their colour (the input's, else grey) and position
            exactly. See :func:`stylize.mesh.controls.load_mask`.
        resume: a run folder (or its ``checkpoint.pt``) to continue; the run's own config is
            used, with ``overrides`` allowed only for ``iters``, ``device``, logging and outputs.
            ``preset`` and ``config_file`` are ignored.
        on_preview: with ``preview_every`` set, called as ``on_preview(step, path)`` after each
            snapshot ``out/preview/step_NNNNNN.npz`` is written (see
            :class:`~stylize.mesh.outputs.PreviewSnapshots`).
        overwrite: replace an earlier run's outputs in ``out``.
        on_phase: called as ``on_phase(name)`` when writing the outputs after the last step
            enters a phase (:data:`stylize.mesh.outputs.OUTPUT_PHASES`: ``scoring``, ``writing``,
            ``baking``, ``rendering``), so a caller can say what the run is doing between the
            last step and its result.
        **options: the command line's options by name: ``clip=[...]``, ``negatives``,
            ``image_prompts``, ``judge``, ``iters``, ``views``, ``device``, ``seed``, ``symmetry``,
            ``input_colours``, ``field`` (``"vertex"`` or ``"surface"``), ``bake``, ``bake_size``,
            ``normal_map``, ``best_of`` (see :data:`stylize.mesh.config.MESH_OPTIONS`); they apply
            before ``overrides``.

    Returns:
        :class:`~stylize.mesh.outputs.Text2MeshResult` with the mesh in the input's frame, the
        field, the scores and the status (``finished`` or ``diverged``).

    Raises:
        Interrupted: Ctrl-C stopped the run after writing the checkpoint and the outputs reached;
            the exception's ``result`` has status ``interrupted``.
    """
    from stylize.mesh.config import mesh_options
    from stylize.mesh.run import Text2Mesh

    overrides = {**mesh_options(options), **dict(overrides or {})}
    if resume is not None:
        job = Text2Mesh.resume(resume, mesh=mesh, prompt=prompt, overrides=overrides, mask=mask, model_cache=model_cache)
        if out is not None and str(out) == DEFAULT_MESH_OUT:
            out = job.resume_folder  # the run folder resumed from
    else:
        config = mesh_config(prompt, preset, config_file, overrides)
        if mesh is None:
            raise InputError("no input mesh given")
        job = Text2Mesh(config, mesh, mask=mask, model_cache=model_cache)
        out = resolve_out(out, "mesh")
    return job.run(out, on_step=on_step, overwrite=overwrite, on_preview=on_preview, on_phase=on_phase)


def apply_field(
    field_or_run: str | Path,
    mesh: str | Path,
    out: str | Path | None = None,
    *,
    mask: Any = None,
    bake: bool | None = None,
    bake_size: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
):
    """Reuse a trained field on another mesh of the same object (e.g. a denser remesh).

    Args:
        field_or_run: a run folder or its ``field.pt``.
        mesh: the mesh to stylize, in the training mesh's file frame; never modified.
        out: folder to write the same outputs as ``stylize mesh``; None writes nothing.
        mask: region weights / indices for ``mesh`` (see :func:`stylize_mesh`).
        bake: also write ``mesh_textured.glb``; bake_size: its texture size (power of two).
        device: ``auto``, ``cpu`` or ``cuda``.

    Returns:
        :class:`~stylize.mesh.outputs.Text2MeshResult` (status ``applied``).
    """
    from stylize.mesh.apply import apply_field as _apply

    overrides = {"output.bake": bake, "output.bake_size": bake_size}
    return _apply(field_or_run, mesh, out, mask=mask, device=device, overwrite=overwrite,
                  overrides={k: v for k, v in overrides.items() if v is not None})  # fmt: skip


def bake(
    mesh: str | Path,
    out: str | Path | None = None,
    size: int = 1024,
    unwrap: bool = False,
    normal_map: bool = False,
    device: str = "auto",
    uv: str | None = None,
    keep_maps: str | None = None,
):
    """Bake into a UV texture GLB: a coloured mesh's vertex colours (``NAME_textured.glb`` beside
    it), or a run folder's field (``RUN/mesh_textured.glb``; exact per texel for a surface-mode
    field; ``normal_map`` keeps the input geometry and bakes the relief into a normal map).

    A glTF scene keeps its structure (nodes, meshes, materials, rig); ``uv`` (``auto``, ``reuse``,
    ``new``) says where its new maps are laid out and ``keep_maps`` which old maps survive around
    the new base colour (None: a run's own ``output.uv`` / ``output.keep_maps``, else ``auto``).
    Keeps the mesh's own UVs unless ``unwrap``; writes a ``.json`` sidecar beside the GLB and a
    picture of the baked GLB as a viewer shows it (``NAME_preview.png`` beside it: four views with
    the texture sampled through the UVs). A surface- or texture-mode run's ``mesh.glb/ply/obj``
    bakes that run's field per texel (its vertex colours are only a sample of it), as does a
    normal-map run's. Re-baking a run's own ``mesh_textured.glb`` rewrites its ``textures/``,
    ``vertex_data.npz`` face UVs and ``run.json`` bake figures to match. Never writes
    over an input, a file another writer made or a run's own outputs (one-line
    :class:`InputError`); a run folder's lock is held while writing into it.

    Returns:
        :class:`~stylize.mesh.bake.BakeReport` (paths, size, charts, per-step seconds, ``preview``).
    """
    from stylize.mesh.bake_target import field_run_of

    run = field_run_of(mesh)
    if run is not None:  # its vertex colours are a sample of the field: bake the field itself
        mesh, out = run, Path(out) if out is not None else Path(mesh).with_name(f"{Path(mesh).stem}_textured.glb")
    if Path(mesh).is_dir():
        from stylize.mesh.apply import bake_run

        return bake_run(mesh, out, size=size, unwrap=unwrap, normal_map=normal_map, device=device, uv=uv,
                        keep_maps=keep_maps)  # fmt: skip
    if normal_map:
        raise InputError("--normal-map bakes a run's field: give a run folder, not a mesh file")
    from stylize.mesh.bake_scene import bake_file

    return bake_file(mesh, out, size=size, reunwrap=unwrap, uv=uv or "auto", keep_maps=keep_maps or "auto")


def evaluate_mesh(
    mesh_or_run: str | Path,
    prompt: str,
    judge: Sequence[str] | str = (DEFAULT_CLIP,),
    captions: Sequence[str] = (),
    size: int = 224,
    device: str = "auto",
) -> dict:
    """Judge a mesh or a run folder: ``mes`` = 100 x mean cosine over the 24 evaluation views.

    Args:
        mesh_or_run: a mesh file or a run folder holding ``mesh.glb``.
        prompt: the prompt to score.
        judge: judge CLIP spec(s), ideally not the one trained with.
        captions: candidate captions to rank (the prompt is added if missing).
        size: render size in pixels.
        device: ``auto``, ``cpu`` or ``cuda``.

    Returns:
        ``{"mes", "prompt", "views", "judge", "scores"}`` (``scores``: ``{"judge": {prompt: mes,
        "mean": mes}}``, the generators' shape) and, with captions, ``captions`` (score x 100
        each), ``ranking`` (best first) and ``rank`` (of the prompt, 1 = best).
    """
    from stylize.mesh.evaluate import mesh_path_of, score_mesh
    from stylize.mesh.io import load_mesh

    if not 8 <= size <= 4096:
        raise InputError(f"eval --size: expected a render size from 8 to 4096 pixels, got {size}")
    mesh = load_mesh(mesh_path_of(mesh_or_run), normalize=True)
    engine = ClipEngine(judge, PromptSet.build(prompt), device=device)
    result = score_mesh(mesh, prompt, engine, captions, size)
    result["judge"] = engine.model_names
    result["scores"] = {"judge": {prompt: result["mes"], "mean": result["mes"]}}
    return result


def _overrides(prompt: str | Sequence[str], options: dict, overrides: dict | None) -> dict:
    """Keyword options (None = not given) then explicit ``--set`` style overrides."""
    prompts = [prompt] if isinstance(prompt, str) else list(prompt or [])
    merged = {"prompts": [p for p in prompts if p]} if any(prompts) else {}  # else the config file's
    merged.update({key: value for key, value in options.items() if value is not None})
    merged.update(overrides or {})
    return merged


def draw(
    prompt: str | Sequence[str],
    out: str | Path | None = DEFAULT_DRAW_OUT,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
    on_step: Callable[[int, int, dict], None] | None = None,
    model_cache: Any = None,
    overwrite: bool = False,
    **options,
):
    """Draw a vector illustration of ``prompt`` with CLIPDraw / StyleCLIPDraw.

    Args:
        prompt: one or more text prompts.
        out: run folder to write (``drawing.svg``, ``drawing.png``, ...); by default a new
            ``runs/draw-TIMESTAMP`` (as ``stylize draw``); None writes nothing.
        preset: ``clipdraw`` (reference), ``styleclipdraw``, ``smoke``, ``test``.
        config_file: a TOML file of config keys.
        overrides: dotted config keys and values applied last (``--set``).
        on_step: called as ``on_step(step, total, metrics)`` after every step (1-based, counted
            over all ``best_of`` candidates) with the step's metrics (``loss``, ``sim/PROMPT``, ...).
        model_cache: a :class:`~stylize.engine.ModelCache` to share loaded CLIPs.
        overwrite: replace an earlier run's outputs in ``out`` (else such a folder is refused).
        **options: any :class:`~stylize.vector.config.DrawConfig` field, e.g. ``paths=64``,
            ``style="style.png"``, ``palette="#aa3300,#ffffff"``, ``clip=[...]``, ``seed=1``.

    Returns:
        :class:`~stylize.vector.clipdraw.DrawResult` (scene, image, scores, candidates).

    Raises:
        InputError: unknown keys, bad values or unusable input files.
    """
    from stylize.config import resolve_config
    from stylize.vector.clipdraw import ClipDraw
    from stylize.vector.config import DRAW_PRESETS, DrawConfig

    config = resolve_config(DrawConfig, DRAW_PRESETS, preset, config_file, _overrides(prompt, options, overrides))
    return ClipDraw(config, model_cache).run(resolve_out(out, "draw"), on_step=on_step, overwrite=overwrite)


def paint(
    prompt: str | Sequence[str],
    out: str | Path | None = DEFAULT_PAINT_OUT,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
    on_step: Callable[[int, int, dict], None] | None = None,
    model_cache: Any = None,
    overwrite: bool = False,
    **options,
):
    """Paint a raster image of ``prompt`` (``param="pixel"`` or ``"fft"``, optional ``init`` image).

    Args, Raises: as :func:`draw` (the default ``out`` is a new ``runs/paint-TIMESTAMP``, None
    writes nothing); options are :class:`~stylize.painting.config.PaintConfig` fields.

    Returns:
        :class:`~stylize.painting.painter.PaintResult` (image (3, H, W), scores before and after).
    """
    from stylize.config import resolve_config
    from stylize.painting.config import PAINT_PRESETS, PaintConfig
    from stylize.painting.painter import Painter

    config = resolve_config(PaintConfig, PAINT_PRESETS, preset, config_file, _overrides(prompt, options, overrides))
    return Painter(config, model_cache).run(resolve_out(out, "paint"), on_step=on_step, overwrite=overwrite)


def restyle(
    image: str | Path,
    prompt: str,
    out: str | Path | None = DEFAULT_RESTYLE_OUT,
    *,
    source: str | None = None,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
    on_step: Callable[[int, int, dict], None] | None = None,
    model_cache: Any = None,
    overwrite: bool = False,
    **options,
):
    """Restyle an existing picture with CLIPstyler: train a StyleNet that maps it towards ``prompt``.

    Args:
        image: the content image file; never modified.
        prompt: the target style text ("a watercolour painting").
        out: run folder (``image.png``, ``preview.png``, ``progress.gif``, ``net.pt``,
            ``config.toml``, ``run.json``, ``metrics.jsonl``); by default a new
            ``runs/restyle-TIMESTAMP`` (as ``stylize restyle``); None writes nothing.
        source: the text describing the picture as it is (default ``"a Photo"``, the paper's).
        preset: ``clipstyler`` (the paper's settings, also the defaults) or ``smoke``.
        config_file, overrides, on_step, model_cache, overwrite: as :func:`draw`.
        **options: any :class:`~stylize.restyling.config.RestyleConfig` field, e.g. ``size=768``,
            ``content_features="clip"`` (no VGG download), ``clip=[...]``.

    Returns:
        :class:`~stylize.restyling.restyler.RestyleResult` (image, content, net, scores, files).

    Raises:
        InputError: unknown keys, bad values, a missing, unreadable or oversize image.
        Interrupted: Ctrl-C stopped the run after what existed was written.
    """
    from stylize.config import resolve_config
    from stylize.restyling.config import RESTYLE_PRESETS, RestyleConfig
    from stylize.restyling.restyler import Restyler

    given = {"image": str(image), "prompt": prompt, "source": source, **options}
    merged = {key: value for key, value in given.items() if value is not None}
    merged.update(overrides or {})
    config = resolve_config(RestyleConfig, RESTYLE_PRESETS, preset, config_file, merged)
    return Restyler(config, model_cache).run(resolve_out(out, "restyle"), on_step=on_step, overwrite=overwrite)


def sketch(
    image: str | Path,
    out: str | Path | None = DEFAULT_SKETCH_OUT,
    *,
    strokes: int | str | Sequence[int] | None = None,
    prompt: str | Sequence[str] | None = None,
    mask: str | Path | None = None,
    best_of: int | None = None,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
    on_step: Callable[[int, int, dict], None] | None = None,
    model_cache: Any = None,
    overwrite: bool = False,
    **options,
):
    """Turn a photo (or a render) into a vector sketch of a few black strokes with CLIPasso.

    Args:
        image: the picture (centre-cropped to a square of ``size`` pixels); never modified.
        out: run folder (``sketch.svg``, ``sketch.png``, with several stroke levels
            ``levels/sketch-N.svg`` / ``.png`` and ``ladder.png``; ``preview.png``,
            ``progress.gif``, ``config.toml``, ``run.json``, ``metrics.jsonl``); by default a new
            ``runs/sketch-TIMESTAMP`` (as ``stylize sketch``); None writes nothing.
        strokes: strokes per sketch (16 by default), or several levels (``[4, 8, 16, 32]`` or
            ``"4,8,16,32"``): one sketch per level, all optimised in one batch.
        prompt: text(s) that steer the style ("a sketch of a cat, in ink"): a third loss term.
        mask: a picture whose dark pixels are background (made white; no stroke starts there).
        best_of: seeds per level, optimised side by side; the lowest loss is kept (3 in CLIPasso).
        preset: ``clipasso`` (the reference settings, also the defaults), ``fast``, ``smoke``, ``test``.
        config_file, overrides, on_step, model_cache, overwrite: as :func:`draw`.
        **options: any :class:`~stylize.sketching.config.SketchConfig` field, e.g.
            ``optimise_width=True``, ``clip=["ViT-B-32:openai"]``, ``iters=500``.

    Returns:
        :class:`~stylize.sketching.sketcher.SketchResult` (the sketch, one per level, renders,
        scores: 100 x cosine with the prompt, or with the photo without one).

    Raises:
        InputError: unknown keys, bad values, a missing or unreadable image or mask.
        Interrupted: Ctrl-C stopped the run after what existed was written.
    """
    from stylize.config import resolve_config
    from stylize.sketching.config import SKETCH_PRESETS, SketchConfig, parse_strokes
    from stylize.sketching.sketcher import Sketcher

    prompts = [prompt] if isinstance(prompt, str) else list(prompt or [])
    given = {"image": str(image), "mask": None if mask is None else str(mask), "best_of": best_of,
             "strokes": None if strokes is None else parse_strokes(strokes), **options}  # fmt: skip
    if prompts:
        given["prompts"] = prompts
    merged = {key: value for key, value in given.items() if value is not None}
    merged.update(overrides or {})
    if isinstance(merged.get("strokes"), (str, int)):
        merged["strokes"] = parse_strokes(merged["strokes"])
    config = resolve_config(SketchConfig, SKETCH_PRESETS, preset, config_file, merged)
    return Sketcher(config, model_cache).run(resolve_out(out, "sketch"), on_step=on_step, overwrite=overwrite)


def apply_restyle(net: str | Path, image: str | Path, out: str | Path | None = None, *, device: str = "auto",
                  overwrite: bool = False):  # fmt: skip
    """Stylize another picture with a trained StyleNet, in one forward pass at full resolution.

    Args:
        net: a restyle run's ``net.pt`` or the run folder.
        image: the picture (up to :data:`~stylize.restyling.config.MAX_APPLY_PIXELS`); never modified.
        out: folder for ``image.png``, ``preview.png`` and ``run.json``; None writes nothing.
        device: ``auto``, ``cpu`` or ``cuda``.

    Returns:
        :class:`~stylize.restyling.apply.ApplyResult` (image, seconds, the net's metadata).
    """
    from stylize.restyling.apply import apply_stylenet

    return apply_stylenet(net, image, out, device=device, overwrite=overwrite)


def batch(
    jobs: str | Path | Mapping[str, Any] | Sequence[Any],
    out: str | Path | None = None,
    *,
    executor: str = "local",
    workers: int | None = None,
    resume: bool = False,
    threads: int = 1,
    on_job: Callable[[dict], None] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
):
    """Run a jobs file (mesh stylizations, drawings, paints, restyles and sketches) and write one folder per job.

    Args:
        jobs: a TOML jobs file (``[defaults]`` + ``[[jobs]]``, see the README), its parsed data,
            or jobs from :func:`stylize.pipeline.load_jobs`.
        out: output folder (default ``runs/<jobs file stem>``): ``ID/`` per job (keyed by the
            job's content hash), ``manifest.jsonl`` and ``contact_sheet.png``.
        executor: ``local`` (in-process, or a process per worker / GPU) or ``ray``.
        workers: parallel workers (default: one per GPU, else one; ray: the cluster's room).
        resume: skip jobs already done whose outputs exist.
        threads: torch threads per job (fixed, so results do not depend on the executor).
        on_job: called with each job's manifest entry as it ends.
        on_progress: ``on_progress(job_id, step, total)`` while a job runs (local executor).

    Returns:
        :class:`~stylize.pipeline.batch.BatchResult` (entries, manifest and contact sheet paths;
        ``failed`` tells whether any job failed).

    Raises:
        InputError: a malformed jobs file (the message names the job and key) or bad settings.
    """
    from stylize.pipeline.batch import run_batch

    return run_batch(
        jobs, out, executor=executor, workers=workers, resume=resume, threads=threads, on_job=on_job, on_progress=on_progress
    )
