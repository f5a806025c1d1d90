"""Vector scenes as tensors: paths of cubic Bézier segments with stroke and fill styles.

A :class:`Scene` holds every path of a drawing in a few packed tensors so that the renderer can
work on all of them at once and an optimiser can update them in three groups (points, widths,
colours), as CLIPDraw does.

Conventions (those of diffvg, so that CLIPDraw hyper-parameters carry over):

- Coordinates are pixels, x to the right and y down, origin at the top-left corner of the canvas.
- A *contour* is a chain of cubic segments. An open contour with ``n`` segments has ``3n + 1``
  control points; a closed one has ``3n`` (the last segment ends at the first point).
- A *path* owns one or more contours (several for shapes with holes) and one style: a stroke
  half-width (SVG ``stroke-width`` is twice it), a stroke RGBA and a fill RGBA (straight alpha,
  in [0, 1]), a fill rule (``"nonzero"`` or ``"evenodd"``) and whether it is stroked and filled.
  Only paths whose contours are all closed may be filled.
- A path's stroke also has SVG's line cap (``"butt"``, ``"round"``, ``"square"``) at the ends of
  open contours, line join (``"miter"``, ``"round"``, ``"bevel"``) where segments meet, and
  miter limit. Round caps and joins (diffvg's only kind) are the default.
- A path's ``opacity`` (SVG's element opacity) applies to its fill and stroke composited
  together, so that the fill does not show through the inner half of a translucent stroke.
- z-order is path order: later paths are painted over earlier ones; a path's fill lies under its
  own stroke.
- Clipping: a path may be clipped by a *clip group*: the union of the fills of the paths that
  are members of that group (``clip_of``), which are not painted themselves; the clipped
  path's coverage is multiplied by the group's (SVG's ``clip-path``, antialiased and
  differentiable w.r.t. the clip geometry). A clip member may not itself be clipped.
- A path's fill and stroke are each painted with a solid colour or a linear or radial
  :class:`~stylize.vector.paint.Gradient` (:mod:`stylize.vector.paint`); a scene packs the
  gradients of all paths into tensors whose stop colours, stop offsets and geometry are
  differentiable. A gradient-painted layer keeps a solid colour too (the gradient's average).

Lines and quadratic segments become exact cubics; rectangles, circles, ellipses, polygons and
polylines become paths with the helpers below."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from stylize.vector.packing import as_points, check_contour, pack_paths, segment_index, segment_links, unpack_paths
from stylize.vector.paint import Gradient, PackedGradients, check_gradients, empty_gradients, gradient_fields

FILL_RULES = ("nonzero", "evenodd")
# Stroke styles; a scene stores each as its index in these tuples.
LINECAPS = ("butt", "round", "square")
LINEJOINS = ("miter", "round", "bevel")
ROUND_CAP = LINECAPS.index("round")
ROUND_JOIN = LINEJOINS.index("round")
DEFAULT_MITER_LIMIT = 4.0

# Control-point distance for a cubic that approximates a quarter circle of radius 1.
_KAPPA = 4.0 * (math.sqrt(2.0) - 1.0) / 3.0


def line_to_cubic(start: Tensor, end: Tensor) -> Tensor:
    """The two inner control points that make a straight cubic from ``start`` to ``end``.

    Shape:
        start, end: (2,). Returns (2, 2): the control points between them.
    """
    return torch.stack([start + (end - start) / 3.0, start + (end - start) * (2.0 / 3.0)])


def quadratic_to_cubic(start: Tensor, control: Tensor, end: Tensor) -> Tensor:
    """The two inner control points of the cubic equal to a quadratic Bézier (exact elevation).

    Shape:
        start, control, end: (2,). Returns (2, 2).
    """
    return torch.stack([start + (control - start) * (2.0 / 3.0), end + (control - end) * (2.0 / 3.0)])


def polyline_contour(vertices: Tensor | Sequence, closed: bool = False) -> Tensor:
    """Control points of a contour made of straight segments through ``vertices``.

    Args:
        vertices: corner points in pixels.
        closed: join the last vertex back to the first (a polygon).

    Returns:
        Control points in the contour layout of this module.

    Shape:
        vertices: (V, 2) with V >= 2. Returns (3(V-1)+1, 2) when open, (3V, 2) when closed.
    """
    vertices = as_points(vertices, "vertices")
    if vertices.shape[0] < 2:
        raise ValueError(f"expected at least 2 vertices, got {vertices.shape[0]}")
    ends = torch.roll(vertices, -1, dims=0) if closed else vertices[1:]
    starts = vertices if closed else vertices[:-1]
    pieces = []
    for start, end in zip(starts, ends, strict=False):
        pieces.append(start[None])
        pieces.append(line_to_cubic(start, end))
    if not closed:
        pieces.append(vertices[-1:])
    return torch.cat(pieces)


def ellipse_contour(center: Sequence[float], radius_x: float, radius_y: float) -> Tensor:
    """A closed four-segment cubic contour approximating an axis-aligned ellipse.

    The quarter-arc approximation deviates from the true ellipse by at most 0.027 % of the radius.

    Shape:
        Returns (12, 2).
    """
    if radius_x <= 0 or radius_y <= 0:
        raise ValueError(f"expected positive radii, got ({radius_x}, {radius_y})")
    cx, cy = float(center[0]), float(center[1])
    k = _KAPPA
    unit = [
        (1, 0), (1, k), (k, 1),
        (0, 1), (-k, 1), (-1, k),
        (-1, 0), (-1, -k), (-k, -1),
        (0, -1), (k, -1), (1, -k),
    ]  # fmt: skip
    return torch.tensor([(cx + ux * radius_x, cy + uy * radius_y) for ux, uy in unit], dtype=torch.get_default_dtype())


def rect_contour(x: float, y: float, width: float, height: float) -> Tensor:
    """A closed contour around the rectangle with top-left corner (x, y). Shape: returns (12, 2)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"expected a positive rectangle size, got {width} x {height}")
    corners = torch.tensor([(x, y), (x + width, y), (x + width, y + height), (x, y + height)], dtype=torch.get_default_dtype())
    return polyline_contour(corners, closed=True)


@dataclass
class VectorPath:
    """One path before packing: its contours and its style (plain values, easy to build by hand).

    Attributes:
        contours: control points of each contour, shape (N_i, 2) in the module's layout.
        closed: one flag per contour (a single bool applies to all).
        stroke_width: stroke half-width in pixels (diffvg convention; SVG stroke-width / 2).
        stroke_color: RGBA in [0, 1], or None for no stroke.
        fill_color: RGBA in [0, 1], or None for no fill (needs closed contours).
        fill_rule: ``"nonzero"`` or ``"evenodd"``.
        linecap: ``"butt"``, ``"round"`` or ``"square"``: the ends of open contours.
        linejoin: ``"miter"``, ``"round"`` or ``"bevel"``: where segments meet.
        miter_limit: longest miter, in stroke widths, before a miter join becomes a bevel (>= 1).
        opacity: opacity of the fill and stroke together, in [0, 1].
        fill_gradient, stroke_gradient: a :class:`~stylize.vector.paint.Gradient` painting the
            fill or stroke instead of its colour (the colour may then be None: it becomes the
            gradient's average).
        clipped_by: the clip group that clips this path, or -1.
        clip_of: the clip group this path is a member of (its fill is clip geometry, not
            painted), or -1 for a painted path.
    """

    contours: list[Tensor]
    closed: list[bool] | bool = False
    stroke_width: float | Tensor = 1.0
    stroke_color: Tensor | Sequence[float] | None = (0.0, 0.0, 0.0, 1.0)
    fill_color: Tensor | Sequence[float] | None = None
    fill_rule: str = "nonzero"
    linecap: str = "round"
    linejoin: str = "round"
    miter_limit: float = DEFAULT_MITER_LIMIT
    opacity: float = 1.0
    fill_gradient: Gradient | None = None
    stroke_gradient: Gradient | None = None
    clipped_by: int = -1
    clip_of: int = -1

    def closed_flags(self) -> list[bool]:
        """The closed flag of each contour."""
        if isinstance(self.closed, bool):
            return [self.closed] * len(self.contours)
        return [bool(flag) for flag in self.closed]


def _expect_per_path(name: str, value: Tensor, num_paths: int, kind: str) -> None:
    ok = value.is_floating_point() if kind == "float" else value.dtype == {"bool": torch.bool, "long": torch.long}[kind]
    if tuple(value.shape) != (num_paths,) or not ok:
        raise ValueError(f"expected {name} as a {kind} tensor of shape ({num_paths},), got {value.dtype} {tuple(value.shape)}")


@dataclass(eq=False)
class Scene:
    """All paths of a drawing as packed tensors.

    Differentiable tensors (leaves an optimiser may update):

    Attributes:
        points: control points of every contour, concatenated in path order. Shape (N, 2).
        stroke_widths: stroke half-width of each path in pixels. Shape (P,).
        stroke_colors: straight RGBA of each path's stroke. Shape (P, 4).
        fill_colors: straight RGBA of each path's fill. Shape (P, 4).

    Topology (integer or boolean tensors on the same device, never differentiated):

    Attributes:
        contour_point_counts: control points per contour. Shape (C,).
        contour_closed: whether each contour is closed. Shape (C,).
        contour_path: the path each contour belongs to (non-decreasing). Shape (C,).
        has_stroke, has_fill, evenodd: per-path flags. Shape (P,).

    Stroke style and opacity (never differentiated; None in the constructor means SVG's
    defaults of a CLIPDraw stroke: round caps, round joins, miter limit 4, opacity 1):

    Attributes:
        stroke_caps: index into :data:`LINECAPS` of each path's cap. Shape (P,), long.
        stroke_joins: index into :data:`LINEJOINS` of each path's join. Shape (P,), long.
        miter_limits: miter limit of each path (>= 1). Shape (P,), float.
        opacities: opacity of each path's fill and stroke together, in [0, 1]. Shape (P,), float.

    Gradients (None in the constructor means none; see :mod:`stylize.vector.paint`):

    Attributes:
        fill_gradient, stroke_gradient: the gradient painting each path's fill / stroke, or -1
            for its solid colour. Shape (P,), long.
        gradient_kinds, gradient_spreads: index into ``GRADIENT_KINDS`` / ``SPREADS``. Shape (G,).
        gradient_geometry: ``[start x, y, end x, y, start radius, end radius]`` (differentiable). Shape (G, 6).
        gradient_transforms: gradient coordinates -> canvas pixels ``(a, b, c, d, e, f)``. Shape (G, 6).
        stop_offsets: every stop's offset (differentiable), grouped by gradient. Shape (T,).
        stop_colors: every stop's straight RGBA (differentiable). Shape (T, 4).
        stop_gradient: the gradient each stop belongs to (non-decreasing). Shape (T,), long.

    Clipping (see the module docstring; None in the constructor means no clips):

    Attributes:
        clipped_by, clip_of: per path, the clip group clipping it / the group it belongs to,
            or -1. Shape (P,), long.

    Build one with :meth:`from_paths` (or :func:`random_strokes`); the dataclass constructor
    checks that all shapes agree.
    """

    points: Tensor
    stroke_widths: Tensor
    stroke_colors: Tensor
    fill_colors: Tensor
    contour_point_counts: Tensor
    contour_closed: Tensor
    contour_path: Tensor
    has_stroke: Tensor
    has_fill: Tensor
    evenodd: Tensor
    stroke_caps: Tensor | None = None
    stroke_joins: Tensor | None = None
    miter_limits: Tensor | None = None
    opacities: Tensor | None = None
    fill_gradient: Tensor | None = None
    stroke_gradient: Tensor | None = None
    clipped_by: Tensor | None = None
    clip_of: Tensor | None = None
    gradient_kinds: Tensor | None = None
    gradient_spreads: Tensor | None = None
    gradient_geometry: Tensor | None = None
    gradient_transforms: Tensor | None = None
    stop_offsets: Tensor | None = None
    stop_colors: Tensor | None = None
    stop_gradient: Tensor | None = None
    _segment_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        num_paths = self.stroke_widths.shape[0] if self.stroke_widths.ndim == 1 else -1
        self._default_styles(max(num_paths, 0))
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError(f"expected points of shape (N, 2), got {tuple(self.points.shape)}")
        if self.stroke_widths.ndim != 1:
            raise ValueError(f"expected stroke_widths of shape (P,), got {tuple(self.stroke_widths.shape)}")
        for name in ("stroke_colors", "fill_colors"):
            value = getattr(self, name)
            if tuple(value.shape) != (num_paths, 4):
                raise ValueError(f"expected {name} of shape ({num_paths}, 4), got {tuple(value.shape)}")
        for name in ("has_stroke", "has_fill", "evenodd"):
            _expect_per_path(name, getattr(self, name), num_paths, "bool")
        num_contours = self.contour_point_counts.shape[0]
        for name in ("contour_closed", "contour_path"):
            if tuple(getattr(self, name).shape) != (num_contours,):
                raise ValueError(f"expected {name} of shape ({num_contours},), got {tuple(getattr(self, name).shape)}")
        if int(self.contour_point_counts.sum()) != self.points.shape[0]:
            total = int(self.contour_point_counts.sum())
            raise ValueError(f"contour_point_counts sum to {total} but points has {self.points.shape[0]} rows")
        if num_contours and (self.contour_path.min() < 0 or self.contour_path.max() >= num_paths):
            raise ValueError(f"contour_path must index paths 0..{num_paths - 1}")
        if num_contours and bool((self.contour_path[1:] < self.contour_path[:-1]).any()):
            raise ValueError("contour_path must be non-decreasing (contours grouped by path, in path order)")
        open_in_filled = self.has_fill[self.contour_path] & ~self.contour_closed
        if bool(open_in_filled.any()):
            path_index = int(self.contour_path[open_in_filled][0])
            raise ValueError(f"path {path_index} is filled but has an open contour; close it or remove the fill")
        self._check_styles(num_paths)
        counts = self.contour_point_counts
        bad = torch.where(self.contour_closed, (counts < 3) | (counts % 3 != 0), (counts < 4) | ((counts - 1) % 3 != 0))
        if bool(bad.any()):
            index = int(bad.nonzero()[0])
            check_contour(torch.empty(int(counts[index]), 2), bool(self.contour_closed[index]), f"contour {index}")

    def _default_styles(self, num_paths: int) -> None:
        floats = self.stroke_widths.dtype
        defaults = (("stroke_caps", ROUND_CAP, torch.long), ("stroke_joins", ROUND_JOIN, torch.long),
                    ("miter_limits", DEFAULT_MITER_LIMIT, floats), ("opacities", 1.0, floats))  # fmt: skip
        device = self.stroke_widths.device
        indices = tuple((name, -1, torch.long) for name in ("fill_gradient", "stroke_gradient", "clipped_by", "clip_of"))
        for name, value, dtype in defaults + indices:
            if getattr(self, name) is None:
                setattr(self, name, torch.full((num_paths,), value, dtype=dtype, device=device))
        if self.gradient_kinds is None:
            for name, value in gradient_fields(empty_gradients(floats, device)).items():
                setattr(self, name, value if getattr(self, name) is None else getattr(self, name))

    def _check_styles(self, num_paths: int) -> None:
        for name, choices in (("stroke_caps", LINECAPS), ("stroke_joins", LINEJOINS)):
            value = getattr(self, name)
            _expect_per_path(name, value, num_paths, "long")
            if value.numel() and (int(value.min()) < 0 or int(value.max()) >= len(choices)):
                raise ValueError(f"expected {name} to index {choices}, got values {sorted(set(value.tolist()))}")
        for name in ("miter_limits", "opacities"):
            _expect_per_path(name, getattr(self, name), num_paths, "float")
        if not bool((self.miter_limits >= 1).all()) or not bool(((self.opacities >= 0) & (self.opacities <= 1)).all()):
            raise ValueError("expected miter_limits >= 1 and opacities in [0, 1]")
        check_gradients(self.gradients, self.fill_gradient, self.stroke_gradient, num_paths)
        for name in ("clipped_by", "clip_of"):
            _expect_per_path(name, getattr(self, name), num_paths, "long")
        members = self.clip_of >= 0
        if bool((members & (self.clipped_by >= 0)).any()) or bool((members & ~self.has_fill).any()):
            raise ValueError("expected clip members (clip_of >= 0) to be filled and not clipped themselves")

    @property
    def num_gradients(self) -> int:
        return int(self.gradient_kinds.shape[0])

    @property
    def gradients(self) -> PackedGradients:
        """The gradient tensors as one :class:`~stylize.vector.paint.PackedGradients` (shared storage)."""
        return PackedGradients(self.gradient_kinds, self.gradient_spreads, self.gradient_geometry,
                               self.gradient_transforms, self.stop_offsets, self.stop_colors, self.stop_gradient)  # fmt: skip

    @property
    def has_stroke_styles(self) -> bool:
        """Whether any stroked path has a cap or join other than round (needs the general stroker)."""
        styled = (self.stroke_caps != ROUND_CAP) | (self.stroke_joins != ROUND_JOIN)
        return bool((styled & self.has_stroke).any())

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_paths(
        cls,
        paths: Iterable[VectorPath],
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        requires_grad: bool = False,
    ) -> Scene:
        """Pack :class:`VectorPath` objects into a scene (copies the values; leaves are new).

        Args:
            paths: the paths in z-order (first is painted first).
            device, dtype: where the tensors live; default float dtype and CPU.
            requires_grad: make points, widths and colours leaves that require grad.
        """
        dtype = dtype or torch.get_default_dtype()
        paths = list(paths)
        for path_index, path in enumerate(paths):
            if not isinstance(path, VectorPath):
                raise TypeError(f"expected VectorPath objects, got {type(path).__name__} at index {path_index}")
        scene = cls(**pack_paths(paths, dtype, FILL_RULES, LINECAPS, LINEJOINS))
        scene = scene.to(device=device) if device is not None else scene
        return scene.requires_grad_(requires_grad)

    def _replace(self, **tensors: Tensor) -> Scene:
        values = {name: getattr(self, name) for name in self._tensor_names()}
        values.update(tensors)
        return Scene(**values)

    @staticmethod
    def _tensor_names() -> tuple[str, ...]:
        return (
            "points", "stroke_widths", "stroke_colors", "fill_colors", "contour_point_counts",
            "contour_closed", "contour_path", "has_stroke", "has_fill", "evenodd",
            "stroke_caps", "stroke_joins", "miter_limits", "opacities", "fill_gradient", "stroke_gradient", "clipped_by", "clip_of",
            "gradient_kinds", "gradient_spreads", "gradient_geometry", "gradient_transforms", "stop_offsets",
            "stop_colors", "stop_gradient",
        )  # fmt: skip

    # ------------------------------------------------------------------ parameters
    def requires_grad_(self, requires_grad: bool = True) -> Scene:
        """Set ``requires_grad`` on points, widths and colours in place; returns self."""
        for tensor in self.parameters():
            tensor.requires_grad_(requires_grad)
        return self

    def parameters(self) -> list[Tensor]:
        """The differentiable tensors: points, stroke widths, stroke colours, fill colours, and where
        the scene has gradients, their geometry, stop offsets and stop colours."""
        gradients = [self.gradient_geometry, self.stop_offsets, self.stop_colors] if self.num_gradients else []
        return [self.points, self.stroke_widths, self.stroke_colors, self.fill_colors] + gradients

    def point_params(self) -> list[Tensor]:
        """Parameter group of the control points, and of the gradients' geometry where there are
        gradients (both in pixels; CLIPDraw: Adam lr 1.0)."""
        return [self.points] + ([self.gradient_geometry] if self.num_gradients else [])

    def width_params(self) -> list[Tensor]:
        """Parameter group of the stroke half-widths (CLIPDraw: Adam lr 0.1)."""
        return [self.stroke_widths]

    def color_params(self) -> list[Tensor]:
        """Parameter group of the stroke and fill colours, and of the gradients' stop colours and
        offsets where there are gradients (CLIPDraw: Adam lr 0.01)."""
        return [self.stroke_colors, self.fill_colors] + ([self.stop_colors, self.stop_offsets] if self.num_gradients else [])

    def param_groups(self) -> dict[str, list[Tensor]]:
        """``{"points": [...], "widths": [...], "colors": [...]}`` for per-group optimisers."""
        return {"points": self.point_params(), "widths": self.width_params(), "colors": self.color_params()}

    @torch.no_grad()
    def clamp_(self, min_width: float = 1.0, max_width: float = 50.0) -> Scene:
        """Clamp widths to [min_width, max_width] and colours to [0, 1] in place (after a step)."""
        self.stroke_widths.clamp_(min_width, max_width)
        self.stroke_colors.clamp_(0.0, 1.0)
        self.fill_colors.clamp_(0.0, 1.0)
        if self.num_gradients:
            self.stop_colors.clamp_(0.0, 1.0)
            # Offsets in [0, 1] and non-decreasing within each gradient (a running max per gradient).
            lifted = self.stop_offsets.clamp(0.0, 1.0) + 2.0 * self.stop_gradient.to(self.stop_offsets.dtype)
            self.stop_offsets.copy_(torch.cummax(lifted, 0).values - 2.0 * self.stop_gradient.to(self.stop_offsets.dtype))
            self.gradient_geometry[:, 4:].clamp_(min=0.0)  # radii
        return self

    # ------------------------------------------------------------------ copies
    def detach(self) -> Scene:
        """A scene sharing storage with this one but cut from the autograd graph."""
        return self._replace(
            **{name: getattr(self, name).detach() for name in self._tensor_names() if getattr(self, name).is_floating_point()}
        )

    def clone(self) -> Scene:
        """A deep copy of every tensor (gradients flow back to this scene's tensors)."""
        return self._replace(**{name: getattr(self, name).clone() for name in self._tensor_names()})

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Scene:
        """Move to ``device`` and cast the float tensors to ``dtype``."""
        moved = {}
        for name in self._tensor_names():
            tensor = getattr(self, name)
            float_tensor = tensor.is_floating_point()
            moved[name] = tensor.to(device=device, dtype=dtype if (dtype is not None and float_tensor) else None)
        return Scene(**moved)

    def scaled(self, factor: float) -> Scene:
        """The scene with points and widths multiplied by ``factor`` (for a larger final render).

        The result is differentiable with respect to this scene's tensors.
        """
        if not factor > 0:
            raise ValueError(f"expected a positive scale factor, got {factor}")
        return self._replace(
            points=self.points * factor, stroke_widths=self.stroke_widths * factor,
            gradient_transforms=self.gradient_transforms * factor,
        )  # fmt: skip

    # ------------------------------------------------------------------ queries
    @property
    def num_paths(self) -> int:
        return int(self.stroke_widths.shape[0])

    @property
    def device(self) -> torch.device:
        return self.points.device

    @property
    def dtype(self) -> torch.dtype:
        return self.points.dtype

    def __len__(self) -> int:
        return self.num_paths

    def path(self, index: int) -> VectorPath:
        """Unpack path ``index`` as a :class:`VectorPath` of detached CPU tensors."""
        if not -self.num_paths <= index < self.num_paths:
            raise IndexError(f"path index {index} out of range for {self.num_paths} paths")
        return self._unpack([index % self.num_paths])[0]

    def paths(self) -> list[VectorPath]:
        """All paths, in z-order, as :class:`VectorPath` objects of detached CPU tensors."""
        return self._unpack(range(self.num_paths))

    def _unpack(self, indices: Iterable[int]) -> list[VectorPath]:
        return unpack_paths(self, indices, VectorPath, LINECAPS, LINEJOINS)

    def segments(self) -> tuple[Tensor, Tensor]:
        """Every cubic segment's control points and owning path.

        Returns:
            ``(control_points, segment_path)``; differentiable w.r.t. :attr:`points`.

        Shape:
            control_points: (S, 4, 2); segment_path: (S,).
        """
        key = str(self.points.device)
        if key not in self._segment_cache:
            self._segment_cache[key] = self._segment_index()
        index, owner = self._segment_cache[key]
        return self.points[index], owner

    def segment_links(self) -> tuple[Tensor, Tensor]:
        """The segment before and after each segment in its contour, for stroke joins.

        -1 marks the ends of open contours; closed contours wrap around.

        Shape:
            Returns ``(previous, next)``, each (S,) long, on the scene's device.
        """
        key = ("links", str(self.points.device))
        if key not in self._segment_cache:
            previous, following = segment_links(self.contour_point_counts.cpu(), self.contour_closed.cpu())
            self._segment_cache[key] = (previous.to(self.points.device), following.to(self.points.device))
        return self._segment_cache[key]

    def _segment_index(self) -> tuple[Tensor, Tensor]:
        """Indices into :attr:`points` of each segment's four control points (wrapping when closed)."""
        index, owner = segment_index(self.contour_point_counts.cpu(), self.contour_closed.cpu(), self.contour_path.cpu())
        return index.to(self.points.device), owner.to(self.points.device)


def random_strokes(
    num_paths: int,
    width: int,
    height: int,
    *,
    generator: torch.Generator | None = None,
    max_segments: int = 3,
    spread: float = 0.1,
    stroke_width: float = 1.0,
    device: torch.device | str | None = None,
    requires_grad: bool = True,
) -> Scene:
    """CLIPDraw's random initialisation: open strokes with random cubic segments and RGBA.

    Each path has ``randint(1, max_segments)`` segments; its start point is uniform over the canvas
    and each further control point is the previous one plus ``spread * (rand - 0.5)`` in units of
    the canvas size. Half-width ``stroke_width``; stroke colour uniform RGBA; no fill.

    Args:
        num_paths: number of strokes.
        width, height: canvas size in pixels.
        generator: CPU random generator for reproducible scenes.
        device: where to put the result (drawn on the CPU so results do not depend on the device).
    """
    if num_paths < 0 or width <= 0 or height <= 0:
        raise ValueError(f"expected num_paths >= 0 and a positive canvas, got {num_paths}, {width} x {height}")
    scale = torch.tensor([width, height], dtype=torch.get_default_dtype())
    paths = []
    for _ in range(num_paths):
        num_segments = int(torch.randint(1, max_segments + 1, (1,), generator=generator))
        start = torch.rand(2, generator=generator)
        steps = spread * (torch.rand(3 * num_segments, 2, generator=generator) - 0.5)
        normalised = torch.cat([start[None], start[None] + torch.cumsum(steps, 0)])
        color = torch.rand(4, generator=generator)
        paths.append(VectorPath([normalised * scale], closed=False, stroke_width=stroke_width, stroke_color=color))
    return Scene.from_paths(paths, device=device, requires_grad=requires_grad)
