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

from stylize.vector.renderer import WHITE, background_tensor, check_request
from stylize.vector.scene import ROUND_CAP, ROUND_JOIN, Scene
from stylize.vector.stroke import stroke_distance, stroke_ends

logger = logging.getLogger(__name__)

# Alphas are scaled by this so that log(1 - alpha) stays finite (and so do its gradients) at
# alpha = 1; the background then leaks through at 1e-7, far below 8-bit resolution.
_ALPHA_SCALE = 1.0 - 1e-7
# Stand-in distance for fill fragments that are far from every edge (they are fully inside).
_FAR = 1.0e6
# Strokes at least this half-width use tile culling of their fully covered interior.
_THICK_WIDTH = 3.0
_TILE = 8


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


def _pack(scenes: Sequence[Scene]) -> _Packed:
    controls, owners, path_images, previous, following = [], [], [], [], []
    offset = segment_offset = 0
    for image_index, scene in enumerate(scenes):
        control, owner = scene.segments()
        controls.append(control)
        owners.append(owner + offset)
        path_images.append(torch.full((scene.num_paths,), image_index, dtype=torch.long, device=scene.device))
        before, after = scene.segment_links()
        previous.append(torch.where(before >= 0, before + segment_offset, -1))
        following.append(torch.where(after >= 0, after + segment_offset, -1))
        offset += scene.num_paths
        segment_offset += control.shape[0]
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
    )


def _expand_ranges(counts: Tensor) -> tuple[Tensor, Tensor]:
    """For counts (N,), the owner index and the local index 0..count-1 of every expanded item."""
    owner = torch.repeat_interleave(torch.arange(counts.shape[0], device=counts.device), counts)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(owner.shape[0], device=counts.device) - starts[owner]
    return owner, local


def _flatten_curves(
    control: Tensor, segment_width: Tensor, piece_length: float, flatness: float, pieces_per_segment: int | None, max_pieces: int
):
    """Sample every cubic at uniform parameters and return the straight pieces between samples.

    The adaptive count is the larger of Wang's bound (pieces stay within ``flatness`` pixels of
    the curve) and the control-polygon length over ``max(piece_length, half-width)``: short
    pieces keep the per-piece boxes tight for thin strokes, and thick strokes, whose boxes are
    dominated by the width anyway, do not pay for needlessly many pieces.

    Returns:
        ``(start_x, start_y, end_x, end_y, piece_segment, piece_local, pieces)``: the first four
        differentiable; ``piece_local`` is each piece's index in its segment, ``pieces`` the count
        per segment.

    Shape:
        control: (S, 4, 2). Outputs: (Q,), Q = total pieces; ``pieces``: (S,).
    """
    with torch.no_grad():
        if pieces_per_segment is not None:
            pieces = torch.full((control.shape[0],), int(pieces_per_segment), dtype=torch.long, device=control.device)
        else:
            polygon_length = (control[:, 1:] - control[:, :-1]).norm(dim=-1).sum(-1)
            second_difference = (control[:, 2:] - 2 * control[:, 1:-1] + control[:, :-2]).norm(dim=-1).amax(-1)
            for_flatness = torch.ceil(torch.sqrt(0.75 * second_difference / flatness))
            for_culling = torch.ceil(polygon_length / segment_width.clamp(min=piece_length))
            pieces = torch.maximum(for_flatness, for_culling).long().clamp(1, max_pieces)
        sample_segment, sample_local = _expand_ranges(pieces + 1)
        t = (sample_local.to(control.dtype) / pieces[sample_segment].to(control.dtype))[:, None]
        s = 1.0 - t
        basis = torch.cat([s**3, 3 * s * s * t, 3 * s * t * t, t**3], dim=1)  # (samples, 4)
        piece_segment, piece_local = _expand_ranges(pieces)
        first_sample = torch.cumsum(pieces + 1, 0) - (pieces + 1)
        start_index = first_sample[piece_segment] + piece_local
    sample_x = (basis * control[sample_segment, :, 0]).sum(1)
    sample_y = (basis * control[sample_segment, :, 1]).sum(1)
    return (
        sample_x[start_index], sample_y[start_index], sample_x[start_index + 1], sample_y[start_index + 1],
        piece_segment, piece_local, pieces,
    )  # fmt: skip


def _pixel_span(low: Tensor, high: Tensor, margin: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """First pixel index and count of pixels whose centres lie in [low - margin, high + margin]."""
    first = torch.ceil(low - margin - 0.5).long().clamp(0, size)
    last = torch.floor(high + margin - 0.5).long().clamp(-1, size - 1)
    return first, (last - first + 1).clamp(min=0)


def _point_segment_distance(px: Tensor, py: Tensor, ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor) -> Tensor:
    ex, ey = bx - ax, by - ay
    t = (((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey).clamp(min=1e-12)).clamp(0.0, 1.0)
    return torch.hypot(px - ax - t * ex, py - ay - t * ey)


def _thick_stroke_pairs(ax, ay, bx, by, piece_path, inner, margin, first_col, num_cols, first_row, num_rows, width, height):
    """Pixel tests for thick strokes, skipping the (path, tile) blocks that are surely covered.

    The pixels of a tile lying entirely within ``inner`` (half-width - 0.5) of some piece are
    fully covered by the path, with zero gradient, so they need no distance. Only tiles the
    antialiased edge may cross are tested pixel by pixel. Without this, a stroke of half-width
    w cut into short pieces tests each pixel about 2w / piece-length times.

    Returns:
        ``(pair_piece, pixel_x, pixel_y)`` of the pixel tests and ``(path, pixel_x, pixel_y)``
        of the fully covered pixels.
    """
    tile = _TILE
    tiles_x = (width + tile - 1) // tile
    first_tile_x = first_col // tile
    first_tile_y = first_row // tile
    count_x = torch.where(num_cols > 0, (first_col + num_cols - 1) // tile - first_tile_x + 1, 0)
    count_y = torch.where(num_rows > 0, (first_row + num_rows - 1) // tile - first_tile_y + 1, 0)
    piece, local = _expand_ranges(count_x * count_y)
    tile_x = first_tile_x[piece] + local % count_x[piece]
    tile_y = first_tile_y[piece] + local // count_x[piece]
    # Pixel-centre rectangle of each tile (clipped to the canvas).
    left, top = tile_x * tile, tile_y * tile
    right, bottom = (left + tile).clamp(max=width) - 1, (top + tile).clamp(max=height) - 1
    pax, pay, pbx, pby = ax[piece], ay[piece], bx[piece], by[piece]
    corners_x = torch.stack([left, right, left, right]).to(ax.dtype) + 0.5
    corners_y = torch.stack([top, top, bottom, bottom]).to(ax.dtype) + 0.5
    # Distance to a segment is convex, so its maximum over a rectangle is at a corner.
    farthest = _point_segment_distance(corners_x, corners_y, pax, pay, pbx, pby).amax(0)
    solid = farthest < inner[piece]
    gap_x = (
        torch.maximum(left.to(ax.dtype) + 0.5 - torch.maximum(pax, pbx), torch.minimum(pax, pbx) - right.to(ax.dtype) - 0.5)
    ).clamp(min=0)
    gap_y = (
        torch.maximum(top.to(ax.dtype) + 0.5 - torch.maximum(pay, pby), torch.minimum(pay, pby) - bottom.to(ax.dtype) - 0.5)
    ).clamp(min=0)
    reachable = torch.hypot(gap_x, gap_y) < margin[piece]
    path = piece_path[piece]
    num_tiles = tiles_x * ((height + tile - 1) // tile)
    block = path * num_tiles + tile_y * tiles_x + tile_x
    solid_blocks = torch.unique(block[solid])
    position = torch.searchsorted(solid_blocks, block).clamp(max=max(solid_blocks.numel() - 1, 0))
    in_solid = solid_blocks[position] == block if solid_blocks.numel() else torch.zeros_like(solid)
    partial = reachable & ~in_solid
    # Pixel tests: the partial tiles intersected with their piece's pixel box.
    piece, left, top, right, bottom = piece[partial], left[partial], top[partial], right[partial], bottom[partial]
    x0 = torch.maximum(left, first_col[piece])
    x1 = torch.minimum(right, first_col[piece] + num_cols[piece] - 1)
    y0 = torch.maximum(top, first_row[piece])
    y1 = torch.minimum(bottom, first_row[piece] + num_rows[piece] - 1)
    span_x, span_y = (x1 - x0 + 1).clamp(min=0), (y1 - y0 + 1).clamp(min=0)
    owner, local = _expand_ranges(span_x * span_y)
    pair_piece = piece[owner]
    pixel_x = x0[owner] + local % span_x[owner]
    pixel_y = y0[owner] + local // span_x[owner]
    # Every pixel of the solid blocks.
    solid_path = solid_blocks // num_tiles
    solid_tile = solid_blocks % num_tiles
    left, top = (solid_tile % tiles_x) * tile, (solid_tile // tiles_x) * tile
    span_x, span_y = (left + tile).clamp(max=width) - left, (top + tile).clamp(max=height) - top
    owner, local = _expand_ranges(span_x * span_y)
    solid_pixels = (solid_path[owner], left[owner] + local % span_x[owner], top[owner] + local // span_x[owner])
    return (pair_piece, pixel_x, pixel_y), solid_pixels


def _winding_inside(
    start_x: Tensor, start_y: Tensor, end_x: Tensor, end_y: Tensor, piece_path: Tensor, packed: _Packed, width: int, height: int
):
    """Inside/outside of pixel centres for every filled path, in a buffer over its bounding box.

    Returns:
        A dict with the flat ``inside`` buffer and the per-path box layout needed to look it up
        (``slot`` maps a global path to its box, or -1), or None when nothing is filled.
    """
    fill_paths = packed.has_fill.nonzero().flatten()
    if fill_paths.numel() == 0:
        return None
    device = start_x.device
    num_paths = packed.has_fill.shape[0]
    slot = torch.full((num_paths,), -1, dtype=torch.long, device=device)
    slot[fill_paths] = torch.arange(fill_paths.numel(), device=device)
    piece_slot = slot[piece_path]
    mine = piece_slot >= 0
    ax, ay, bx, by, piece_slot = start_x[mine], start_y[mine], end_x[mine], end_y[mine], piece_slot[mine]
    big = torch.finfo(ax.dtype).max
    nslots = fill_paths.numel()
    min_x = torch.full((nslots,), big, dtype=ax.dtype, device=device).scatter_reduce(0, piece_slot, torch.minimum(ax, bx), "amin")
    max_x = torch.full((nslots,), -big, dtype=ax.dtype, device=device).scatter_reduce(
        0, piece_slot, torch.maximum(ax, bx), "amax"
    )
    min_y = torch.full((nslots,), big, dtype=ax.dtype, device=device).scatter_reduce(0, piece_slot, torch.minimum(ay, by), "amin")
    max_y = torch.full((nslots,), -big, dtype=ax.dtype, device=device).scatter_reduce(
        0, piece_slot, torch.maximum(ay, by), "amax"
    )
    # One pixel of slack so that every pixel within half a pixel of an edge is in the box.
    x0 = torch.floor(min_x - 1).clamp(0, width).long()
    x1 = torch.ceil(max_x + 1).clamp(0, width).long().clamp(min=x0)
    y0 = torch.floor(min_y - 1).clamp(0, height).long()
    y1 = torch.ceil(max_y + 1).clamp(0, height).long().clamp(min=y0)
    row_length = x1 - x0 + 1  # one extra column receives crossings right of the box
    areas = (y1 - y0) * row_length
    offsets = torch.cumsum(areas, 0) - areas

    # Rows whose centre y lies in [min(ay, by), max(ay, by)): half-open so shared vertices count once.
    low_y, high_y = torch.minimum(ay, by), torch.maximum(ay, by)
    first_row = torch.maximum(torch.ceil(low_y - 0.5).long(), y0[piece_slot])
    end_row = torch.minimum(torch.ceil(high_y - 0.5).long(), y1[piece_slot])
    crossing_piece, crossing_local = _expand_ranges((end_row - first_row).clamp(min=0))
    row = first_row[crossing_piece] + crossing_local
    cax, cay, cbx, cby = ax[crossing_piece], ay[crossing_piece], bx[crossing_piece], by[crossing_piece]
    x_cross = cax + (row.to(cax.dtype) + 0.5 - cay) * (cbx - cax) / (cby - cay)
    direction = torch.where(cby > cay, 1, -1).to(torch.int32)
    cslot = piece_slot[crossing_piece]
    row_start = offsets[cslot] + (row - y0[cslot]) * row_length[cslot]
    # A crossing at x counts for the pixels whose centres lie left of it (a ray towards +x).
    stop = torch.minimum((torch.ceil(x_cross - 0.5).long() - x0[cslot]).clamp(min=0), row_length[cslot] - 1)
    total = int(areas.sum())
    difference = torch.zeros(total + 1, dtype=torch.int32, device=device)
    difference.index_add_(0, row_start, direction)
    difference.index_add_(0, row_start + stop, -direction)
    # Every row's differences sum to zero, so one running sum over all boxes is a per-row sum.
    winding = torch.cumsum(difference[:total], 0)
    element_slot, element_local = _expand_ranges(areas)
    evenodd = packed.evenodd[fill_paths][element_slot]
    inside = torch.where(evenodd, winding % 2 == 1, winding != 0)
    inside &= element_local % row_length[element_slot] < row_length[element_slot] - 1
    return {
        "inside": inside, "slot": slot, "fill_paths": fill_paths, "offsets": offsets,
        "x0": x0, "y0": y0, "row_length": row_length, "element_slot": element_slot, "element_local": element_local,
    }  # fmt: skip


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


def _rasterize(
    scenes: Sequence[Scene],
    width: int,
    height: int,
    piece_length: float,
    flatness: float,
    pieces_per_segment: int | None,
    max_pieces: int,
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
        return premultiplied + 0.0 * packed.layer_colors.sum(), log_transmittance

    segment_width = torch.where(packed.has_stroke, packed.widths.detach(), 0.0)[packed.segment_path]
    ax, ay, bx, by, piece_segment, piece_local, pieces = _flatten_curves(
        packed.control, segment_width, piece_length, flatness, pieces_per_segment, max_pieces
    )
    piece_path = packed.segment_path[piece_segment]
    styled_path = packed.has_stroke & ((packed.caps != ROUND_CAP) | (packed.joins != ROUND_JOIN))
    ends = None
    if bool(styled_path.any()):
        ends = stroke_ends(
            styled_path, packed.caps, packed.joins, packed.miter_limits, packed.control, packed.segment_path,
            packed.segment_previous, packed.segment_next, ax, ay, bx, by, piece_segment, piece_local, pieces,
        )  # fmt: skip
    with torch.no_grad():
        widths = packed.widths.detach().clamp(min=0)
        stroke_margin = torch.where(packed.has_stroke, widths + 0.5, 0.0)
        fill_margin = torch.where(packed.has_fill, 0.5, 0.0).to(dtype)
        margin = torch.maximum(stroke_margin, fill_margin)[piece_path]
        if ends is not None:  # square caps and miters reach further than the half-width
            styled_pieces = (ends.row >= 0).nonzero().flatten()
            reach = widths[piece_path[styled_pieces]] * ends.extent + 0.5
            margin[styled_pieces] = torch.maximum(margin[styled_pieces], reach)
        first_col, num_cols = _pixel_span(torch.minimum(ax, bx), torch.maximum(ax, bx), margin, width)
        first_row, num_rows = _pixel_span(torch.minimum(ay, by), torch.maximum(ay, by), margin, height)
        # Thick stroke-only pieces go through tile culling (which assumes round ends); the rest
        # test their whole box.
        thick = (packed.has_stroke & ~packed.has_fill & ~styled_path & (widths >= _THICK_WIDTH))[piece_path]
        box_pixels = torch.where(thick, 0, num_cols * num_rows)
        pair_piece, pair_local = _expand_ranges(box_pixels)
        pair_cols = num_cols[pair_piece]
        pixel_x = first_col[pair_piece] + pair_local % pair_cols
        pixel_y = first_row[pair_piece] + pair_local // pair_cols
        solid_path = solid_x = solid_y = pixel_x.new_zeros(0)
        if bool(thick.any()):
            thick_index = thick.nonzero().flatten()
            (thick_piece, thick_x, thick_y), (solid_path, solid_x, solid_y) = _thick_stroke_pairs(
                ax.detach()[thick_index], ay.detach()[thick_index], bx.detach()[thick_index], by.detach()[thick_index],
                piece_path[thick_index], (widths - 0.5)[piece_path[thick_index]], margin[thick_index],
                first_col[thick_index], num_cols[thick_index], first_row[thick_index], num_rows[thick_index], width, height,
            )  # fmt: skip
            pair_piece = torch.cat([pair_piece, thick_index[thick_piece]])
            pixel_x, pixel_y = torch.cat([pixel_x, thick_x]), torch.cat([pixel_y, thick_y])

    # Distance from each pixel centre to its piece, gathered in one go to keep backward cheap.
    edge_x, edge_y = bx - ax, by - ay
    inverse_length2 = 1.0 / (edge_x * edge_x + edge_y * edge_y).clamp(min=1e-12)
    geometry = torch.stack([ax, ay, edge_x, edge_y, inverse_length2]).index_select(1, pair_piece)
    gax, gay, gex, gey, ginv = geometry.unbind(0)
    dx = (pixel_x.to(dtype) + 0.5) - gax
    dy = (pixel_y.to(dtype) + 0.5) - gay
    t = ((dx * gex + dy * gey) * ginv).clamp(0.0, 1.0)
    rx, ry = dx - t * gex, dy - t * gey
    distance = torch.sqrt(rx * rx + ry * ry + 1e-12)
    stroke_distance_ = distance  # the fill's edges always use the plain distance
    if ends is not None:
        pair_row = ends.row[pair_piece]
        styled_pairs = (pair_row >= 0).nonzero().flatten()
        if styled_pairs.numel():
            chosen_ax, chosen_ay = gax[styled_pairs], gay[styled_pairs]
            styled_distance = stroke_distance(
                ends, pair_row[styled_pairs], pixel_x[styled_pairs].to(dtype) + 0.5, pixel_y[styled_pairs].to(dtype) + 0.5,
                chosen_ax, chosen_ay, chosen_ax + gex[styled_pairs], chosen_ay + gey[styled_pairs],
                packed.widths[piece_path[pair_piece[styled_pairs]]], _FAR,
            )  # fmt: skip
            stroke_distance_ = distance.index_put((styled_pairs,), styled_distance)

    with torch.no_grad():
        pair_path = piece_path[pair_piece]
        pixel_index = (packed.path_image[pair_path] * height + pixel_y) * width + pixel_x
        is_stroke_entry = packed.has_stroke[pair_path] & (stroke_distance_ < widths[pair_path] + 0.5)
        is_edge_entry = packed.has_fill[pair_path] & (distance < 0.5)
        solid_pixel = (packed.path_image[solid_path] * height + solid_y) * width + solid_x
        keys = [
            torch.cat(
                [
                    pixel_index[is_stroke_entry] * num_layers + 2 * pair_path[is_stroke_entry] + 1,
                    solid_pixel * num_layers + 2 * solid_path + 1,
                ]
            )
        ]
        fill_keys, inside_values = [], []
        winding = _winding_inside(ax.detach(), ay.detach(), bx.detach(), by.detach(), piece_path, packed, width, height)
        if winding is not None:
            edge_path, edge_x_pix, edge_y_pix = pair_path[is_edge_entry], pixel_x[is_edge_entry], pixel_y[is_edge_entry]
            edge_slot = winding["slot"][edge_path]
            lookup = (
                winding["offsets"][edge_slot]
                + (edge_y_pix - winding["y0"][edge_slot]) * winding["row_length"][edge_slot]
                + (edge_x_pix - winding["x0"][edge_slot])
            ).clamp(0, max(winding["inside"].numel() - 1, 0))
            fill_keys.append(pixel_index[is_edge_entry] * num_layers + 2 * edge_path)
            inside_values.append(winding["inside"][lookup])
            interior = winding["inside"].nonzero().flatten()
            interior_slot = winding["element_slot"][interior]
            local = winding["element_local"][interior]
            row_length = winding["row_length"][interior_slot]
            interior_path = winding["fill_paths"][interior_slot]
            interior_x = winding["x0"][interior_slot] + local % row_length
            interior_y = winding["y0"][interior_slot] + local // row_length
            interior_pixel = (packed.path_image[interior_path] * height + interior_y) * width + interior_x
            fill_keys.append(interior_pixel * num_layers + 2 * interior_path)
            inside_values.append(torch.ones_like(interior, dtype=torch.bool))
        fill_key_tensor = torch.cat(fill_keys) if fill_keys else keys[0].new_zeros(0)
        all_keys = torch.cat([keys[0], fill_key_tensor])
        fragment_keys, fragment_of_entry = torch.unique(all_keys, sorted=True, return_inverse=True)
        num_fragments = fragment_keys.shape[0]
        inside = torch.zeros(num_fragments, dtype=torch.bool, device=device)
        if fill_keys:
            inside[fragment_of_entry[keys[0].shape[0] :]] = torch.cat(inside_values)
        num_far = fill_key_tensor.shape[0] - (inside_values[0].shape[0] if inside_values else 0)

    entry_distance = torch.cat(
        [
            stroke_distance_[is_stroke_entry],
            distance.new_full((solid_path.shape[0],), -_FAR),
            distance[is_edge_entry],
            distance.new_full((num_far,), _FAR),
        ]
    )
    nearest = distance.new_full((num_fragments,), _FAR).scatter_reduce(0, fragment_of_entry, entry_distance, "amin")

    with torch.no_grad():
        layer = fragment_keys % num_layers
        fragment_pixel = fragment_keys // num_layers
        is_stroke = layer % 2 == 1
        fragment_path = layer // 2
    stroke_coverage = (packed.widths[fragment_path] + 0.5 - nearest).clamp(0.0, 1.0)
    fill_coverage = torch.where(inside, 0.5 + nearest, 0.5 - nearest).clamp(0.0, 1.0)
    coverage = torch.where(is_stroke, stroke_coverage, fill_coverage)
    color = packed.layer_colors[layer]
    alpha = coverage * color[:, 3]
    if bool((packed.opacities < 1).any()):
        alpha = _group_opacity(alpha, fragment_keys, fragment_path, is_stroke, packed.opacities)

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
    logger.debug("rasterized %d pieces, %d pixel tests, %d fragments", ax.shape[0], distance.shape[0], num_fragments)
    return premultiplied, log_transmittance


def render(
    scenes: Scene | Sequence[Scene],
    width: int,
    height: int,
    background: tuple[float, float, float] | Tensor | None = WHITE,
    *,
    piece_length: float = 4.0,
    flatness: float = 0.2,
    pieces_per_segment: int | None = None,
    max_pieces_per_segment: int = 64,
    premultiplied: bool = False,
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
        scene_list, width, height, piece_length, flatness, pieces_per_segment, max_pieces_per_segment
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
        max_pieces_per_segment: int = 64,
    ):
        self.options = {
            "piece_length": piece_length, "flatness": flatness,
            "pieces_per_segment": pieces_per_segment, "max_pieces_per_segment": max_pieces_per_segment,
        }  # fmt: skip

    def __call__(self, scenes, width: int, height: int, background=WHITE) -> Tensor:
        """Same contract as :func:`render`."""
        return render(scenes, width, height, background, **self.options)
