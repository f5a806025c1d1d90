"""``stylize doctor``: what this machine gives the toolkit — torch, CUDA/MPS, CPU threads, which
CLIP and VGG weights are already downloaded and where they live, optional backends.

Nothing is downloaded and nothing is loaded onto a GPU; it reads versions, caches and files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from stylize import __version__


def doctor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    parser.add_argument("--clip", action="append", default=None, metavar="SPEC",
                        help="also look for these CLIP specs' weights (default: the toolkit's default CLIP)")  # fmt: skip


def _hub_cache() -> str:
    """The Hugging Face hub cache folder, read from the environment now (the hub library reads it
    once at import)."""
    return os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub"
    )


def _weights_status(spec_text: str) -> dict[str, Any]:
    from stylize.engine.specs import parse_model_spec

    try:
        spec = parse_model_spec(spec_text)
    except Exception as exc:  # a bad spec is reported, the rest of the report still prints
        return {"spec": spec_text, "error": str(exc).splitlines()[0]}
    entry: dict[str, Any] = {"spec": spec.name, "source": spec.source}
    if spec.source in ("local-dir", "file"):  # the parser checked that they exist
        path = Path(spec.arch if spec.source == "local-dir" else spec.pretrained).expanduser()
        entry.update(path=str(path), cached=True)
    elif spec.source == "pretrained":
        from stylize.engine.models import _cached_tag_weights

        try:
            found = _cached_tag_weights(spec, None, hub_cache=_hub_cache())
        except Exception as exc:  # unknown tag for this open_clip version
            return {**entry, "error": str(exc).splitlines()[0]}
        entry.update(path=found, cached=found is not None)
    else:
        entry.update(path=None, cached=None)
    return entry


def _vgg_status() -> list[dict[str, Any]]:
    import torch

    out = []
    for arch, weights_name in (("vgg16", "VGG16_Weights"), ("vgg19", "VGG19_Weights")):
        try:
            import torchvision.models as models

            url = getattr(models, weights_name).IMAGENET1K_V1.url
        except Exception:  # torchvision missing or renamed
            out.append({"arch": arch, "path": None, "cached": False})
            continue
        path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
        out.append({"arch": arch, "path": str(path), "cached": path.is_file()})
    return out


def report(clips: list[str] | None = None) -> dict[str, Any]:
    """The doctor's findings as a dict (see the module docstring)."""
    import torch

    from stylize.engine.specs import DEFAULT_CLIP
    from stylize.threads import thread_choice

    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = None
    choice = thread_choice()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    hf_cache = _hub_cache()
    return {
        "stylize": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": {"available": cuda, "version": torch.version.cuda,
                 "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []},
        "mps": mps,
        "device": "cuda" if cuda else "mps" if mps else "cpu",
        "threads": {"cores": os.cpu_count(), "usable_cores": choice.cores, "load_1min": None if load is None else round(load, 2),
                    "default": choice.threads, "source": choice.source, "torch_default": torch.get_num_threads(),
                    "wait_policy": os.environ.get("OMP_WAIT_POLICY") or "the OpenMP runtime's (spins, then sleeps)"},
        "clip_weights": [_weights_status(spec) for spec in (clips or [DEFAULT_CLIP])],
        "vgg_weights": _vgg_status(),
        "caches": {"huggingface": hf_cache, "torch_hub": torch.hub.get_dir()},
        "offline": os.environ.get("STYLIZE_OFFLINE", "") not in ("", "0"),
        "optional": {name: importlib.util.find_spec(name) is not None
                     for name in ("kaolin", "diffvg", "pydiffvg", "ray", "bpy")},
        # a dependency (bakes unwrap with it), reported in case an install lost it
        "xatlas": importlib.util.find_spec("xatlas") is not None,
    }  # fmt: skip


def _lines(found: dict[str, Any]) -> list[str]:
    cuda = found["cuda"]
    threads = found["threads"]
    gpu = f"yes, CUDA {cuda['version']}: {', '.join(cuda['devices'])}" if cuda["available"] else "no"
    lines = [
        f"stylize {found['stylize']}  python {found['python']}  torch {found['torch']}",
        f"CUDA: {gpu}   MPS: {'yes' if found['mps'] else 'no'}   runs use: {found['device']}",
        f"CPU threads: {threads['cores']} cores, load {threads['load_1min']}; stylize uses {threads['default']} "
        + ("(the cores not busy now; " if threads["source"] == "automatic" else f"(from {threads['source']}; ")
        + f"--threads N overrides), OpenMP wait policy {threads['wait_policy']}",
    ]
    for entry in found["clip_weights"]:
        if "error" in entry:
            lines.append(f"CLIP {entry['spec']}: {entry['error']}")
        elif entry["cached"]:
            lines.append(f"CLIP {entry['spec']}: cached at {entry['path']}")
        elif entry["cached"] is None:
            lines.append(f"CLIP {entry['spec']}: fetched from the hub on first use")
        else:
            where = f" ({entry['path']} does not exist)" if entry.get("path") else " (downloads on first use)"
            lines.append(f"CLIP {entry['spec']}: not downloaded{where}")
    for entry in found["vgg_weights"]:
        state = "cached" if entry["cached"] else "not downloaded (only the VGG style/content losses need it)"
        lines.append(f"VGG {entry['arch']}: {state} {entry['path'] or ''}".rstrip())
    lines.append(f"caches: Hugging Face {found['caches']['huggingface']}; torch hub {found['caches']['torch_hub']}")
    present = [name for name, ok in found["optional"].items() if ok]
    lines.append(f"optional backends found: {', '.join(present) or 'none'}")
    if not found["xatlas"]:
        lines.append("xatlas (a dependency: bakes unwrap with it) is missing: pip install xatlas")
    if not any(entry.get("cached") for entry in found["clip_weights"]):
        from stylize.engine.models import offline_demo_hint

        lines.append(f"no CLIP weights here yet; an offline demo with the shipped toy CLIP: {offline_demo_hint()}")
    return lines


def doctor_run(args: argparse.Namespace) -> int:
    found = report(args.clip)
    if args.json:
        print(json.dumps(found))
    else:
        print("\n".join(_lines(found)))
    return 0
