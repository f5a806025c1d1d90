"""Loading open_clip models from spec strings (see :mod:`stylize.engine.specs`), frozen and ready
to score images.

Preprocessing (resize, centre crop, normalise) is done here in torch so that it is
differentiable, with each model's own image size, mean and std from its preprocess config.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stylize.engine.specs import ModelSpec, parse_model_spec
from stylize.errors import ModelLoadError

logger = logging.getLogger(__name__)

_HUB_HOST = ("huggingface.co", 443)
_LOCAL_DIR_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _load_failure(exc: BaseException) -> str:
    """One line for a failed model load. A checkpoint that ``weights_only`` refused holds pickled
    objects or code: say so, and never pass on torch's advice to load it unsafely."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text or "weights_only" in text:
        return "the weights file is not a plain tensor checkpoint (it holds pickled objects or code); refusing to load it"
    if isinstance(exc, (IndexError, EOFError)):
        return f"the weights file is damaged or cut short ({type(exc).__name__}{': ' + text if text else ''})"
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@dataclass
class ClipModel:
    """One frozen CLIP model with its tokenizer and preprocessing.

    ``encode_image`` takes images in [0, 1] of any size and does resize, centre crop and
    normalisation in torch, so gradients flow back to the pixels.
    """

    spec: ModelSpec
    model: nn.Module
    tokenizer: Callable[[Sequence[str]], torch.Tensor]
    image_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    channels_last: bool = False
    _compiled: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize, crop and normalise ``images`` (B, 3, H, W) in [0, 1] for this model.

        Returns:
            (B, 3, h, w) with (h, w) = ``self.image_size``, normalised with this model's mean/std.
        """
        images = resize_and_crop(images, self.image_size, self.interpolation, self.resize_mode)
        mean = torch.tensor(self.mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return (images - mean) / std

    def _autocast(self):
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return torch.autocast("cpu", enabled=False)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings (B, D) in float32 for images (B, 3, H, W) in [0, 1]."""
        check_images(images)
        pixels = self.preprocess(images.to(self.device, torch.float32, non_blocking=True))
        if self.channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            features = self.model.encode_image(pixels)
        return F.normalize(features.float(), dim=-1)

    def compiled_encoder(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """:meth:`encode_image` through ``torch.compile`` (built once per model; CUDA is where it pays)."""
        if self._compiled is None:
            self._compiled = torch.compile(self.encode_image)
        return self._compiled

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-norm text embeddings (N, D) in float32."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        with self._autocast():
            features = self.model.encode_text(tokens)
        return F.normalize(features.float(), dim=-1)


def check_images(images: torch.Tensor) -> None:
    """Raise a ValueError/TypeError unless ``images`` is a float tensor of shape (B, 3, H, W)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"expected images as a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"expected floating-point images in [0, 1], got {images.dtype}")


def resize_and_crop(
    images: torch.Tensor, size: tuple[int, int], interpolation: str = "bicubic", resize_mode: str = "shortest"
) -> torch.Tensor:
    """Differentiable version of open_clip's resize + centre crop.

    Args:
        images: (B, C, H, W).
        size: target (h, w).
        interpolation: ``bicubic`` or ``bilinear`` (antialiased when shrinking).
        resize_mode: ``shortest`` (resize the short side, centre crop), ``longest`` (resize the long
            side, pad) or ``squash`` (resize both sides).

    Returns:
        (B, C, h, w).
    """
    out_h, out_w = size
    _, _, in_h, in_w = images.shape
    if (in_h, in_w) == (out_h, out_w):
        return images
    mode = "bilinear" if interpolation == "bilinear" else "bicubic"
    if resize_mode == "squash":
        return F.interpolate(images, size=(out_h, out_w), mode=mode, align_corners=False, antialias=True)
    if resize_mode == "longest":
        scale = min(out_h / in_h, out_w / in_w)
    else:
        scale = max(out_h / in_h, out_w / in_w)
    new_h, new_w = max(1, round(in_h * scale)), max(1, round(in_w * scale))
    resized = F.interpolate(images, size=(new_h, new_w), mode=mode, align_corners=False, antialias=True)
    if resize_mode == "longest":
        pad_h, pad_w = out_h - new_h, out_w - new_w
        return F.pad(resized, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    top, left = (new_h - out_h) // 2, (new_w - out_w) // 2
    return resized[:, :, top : top + out_h, left : left + out_w]


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(_HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _offline_error(spec: ModelSpec, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load CLIP model {spec.name}: {why}; supply the weights yourself as "
        f"{spec.arch}:/path/to/weights.pt or local-dir:/path/to/open_clip_folder. "
        f"To see the toolkit work offline, the repository ships a toy test CLIP that knows only coloured "
        f"shapes: {offline_demo_hint()}"
    )


def offline_demo_hint() -> str:
    """The offline demo command (the shipped test CLIP on the shipped vase), for error messages."""
    root = Path(__file__).resolve().parents[2]
    trainer = root / "tests" / "assets" / "clip" / "trainer"
    clip = f"local-dir:{trainer}" if trainer.is_dir() else "local-dir:tests/assets/clip/trainer (in a source checkout)"
    return f'stylize mesh examples/meshes/vase.obj "a red circle" --preset smoke --clip {clip}'


def _cached_tag_weights(spec: ModelSpec, cache_dir: str | None, hub_cache: str | None = None) -> str | None:
    """Return the local path of already-downloaded weights for a pretrained tag, if any
    (``hub_cache``: the Hugging Face cache to look in, default ``cache_dir`` or the hub's own)."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained)
    hub_id = (cfg.get("hf_hub") or "").rstrip("/")
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
            found = try_to_load_from_cache(hub_id, filename, cache_dir=hub_cache or cache_dir)
            if isinstance(found, str) and os.path.isfile(found):
                return found
    url = cfg.get("url") or ""
    if url:
        legacy = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if legacy.is_file():
            return str(legacy)
    return None


def offline_mode() -> bool:
    """True when ``STYLIZE_OFFLINE`` (or ``HF_HUB_OFFLINE``) forbids downloads."""
    return any(os.environ.get(var, "").lower() in ("1", "true", "yes") for var in ("STYLIZE_OFFLINE", "HF_HUB_OFFLINE"))


def _weights_source(spec: ModelSpec, cache_dir: str | None, allow_download: bool | None) -> tuple[str, str | None, dict]:
    """``(open_clip model name, pretrained argument, extra create_model kwargs)`` for ``spec``:
    where its weights come from, checked without building the model.

    Raises:
        ModelLoadError: the weights cannot be had (not cached while offline or the hub is
            unreachable, a ``local-dir:`` folder without weights).
    """
    import open_clip

    if allow_download is None:
        allow_download = not offline_mode()
    kwargs: dict = {}
    model_name, pretrained = spec.arch, None
    if spec.source == "pretrained":
        cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained)
        cached = _cached_tag_weights(spec, cache_dir)
        if cached is not None:
            # Load the cached file directly so open_clip never touches the network, and carry the
            # tag's preprocessing and activation over ourselves.
            pretrained = cached
            kwargs["force_quick_gelu"] = bool(cfg.get("quick_gelu", False))
            kwargs["force_preprocess_cfg"] = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}
        elif not allow_download:
            raise _offline_error(spec, "its weights are not cached and downloads are disabled")
        elif not _hub_reachable():
            raise _offline_error(spec, "its weights are not cached and huggingface.co cannot be reached")
        else:
            pretrained = spec.pretrained
    elif spec.source == "file":
        pretrained = spec.pretrained
    elif spec.source == "local-dir":
        model_name = f"local-dir:{spec.arch}"
        # open_clip quietly builds a random model when the folder has no weights file: every
        # pipeline would then optimise against noise. Random weights only when asked (ARCH:random).
        weights = [name for name in _LOCAL_DIR_WEIGHTS if (Path(spec.arch) / name).is_file()]
        if not weights:
            raise ModelLoadError(f"cannot load CLIP model {spec.name}: the folder has no weights file "
                                 f"({' or '.join(_LOCAL_DIR_WEIGHTS)}); for random weights ask for ARCH:random")  # fmt: skip
    elif spec.source == "hf-hub":
        if not allow_download or not _hub_reachable():
            raise _offline_error(spec, "hf-hub models need huggingface.co, which cannot be reached")
        model_name = f"hf-hub:{spec.arch}"
    return model_name, pretrained, kwargs


def check_weights(spec: str | ModelSpec, cache_dir: str | None = None, allow_download: bool | None = None) -> None:
    """Fail now, as :func:`load_clip` would later, when ``spec``'s weights cannot be had: a batch
    checks every model its jobs name before running any (nothing is loaded or downloaded here).

    Raises:
        ModelLoadError: the one-line reason, with how to supply the weights.
    """
    _weights_source(parse_model_spec(spec), cache_dir, allow_download)


def load_clip(
    spec: str | ModelSpec,
    device: str | torch.device = "cpu",
    cache_dir: str | None = None,
    allow_download: bool | None = None,
) -> ClipModel:
    """Build a frozen, eval-mode CLIP model from a spec.

    Weights for pretrained tags are looked up in the local cache first. When they are missing and
    downloads are not possible (``allow_download=False``, ``STYLIZE_OFFLINE=1`` or the hub is not
    reachable within a few seconds) this fails at once with a :class:`ModelLoadError` that says
    which model and how to supply weights, instead of retrying for a minute.

    Args:
        spec: a spec string or :class:`ModelSpec`.
        device: where the model lives. Parameters stay float32; CUDA runs under autocast.
        cache_dir: open_clip / Hugging Face cache folder (default: their own defaults).
        allow_download: ``None`` means "unless offline mode is set".

    Returns:
        A :class:`ClipModel`.
    """
    import open_clip

    spec = parse_model_spec(spec)
    device = torch.device(device)
    model_name, pretrained, kwargs = _weights_source(spec, cache_dir, allow_download)

    try:
        model = open_clip.create_model(
            model_name,
            pretrained=pretrained,
            device=device,
            cache_dir=cache_dir,
            weights_only=True,
            pretrained_text=False,
            pretrained_image=False,
            **kwargs,
        )
        tokenizer = open_clip.get_tokenizer(model_name)
    # A damaged weights file surfaces as any of these from torch's weights-only unpickler
    # (IndexError: a truncated stack, EOFError: a cut file) or from open_clip.
    except (OSError, RuntimeError, ValueError, KeyError, IndexError, EOFError, pickle.UnpicklingError, AttributeError,
            TypeError) as exc:  # fmt: skip
        raise ModelLoadError(f"cannot load CLIP model {spec.name}: {_load_failure(exc)}") from None
    model.eval().requires_grad_(False)
    # Convolutional towers (ModifiedResNet) run faster in channels-last on CUDA tensor cores.
    channels_last = device.type == "cuda" and type(model.visual).__name__ == "ModifiedResNet"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    pp = open_clip.get_model_preprocess_cfg(model)
    size = pp.get("size", model.visual.image_size)
    if isinstance(size, int):
        size = (size, size)
    logger.info("loaded CLIP %s on %s (image size %s)", spec.name, device, tuple(size))
    return ClipModel(
        spec=spec,
        model=model,
        tokenizer=tokenizer,
        image_size=(int(size[0]), int(size[1])),
        mean=tuple(float(v) for v in pp["mean"]),
        std=tuple(float(v) for v in pp["std"]),
        interpolation=pp.get("interpolation", "bicubic"),
        resize_mode=pp.get("resize_mode", "shortest"),
        device=device,
        channels_last=channels_last,
    )


class ModelCache:
    """Keeps loaded models by (spec name, device) so a process loads each model once.

    Pass one cache to several engines (a batch worker, a Ray actor, ``stylize worker``) to share
    the weights.

    Attributes:
        loads: models loaded so far (a cache hit does not count): what a warm process reports.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], ClipModel] = {}
        self.loads = 0

    def get(self, spec: str | ModelSpec, device: str | torch.device = "cpu", **kwargs) -> ClipModel:
        spec = parse_model_spec(spec)
        key = (spec.name, str(torch.device(device)))
        if key not in self._models:
            self._models[key] = load_clip(spec, device, **kwargs)
            self.loads += 1
        return self._models[key]

    def __len__(self) -> int:
        return len(self._models)
