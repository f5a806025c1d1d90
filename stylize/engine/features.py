"""Perceptual feature extractors shared by the style and content losses.

- :class:`VggFeatures`: torchvision VGG-16 / VGG-19 feature maps at chosen layers (ImageNet
  weights, downloaded once by torchvision, or random weights for tests);
- :class:`ClipFeatures`: intermediate feature maps of a loaded CLIP image encoder (ViT blocks
  laid out on the patch grid, or ModifiedResNet stages).

Both map images (B, 3, H, W) in [0, 1] to a list of feature maps (B, C_l, H_l, W_l), and are
frozen (no gradient into their weights; gradients flow to the images).
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from stylize.errors import ModelLoadError

__all__ = ["VGG_LAYERS", "ClipFeatures", "VggFeatures"]

VGG_LAYERS = (1, 3, 6, 8, 11, 13, 15, 22, 29)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


# name -> (torchvision layer config, weights enum, label): the two VGGs the toolkit uses.
_VGG_ARCHS = {"vgg16": ("D", "VGG16_Weights", "VGG-16"), "vgg19": ("E", "VGG19_Weights", "VGG-19")}


class VggFeatures(nn.Module):
    """VGG feature maps at ``layers`` of ``torchvision.models.vgg16().features`` (or ``vgg19``).

    Args:
        pretrained: load torchvision's ImageNet weights (a one-time download); False gives
            random weights.
        layers: indices into ``vgg16().features`` (``vgg19().features``) whose outputs are returned.
        arch: ``vgg16`` (the style loss) or ``vgg19`` (the restyle content loss).
        setting: the config key whose ``'clip'`` value avoids the download, for the offline error.

    Shape:
        (B, 3, H, W) in [0, 1] -> list of (B, C_l, H_l, W_l).
    """

    def __init__(
        self,
        pretrained: bool = True,
        layers: tuple[int, ...] = VGG_LAYERS,
        arch: str = "vgg16",
        setting: str = "style_features",
    ) -> None:
        super().__init__()
        import torchvision

        if arch not in _VGG_ARCHS:
            raise ValueError(f"expected a VGG architecture among {', '.join(_VGG_ARCHS)}, got {arch!r}")
        layer_config, weights_name, label = _VGG_ARCHS[arch]
        weights = None
        if pretrained:
            from stylize.engine.models import offline_mode

            weights = getattr(torchvision.models, weights_name).IMAGENET1K_V1
            cached = torch.hub.get_dir() + "/checkpoints/" + weights.url.rsplit("/", 1)[-1]
            if offline_mode() and not os.path.isfile(cached):
                raise ModelLoadError(
                    f"{label} weights are not cached and offline mode is on; "
                    f"use --set {setting}=clip (no download) or go online once"
                )
        from torchvision.models.vgg import cfgs, make_layers

        # Only the convolutional part up to the last layer asked for: building the whole VGG
        # would initialise 120 M classifier weights that are never used.
        needed, modules = [], 0
        for entry in cfgs[layer_config]:
            if modules > max(layers):
                break
            needed.append(entry)
            modules += 1 if entry == "M" else 2
        network = make_layers(needed, batch_norm=False)
        try:
            if weights is not None:
                state = weights.get_state_dict(progress=False)
                keep = {name for name, _ in network.named_parameters()}
                network.load_state_dict({k[len("features.") :]: v for k, v in state.items() if k[len("features.") :] in keep})
        except Exception as exc:  # URLError, hash mismatch, ...
            raise ModelLoadError(
                f"cannot load {label} weights ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                f"use --set {setting}=clip (no download)"
            ) from None
        network = network[: max(layers) + 1]
        self.network = network.eval().requires_grad_(False)
        self.layers = tuple(layers)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: Tensor) -> list[Tensor]:
        x = (images - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.network):
            x = layer(x)
            if index in self.layers:
                outputs.append(x)
        return outputs


class ClipFeatures(nn.Module):
    """Intermediate feature maps of a CLIP image encoder (ViT blocks or ResNet stages).

    For a ViT the patch tokens of ``blocks`` (default: every other block) are laid out on the
    patch grid; for open_clip's ModifiedResNet the outputs of ``layer1`` ... ``layer4`` (or of
    the stages ``blocks`` names, 0-based).

    Args:
        clip_model: a :class:`~stylize.engine.ClipModel` (its preprocessing is used).
        blocks: ViT blocks or ResNet stages to return, 0-based (see :meth:`at_depths`).

    Shape:
        (B, 3, H, W) in [0, 1] -> list of (B, C, h, w).
    """

    def __init__(self, clip_model, blocks: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.clip_model = clip_model
        visual = clip_model.model.visual
        if hasattr(visual, "transformer") and hasattr(visual, "grid_size"):
            count = len(visual.transformer.resblocks)
            self.blocks = tuple(blocks) if blocks is not None else tuple(range(0, count, 2)) or (0,)
            self.modules_to_hook = [visual.transformer.resblocks[i] for i in self.blocks]
            self.grid = tuple(visual.grid_size)
        elif all(hasattr(visual, name) for name in ("layer1", "layer2", "layer3", "layer4")):
            stages = [visual.layer1, visual.layer2, visual.layer3, visual.layer4]
            self.blocks = tuple(blocks) if blocks is not None else (0, 1, 2, 3)
            if not all(0 <= index < len(stages) for index in self.blocks):
                raise ValueError(f"expected ResNet stages among 0-3, got {self.blocks}")
            self.modules_to_hook = [stages[index] for index in self.blocks]
            self.grid = None
        else:
            raise ValueError(f"clip style features support ViT and ModifiedResNet encoders, got {type(visual).__name__}")

    @staticmethod
    def depth_count(clip_model) -> int:
        """How many blocks (ViT) or stages (ResNet) the image tower has."""
        visual = clip_model.model.visual
        return len(visual.transformer.resblocks) if hasattr(visual, "transformer") else 4

    @classmethod
    def at_depths(cls, clip_model, depths) -> ClipFeatures:
        """The feature maps at relative ``depths`` in (0, 1] of the tower: depth ``d`` is block
        (ViT) or stage (ResNet) ``round(d * count)`` counted from 1, so 0.5 and 0.75 are a
        ResNet's ``layer2`` and ``layer3`` and blocks 6 and 9 of a 12-block ViT."""
        count = cls.depth_count(clip_model)
        return cls(clip_model, tuple(min(count, max(1, round(d * count))) - 1 for d in depths))

    def _as_map(self, output: Tensor, batch: int) -> Tensor:
        if self.grid is None:
            return output
        if output.shape[0] != batch:  # sequence-first transformer
            output = output.transpose(0, 1)
        h, w = self.grid
        tokens = output[:, -h * w :, :]
        return tokens.transpose(1, 2).reshape(batch, -1, h, w)

    def forward(self, images: Tensor) -> list[Tensor]:
        return self.with_embedding(images)[0]

    def with_embedding(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """The feature maps and the unit image embeddings (B, D) of one pass through the tower."""
        captured: list[Tensor] = []
        handles = [m.register_forward_hook(lambda _m, _i, out: captured.append(out)) for m in self.modules_to_hook]
        try:
            pixels = self.clip_model.preprocess(images.to(self.clip_model.device, torch.float32))
            embedding = self.clip_model.model.visual(pixels)
        finally:
            for handle in handles:
                handle.remove()
        if isinstance(embedding, tuple):  # towers that also return their tokens
            embedding = embedding[0]
        maps = [self._as_map(out.float(), images.shape[0]) for out in captured]
        return maps, torch.nn.functional.normalize(embedding.float(), dim=-1)
