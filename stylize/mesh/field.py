"""Text2Mesh's neural style field: vertex position -> (colour, displacement along the normal).

Network (as the reference implementation, threedle/text2mesh):

- Fourier features: a fixed random matrix ``B ~ N(0, sigma^2)`` of shape ``(3, n_frequencies)``
  whose rows are sorted by norm; the encoding is ``[x, sin(2 pi x B), cos(2 pi x B)]``.
- Progressive encoding: at iteration ``t`` of ``T``, band ``i`` has weight
  ``clamp((t - tau i) / tau, 0, 1)`` with ``tau = 2 n / T`` (the reference's formula), so every
  band is on after ``n tau = 2 n^2 / T`` iterations (about 87 of 1500 at the paper's settings).
- Trunk: ``Linear(3 + 2n, width)`` + ReLU, then ``depth`` x (``Linear(width, width)`` + ReLU).
- Heads: ``head_depth`` x (``Linear(width, width)`` + ReLU) then ``Linear(width, 3)`` for colour
  and ``Linear(width, 1)`` for displacement; both last layers start at zero, so the untrained
  field paints every vertex grey (0.5) and moves nothing.
- ``colour = 0.5 + tanh(out) / 2``; ``displacement = max_displacement * tanh(out)``.
- A material (:mod:`stylize.mesh.material`) that needs more than a base colour (roughness,
  metallic, ...) adds one head per extra channel, ``Linear(width, channel width)`` last, started
  at zero and read as ``sigmoid(logit(initial) + out)``, so every extra channel starts at its
  material's initial value.
- Optional (off by default): ``input_colours`` starts from the mesh's own colours ``c`` instead
  of grey, as a residual in logit space, ``colour = sigmoid(logit(c) + 2 out)`` (equal to the
  formula above when ``c = 0.5``); ``symmetry`` folds one coordinate (``|x|``) before encoding, so
  the field is exactly mirror-symmetric about that axis plane of the normalised frame.

A trained field is saved as one self-contained ``field.pt`` (:meth:`NeuralStyleField.save`):
plain tensors, numbers and strings only, so :func:`load_field` can use ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stylize.errors import InputError, first_line
from stylize.mesh.config import FieldConfig
from stylize.mesh.encoding import TriplaneEncoding
from stylize.mesh.geometry import Normalization, vertex_normals
from stylize.mesh.kinds import get_field_kind
from stylize.mesh.material import Material, get_material
from stylize.utils import save_torch

__all__ = ["FieldConfig", "FieldOutput", "NeuralStyleField", "load_field", "progressive_mask", "vertex_normals"]

FIELD_FORMAT = "stylize.field/1"
# Base colours are kept this far from 0 and 1 so that their logit is finite and the field can
# still move them (sigmoid's slope at logit(0.02) is about a twelfth of its slope at 0.5).
_BASE_EPS = 0.02


@dataclass
class FieldOutput:
    """Per-vertex output of the field.

    Attributes:
        colors: sRGB in ``[0, 1]``, ``(V, 3)``.
        displacement: signed offset along the vertex normal, ``(V, 1)``, ``|d| <= max_displacement``.
        extras: the material's channels after the base colour ``(V, C - 3)``, or None (diffuse).
    """

    colors: torch.Tensor
    displacement: torch.Tensor
    extras: torch.Tensor | None = None

    @property
    def features(self) -> torch.Tensor:
        """The material's features ``(V, C)``: colours, then the extra channels (if any)."""
        return self.colors if self.extras is None else torch.cat([self.colors, self.extras], dim=-1)


def progressive_mask(n_frequencies: int, step: float, total: float, enabled: bool = True) -> torch.Tensor:
    """Weights of the ``n`` frequency bands at iteration ``step`` of ``total``.

    Band ``i`` has weight ``clamp((step - tau i) / tau, 0, 1)`` with ``tau = 2 n / total``.

    Shape:
        Output: ``(n_frequencies,)``.
    """
    if not enabled:
        return torch.ones(n_frequencies)
    if total <= 0:
        raise ValueError(f"expected a positive number of iterations, got {total}")
    tau = 2.0 * n_frequencies / float(total)
    index = torch.arange(n_frequencies, dtype=torch.float64)
    return ((float(step) - tau * index) / tau).clamp(0.0, 1.0).float()


def _mlp(width: int, layers: int) -> list[nn.Module]:
    modules: list[nn.Module] = []
    for _ in range(layers):
        modules += [nn.Linear(width, width), nn.ReLU()]
    return modules


class NeuralStyleField(nn.Module):
    """The Text2Mesh style field.

    Args:
        config: hyperparameters.
        normalization: the mesh normalisation the field was trained in (kept in ``field.pt`` so
            the field can be applied to meshes in their original frame later).
        generator: CPU generator for the Fourier matrix and the weights (reproducible init).
        material: the material (or its registered name) whose channels the field predicts.

    Shape:
        - positions: ``(V, 3)`` in the normalised frame.
        - Output: :class:`FieldOutput` with colours ``(V, 3)`` and displacement ``(V, 1)``.

    Example:
        >>> field = NeuralStyleField(FieldConfig(width=32, n_frequencies=16))
        >>> out = field(torch.rand(10, 3))
        >>> out.colors.shape, float(out.colors.mean())
        (torch.Size([10, 3]), 0.5)
    """

    def __init__(
        self,
        config: FieldConfig | None = None,
        normalization: Normalization | None = None,
        generator: torch.Generator | None = None,
        material: str | Material = "diffuse",
    ) -> None:
        super().__init__()
        self.material = get_material(material)
        self.config = config or FieldConfig()
        self.config.check()
        self.normalization = normalization or Normalization()
        self.extra: dict[str, Any] = {}  # what field.pt recorded beside the weights (prompt, iterations, model)
        cfg = self.config
        self.encoding = get_field_kind(cfg.mode).encoding
        basis = torch.randn(3, cfg.n_frequencies, generator=generator) * cfg.sigma
        # The reference sorts the three rows by norm; optionally also order the bands.
        basis = basis[basis.norm(dim=1).argsort()]
        if cfg.sort_frequencies:
            basis = basis[:, basis.norm(dim=0).argsort()]
        self.register_buffer("fourier_basis", basis)
        # Iteration and run length for the progressive encoding; fully on until set_progress is called.
        self.register_buffer("progress", torch.tensor([1.0, 1.0], dtype=torch.float64))
        # The same two numbers on the host, so encoding never reads the buffer back from a GPU.
        self._progress: tuple[float, float] | None = (1.0, 1.0)
        if self.encoding == "triplane":
            # Drawn after the Fourier matrix: the planes come from the same generator stream.
            self.planes = TriplaneEncoding(cfg.plane_resolutions, cfg.plane_features, generator=generator)
            inputs, width, depth = 3 + self.planes.output_width, cfg.plane_width, 1
        else:
            inputs, width, depth = 3 + 2 * cfg.n_frequencies, cfg.width, cfg.depth
        self.trunk = nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), *_mlp(width, depth))
        self.colour_head = nn.Sequential(*_mlp(width, cfg.head_depth), nn.Linear(width, 3))
        self.displacement_head = nn.Sequential(*_mlp(width, cfg.head_depth), nn.Linear(width, 1))
        heads = [self.colour_head, self.displacement_head]
        extra = self.material.extra_channels
        if extra:  # registered only when needed: a diffuse field's state dict is Text2Mesh's
            self.channel_heads = nn.ModuleDict(
                {c.name: nn.Sequential(*_mlp(width, cfg.head_depth), nn.Linear(width, c.width)) for c in extra}
            )
            heads += list(self.channel_heads.values())
            # logit of each extra channel's start value, per output column
            starts = [torch.full((c.width,), float(c.initial if c.initial is not None else 0.5)) for c in extra]
            self.register_buffer("channel_start", torch.logit(torch.cat(starts).clamp(1e-4, 1 - 1e-4)), persistent=False)
        if generator is not None:
            self._init_from(generator)
        for head in heads:
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)

    def _init_from(self, generator: torch.Generator) -> None:
        """PyTorch's default Linear init, drawn from ``generator`` instead of the global stream."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                with torch.no_grad():
                    module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 2 * bound - bound)
                    module.bias.copy_(torch.rand(module.bias.shape, generator=generator) * 2 * bound - bound)

    def set_progress(self, step: int, total: int) -> None:
        """Iteration ``step`` of a run of ``total``; drives the progressive encoding."""
        if total < 1:
            raise ValueError(f"expected a positive number of iterations, got {total}")
        self.progress.copy_(torch.tensor([float(step), float(total)], dtype=torch.float64))
        self._progress = (float(step), float(total))

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._progress = None  # read from the loaded buffer on next use

    def encode(self, positions: torch.Tensor) -> torch.Tensor:
        """The network's input ``(V, 3 + E)`` for ``positions`` ``(V, 3)``: the positions and their
        masked Fourier features (``E = 2 n``), or their tri-plane features for a ``triplane``
        field (levels masked in the same progressive way, coarse to fine)."""
        if positions.dim() != 2 or positions.shape[-1] != 3:
            raise ValueError(f"expected positions of shape (V, 3), got {tuple(positions.shape)}")
        if self._progress is None:
            self._progress = tuple(float(v) for v in self.progress.tolist())
        step, total = self._progress
        # After the run (step >= total) the field is evaluated with every band on.
        on = self.config.progressive and step < total
        if self.encoding == "triplane":
            levels = len(self.planes.planes)
            weights = progressive_mask(levels, step, total, on).to(positions.device, positions.dtype) if on else None
            return torch.cat([positions, self.planes(positions, weights)], dim=-1)
        projected = 2 * math.pi * positions @ self.fourier_basis
        mask = progressive_mask(self.config.n_frequencies, step, total, on)
        mask = mask.to(positions.device, positions.dtype)
        return torch.cat([positions, torch.sin(projected) * mask, torch.cos(projected) * mask], dim=-1)

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """Adam parameter groups: everything at ``lr``, a tri-plane encoding's planes at
        ``lr * plane_lr_scale``."""
        if self.encoding != "triplane":
            return [{"params": list(self.parameters()), "lr": lr}]
        planes = {id(p) for p in self.planes.parameters()}
        rest = [p for p in self.parameters() if id(p) not in planes]
        return [{"params": rest, "lr": lr}, {"params": list(self.planes.parameters()), "lr": lr * self.config.plane_lr_scale}]

    def _hidden(self, positions: torch.Tensor) -> torch.Tensor:
        axis = "xyz".find(self.config.symmetry) if self.config.symmetry else -1
        if axis >= 0:  # out of place: abs() keeps its input for the backward pass
            positions = torch.cat([positions[:, :axis], positions[:, axis : axis + 1].abs(), positions[:, axis + 1 :]], dim=1)
        return self.trunk(self.encode(positions))

    def _colors(self, hidden: torch.Tensor, positions: torch.Tensor, base_colors: torch.Tensor | None) -> torch.Tensor:
        use_base = self.config.input_colours and base_colors is not None
        if self.config.colour and use_base:
            base = base_colors.to(hidden).clamp(_BASE_EPS, 1.0 - _BASE_EPS)
            return torch.sigmoid(torch.logit(base) + 2.0 * self.colour_head(hidden))
        if self.config.colour:
            return 0.5 + torch.tanh(self.colour_head(hidden)) / 2
        if use_base:
            return base_colors.to(hidden).clone()
        return positions.new_full((positions.shape[0], 3), 0.5)

    def _displacement(self, hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if self.config.geometry:
            return self.config.max_displacement * torch.tanh(self.displacement_head(hidden))
        return positions.new_zeros((positions.shape[0], 1))

    def _extras(self, hidden: torch.Tensor) -> torch.Tensor | None:
        if not self.material.extra_channels:
            return None
        raw = torch.cat([head(hidden) for head in self.channel_heads.values()], dim=-1)
        return torch.sigmoid(self.channel_start.to(raw) + raw)

    def forward(self, positions: torch.Tensor, base_colors: torch.Tensor | None = None) -> FieldOutput:
        """Colours, displacements (and the material's extra channels) at ``positions`` ``(V, 3)``.

        ``base_colors`` ``(V, 3)`` (sRGB in ``[0, 1]``) is the colour the field starts from when
        ``config.input_colours`` is set; it is ignored otherwise, and grey is used when None.
        """
        hidden = self._hidden(positions)
        return FieldOutput(self._colors(hidden, positions, base_colors), self._displacement(hidden, positions),
                           self._extras(hidden))  # fmt: skip

    def colors_at(self, positions: torch.Tensor, base_colors: torch.Tensor | None = None) -> torch.Tensor:
        """Colours ``(P, 3)`` only (the displacement head is not run). Equal to ``forward(...).colors``."""
        return self._colors(self._hidden(positions), positions, base_colors)

    def features_at(self, positions: torch.Tensor, base_colors: torch.Tensor | None = None) -> torch.Tensor:
        """The material's features ``(P, C)`` only (the displacement head is not run): what
        surface mode evaluates at every covered pixel or texel. Equal to ``forward(...).features``."""
        hidden = self._hidden(positions)
        colors, extras = self._colors(hidden, positions, base_colors), self._extras(hidden)
        return colors if extras is None else torch.cat([colors, extras], dim=-1)

    def displacement_at(self, positions: torch.Tensor) -> torch.Tensor:
        """Displacements ``(P, 1)`` only (normal maps sample them per texel)."""
        return self._displacement(self._hidden(positions), positions)

    def stylize(
        self, vertices: torch.Tensor, faces: torch.Tensor, base_colors: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Displaced vertices ``(V, 3)`` and colours ``(V, 3)`` of a mesh in the normalised frame."""
        out = self(vertices, base_colors)
        return vertices + vertex_normals(vertices, faces) * out.displacement, out.colors

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to rebuild the field: only tensors, numbers, strings, lists, dicts."""
        return {
            "format": FIELD_FORMAT,
            "config": dataclasses.asdict(self.config),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
            "normalization": self.normalization.to_dict(),
            "material": self.material.name,
            "material_options": self.material.options(),
        }

    def save(self, path: str | Path, **extra: Any) -> Path:
        """Write ``field.pt`` atomically; ``extra`` (plain values) is stored beside the weights."""
        data = self.checkpoint()
        data["extra"] = dict(extra)
        return save_torch(path, data)

    @classmethod
    def from_checkpoint(cls, data: Mapping[str, Any]) -> NeuralStyleField:
        if not isinstance(data, Mapping) or data.get("format") != FIELD_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise InputError(f"expected a {FIELD_FORMAT} checkpoint, got {found!r}")
        known = {f.name for f in dataclasses.fields(FieldConfig)}
        config = FieldConfig(**{k: v for k, v in data["config"].items() if k in known})
        norm = data["normalization"]
        normalization = Normalization(center=np.asarray(norm["center"], dtype=np.float64), scale=float(norm["scale"]))
        # Fields saved before materials existed are diffuse.
        options = dict(data.get("material_options") or {})
        try:
            material = get_material(str(data.get("material", "diffuse")), **options)
        except (TypeError, ValueError) as exc:
            raise InputError(f"field checkpoint: bad options for its material ({first_line(exc)})") from None
        field = cls(config, normalization, material=material)
        field.load_state_dict(data["state_dict"])
        field.extra = dict(data.get("extra", {}))
        return field


def load_field(path: str | Path, map_location: str | torch.device = "cpu") -> NeuralStyleField:
    """Load a ``field.pt`` written by :meth:`NeuralStyleField.save` (safe: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"field file {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise InputError(f"{path}: not a readable field checkpoint ({first_line(exc)})") from None
    return NeuralStyleField.from_checkpoint(data)
