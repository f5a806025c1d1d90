"""A differentiable vector rasterizer in plain PyTorch (CPU and CUDA), with diffvg's semantics.

How it works (everything is vectorised over all paths of all scenes in a batch):

1. Each cubic segment is flattened into short straight *pieces* (about ``piece_length`` pixels,
   so thin strokes need few pixel tests and curves stay accurate to a small fraction of a pixel).
2. Culling: each piece is tested only against the pixels inside its bounding box grown by the
   stroke half-width plus half a pixel, so work and memory follow the area the paths cover, not
   paths x pixels. For each (path, pixel) the distance to the nearest piece gives
   - stroke coverage ``clamp(w + 0.5 - d, 0, 1)``: round caps and joins, a one-pixel linear
     ramp that integrates to the exact stroke width across the stroke; paths with SVG's other
     caps and joins (butt, square, miter, bevel) get a stroke distance with those ends instead
     (:mod:`stylize.vector.stroke`);
   - the fill's soft edge ``clamp(0.5 ± d, 0, 1)`` (plus inside, minus outside).
3. Fills: winding numbers of the pixel centres by scanline crossings inside each filled path's
   bounding box (a difference array summed along rows), then the nonzero or even-odd rule.
4. Painter's-order compositing of the (pixel, layer) fragments, each path's fill under its stroke,
   with per-pixel transmittances from a segmented cumulative sum of ``log(1 - alpha)``. A path's
   opacity applies to its fill and stroke together: the fill's alpha under a stroke fragment is
   rescaled so that fill-then-stroke composites to exactly ``opacity * (stroke over fill)``.

Gradients reach control points (through the piece geometry), half-widths and colours. Like
diffvg's, they are zero where a pixel is fully inside or outside.

This is the ``"torch"`` backend of the vector renderer contract (:mod:`stylize.vector.renderer`,
which holds the request checks, compositing and the registry of backends).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from stylize.vector.coverage import (
    DEFAULT_BUDGET,
    FAR,
    RenderBudget,
    boundary_pieces,
    check_budget,
    edge_of_fill,
    expand_ranges,
    lookup_inside,
    nearest_pieces,
    piece_chunks,
    piece_counts,
    pixel_span,
    point_segment_distance,
    sample_pieces,
    thick_stroke_pairs,
    winding_inside,
)
from stylize.vector.paint import PackedGradients, gradient_colors
from stylize.vector.renderer import WHITE, background_tensor, check_request
from stylize.vector.scene import ROUND_CAP, ROUND_JOIN, Scene
from stylize.vector.stroke import stroke_distance, stroke_ends

logger = logging.getLogger(__name__)

# Alphas are scaled by this so that log(1 - alpha) stays finite (and so do its gradients) at
# alpha = 1; the background then leaks through at 1e-7, far below 8-bit resolution.
_ALPHA_SCALE = 1.0 - 1e-7
_FAR = FAR  # stand-in distance for fill fragments far from every edge (fully inside)
# Strokes at least this half-width use tile culling of their fully covered interior.
_THICK_WIDTH = 3.0


@dataclass
class _Packed:
    """All scenes of a batch concatenated; paths are numbered globally."""

    control: Tensor  # (S, 4, 2)
    segment_path: Tensor  # (S,)
    widths: Tensor  # (P,)
    layer_colors: Tensor  # (2P, 4): fill of path p at row 2p, its stroke at 2p + 1
    has_stroke: Tensor  # (P,)
    has_fill: Tensor  # (P,)
    evenodd: Tensor  # (P,)
    path_image: Tensor  # (P,)
    caps: Tensor  # (P,)
    joins: Tensor  # (P,)
    miter_limits: Tensor  # (P,)
    opacities: Tensor  # (P,)
    segment_previous: Tensor  # (S,) global segment index or -1
    segment_next: Tensor  # (S,)
    layer_gradient: Tensor  # (2P,) global gradient index painting each layer, or -1
    clipped_by: Tensor  # (P,) global clip group clipping each path, or -1
    clip_of: Tensor  # (P,) global clip group each clip member belongs to, or -1
    gradients: PackedGradients  # all scenes' gradients, numbered globally


def _pack(scenes: Sequence[Scene]) -> _Packed:
    controls, owners, path_images, previous, following, layer_gradients, clips = [], [], [], [], [], [], []
    offset = segment_offset = gradient_offset = clip_offset = 0
    for image_index, scene in enumerate(scenes):
        control, owner = scene.segments()
        controls.append(control)
        owners.append(owner + offset)
        path_images.append(torch.full((scene.num_paths,), image_index, dtype=torch.long, device=scene.device))
        before, after = scene.segment_links()
        previous.append(torch.where(before >= 0, before + segment_offset, -1))
        following.append(torch.where(after >= 0, after + segment_offset, -1))
        layers = torch.stack([scene.fill_gradient, scene.stroke_gradient], dim=1).reshape(-1)
        layer_gradients.append(torch.where(layers >= 0, layers + gradient_offset, -1))
        offset += scene.num_paths
        segment_offset += control.shape[0]
        gradient_offset += scene.num_gradients
        clips.append([torch.where(ids >= 0, ids + clip_offset, -1) for ids in (scene.clipped_by, scene.clip_of)])
        clip_offset += int(torch.cat([scene.clipped_by, scene.clip_of, scene.clip_of.new_full((1,), -1)]).max()) + 1
    fill = torch.cat([scene.fill_colors for scene in scenes])
    stroke = torch.cat([scene.stroke_colors for scene in scenes])
    return _Packed(
        control=torch.cat(controls),
        segment_path=torch.cat(owners),
        widths=torch.cat([scene.stroke_widths for scene in scenes]),
        layer_colors=torch.stack([fill, stroke], dim=1).reshape(-1, 4),
        has_stroke=torch.cat([scene.has_stroke for scene in scenes]),
        has_fill=torch.cat([scene.has_fill for scene in scenes]),
        evenodd=torch.cat([scene.evenodd for scene in scenes]),
        path_image=torch.cat(path_images),
        caps=torch.cat([scene.stroke_caps for scene in scenes]),
        joins=torch.cat([scene.stroke_joins for scene in scenes]),
        miter_limits=torch.cat([scene.miter_limits for scene in scenes]),
        opacities=torch.cat([scene.opacities for scene in scenes]),
        segment_previous=torch.cat(previous),
        segment_next=torch.cat(following),
        layer_gradient=torch.cat(layer_gradients),
        clipped_by=torch.cat([clip[0] for clip in clips]),
        clip_of=torch.cat([clip[1] for clip in clips]),
        gradients=_pack_gradients(scenes),
    )


def _pack_gradients(scenes: Sequence[Scene]) -> PackedGradients:
    if len(scenes) == 1:
        return scenes[0].gradients
    parts = [scene.gradients for scene in scenes]
    counts = [scene.num_gradients for scene in scenes]
    firsts = [sum(counts[:index]) for index in range(len(counts))]
    return PackedGradients(
        *(torch.cat([getattr(part, name) for part in parts]) for name in ("kinds", "spreads", "geometry", "transforms",
                                                                           "stop_offsets", "stop_colors")),
        torch.cat([part.stop_gradient + first for part, first in zip(parts, firsts, strict=True)]),
    )  # fmt: skip


def _fragment_colors(packed: _Packed, layer: Tensor, fragment_pixel: Tensor, width: int, height: int) -> Tensor:
    """Straight RGBA of every fragment: its layer's solid colour, or its gradient at the pixel centre."""
    color = packed.layer_colors[layer]
    if packed.gradients.kinds.shape[0] == 0:
        return color
    with torch.no_grad():
        which = packed.layer_gradient[layer]
        painted = (which >= 0).nonzero().flatten()
        x = (fragment_pixel[painted] % width).to(color.dtype) + 0.5
        y = ((fragment_pixel[painted] // width) % height).to(color.dtype) + 0.5
    return color.index_put((painted,), gradient_colors(packed.gradients, which[painted], x, y))


def _group_opacity(alpha: Tensor, fragment_keys: Tensor, fragment_path: Tensor, is_stroke: Tensor, opacities: Tensor) -> Tensor:
    """Alphas that composite each path's fill and stroke together, then apply its opacity.

    With the stroke's alpha ``s`` at a pixel, the fill's ``f`` and the path's opacity ``o``,
    painting the fill with ``o (1 - s) f / (1 - o s)`` and then the stroke with ``o s`` gives
    exactly ``o`` times the stroke composited over the fill, in colour and in alpha.

    Shape:
        alpha, fragment_keys, fragment_path, is_stroke: (F,), sorted by key. opacities: (P,).
    """
    opacity = opacities[fragment_path]
    with torch.no_grad():
        # A fill fragment's stroke partner, if any, is the next fragment (key + 1: same pixel).
        partner = torch.zeros_like(is_stroke)
        partner[:-1] = (~is_stroke[:-1]) & (fragment_keys[1:] == fragment_keys[:-1] + 1)
    next_alpha = torch.cat([alpha[1:], alpha.new_zeros(1)])
    stroke_alpha = torch.where(partner, next_alpha, torch.zeros_like(alpha))
    translucent = opacity < 1
    # The where() keeps the unused branch finite at opacity 1, so that gradients stay finite too.
    denominator = torch.where(translucent, 1.0 - opacity * stroke_alpha, torch.ones_like(alpha))
    fill_alpha = torch.where(translucent, opacity * (1.0 - stroke_alpha) * alpha / denominator, alpha)
    return torch.where(is_stroke, opacity * alpha, fill_alpha)


def _stroke_coverage(half_width: Tensor, distance: Tensor) -> Tensor:
    """Coverage of a pixel by a stroke of half-width ``w`` whose nearest point is at distance ``d``.

    For ``w >= 0.5``: ``clamp(w + 0.5 - d, 0, 1)``, the overlap of a one-pixel box with the band
    ``[-w, w]``. Thinner strokes are hairlines of ink ``2w``: ``2w * clamp(1 - d, 0, 1)``, a
    one-pixel tent (as resvg and Skia draw them), which meets the first at ``w = 0.5``. Either
    way the ink across a stroke is exactly its width (it was ``(w + 0.5)^2``, 3x at 0.1 px).
    """
    thick = (half_width + 0.5 - distance).clamp(0.0, 1.0)
    hairline = 2.0 * half_width * (1.0 - distance).clamp(0.0, 1.0)
    return torch.where(half_width >= 0.5, thick, hairline)


def _rasterize(
    scenes: Sequence[Scene],
    width: int,
    height: int,
    piece_length: float,
    flatness: float,
    pieces_per_segment: int | None,
    max_pieces: int,
    budget: RenderBudget,
) -> tuple[Tensor, Tensor]:
    """Premultiplied colour and log-transmittance of every pixel of every scene.

    Shape:
        Returns (B*H*W, 3) and (B*H*W,) (the latter in float64).
    """
    packed = _pack(scenes)
    dtype, device = packed.control.dtype, packed.control.device
    num_pixels = len(scenes) * height * width
    num_layers = 2 * packed.widths.shape[0]
    premultiplied = torch.zeros(num_pixels, 3, dtype=dtype, device=device)
    log_transmittance = torch.zeros(num_pixels, dtype=torch.float64, device=device)
    if packed.control.shape[0] == 0:
        # Keep the outputs connected to the parameters so that backward() works on empty scenes.
        connected = packed.layer_colors.sum() + packed.gradients.stop_colors.sum() + packed.gradients.geometry.sum()
        return premultiplied + 0.0 * (connected + packed.gradients.stop_offsets.sum()), log_transmittance

    widths = packed.widths.detach().clamp(min=0)
    styled_path = packed.has_stroke & ((packed.caps != ROUND_CAP) | (packed.joins != ROUND_JOIN))
    with torch.no_grad():
        segment_width = torch.where(packed.has_stroke, widths, 0.0)[packed.segment_path]
        reach = segment_width * torch.where(styled_path, packed.miter_limits.clamp(min=1.5), 1.0)[packed.segment_path]
        pieces = piece_counts(
            packed.control.detach(), segment_width, piece_length, flatness, pieces_per_segment, max_pieces, width, height,
            reach=reach,
        )  # fmt: skip
        check_budget("curve pieces", int(pieces.sum()), budget.max_pieces)
    ax, ay, bx, by, piece_segment, piece_local = sample_pieces(packed.control, pieces)
    piece_path = packed.segment_path[piece_segment]
    ends = None
    if bool(styled_path.any()):
        ends = stroke_ends(
            styled_path, packed.caps, packed.joins, packed.miter_limits, packed.control, packed.segment_path,
            packed.segment_previous, packed.segment_next, ax, ay, bx, by, piece_segment, piece_local, pieces,
        )  # fmt: skip
    with torch.no_grad():
        dax, day, dbx, dby = ax.detach(), ay.detach(), bx.detach(), by.detach()
        stroke_margin = torch.where(packed.has_stroke, widths.clamp(min=0.5) + 0.5, 0.0)
        fill_margin = torch.where(packed.has_fill, 0.5, 0.0).to(dtype)
        margin = torch.maximum(stroke_margin, fill_margin)[piece_path]
        if ends is not None:  # square caps and miters reach further than the half-width
            styled_pieces = (ends.row >= 0).nonzero().flatten()
            extent = widths.clamp(min=0.5)[piece_path[styled_pieces]] * ends.extent.detach() + 0.5
            margin[styled_pieces] = torch.maximum(margin[styled_pieces], extent)
        first_col, num_cols = pixel_span(torch.minimum(dax, dbx), torch.maximum(dax, dbx), margin, width)
        first_row, num_rows = pixel_span(torch.minimum(day, dby), torch.maximum(day, dby), margin, height)
        box_pixels = num_cols * num_rows
        check_budget("pixel tests", int(box_pixels.sum()), budget.max_pixel_tests)
        # Stroke fragments: at most each stroked path's tests, and at most its box.
        num_paths = packed.widths.shape[0]
        stroked_tests = torch.where(packed.has_stroke[piece_path], box_pixels, 0)
        path_tests = torch.zeros(num_paths, dtype=torch.long, device=device).index_add_(0, piece_path, stroked_tests)
        path_box = _path_box_area(first_col, num_cols, first_row, num_rows, piece_path, num_paths)
        stroke_fragments = int(torch.minimum(path_tests, path_box).sum())
        check_budget("fragments (stroke tests and filled boxes)", stroke_fragments, budget.max_fragments)
        winding = winding_inside(
            dax, day, dbx, dby, piece_path, packed.has_fill, packed.evenodd, width, height, budget, stroke_fragments
        )
        boundary = boundary_pieces(winding, dax, day, dbx, dby, piece_path, piece_segment, packed.has_fill)
        # Thick stroke-only pieces go through tile culling (which assumes round ends); the rest
        # test their whole box.
        thick = (packed.has_stroke & ~packed.has_fill & ~styled_path & (widths >= _THICK_WIDTH))[piece_path]
        counted = [0]

        def tests_for(first: int, end: int):
            chunk = torch.arange(first, end, device=device)
            plain = chunk[~thick[first:end]]
            pair_piece, pair_local = expand_ranges(box_pixels[plain])
            pair_piece = plain[pair_piece]
            pair_cols = num_cols[pair_piece]
            pixel_x = first_col[pair_piece] + pair_local % pair_cols
            pixel_y = first_row[pair_piece] + pair_local // pair_cols
            solid_path = solid_x = solid_y = pixel_x.new_zeros(0)
            thick_index = chunk[thick[first:end]]
            if thick_index.numel():
                (thick_piece, thick_x, thick_y), (solid_path, solid_x, solid_y) = thick_stroke_pairs(
                    dax[thick_index], day[thick_index], dbx[thick_index], dby[thick_index], piece_path[thick_index],
                    (widths - 0.5)[piece_path[thick_index]], margin[thick_index], first_col[thick_index],
                    num_cols[thick_index], first_row[thick_index], num_rows[thick_index], width, height,
                )  # fmt: skip
                pair_piece = torch.cat([pair_piece, thick_index[thick_piece]])
                pixel_x, pixel_y = torch.cat([pixel_x, thick_x]), torch.cat([pixel_y, thick_y])
            counted[0] += pair_piece.shape[0]
            centre_x, centre_y = pixel_x.to(dtype) + 0.5, pixel_y.to(dtype) + 0.5
            pa, pb, pc, pd = dax[pair_piece], day[pair_piece], dbx[pair_piece], dby[pair_piece]
            distance = point_segment_distance(centre_x, centre_y, pa, pb, pc, pd)
            pair_path = piece_path[pair_piece]
            stroke_distance_ = distance
            if ends is not None:
                pair_row = ends.row[pair_piece]
                styled_pairs = (pair_row >= 0).nonzero().flatten()
                if styled_pairs.numel():
                    styled = stroke_distance(
                        ends, pair_row[styled_pairs], centre_x[styled_pairs], centre_y[styled_pairs], pa[styled_pairs],
                        pb[styled_pairs], pc[styled_pairs], pd[styled_pairs], widths[pair_path[styled_pairs]], _FAR,
                    )  # fmt: skip
                    stroke_distance_ = distance.index_put((styled_pairs,), styled)
            pixel_index = (packed.path_image[pair_path] * height + pixel_y) * width + pixel_x
            is_stroke = packed.has_stroke[pair_path] & (stroke_distance_ < widths[pair_path].clamp(min=0.5) + 0.5)
            is_edge = packed.has_fill[pair_path] & (distance < 0.5)
            is_edge[is_edge.clone()] = edge_of_fill(winding, boundary, pair_piece[is_edge], pixel_y[is_edge])
            solid_pixel = (packed.path_image[solid_path] * height + solid_y) * width + solid_x
            keys = torch.cat(
                [
                    pixel_index[is_stroke] * num_layers + 2 * pair_path[is_stroke] + 1,
                    pixel_index[is_edge] * num_layers + 2 * pair_path[is_edge],
                    solid_pixel * num_layers + 2 * solid_path + 1,
                ]
            )
            values = torch.cat([stroke_distance_[is_stroke], distance[is_edge], distance.new_full(solid_path.shape, -_FAR)])
            winners = torch.cat([pair_piece[is_stroke], pair_piece[is_edge], solid_path.new_full(solid_path.shape, -1)])
            return keys, values, winners

        tests = torch.where(thick, box_pixels // 2, box_pixels)
        entry_keys, entry_value, entry_piece = nearest_pieces(
            dax, piece_chunks(tests, budget.chunk_tests), tests_for, budget.chunk_tests
        )
        if winding is not None:
            interior = winding["inside"].nonzero().flatten()
            interior_slot = winding["element_slot"][interior]
            local = winding["element_local"][interior]
            row_length = winding["row_length"][interior_slot]
            interior_path = winding["fill_paths"][interior_slot]
            interior_x = winding["x0"][interior_slot] + local % row_length
            interior_y = winding["y0"][interior_slot] + local // row_length
            interior_pixel = (packed.path_image[interior_path] * height + interior_y) * width + interior_x
            interior_keys = interior_pixel * num_layers + 2 * interior_path
            entry_keys = torch.cat([entry_keys, interior_keys])
            entry_value = torch.cat([entry_value, entry_value.new_full(interior_keys.shape, _FAR)])
            entry_piece = torch.cat([entry_piece, entry_piece.new_full(interior_keys.shape, -1)])
        keys, entry_fragment = torch.unique(entry_keys, sorted=True, return_inverse=True)
        inside = torch.zeros(keys.shape, dtype=torch.bool, device=device)
        if winding is not None:  # interior fragments are inside; look up the fill fragments near edges
            inside[entry_fragment[entry_keys.shape[0] - interior_keys.shape[0] :]] = True
            edge_rows = (~inside & (keys % 2 == 0)).nonzero().flatten()
            edge_pixel = keys[edge_rows] // num_layers
            inside[edge_rows] = lookup_inside(
                winding, (keys[edge_rows] % num_layers) // 2, edge_pixel % width, (edge_pixel // width) % height
            )
        num_fragments = keys.shape[0]
        layer = keys % num_layers
        fragment_pixel = keys // num_layers
        is_stroke = layer % 2 == 1
        fragment_path = layer // 2
        exact = (entry_piece >= 0).nonzero().flatten()
        exact_piece = entry_piece[exact]
        exact_pixel = entry_keys[exact] // num_layers
        exact_x = (exact_pixel % width).to(dtype) + 0.5
        exact_y = ((exact_pixel // width) % height).to(dtype) + 0.5
        exact_stroke = entry_keys[exact] % 2 == 1

    # The distance to each fragment's winning piece, now with gradients (the minimum's gradient).
    exact_distance = point_segment_distance(exact_x, exact_y, ax[exact_piece], ay[exact_piece], bx[exact_piece], by[exact_piece])
    if ends is not None:
        with torch.no_grad():
            exact_row = ends.row[exact_piece]
            styled_exact = ((exact_row >= 0) & exact_stroke).nonzero().flatten()
        if styled_exact.numel():
            chosen = exact_piece[styled_exact]
            styled = stroke_distance(
                ends, exact_row[styled_exact], exact_x[styled_exact], exact_y[styled_exact], ax[chosen], ay[chosen],
                bx[chosen], by[chosen], packed.widths[piece_path[chosen]], _FAR,
            )  # fmt: skip
            exact_distance = exact_distance.index_put((styled_exact,), styled)
    # Each fragment's distance is the smallest of its entries (ties share the gradient).
    values = entry_value.to(dtype).index_put((exact,), exact_distance)
    nearest = values.new_full((num_fragments,), _FAR).scatter_reduce(0, entry_fragment, values, "amin")

    stroke_coverage = _stroke_coverage(packed.widths[fragment_path], nearest)
    fill_coverage = torch.where(inside, 0.5 + nearest, 0.5 - nearest).clamp(0.0, 1.0)
    coverage = torch.where(is_stroke, stroke_coverage, fill_coverage)
    if bool((packed.clip_of >= 0).any()):
        coverage = _apply_clips(coverage, fragment_pixel, fragment_path, is_stroke, packed)
    color = _fragment_colors(packed, layer, fragment_pixel, width, height)
    alpha = coverage * color[:, 3]
    if bool((packed.opacities < 1).any()):
        alpha = _group_opacity(alpha, keys, fragment_path, is_stroke, packed.opacities)

    # Fragments are sorted by (pixel, layer): painter's order within each pixel's run.
    with torch.no_grad():
        touched, run_of_fragment, run_lengths = torch.unique_consecutive(fragment_pixel, return_inverse=True, return_counts=True)
        run_last = torch.cumsum(run_lengths, 0) - 1
    log_clear = torch.log1p(-alpha.to(torch.float64) * _ALPHA_SCALE)
    running = torch.cumsum(log_clear, 0)
    run_total_to_end = running[run_last]
    # Transmittance of everything painted above each fragment in its pixel.
    above = torch.exp(run_total_to_end[run_of_fragment] - running).to(dtype)
    contribution = color[:, :3] * (alpha * above)[:, None]
    run_color = torch.zeros(touched.shape[0], 3, dtype=dtype, device=device).index_add(0, run_of_fragment, contribution)
    run_log_transmittance = torch.zeros(touched.shape[0], dtype=torch.float64, device=device).index_add(
        0, run_of_fragment, log_clear
    )
    premultiplied = premultiplied.index_put((touched,), run_color)
    log_transmittance = log_transmittance.index_put((touched,), run_log_transmittance)
    logger.debug("rasterized %d pieces, %d pixel tests, %d fragments", ax.shape[0], counted[0], num_fragments)
    return premultiplied, log_transmittance


def _apply_clips(coverage: Tensor, fragment_pixel: Tensor, fragment_path: Tensor, is_stroke: Tensor, packed: _Packed):
    """Coverage of clipped fragments multiplied by their clip group's (the union of its members'
    fill coverage at the pixel); clip members themselves paint nothing.

    Shape:
        All (F,), fragments sorted by key. Returns (F,).
    """
    with torch.no_grad():
        groups = int(torch.cat([packed.clip_of, packed.clipped_by]).max()) + 1
        member = packed.clip_of[fragment_path] >= 0
        member_rows = (member & ~is_stroke).nonzero().flatten()
        union_keys, inverse = torch.unique(
            fragment_pixel[member_rows] * groups + packed.clip_of[fragment_path[member_rows]], return_inverse=True
        )
        clipped_rows = (packed.clipped_by[fragment_path] >= 0).nonzero().flatten()
        query = fragment_pixel[clipped_rows] * groups + packed.clipped_by[fragment_path[clipped_rows]]
        position = torch.searchsorted(union_keys, query).clamp(max=max(union_keys.numel() - 1, 0))
        hit = union_keys[position] == query if union_keys.numel() else torch.zeros_like(query, dtype=torch.bool)
    clear = torch.log1p(-coverage[member_rows].to(torch.float64) * _ALPHA_SCALE)
    union = 1.0 - torch.exp(
        torch.zeros(union_keys.shape[0], dtype=torch.float64, device=coverage.device).index_add(0, inverse, clear)
    )
    factor = torch.where(hit, union.to(coverage.dtype)[position], torch.zeros_like(coverage[clipped_rows]))
    coverage = coverage.index_put((clipped_rows,), coverage[clipped_rows] * factor)
    return torch.where(member, torch.zeros_like(coverage), coverage)


def _path_box_area(first_col, num_cols, first_row, num_rows, piece_path, num_paths: int) -> Tensor:
    """Pixels in the union box of each path's pieces (0 for paths with no visible piece). Shape (P,)."""
    visible = (num_cols > 0) & (num_rows > 0)
    big = torch.iinfo(torch.long).max

    def reduce(values: Tensor, start: int, how: str) -> Tensor:
        full = torch.full((num_paths,), start, dtype=torch.long, device=values.device)
        return full.scatter_reduce(0, piece_path[visible], values[visible], how)

    x0, x1 = reduce(first_col, big, "amin"), reduce(first_col + num_cols, -1, "amax")
    y0, y1 = reduce(first_row, big, "amin"), reduce(first_row + num_rows, -1, "amax")
    return ((x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)).clamp(min=0)


def render(
    scenes: Scene | Sequence[Scene],
    width: int,
    height: int,
    background: tuple[float, float, float] | Tensor | None = WHITE,
    *,
    piece_length: float = 4.0,
    flatness: float = 0.2,
    pieces_per_segment: int | None = None,
    max_pieces_per_segment: int = 256,
    premultiplied: bool = False,
    budget: RenderBudget | None = None,
) -> Tensor:
    """Rasterize one scene or a batch of scenes, differentiably.

    Args:
        scenes: a :class:`Scene`, or a sequence of scenes rendered together as a batch.
        width, height: canvas size in pixels.
        background: RGB in [0, 1] as 3 values, an image (H, W, 3) or a batch (B, H, W, 3); white by
            default. ``None`` returns RGBA without a background instead.
        piece_length: length in pixels of the straight pieces that thin curves are cut into
            (thick strokes use pieces as long as their half-width).
        flatness: largest distance in pixels between a curve and its pieces.
        pieces_per_segment: a fixed number of pieces per cubic instead (useful for gradcheck,
            where the adaptive count must not change under tiny perturbations).
        max_pieces_per_segment: cap for the adaptive count.
        budget: upper bounds on the render's work (:class:`~stylize.vector.coverage.RenderBudget`;
            the default allows about 2.5 GiB); a render above it raises
            :class:`~stylize.vector.coverage.RenderBudgetError` (an ``InputError``) before
            allocating it.
        premultiplied: with ``background=None``, return premultiplied RGB instead of straight RGB
            (straight is the default, as diffvg's output, so ``rgb * a + bg * (1 - a)`` composites).

    Returns:
        The image(s) in [0, 1], in the dtype and on the device of the scenes.

    Shape:
        Returns (H, W, 3) for one scene, (B, H, W, 3) for B scenes; 4 channels (RGBA) when
        ``background`` is None.

    Example:
        >>> scene = random_strokes(256, 224, 224, generator=torch.Generator().manual_seed(0))
        >>> image = render(scene, 224, 224)  # (224, 224, 3) over white
    """
    scene_list, single = check_request(scenes, width, height)
    if piece_length <= 0 or flatness <= 0:
        raise ValueError(f"expected positive piece_length and flatness, got {piece_length} and {flatness}")
    if pieces_per_segment is not None and pieces_per_segment < 1:
        raise ValueError(f"expected pieces_per_segment >= 1 or None, got {pieces_per_segment}")
    batch = len(scene_list)
    premultiplied_rgb, log_transmittance = _rasterize(
        scene_list, width, height, piece_length, flatness, pieces_per_segment, max_pieces_per_segment, budget or DEFAULT_BUDGET
    )
    transmittance = torch.exp(log_transmittance).to(premultiplied_rgb.dtype)[:, None]
    if background is not None:
        bg = background_tensor(background, batch, height, width, premultiplied_rgb.dtype, premultiplied_rgb.device)
        image = premultiplied_rgb + bg * transmittance
    else:
        alpha = 1.0 - transmittance
        rgb = premultiplied_rgb if premultiplied else torch.where(alpha > 0, premultiplied_rgb / alpha.clamp(min=1e-12), 0.0)
        image = torch.cat([rgb, alpha], dim=1)
    image = image.reshape(batch, height, width, image.shape[-1])
    return image[0] if single else image


class TorchVectorRenderer:
    """The pure-PyTorch renderer as an object with fixed options (the ``"torch"`` registry entry)."""

    name = "torch"

    def __init__(
        self,
        piece_length: float = 4.0,
        flatness: float = 0.2,
        pieces_per_segment: int | None = None,
        max_pieces_per_segment: int = 256,
        budget: RenderBudget | None = None,
    ):
        self.options = {
            "piece_length": piece_length, "flatness": flatness,
            "pieces_per_segment": pieces_per_segment, "max_pieces_per_segment": max_pieces_per_segment,
            "budget": budget,
        }  # fmt: skip

    def __call__(self, scenes, width: int, height: int, background=WHITE) -> Tensor:
        """Same contract as :func:`render`."""
        return render(scenes, width, height, background, **self.options)
