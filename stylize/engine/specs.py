"""CLIP model specs: the strings that name a model, parsed and checked without loading anything.

A *spec* names one CLIP model the way open_clip does, optionally with an ensemble weight:

==============================  ==========================================================
``ViT-B-32:openai``             built-in architecture + pretrained tag (downloaded once, cached)
``ViT-B-32:/path/weights.pt``   built-in architecture + a local checkpoint file
``local-dir:/path/to/dir``      an open_clip folder (``open_clip_config.json`` + weights)
``hf-hub:org/name``             an open_clip repository on the Hugging Face Hub
``ViT-B-32:random``             random initialisation (benchmarks and tests; no download)
``...@0.5``                     any of the above with ensemble weight 0.5 (default 1)
==============================  ==========================================================

This module imports neither torch nor open_clip at load time, so configs can name and check
models cheaply (open_clip is imported only to check an architecture name).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from stylize.errors import InputError

__all__ = ["DEFAULT_CLIP", "RANDOM_TAGS", "ModelSpec", "absolute_spec", "parse_model_spec"]

DEFAULT_CLIP = "ViT-B-32:openai"
RANDOM_TAGS = ("random", "none")
_WEIGHT_SUFFIX = re.compile(r"^(?P<body>.+)@(?P<weight>[-+0-9.eE]+)$")
_WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec.

    Attributes:
        source: one of ``"pretrained"``, ``"file"``, ``"local-dir"``, ``"hf-hub"``, ``"random"``.
        arch: open_clip architecture name (``ViT-B-32``), or the hub id / folder for schema specs.
        pretrained: the pretrained tag or weights path where ``source`` uses one.
        weight: ensemble weight (> 0).
    """

    source: str
    arch: str
    pretrained: str | None = None
    weight: float = 1.0

    @property
    def name(self) -> str:
        """The canonical spec string without the weight; used as the key in results."""
        if self.source == "local-dir":
            return f"local-dir:{self.arch}"
        if self.source == "hf-hub":
            return f"hf-hub:{self.arch}"
        return f"{self.arch}:{self.pretrained}"

    def __str__(self) -> str:
        return self.name if self.weight == 1.0 else f"{self.name}@{self.weight:g}"


def parse_model_spec(spec: str | ModelSpec) -> ModelSpec:
    """Parse a spec string (see the module docstring) into a :class:`ModelSpec`.

    Raises:
        InputError: the string is empty or malformed, names an unknown architecture or tag, or
            points at a file or folder that does not exist.
    """
    if isinstance(spec, ModelSpec):
        return spec
    if not isinstance(spec, str):
        raise InputError(f"expected a CLIP spec string, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise InputError("empty CLIP spec: expected e.g. ViT-B-32:openai or local-dir:/path")
    weight = 1.0
    match = _WEIGHT_SUFFIX.match(text)
    if match:
        try:
            weight = float(match["weight"])
        except ValueError:
            raise InputError(f"CLIP spec {spec!r}: weight {match['weight']!r} is not a number") from None
        text = match["body"]
        if not weight > 0:
            raise InputError(f"CLIP spec {spec!r}: weight must be > 0, got {weight:g}")

    if text.startswith("local-dir:"):
        folder = text[len("local-dir:") :]
        if not folder:
            raise InputError(f"CLIP spec {spec!r}: no folder after 'local-dir:'")
        if not Path(folder).is_dir():
            raise InputError(f"CLIP spec {spec!r}: folder {folder} does not exist")
        if not (Path(folder) / "open_clip_config.json").is_file():
            raise InputError(f"CLIP spec {spec!r}: {folder} has no open_clip_config.json")
        return ModelSpec("local-dir", str(Path(folder)), None, weight)
    if text.startswith("hf-hub:"):
        repo = text[len("hf-hub:") :]
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise InputError(f"CLIP spec {spec!r}: expected hf-hub:ORG/NAME")
        return ModelSpec("hf-hub", repo, None, weight)

    arch, sep, tag = text.partition(":")
    if not sep or not arch or not tag:
        raise InputError(
            f"CLIP spec {spec!r} is malformed: expected ARCH:TAG (ViT-B-32:openai), ARCH:/path/weights.pt, "
            "ARCH:random, local-dir:/path or hf-hub:org/name"
        )
    import open_clip

    arch = arch.replace("/", "-")
    if arch not in open_clip.list_models():
        raise InputError(f"CLIP spec {spec!r}: unknown architecture {arch!r} (see open_clip.list_models())")
    if tag.lower() in RANDOM_TAGS:
        return ModelSpec("random", arch, "random", weight)
    if os.sep in tag or "/" in tag or tag.endswith(_WEIGHT_FILE_SUFFIXES):
        if not Path(tag).is_file():
            raise InputError(f"CLIP spec {spec!r}: weights file {tag} does not exist")
        return ModelSpec("file", arch, tag, weight)
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if tag not in tags:
        raise InputError(f"CLIP spec {spec!r}: unknown pretrained tag {tag!r} for {arch} (known: {', '.join(tags) or 'none'})")
    return ModelSpec("pretrained", arch, tag, weight)


def absolute_spec(spec: str) -> str:
    """``spec`` with its local folder (``local-dir:DIR``) or weights file (``ARCH:FILE``) made
    absolute, so that a run folder recording it works from any directory.

    Only a relative path that exists from the current directory changes (a missing one keeps the
    user's spelling for the error that follows); the ensemble weight (``@W``) is kept and other
    specs (``ViT-B-32:openai``, ``hf-hub:org/name``) are returned as they are.

    Example:
        >>> absolute_spec("ViT-B-32:openai")
        'ViT-B-32:openai'
    """
    if not isinstance(spec, str):
        return spec
    text = spec.strip()
    match = _WEIGHT_SUFFIX.match(text)
    body, weight = (match["body"], f"@{match['weight']}") if match else (text, "")
    if body.startswith("local-dir:"):
        prefix, path = "local-dir:", body[len("local-dir:") :]
    elif body.startswith("hf-hub:"):
        return spec
    else:
        arch, sep, path = body.partition(":")
        if not sep or not (os.sep in path or "/" in path or path.endswith(_WEIGHT_FILE_SUFFIXES)):
            return spec
        prefix = f"{arch}:"
    if not path or os.path.isabs(path) or not os.path.exists(path):
        return spec
    return f"{prefix}{os.path.abspath(path)}{weight}"
