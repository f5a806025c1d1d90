"""Packing :class:`~stylize.vector.scene.VectorPath` objects into a scene's tensors and back.

:class:`~stylize.vector.scene.Scene` calls these (``from_paths``, ``paths``, ``segments``,
``segment_links``); they work on plain values and tensors so that this module does not import
the scene (the path class and the style names are passed in).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from stylize.vector.paint import Gradient, gradient_fields, pack_gradients, unpack_gradient


def as_points(points: Tensor | Sequence, name: str = "points") -> Tensor:
    """``points`` as a float tensor of shape (N, 2) (ValueError otherwise)."""
    tensor = torch.as_tensor(points, dtype=torch.get_default_dtype()) if not torch.is_tensor(points) else points
    if tensor.ndim != 2 or tensor.shape[-1] != 2:
        raise ValueError(f"expected {name} of shape (N, 2), got {tuple(tensor.shape)}")
    return tensor


def as_rgba(color: Tensor | Sequence[float] | None, name: str) -> Tensor | None:
    """A colour as an RGBA tensor (RGB gets alpha 1), or None."""
    if color is None:
        return None
    tensor = torch.as_tensor(color, dtype=torch.get_default_dtype()).detach().clone() if not torch.is_tensor(color) else color
    if tensor.shape not in ((3,), (4,)):
        raise ValueError(f"expected {name} as RGB or RGBA (3 or 4 values), got shape {tuple(tensor.shape)}")
    if tensor.shape == (3,):
        tensor = torch.cat([tensor, tensor.new_ones(1)])
    return tensor


def check_contour(points: Tensor, closed: bool, where: str) -> int:
    """The number of segments of a contour's control points (ValueError for a wrong count)."""
    count = points.shape[0]
    if closed:
        if count < 3 or count % 3 != 0:
            raise ValueError(f"{where}: a closed contour needs 3n control points (n >= 1), got {count}")
        return count // 3
    if count < 4 or (count - 1) % 3 != 0:
        raise ValueError(f"{where}: an open contour needs 3n + 1 control points (n >= 1), got {count}")
    return (count - 1) // 3


def _check_style(path, path_index: int, fill_rules, linecaps, linejoins) -> list[bool]:
    if path.fill_rule not in fill_rules:
        raise ValueError(f"path {path_index}: expected fill_rule in {fill_rules}, got {path.fill_rule!r}")
    if path.linecap not in linecaps or path.linejoin not in linejoins:
        got = f"got {path.linecap!r} and {path.linejoin!r}"
        raise ValueError(f"path {path_index}: expected linecap in {linecaps} and linejoin in {linejoins}, {got}")
    if not (float(path.miter_limit) >= 1 and 0 <= float(path.opacity) <= 1):
        got = f"got {path.miter_limit} and {path.opacity}"
        raise ValueError(f"path {path_index}: expected miter_limit >= 1 and opacity in [0, 1], {got}")
    flags = path.closed_flags()
    if not path.contours or len(flags) != len(path.contours):
        raise ValueError(f"path {path_index}: expected >= 1 contour and one closed flag per contour")
    return flags


def pack_paths(paths: list, dtype: torch.dtype, fill_rules, linecaps, linejoins) -> dict[str, Tensor]:
    """The scene tensors (CPU, not requiring grad) of ``paths``, checked; keyword arguments of Scene."""
    points, counts, closed_flags, owners = [], [], [], []
    widths, strokes, fills, has_stroke, has_fill, evenodd = [], [], [], [], [], []
    caps, joins, miter_limits, opacities, clipped_by, clip_of = [], [], [], [], [], []
    gradients: list[Gradient] = []
    layer_gradients: list[list[int]] = [[], []]  # fill, stroke
    for path_index, path in enumerate(paths):
        flags = _check_style(path, path_index, fill_rules, linecaps, linejoins)
        for contour, closed in zip(path.contours, flags, strict=False):
            contour = as_points(contour, f"path {path_index} contour").detach().to(dtype=dtype, device="cpu")
            check_contour(contour, closed, f"path {path_index}")
            points.append(contour)
            counts.append(contour.shape[0])
            closed_flags.append(closed)
            owners.append(path_index)
        for row, gradient in enumerate((path.fill_gradient, path.stroke_gradient)):
            if gradient is not None and not isinstance(gradient, Gradient):
                raise TypeError(f"path {path_index}: expected a Gradient, got {type(gradient).__name__}")
            layer_gradients[row].append(len(gradients) if gradient is not None else -1)
            if gradient is not None:
                gradients.append(gradient)
        stroke_color = path.stroke_color
        if stroke_color is None and path.stroke_gradient is not None:
            stroke_color = path.stroke_gradient.average_color()
        fill_color = path.fill_color
        if fill_color is None and path.fill_gradient is not None:
            fill_color = path.fill_gradient.average_color()
        stroke = as_rgba(stroke_color, "stroke_color")
        fill = as_rgba(fill_color, "fill_color")
        widths.append(float(path.stroke_width))
        strokes.append(stroke.detach().cpu().to(dtype) if stroke is not None else torch.zeros(4, dtype=dtype))
        fills.append(fill.detach().cpu().to(dtype) if fill is not None else torch.zeros(4, dtype=dtype))
        has_stroke.append(stroke is not None)
        has_fill.append(fill is not None)
        evenodd.append(path.fill_rule == "evenodd")
        caps.append(linecaps.index(path.linecap))
        joins.append(linejoins.index(path.linejoin))
        miter_limits.append(float(path.miter_limit))
        opacities.append(float(path.opacity))
        clipped_by.append(int(path.clipped_by))
        clip_of.append(int(path.clip_of))
    num_paths = len(widths)

    def per_path(values: list, kind: torch.dtype) -> Tensor:
        return torch.tensor(values, dtype=kind).reshape(num_paths)

    return {
        "points": torch.cat(points) if points else torch.zeros(0, 2, dtype=dtype),
        "stroke_widths": torch.tensor(widths, dtype=dtype),
        "stroke_colors": torch.stack(strokes) if strokes else torch.zeros(0, 4, dtype=dtype),
        "fill_colors": torch.stack(fills) if fills else torch.zeros(0, 4, dtype=dtype),
        "contour_point_counts": torch.tensor(counts, dtype=torch.long),
        "contour_closed": torch.tensor(closed_flags, dtype=torch.bool),
        "contour_path": torch.tensor(owners, dtype=torch.long),
        "has_stroke": per_path(has_stroke, torch.bool), "has_fill": per_path(has_fill, torch.bool),
        "evenodd": per_path(evenodd, torch.bool), "stroke_caps": per_path(caps, torch.long),
        "stroke_joins": per_path(joins, torch.long), "miter_limits": per_path(miter_limits, dtype),
        "opacities": per_path(opacities, dtype), "fill_gradient": per_path(layer_gradients[0], torch.long),
        "stroke_gradient": per_path(layer_gradients[1], torch.long), "clipped_by": per_path(clipped_by, torch.long),
        "clip_of": per_path(clip_of, torch.long),
        **gradient_fields(pack_gradients(gradients, dtype)),
    }  # fmt: skip


def unpack_paths(scene, indices: Iterable[int], path_type, linecaps, linejoins) -> list:
    """Paths ``indices`` of ``scene`` as ``path_type`` (VectorPath) objects of detached CPU tensors."""
    counts = scene.contour_point_counts.tolist()
    starts = (torch.cumsum(scene.contour_point_counts, 0) - scene.contour_point_counts).tolist()
    closed, owners = scene.contour_closed.tolist(), scene.contour_path.tolist()
    contours_of: dict[int, list[int]] = {}
    for contour, owner in enumerate(owners):
        contours_of.setdefault(owner, []).append(contour)
    points = scene.points.detach().cpu()
    widths = scene.stroke_widths.detach().cpu().tolist()
    strokes, fills = scene.stroke_colors.detach().cpu(), scene.fill_colors.detach().cpu()
    has_stroke, has_fill, evenodd = scene.has_stroke.tolist(), scene.has_fill.tolist(), scene.evenodd.tolist()
    caps, joins = scene.stroke_caps.tolist(), scene.stroke_joins.tolist()
    miter_limits, opacities = scene.miter_limits.tolist(), scene.opacities.tolist()
    fill_gradient, stroke_gradient = scene.fill_gradient.tolist(), scene.stroke_gradient.tolist()
    clipped_by, clip_of = scene.clipped_by.tolist(), scene.clip_of.tolist()
    packed = scene.gradients

    def gradient(index: int, used: bool) -> Gradient | None:
        return unpack_gradient(packed, index) if index >= 0 and used else None

    paths = []
    for index in indices:
        mine = contours_of.get(index, [])
        paths.append(
            path_type(
                contours=[points[starts[c] : starts[c] + counts[c]] for c in mine],
                closed=[closed[c] for c in mine],
                stroke_width=widths[index],
                stroke_color=strokes[index] if has_stroke[index] else None,
                fill_color=fills[index] if has_fill[index] else None,
                fill_rule="evenodd" if evenodd[index] else "nonzero",
                linecap=linecaps[caps[index]],
                linejoin=linejoins[joins[index]],
                miter_limit=miter_limits[index],
                opacity=opacities[index],
                fill_gradient=gradient(fill_gradient[index], has_fill[index]),
                stroke_gradient=gradient(stroke_gradient[index], has_stroke[index]),
                clipped_by=clipped_by[index],
                clip_of=clip_of[index],
            )
        )
    return paths


def segment_index(counts: Tensor, closed: Tensor, contour_path: Tensor) -> tuple[Tensor, Tensor]:
    """Indices into the packed points of each segment's four control points (wrapping when
    closed), and each segment's path.

    Shape:
        counts, closed, contour_path: (C,) per contour. Returns (S, 4) and (S,).
    """
    starts = torch.cumsum(counts, 0) - counts
    segments_per_contour = torch.where(closed, counts // 3, (counts - 1) // 3)
    contour_of_segment = torch.repeat_interleave(torch.arange(counts.shape[0]), segments_per_contour)
    first_segment = torch.cumsum(segments_per_contour, 0) - segments_per_contour
    local = torch.arange(int(segments_per_contour.sum())) - first_segment[contour_of_segment]
    offsets = 3 * local[:, None] + torch.arange(4)[None, :]
    offsets = offsets % counts[contour_of_segment][:, None]  # only the closing point of a closed contour wraps
    return starts[contour_of_segment][:, None] + offsets, contour_path[contour_of_segment]


def segment_links(counts: Tensor, closed: Tensor) -> tuple[Tensor, Tensor]:
    """The segment before and after each segment in its contour (-1 at the ends of open contours).

    Shape:
        counts, closed: (C,) per contour. Returns ``(previous, next)``, each (S,).
    """
    per_contour = torch.where(closed, counts // 3, (counts - 1) // 3)
    contour = torch.repeat_interleave(torch.arange(counts.shape[0]), per_contour)
    first = torch.cumsum(per_contour, 0) - per_contour
    index = torch.arange(int(per_contour.sum()))
    local = index - first[contour]
    count = per_contour[contour]
    wraps = closed[contour]
    previous = torch.where(local > 0, index - 1, torch.where(wraps, index + count - 1, -1))
    following = torch.where(local < count - 1, index + 1, torch.where(wraps, index - count + 1, -1))
    return previous, following
