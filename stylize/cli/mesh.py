"""``stylize mesh``, ``stylize eval``, ``stylize apply`` and ``stylize bake``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from stylize.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandContext,
    add_clip_option,
    add_device_option,
    add_overwrite_option,
    add_progress_option,
    emit,
    finish,
    phase_callback,
    run_summary,
    step_callback,
)

# --- mesh ------------------------------------------------------------------------------------


def mesh_args(parser: argparse.ArgumentParser) -> None:
    from stylize.mesh.config import TEXT2MESH_PRESETS, Text2MeshConfig

    parser.add_argument("input", nargs="?", help="mesh file (OBJ, PLY, GLB, OFF, STL); never modified")
    parser.add_argument("prompt", nargs="?", default="", help="text prompt, e.g. 'a wooden chair'")
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="run folder (default: a new runs/mesh-TIMESTAMP, or the --resume folder)"
    )
    add_overwrite_option(parser)
    # Checked when the config is resolved (one-line error), so a config file's preset is checked the same way.
    parser.add_argument(
        "--preset", default=None, metavar="NAME", help=f"named settings: {', '.join(TEXT2MESH_PRESETS)} (default: fast)"
    )
    add_clip_option(parser)
    parser.add_argument("--negative", action="append", default=None, metavar="TEXT", help="negative prompt (repeatable)")
    parser.add_argument("--image-prompt", action="append", default=None, metavar="IMAGE", help="image prompt (repeatable)")
    defaults = Text2MeshConfig()
    by_preset = {name: {**{"iters": defaults.iters, "views.n_views": defaults.views.n_views, "device": defaults.device},
                        **{key: value for key, value in preset.items() if value is not None}}
                 for name, preset in TEXT2MESH_PRESETS.items()}  # fmt: skip

    def preset_values(key: str) -> str:
        return ", ".join(f"{name} {values[key]}" for name, values in by_preset.items())

    parser.add_argument(
        "--iters", type=int, default=None, metavar="N", help=f"iterations (default: the preset's: {preset_values('iters')})"
    )
    parser.add_argument(
        "--views",
        type=int,
        default=None,
        metavar="N",
        help=f"views per iteration (default: the preset's: {preset_values('views.n_views')})",
    )
    add_device_option(parser, default=None, shown=f"the preset's: {preset_values('device')}")
    parser.add_argument("--seed", type=int, default=None, metavar="S", help=f"random seed (default: {defaults.seed})")
    parser.add_argument(
        "--best-of",
        type=int,
        default=None,
        metavar="N",
        help="train N fields side by side for a short warm-up (best_of_warmup), keep the one "
        "the training CLIP scores best, run it to the end (a mesh run is too long to finish N; "
        "stylize draw --best-of finishes N drawings and keeps the one the judge scores best)",
    )
    parser.add_argument("--config", default=None, metavar="FILE.toml", help="settings file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting (repeatable)")
    add_progress_option(parser, previews=True)
    parser.add_argument(
        "--mask",
        metavar="FILE",
        help="stylize only a region: .npy or text file of per-vertex weights "
        "in [0, 1] (or vertex indices) in the input's vertex order; weight-0 vertices stay as they are",
    )
    parser.add_argument("--symmetry", choices=["x", "y", "z"], help="mirror-symmetric field about that axis plane of the input")
    parser.add_argument(
        "--source",
        default=None,
        metavar="TEXT",
        help="restyle: a text for the input as it is (e.g. 'a red vase'); starts from its colours or "
        "texture and moves the renders from TEXT towards PROMPT (directional CLIP loss), keeping the "
        "rest close to the input (loss.content_weight)",
    )
    parser.add_argument(
        "--input-colours",
        action="store_true",
        default=None,
        help="start from the input's vertex colours or texture instead of grey",
    )
    parser.add_argument(
        "--field",
        dest="field_mode",
        default=None,
        metavar="KIND",
        help="where the field is evaluated: vertex (at the vertices, Text2Mesh, the default); texture "
        "(at every pixel and texel through a tri-plane encoding: detail finer than the mesh, an exact "
        "texture bake, about a vertex step's cost); surface (the same with the Fourier MLP, slower)",
    )
    parser.add_argument(
        "--material",
        default=None,
        metavar="NAME",
        help="what the field predicts and renders are shaded with: diffuse (Text2Mesh's lit base colour, the "
        "default); pbr (glTF metallic-roughness: base colour, roughness, metallic and normal maps, learned under "
        "random light and always baked into mesh_textured.glb)",
    )
    parser.add_argument(
        "--normal-map",
        action="store_true",
        default=None,
        help="mesh_textured.glb keeps the input's geometry and carries the relief as a normal map",
    )
    parser.add_argument("--bake", action="store_true", default=None, help="also write mesh_textured.glb (UV texture)")
    parser.add_argument("--bake-size", type=int, default=None, metavar="PX", help="baked texture size (default: 1024)")
    add_layout_options(parser)
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint.pt")


def add_layout_options(parser: argparse.ArgumentParser, default: str = "the default") -> None:
    """``--uv`` and ``--keep-maps``: a glTF scene bake's layout and kept maps (``output.uv``,
    ``output.keep_maps``); ``default`` names where an unset one comes from."""
    parser.add_argument(
        "--uv",
        choices=["auto", "reuse", "new"],
        default=None,
        help=f"where a glTF scene's baked maps are laid out: auto ({default}) reuses a material's own UVs when "
        "they are clean and writes a new set TEXCOORD_n for overlapping, mirrored or multi-tile UVs; reuse always "
        "bakes into TEXCOORD_0; new always writes a new set (output.uv)",
    )
    parser.add_argument(
        "--keep-maps",
        default=None,
        metavar="POLICY",
        help="which of a glTF material's emissive, occlusion, metallic_roughness and normal maps survive around "
        f"the new base colour: auto ({default}: occlusion and normal, metallic_roughness unless it follows the "
        "old picture, never emissive), all, none, or names separated by commas (output.keep_maps)",
    )


def mesh_overrides(args: argparse.Namespace) -> dict:
    from stylize.config import parse_set_items
    from stylize.mesh.config import check_texture_size, mesh_options

    if args.bake_size is not None:  # named as the user typed it, not as the config key it sets
        check_texture_size(args.bake_size, "--bake-size")
    overrides = mesh_options({
        "iters": args.iters, "views": args.views, "device": args.device, "seed": args.seed, "clip": args.clip,
        "negatives": args.negative, "image_prompts": args.image_prompt, "symmetry": args.symmetry,
        "input_colours": args.input_colours, "bake": args.bake, "bake_size": args.bake_size, "field": args.field_mode,
        "normal_map": args.normal_map, "best_of": args.best_of, "source": args.source, "material": args.material,
        "uv": args.uv, "keep_maps": args.keep_maps,
    })  # fmt: skip
    overrides.update(parse_set_items(args.set))
    return overrides


def mesh_run(args: argparse.Namespace, context: CommandContext | None = None) -> int:
    from stylize import api
    from stylize.errors import InputError

    started = time.time()
    context = context or CommandContext()
    on_phase = phase_callback(args.progress, "stylize mesh", context.emit)
    if not args.resume and (not args.input or not (args.prompt or args.config)):
        raise InputError("expected INPUT and PROMPT (or --resume RUN_DIR; the prompt may come from --config)")
    on_step, close = step_callback(args.progress, "stylize mesh", context)
    on_preview = None
    if args.progress == "json":

        def on_preview(step: int, path: Path) -> None:
            context.emit("preview", step=step, path=str(Path(path).resolve()))

    try:
        result = api.stylize_mesh(args.input, args.prompt, out=args.out or api.DEFAULT_MESH_OUT,
                                  preset=args.preset or (None if args.config else "fast"), config_file=args.config,
                                  overrides=mesh_overrides(args), on_step=on_step, mask=args.mask,
                                  resume=args.resume, overwrite=args.overwrite, model_cache=context.model_cache,
                                  on_preview=on_preview,
                                  on_phase=on_phase)  # fmt: skip
    finally:
        close()
    finish(args.progress, run_summary(result, started, iterations=result.iterations), context)
    return EXIT_OK if result.status == "finished" else EXIT_FAILED


# --- eval ------------------------------------------------------------------------------------


def eval_args(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        'Prints one JSON line. "mes" (mean embedding score, as X-Mesh reports it) is 100 x the cosine similarity '
        "between PROMPT and the judge CLIP's image embedding of the mesh, averaged over 24 renders around it "
        '(higher is better); "scores" holds the same number in the shape every generator reports: '
        '{"judge": {PROMPT: mes, "mean": mes}}.'
    )
    parser.add_argument("mesh", metavar="MESH_OR_RUN", help="a mesh file or a run folder")
    parser.add_argument("prompt", help="text prompt to score")
    parser.add_argument(
        "--judge", action="append", default=None, metavar="SPEC", help="judge CLIP spec, repeatable (default: ViT-B-32:openai)"
    )
    parser.add_argument("--captions", nargs="+", default=(), metavar="TEXT", help="candidate captions to rank")
    parser.add_argument("--size", type=int, default=224, metavar="PX", help="render size (default: 224)")
    add_device_option(parser)


def eval_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.engine.specs import DEFAULT_CLIP

    result = api.evaluate_mesh(args.mesh, args.prompt, judge=args.judge or [DEFAULT_CLIP], captions=args.captions,
                               size=args.size, device=args.device)  # fmt: skip
    emit(json.dumps(result))
    return EXIT_OK


# --- apply / bake ----------------------------------------------------------------------------


def apply_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="RUN_DIR_OR_FIELD", help="a stylize mesh run folder or its field.pt")
    parser.add_argument("mesh", metavar="MESH", help="mesh to stylize (same object and frame, e.g. a denser remesh)")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default: runs/apply-MESHNAME)")
    parser.add_argument("--mask", metavar="FILE", help="per-vertex weights / indices for MESH (.npy or text)")
    add_overwrite_option(parser)
    parser.add_argument("--bake", action="store_true", default=None, help="also write mesh_textured.glb")
    parser.add_argument("--bake-size", type=int, default=None, metavar="PX", help="baked texture size (default: 1024)")
    add_layout_options(parser)
    add_device_option(parser)


def apply_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.mesh.config import check_texture_size
    from stylize.runs import default_out

    if args.bake_size is not None:
        check_texture_size(args.bake_size, "--bake-size")
    out = args.out or default_out(f"apply-{Path(args.mesh).stem}")
    result = api.apply_field(args.source, args.mesh, out, mask=args.mask, bake=args.bake, bake_size=args.bake_size,
                             device=args.device, overwrite=args.overwrite)  # fmt: skip
    emit(json.dumps({"out": str(result.out_dir), "status": result.status, "vertices": int(len(result.vertices)),
                      "files": sorted(result.files)}))  # fmt: skip
    return EXIT_OK


def bake_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "mesh",
        metavar="MESH_OR_RUN",
        help="a coloured mesh (GLB, PLY, OBJ, ...), or a stylize mesh run "
        "folder: its field is baked (exactly, per texel, for a surface-mode field)",
    )
    parser.add_argument("--size", type=int, default=1024, metavar="PX", help="texture size, a power of two (default: 1024)")
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE.glb",
        help="output GLB (default: MESH_textured.glb beside it, or RUN/mesh_textured.glb)",
    )
    parser.add_argument("--unwrap", action="store_true", help="unwrap new UVs even if the mesh has its own")
    parser.add_argument(
        "--normal-map",
        action="store_true",
        help="(run folders) keep the input's geometry and bake the "
        "relief into a tangent-space normal map (a run that had output.normal_map keeps its own)",
    )
    add_layout_options(parser, "the default; a run folder keeps its own")
    add_device_option(parser)


def bake_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.mesh.config import check_texture_size

    check_texture_size(args.size, "--size")
    report = api.bake(args.mesh, args.out, size=args.size, unwrap=args.unwrap, normal_map=args.normal_map,
                      device=args.device, uv=args.uv, keep_maps=args.keep_maps)  # fmt: skip
    files = [str(p) for p in (report.path, report.sidecar, report.preview) if p is not None]
    emit(json.dumps({**report.to_dict(), "sidecar": str(report.sidecar), "files": files}))
    return EXIT_OK
