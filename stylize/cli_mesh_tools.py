"""``stylize apply`` and ``stylize bake``: reuse a trained field on another mesh; bake vertex
colours into a UV texture GLB. Registered in :data:`stylize.cli.COMMANDS`."""

from __future__ import annotations

import argparse
import json


def apply_args(parser: argparse.ArgumentParser) -> None:
    from stylize.cli import _add_device_option

    parser.add_argument("source", metavar="RUN_DIR_OR_FIELD", help="a stylize mesh run folder or its field.pt")
    parser.add_argument("mesh", metavar="MESH", help="mesh to stylize (same object and frame, e.g. a denser remesh)")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default: runs/apply-MESHNAME)")
    parser.add_argument("--mask", metavar="FILE", help="per-vertex weights / indices for MESH (.npy or text)")
    parser.add_argument("--bake", action="store_true", default=None, help="also write mesh_textured.glb")
    parser.add_argument("--bake-size", type=int, default=None, metavar="PX", help="baked texture size (default: 1024)")
    _add_device_option(parser)


def apply_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stylize import api
    from stylize.cli import EXIT_OK

    out = args.out or f"runs/apply-{Path(args.mesh).stem}"
    result = api.apply_field(args.source, args.mesh, out, mask=args.mask, bake=args.bake, bake_size=args.bake_size,
                             device=args.device)  # fmt: skip
    print(json.dumps({"out": str(result.out_dir), "status": result.status, "vertices": int(len(result.vertices)),
                      "files": sorted(result.files)}))  # fmt: skip
    return EXIT_OK


def bake_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mesh", metavar="MESH", help="coloured mesh (GLB, PLY, OBJ, ...), e.g. a run's mesh.glb")
    parser.add_argument("--size", type=int, default=1024, metavar="PX", help="texture size, a power of two (default: 1024)")
    parser.add_argument("--out", default=None, metavar="FILE.glb", help="output GLB (default: MESH_textured.glb beside it)")
    parser.add_argument("--unwrap", action="store_true", help="unwrap new UVs even if the mesh has its own")


def bake_run(args: argparse.Namespace) -> int:
    from stylize import api
    from stylize.cli import EXIT_OK

    report = api.bake(args.mesh, args.out, size=args.size, unwrap=args.unwrap)
    print(json.dumps({**report.to_dict(), "sidecar": str(report.sidecar)}))
    return EXIT_OK
