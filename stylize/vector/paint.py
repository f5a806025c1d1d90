"""Paint of vector paths: solid colours and linear or radial gradients, differentiable.

A path's fill and stroke are each painted with a *paint*: a solid straight RGBA colour (the
scene's ``fill_colors`` / ``stroke_colors``) or a :class:`Gradient`. Gradients follow SVG:

- *stops*: offsets in [0, 1] (non-decreasing) with straight RGBA colours, interpolated linearly
  in straight (not premultiplied) sRGB, as SVG renderers do; equal offsets make a hard step;
- *linear*: ``t`` is the projection of the point onto the line from ``start`` to ``end``;
- *radial*: SVG 2's two-circle gradient from the focal circle (``start``, ``start_radius``:
  SVG's ``fx, fy, fr``) to the end circle (``end``, ``end_radius``: ``cx, cy, r``): ``t`` is the
  largest value whose interpolated circle passes through the point;
- *spread* beyond [0, 1]: ``pad`` (clamp), ``reflect`` or ``repeat``;
- *transform*: the affine map ``(a, b, c, d, e, f)`` (SVG's ``matrix()``) from the gradient's
  own coordinates to canvas pixels. An SVG gradient's ``gradientUnits="objectBoundingBox"``,
  ``gradientTransform`` and the element's transform all fold into it.

In a :class:`~stylize.vector.scene.Scene` the gradients of all paths are packed into tensors
(:func:`pack_gradients`): stop colours, stop offsets and the geometry (``start``, ``end``, radii)
are differentiable parameters; :func:`gradient_colors` evaluates them at pixel centres with
autograd, on any device. A path painted by a gradient keeps a solid colour too (the gradient's
average over its stops), which backends without gradients draw instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

GRADIENT_KINDS = ("linear", "radial")
SPREADS = ("pad", "reflect", "repeat")
IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
# Offsets closer than this are a hard step (no interpolation between them).
_STEP = 1e-6


@dataclass
class Gradient:
    """A linear or radial gradient (plain values or tensors; see the module docstring).

    Attributes:
        kind: ``"linear"`` or ``"radial"``.
        offsets: stop offsets in [0, 1], non-decreasing. Shape (N,), N >= 1.
        colors: straight RGBA of each stop (RGB gets alpha 1). Shape (N, 4) or (N, 3).
        start: linear: the point where t = 0; radial: the focal point.
        end: linear: the point where t = 1; radial: the end circle's centre.
        start_radius: radial: the focal circle's radius (SVG 2 ``fr``); unused for linear.
        end_radius: radial: the end circle's radius (``r``); unused for linear.
        spread: ``"pad"``, ``"reflect"`` or ``"repeat"``.
        transform: gradient coordinates -> canvas pixels, ``(a, b, c, d, e, f)``.
    """

    kind: str
    offsets: Sequence[float] | Tensor
    colors: Sequence[Sequence[float]] | Tensor
    start: Sequence[float] | Tensor = (0.0, 0.0)
    end: Sequence[float] | Tensor = (1.0, 0.0)
    start_radius: float = 0.0
    end_radius: float = 1.0
    spread: str = "pad"
    transform: Sequence[float] = field(default=IDENTITY)

    def __post_init__(self) -> None:
        if self.kind not in GRADIENT_KINDS or self.spread not in SPREADS:
            raise ValueError(f"expected kind in {GRADIENT_KINDS} and spread in {SPREADS}, got {self.kind!r}, {self.spread!r}")
        offsets, colors = self.stop_tensors()
        if offsets.ndim != 1 or offsets.shape[0] < 1 or colors.shape != (offsets.shape[0], 4):
            raise ValueError(f"expected N >= 1 offsets and (N, 3|4) colours, got {tuple(offsets.shape)}, {tuple(colors.shape)}")
        if len(tuple(self.transform)) != 6:
            raise ValueError(f"expected a transform of 6 numbers (a, b, c, d, e, f), got {self.transform!r}")

    def stop_tensors(self, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
        """Offsets (N,) and straight RGBA colours (N, 4) as detached CPU tensors."""
        dtype = dtype or torch.get_default_dtype()
        offsets = torch.as_tensor(self.offsets, dtype=dtype).detach().cpu().reshape(-1)
        colors = torch.as_tensor(self.colors, dtype=dtype).detach().cpu()
        if colors.ndim == 2 and colors.shape[1] == 3:
            colors = torch.cat([colors, colors.new_ones(colors.shape[0], 1)], 1)
        return offsets, colors

    def geometry(self) -> list[float]:
        """``[start x, start y, end x, end y, start radius, end radius]``."""
        start = [float(v) for v in torch.as_tensor(self.start).reshape(-1)]
        end = [float(v) for v in torch.as_tensor(self.end).reshape(-1)]
        return [*start, *end, float(self.start_radius), float(self.end_radius)]

    def average_color(self) -> tuple[float, float, float, float]:
        """The mean of the stop colours weighted by the offset ranges they cover (premultiplied)."""
        offsets, colors = self.stop_tensors(torch.float64)
        if offsets.shape[0] == 1:
            return tuple(float(c) for c in colors[0])  # type: ignore[return-value]
        edges = torch.cat([offsets[:1] * 0, (offsets[1:] + offsets[:-1]) / 2, offsets[-1:] * 0 + 1])
        weights = (edges[1:] - edges[:-1]).clamp(min=0)
        weights = weights / weights.sum() if float(weights.sum()) > 0 else torch.full_like(weights, 1 / weights.numel())
        alpha = float((colors[:, 3] * weights).sum())
        rgb = (colors[:, :3] * (colors[:, 3] * weights)[:, None]).sum(0) / alpha if alpha > 0 else colors[:, :3].mean(0)
        return float(rgb[0]), float(rgb[1]), float(rgb[2]), alpha

    def scaled_alpha(self, factor: float) -> Gradient:
        """The same gradient with every stop's alpha multiplied by ``factor`` (an SVG paint opacity)."""
        offsets, colors = self.stop_tensors(torch.float64)
        colors[:, 3] *= factor
        return Gradient(self.kind, offsets, colors, self.start, self.end, self.start_radius, self.end_radius,
                        self.spread, tuple(self.transform))  # fmt: skip

    def transformed(self, transform: Sequence[float]) -> Gradient:
        """The gradient with ``transform`` applied after its own (``transform . self.transform``)."""
        return Gradient(self.kind, self.offsets, self.colors, self.start, self.end, self.start_radius, self.end_radius,
                        self.spread, compose(transform, self.transform))  # fmt: skip


def compose(outer: Sequence[float], inner: Sequence[float]) -> tuple[float, ...]:
    """The affine map ``outer . inner`` (apply ``inner`` first), both ``(a, b, c, d, e, f)``."""
    a1, b1, c1, d1, e1, f1 = (float(v) for v in outer)
    a2, b2, c2, d2, e2, f2 = (float(v) for v in inner)
    return (a1 * a2 + c1 * b2, b1 * a2 + d1 * b2, a1 * c2 + c1 * d2, b1 * c2 + d1 * d2, a1 * e2 + c1 * f2 + e1,
            b1 * e2 + d1 * f2 + f1)  # fmt: skip


@dataclass
class PackedGradients:
    """The gradients of a scene as tensors (see :class:`~stylize.vector.scene.Scene`)."""

    kinds: Tensor  # (G,) long index into GRADIENT_KINDS
    spreads: Tensor  # (G,) long index into SPREADS
    geometry: Tensor  # (G, 6) float
    transforms: Tensor  # (G, 6) float
    stop_offsets: Tensor  # (T,) float
    stop_colors: Tensor  # (T, 4) float
    stop_gradient: Tensor  # (T,) long, non-decreasing


def pack_gradients(gradients: Sequence[Gradient], dtype: torch.dtype) -> PackedGradients:
    """Pack gradients (in order) into tensors on the CPU."""
    offsets, colors, owners = [], [], []
    for index, gradient in enumerate(gradients):
        stop_offsets, stop_colors = gradient.stop_tensors(dtype)
        offsets.append(stop_offsets)
        colors.append(stop_colors)
        owners.append(torch.full((stop_offsets.shape[0],), index, dtype=torch.long))
    return PackedGradients(
        kinds=torch.tensor([GRADIENT_KINDS.index(g.kind) for g in gradients], dtype=torch.long),
        spreads=torch.tensor([SPREADS.index(g.spread) for g in gradients], dtype=torch.long),
        geometry=torch.tensor([g.geometry() for g in gradients], dtype=dtype).reshape(-1, 6),
        transforms=torch.tensor([[float(v) for v in g.transform] for g in gradients], dtype=dtype).reshape(-1, 6),
        stop_offsets=torch.cat(offsets) if offsets else torch.zeros(0, dtype=dtype),
        stop_colors=torch.cat(colors) if colors else torch.zeros(0, 4, dtype=dtype),
        stop_gradient=torch.cat(owners) if owners else torch.zeros(0, dtype=torch.long),
    )


def unpack_gradient(packed: PackedGradients, index: int) -> Gradient:
    """Gradient ``index`` as a :class:`Gradient` of detached CPU values."""
    stops = (packed.stop_gradient == index).nonzero().flatten().cpu()
    geometry = packed.geometry[index].detach().cpu().tolist()
    return Gradient(
        GRADIENT_KINDS[int(packed.kinds[index])], packed.stop_offsets.detach().cpu()[stops],
        packed.stop_colors.detach().cpu()[stops], geometry[0:2], geometry[2:4], geometry[4], geometry[5],
        SPREADS[int(packed.spreads[index])], tuple(packed.transforms[index].detach().cpu().tolist()),
    )  # fmt: skip


def _invert(transforms: Tensor) -> Tensor:
    a, b, c, d, e, f = transforms.unbind(-1)
    determinant = a * d - b * c
    determinant = torch.where(determinant.abs() < 1e-12, torch.full_like(determinant, 1e-12), determinant)
    ia, ib, ic, id_ = d / determinant, -b / determinant, -c / determinant, a / determinant
    return torch.stack([ia, ib, ic, id_, -(ia * e + ic * f), -(ib * e + id_ * f)], -1)


def _spread(t: Tensor, spread: Tensor) -> Tensor:
    reflect = 1.0 - ((t.remainder(2.0)) - 1.0).abs()
    repeat = t - torch.floor(t)
    return torch.where(spread == 1, reflect, torch.where(spread == 2, repeat, t.clamp(0.0, 1.0)))


def gradient_parameter(gradients: PackedGradients, which: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The gradient parameter ``t`` (before spreading) at canvas points, and where it is defined.

    Shape:
        which, x, y: (F,) (gradient index, canvas point). Returns (F,) values and (F,) bool.
    """
    inverse = _invert(gradients.transforms)[which]
    gx = inverse[:, 0] * x + inverse[:, 2] * y + inverse[:, 4]
    gy = inverse[:, 1] * x + inverse[:, 3] * y + inverse[:, 5]
    sx, sy, ex, ey, start_radius, end_radius = gradients.geometry[which].unbind(1)
    dx, dy = ex - sx, ey - sy
    px, py = gx - sx, gy - sy
    # Linear: projection onto the start -> end line.
    linear = (px * dx + py * dy) / (dx * dx + dy * dy).clamp(min=1e-12)
    # Radial: the largest t with |p - t d| = start_radius + t dr and a non-negative radius.
    dr = end_radius - start_radius
    a = dx * dx + dy * dy - dr * dr
    b = px * dx + py * dy + start_radius * dr
    c = px * px + py * py - start_radius * start_radius
    discriminant = b * b - a * c
    root = torch.sqrt(discriminant.clamp(min=1e-12))
    flat = a.abs() < 1e-9
    safe_a = torch.where(flat, torch.ones_like(a), a)
    first, second = (b + root) / safe_a, (b - root) / safe_a
    high, low = torch.maximum(first, second), torch.minimum(first, second)
    high_ok = start_radius + high * dr >= 0
    radial = torch.where(high_ok, high, low)
    linear_case = c / (2 * torch.where(b.abs() < 1e-12, torch.full_like(b, 1e-12), b))
    radial = torch.where(flat, linear_case, radial)
    radial_ok = torch.where(flat, start_radius + radial * dr >= 0, (discriminant >= 0) & (start_radius + radial * dr >= 0))
    is_linear = gradients.kinds[which] == 0
    return torch.where(is_linear, linear, radial), is_linear | radial_ok


def gradient_colors(gradients: PackedGradients, which: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Straight RGBA of gradients ``which`` at canvas points ``(x, y)``, differentiable w.r.t. the
    stop colours, stop offsets and geometry.

    Shape:
        which, x, y: (F,). Returns (F, 4).
    """
    t, defined = gradient_parameter(gradients, which, x, y)
    t = _spread(t, gradients.spreads[which])
    stop_count = torch.bincount(gradients.stop_gradient, minlength=gradients.kinds.shape[0])
    first_stop = torch.cumsum(stop_count, 0) - stop_count
    color = gradients.stop_colors[first_stop[which]]
    # Each interval between consecutive stops adds (next - this) x its ramp at t.
    intervals = (stop_count - 1).clamp(min=0)
    with torch.no_grad():
        owner = torch.repeat_interleave(torch.arange(which.shape[0], device=which.device), intervals[which])
        local = torch.arange(owner.shape[0], device=which.device) - (torch.cumsum(intervals[which], 0) - intervals[which])[owner]
        low_stop = first_stop[which[owner]] + local
    low, high = gradients.stop_offsets[low_stop], gradients.stop_offsets[low_stop + 1]
    span = high - low
    hard = span < _STEP
    ramp = ((t[owner] - low) / torch.where(hard, torch.ones_like(span), span)).clamp(0.0, 1.0)
    ramp = torch.where(hard, (t[owner] >= low).to(t.dtype), ramp)
    step = (gradients.stop_colors[low_stop + 1] - gradients.stop_colors[low_stop]) * ramp[:, None]
    color = color.index_add(0, owner, step)
    return torch.where(defined[:, None], color, torch.zeros_like(color))


def empty_gradients(dtype: torch.dtype, device) -> PackedGradients:
    """No gradients (the packed tensors of a scene without any)."""
    longs = {"dtype": torch.long, "device": device}
    floats = {"dtype": dtype, "device": device}
    return PackedGradients(torch.zeros(0, **longs), torch.zeros(0, **longs), torch.zeros(0, 6, **floats),
                           torch.zeros(0, 6, **floats), torch.zeros(0, **floats), torch.zeros(0, 4, **floats),
                           torch.zeros(0, **longs))  # fmt: skip


def gradient_fields(packed: PackedGradients) -> dict[str, Tensor]:
    """The :class:`~stylize.vector.scene.Scene` fields holding ``packed``."""
    return {"gradient_kinds": packed.kinds, "gradient_spreads": packed.spreads, "gradient_geometry": packed.geometry,
            "gradient_transforms": packed.transforms, "stop_offsets": packed.stop_offsets,
            "stop_colors": packed.stop_colors, "stop_gradient": packed.stop_gradient}  # fmt: skip


def check_gradients(packed: PackedGradients, fill_gradient: Tensor, stroke_gradient: Tensor, num_paths: int) -> None:
    """Raise ValueError unless the gradient tensors of a scene agree with each other and its paths."""
    count, stops = packed.kinds.shape[0], packed.stop_offsets.shape[0]
    for name, value in (("fill_gradient", fill_gradient), ("stroke_gradient", stroke_gradient)):
        if tuple(value.shape) != (num_paths,) or value.dtype != torch.long:
            raise ValueError(f"expected {name} as a long tensor of shape ({num_paths},), got {value.dtype} {tuple(value.shape)}")
        if value.numel() and (int(value.min()) < -1 or int(value.max()) >= count):
            raise ValueError(f"expected {name} to index the {count} gradients or be -1")
    shapes = {"gradient_spreads": (packed.spreads, (count,)), "gradient_geometry": (packed.geometry, (count, 6)),
              "gradient_transforms": (packed.transforms, (count, 6)), "stop_colors": (packed.stop_colors, (stops, 4)),
              "stop_gradient": (packed.stop_gradient, (stops,))}  # fmt: skip
    for name, (value, shape) in shapes.items():
        if tuple(value.shape) != shape:
            raise ValueError(f"expected {name} of shape {shape}, got {tuple(value.shape)}")
    owners = packed.stop_gradient
    if count and (owners.numel() == 0 or bool((owners[1:] < owners[:-1]).any()) or int(owners[0]) != 0
                  or int(owners[-1]) != count - 1 or int(torch.unique(owners).numel()) != count):  # fmt: skip
        raise ValueError("expected stop_gradient non-decreasing, with >= 1 stop for every gradient")
