"""The bounded coverage work of the vector rasterizer: flattening, culling, winding, nearest pieces.

:mod:`stylize.vector.raster` composites what this module finds. Everything here runs without
autograd: it finds, for every (pixel, layer) *fragment*, which straight piece of its path is
nearest (and how near), in chunks of at most :attr:`RenderBudget.chunk_tests` pixel tests, so
that peak memory follows the number of fragments (bounded by the canvas and the paths' boxes),
never segments x segment length. The rasterizer then recomputes the distance to that one
winning piece with autograd, which is exactly the gradient of the minimum.

The work of a render is counted before anything proportional to it is allocated, and a render
above its :class:`RenderBudget` is refused with one line (:class:`RenderBudgetError`):

- pieces (straight pieces the curves are cut into): :attr:`RenderBudget.max_pieces`;
- pixel tests (pixels inside the pieces' culling boxes): :attr:`RenderBudget.max_pixel_tests`
  (time);
- fragments (an upper bound from the paths' boxes: fill boxes, and stroke tests capped by
  stroke boxes) and fill scanline crossings: :attr:`RenderBudget.max_fragments` (memory).

Fills: winding numbers of pixel centres come from scanline crossings inside each filled path's
box. A piece whose two sides are both inside its fill (an edge inside a self-intersecting or
overlapping nonzero fill) is not an edge of the fill, so it does not antialias the fill there
(no seams); the sides are sampled at the pixel centres one pixel away along the piece's normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from stylize.errors import InputError

# Stand-in distance for fragments far from every edge (fully inside a fill).
FAR = 1.0e6
_TILE = 8


@dataclass(frozen=True)
class RenderBudget:
    """Upper bounds on one render's work, checked before the work is allocated.

    Attributes:
        max_pieces: straight pieces the curves are cut into (about 100 bytes each).
        max_pixel_tests: (piece, pixel) distance tests, the render's time (tens of millions per
            second per core).
        max_fragments: bound on the (pixel, path layer) fragments and fill scanline crossings,
            the render's memory (about 150 bytes each with gradients: 16 M is about 2.4 GiB).
        chunk_tests: pixel tests done at once (peak working memory of the tests, about 60 bytes
            each).
    """

    max_pieces: int = 4_000_000
    max_pixel_tests: int = 1_000_000_000
    max_fragments: int = 16_000_000
    chunk_tests: int = 2_000_000


DEFAULT_BUDGET = RenderBudget()


class RenderBudgetError(InputError):
    """A render needs more work than its :class:`RenderBudget` allows (refused before allocating)."""


def check_budget(name: str, value: int, limit: int) -> None:
    if value > limit:
        raise RenderBudgetError(
            f"vector render needs {value:,} {name}, above the render budget of {limit:,}; "
            "simplify the drawing, render it smaller or raise RenderBudget"
        )


def expand_ranges(counts: Tensor) -> tuple[Tensor, Tensor]:
    """For counts (N,), the owner index and the local index 0..count-1 of every expanded item."""
    owner = torch.repeat_interleave(torch.arange(counts.shape[0], device=counts.device), counts)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(owner.shape[0], device=counts.device) - starts[owner]
    return owner, local


@torch.no_grad()
def piece_counts(
    control: Tensor, segment_width: Tensor, piece_length: float, flatness: float, fixed: int | None, max_pieces: int,
    width: int, height: int, reach: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """How many straight pieces each cubic is cut into.

    The larger of Wang's bound (pieces stay within ``flatness`` pixels of the curve) and the
    control-polygon length over ``max(piece_length, half-width)`` (short pieces keep culling
    boxes tight); the first capped by ``max_pieces``, the second by what the canvas can show. A segment whose control points all lie beyond the
    canvas (plus ``reach``, how far its stroke reaches) is one piece: it covers no pixel, and its chord crosses the
    canvas rows exactly as the curve does (the two differ by a loop outside the canvas).

    Shape:
        control: (S, 4, 2); segment_width, reach: (S,). Returns (S,) long.
    """
    if fixed is not None:
        return torch.full((control.shape[0],), int(fixed), dtype=torch.long, device=control.device)
    polygon_length = (control[:, 1:] - control[:, :-1]).norm(dim=-1).sum(-1)
    second_difference = (control[:, 2:] - 2 * control[:, 1:-1] + control[:, :-2]).norm(dim=-1).amax(-1)
    for_flatness = torch.ceil(torch.sqrt(0.75 * second_difference / flatness))
    # Pieces for culling are not capped below what the canvas can show of one cubic (three
    # crossings of its diagonal), so that work grows with length, not with length squared.
    visible_cap = max(max_pieces, int(3.0 * (width * width + height * height) ** 0.5 / piece_length) + 1)
    for_culling = torch.ceil(polygon_length / segment_width.clamp(min=piece_length)).clamp(max=visible_cap)
    pieces = torch.maximum(for_flatness.clamp(max=max_pieces), for_culling).clamp(min=1)
    reach = (segment_width if reach is None else reach) + 1.0
    low, high = control.amin(1), control.amax(1)
    outside = (high[:, 0] < -reach) | (high[:, 1] < -reach) | (low[:, 0] > width + reach) | (low[:, 1] > height + reach)
    return torch.where(outside, 1.0, pieces).long()


def sample_pieces(control: Tensor, pieces: Tensor):
    """Sample every cubic at uniform parameters; the straight pieces between samples.

    Returns:
        ``(start_x, start_y, end_x, end_y, piece_segment, piece_local)``: the first four
        differentiable w.r.t. ``control``.

    Shape:
        control: (S, 4, 2); pieces: (S,). Outputs: (Q,), Q = ``pieces.sum()``.
    """
    with torch.no_grad():
        sample_segment, sample_local = expand_ranges(pieces + 1)
        t = (sample_local.to(control.dtype) / pieces[sample_segment].to(control.dtype))[:, None]
        s = 1.0 - t
        basis = torch.cat([s**3, 3 * s * s * t, 3 * s * t * t, t**3], dim=1)  # (samples, 4)
        piece_segment, piece_local = expand_ranges(pieces)
        first_sample = torch.cumsum(pieces + 1, 0) - (pieces + 1)
        start_index = first_sample[piece_segment] + piece_local
    sample_x = (basis * control[sample_segment, :, 0]).sum(1)
    sample_y = (basis * control[sample_segment, :, 1]).sum(1)
    return (
        sample_x[start_index], sample_y[start_index], sample_x[start_index + 1], sample_y[start_index + 1],
        piece_segment, piece_local,
    )  # fmt: skip


def pixel_span(low: Tensor, high: Tensor, margin: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """First pixel index and count of pixels whose centres lie in [low - margin, high + margin]."""
    first = torch.ceil(low - margin - 0.5).long().clamp(0, size)
    last = torch.floor(high + margin - 0.5).long().clamp(-1, size - 1)
    return first, (last - first + 1).clamp(min=0)


def point_segment_distance(px: Tensor, py: Tensor, ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor) -> Tensor:
    """Distance from points to segments (broadcasting); differentiable."""
    ex, ey = bx - ax, by - ay
    t = (((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey).clamp(min=1e-12)).clamp(0.0, 1.0)
    rx, ry = px - ax - t * ex, py - ay - t * ey
    return torch.sqrt(rx * rx + ry * ry + 1e-12)


def thick_stroke_pairs(ax, ay, bx, by, piece_path, inner, margin, first_col, num_cols, first_row, num_rows, width, height):
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
    piece, local = expand_ranges(count_x * count_y)
    tile_x = first_tile_x[piece] + local % count_x[piece]
    tile_y = first_tile_y[piece] + local // count_x[piece]
    # Pixel-centre rectangle of each tile (clipped to the canvas).
    left, top = tile_x * tile, tile_y * tile
    right, bottom = (left + tile).clamp(max=width) - 1, (top + tile).clamp(max=height) - 1
    pax, pay, pbx, pby = ax[piece], ay[piece], bx[piece], by[piece]
    corners_x = torch.stack([left, right, left, right]).to(ax.dtype) + 0.5
    corners_y = torch.stack([top, top, bottom, bottom]).to(ax.dtype) + 0.5
    # Distance to a segment is convex, so its maximum over a rectangle is at a corner.
    farthest = point_segment_distance(corners_x, corners_y, pax, pay, pbx, pby).amax(0)
    solid = farthest < inner[piece]
    fleft, fright, ftop, fbottom = (v.to(ax.dtype) for v in (left, right, top, bottom))
    gap_x = torch.maximum(fleft + 0.5 - torch.maximum(pax, pbx), torch.minimum(pax, pbx) - fright - 0.5).clamp(min=0)
    gap_y = torch.maximum(ftop + 0.5 - torch.maximum(pay, pby), torch.minimum(pay, pby) - fbottom - 0.5).clamp(min=0)
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
    owner, local = expand_ranges(span_x * span_y)
    pair_piece = piece[owner]
    pixel_x = x0[owner] + local % span_x[owner]
    pixel_y = y0[owner] + local // span_x[owner]
    # Every pixel of the solid blocks.
    solid_path = solid_blocks // num_tiles
    solid_tile = solid_blocks % num_tiles
    left, top = (solid_tile % tiles_x) * tile, (solid_tile // tiles_x) * tile
    span_x, span_y = (left + tile).clamp(max=width) - left, (top + tile).clamp(max=height) - top
    owner, local = expand_ranges(span_x * span_y)
    solid_pixels = (solid_path[owner], left[owner] + local % span_x[owner], top[owner] + local // span_x[owner])
    return (pair_piece, pixel_x, pixel_y), solid_pixels


@torch.no_grad()
def winding_inside(
    ax, ay, bx, by, piece_path: Tensor, has_fill: Tensor, evenodd: Tensor, width: int, height: int, budget, stroke_fragments: int
):
    """Inside/outside of pixel centres for every filled path, in a buffer over its bounding box.

    Returns:
        A dict with the flat ``inside`` buffer and the per-path box layout needed to look it up
        (``slot`` maps a global path to its box, or -1), or None when nothing is filled.

    Raises:
        RenderBudgetError: the boxes or the crossings exceed ``budget.max_fragments``.
    """
    fill_paths = has_fill.nonzero().flatten()
    if fill_paths.numel() == 0:
        return None
    device = ax.device
    slot = torch.full((has_fill.shape[0],), -1, dtype=torch.long, device=device)
    slot[fill_paths] = torch.arange(fill_paths.numel(), device=device)
    piece_slot = slot[piece_path]
    mine = piece_slot >= 0
    ax, ay, bx, by, piece_slot = ax[mine], ay[mine], bx[mine], by[mine], piece_slot[mine]
    big = torch.finfo(ax.dtype).max
    nslots = fill_paths.numel()

    def reduce(values: Tensor, start: float, how: str) -> Tensor:
        return torch.full((nslots,), start, dtype=ax.dtype, device=device).scatter_reduce(0, piece_slot, values, how)

    min_x, max_x = reduce(torch.minimum(ax, bx), big, "amin"), reduce(torch.maximum(ax, bx), -big, "amax")
    min_y, max_y = reduce(torch.minimum(ay, by), big, "amin"), reduce(torch.maximum(ay, by), -big, "amax")
    # One pixel of slack so that every pixel within half a pixel of an edge is in the box.
    x0 = torch.floor(min_x - 1).clamp(0, width).long()
    x1 = torch.ceil(max_x + 1).clamp(0, width).long().clamp(min=x0)
    y0 = torch.floor(min_y - 1).clamp(0, height).long()
    y1 = torch.ceil(max_y + 1).clamp(0, height).long().clamp(min=y0)
    row_length = x1 - x0 + 1  # one extra column receives crossings right of the box
    areas = (y1 - y0) * row_length
    total = int(areas.sum())
    check_budget("fragments (stroke tests and filled boxes)", stroke_fragments + total, budget.max_fragments)
    offsets = torch.cumsum(areas, 0) - areas

    # Rows whose centre y lies in [min(ay, by), max(ay, by)): half-open so shared vertices count once.
    low_y, high_y = torch.minimum(ay, by), torch.maximum(ay, by)
    first_row = torch.maximum(torch.ceil(low_y - 0.5).long(), y0[piece_slot])
    end_row = torch.minimum(torch.ceil(high_y - 0.5).long(), y1[piece_slot])
    rows = (end_row - first_row).clamp(min=0)
    check_budget("fill scanline crossings", int(rows.sum()), budget.max_fragments)
    crossing_piece, crossing_local = expand_ranges(rows)
    row = first_row[crossing_piece] + crossing_local
    cax, cay, cbx, cby = ax[crossing_piece], ay[crossing_piece], bx[crossing_piece], by[crossing_piece]
    x_cross = cax + (row.to(cax.dtype) + 0.5 - cay) * (cbx - cax) / (cby - cay)
    direction = torch.where(cby > cay, 1, -1).to(torch.int32)
    cslot = piece_slot[crossing_piece]
    row_start = offsets[cslot] + (row - y0[cslot]) * row_length[cslot]
    # A crossing at x counts for the pixels whose centres lie left of it (a ray towards +x).
    stop = torch.minimum((torch.ceil(x_cross - 0.5).long() - x0[cslot]).clamp(min=0), row_length[cslot] - 1)
    difference = torch.zeros(total + 1, dtype=torch.int32, device=device)
    difference.index_add_(0, row_start, direction)
    difference.index_add_(0, row_start + stop, -direction)
    # Every row's differences sum to zero, so one running sum over all boxes is a per-row sum.
    winding = torch.cumsum(difference[:total], 0, dtype=torch.int32)
    del difference
    element_slot = torch.repeat_interleave(torch.arange(nslots, device=device), areas)
    element_local = torch.arange(total, device=device) - offsets[element_slot]
    inside = torch.where(evenodd[fill_paths][element_slot], winding % 2 == 1, winding != 0)
    inside &= element_local % row_length[element_slot] < row_length[element_slot] - 1
    piece_sides = torch.full((int(mine.sum()),), -1, dtype=torch.long, device=device)
    global_piece = mine.nonzero().flatten()[crossing_piece]
    crossing_key, crossing_order = torch.sort(global_piece * (height + 1) + row)
    crossing_both = torch.zeros(0, dtype=torch.bool, device=device)
    if row_start.numel():
        both = _sides_agree(row_start, x_cross, direction, evenodd[fill_paths][cslot])
        piece_sides = piece_sides.scatter_reduce(0, crossing_piece, both.long(), "amin", include_self=False)
        crossing_both = both[crossing_order]
    return {
        "inside": inside, "slot": slot, "fill_paths": fill_paths, "offsets": offsets,
        "x0": x0, "y0": y0, "row_length": row_length, "element_slot": element_slot, "element_local": element_local,
        "x1": x1, "y1": y1, "mine": mine, "piece_sides": piece_sides, "height": height,
        "crossing_key": crossing_key, "crossing_both": crossing_both,
    }  # fmt: skip


def _sides_agree(row_id: Tensor, x_cross: Tensor, direction: Tensor, evenodd: Tensor) -> Tensor:
    """For every scanline crossing, whether its fill is the same just left and just right of it
    (inside on both sides, or outside on both sides: then the crossing is no edge of the fill).

    The winding number at a point of a row is the signed count of crossings right of it, so the
    windings on the two sides of a crossing are suffix sums over its row sorted by x (crossings
    at the same x, such as the shared edge of two abutting subpaths, count as one place).

    Shape:
        All (K,): row_id identifies (path, row), below 2**24. Returns (K,) bool.
    """
    shift = 39
    rounded = torch.round(x_cross.double() * 1e4).clamp(-(2.0**37), 2.0**37).long() + (1 << 37)
    key = row_id * (1 << shift) + rounded
    order = torch.argsort(key)
    sorted_key = key[order]
    cumulative = torch.cat([direction.new_zeros(1, dtype=torch.long), torch.cumsum(direction[order].long(), 0)])
    first_equal = torch.searchsorted(sorted_key, sorted_key, right=False)
    past_equal = torch.searchsorted(sorted_key, sorted_key, right=True)
    row_end = torch.searchsorted(sorted_key, (row_id[order] + 1) * (1 << shift), right=False)
    right = cumulative[row_end] - cumulative[past_equal]
    left = cumulative[row_end] - cumulative[first_equal]
    rule = evenodd[order]
    inside_left = torch.where(rule, left % 2 == 1, left != 0)
    inside_right = torch.where(rule, right % 2 == 1, right != 0)
    agree = torch.empty_like(inside_left)
    agree[order] = inside_left == inside_right
    return agree


def lookup_inside(winding: dict, path: Tensor, pixel_x: Tensor, pixel_y: Tensor) -> Tensor:
    """Whether pixel centres are inside the fill of their (filled) path; outside its box is outside."""
    slot = winding["slot"][path]
    x0, y0 = winding["x0"][slot], winding["y0"][slot]
    in_box = (pixel_x >= x0) & (pixel_x < winding["x1"][slot]) & (pixel_y >= y0) & (pixel_y < winding["y1"][slot])
    index = winding["offsets"][slot] + (pixel_y - y0) * winding["row_length"][slot] + (pixel_x - x0)
    index = index.clamp(0, max(winding["inside"].numel() - 1, 0))
    return in_box & winding["inside"][index]


@torch.no_grad()
def boundary_pieces(winding: dict | None, ax, ay, bx, by, piece_path: Tensor, piece_segment: Tensor, has_fill: Tensor) -> Tensor:
    """Whether each piece of a filled path is an edge of its fill (not the same on both sides).

    Exact for pieces that cross a row of pixel centres; a piece that crosses none takes the
    answer of the nearest piece of its segment that does, and failing that, compares the pixel
    centres one pixel away on each side (an edge unless both are inside).

    Shape:
        Returns (Q,) bool; True for pieces of unfilled paths.
    """
    boundary = torch.ones_like(piece_path, dtype=torch.bool)
    if winding is None:
        return boundary
    sides = torch.full_like(piece_path, -1)
    sides[winding["mine"]] = winding["piece_sides"]
    sides = _fill_from_neighbours(sides, piece_segment)
    boundary = sides != 1
    filled = (has_fill[piece_path] & (sides < 0)).nonzero().flatten()
    ex, ey = bx[filled] - ax[filled], by[filled] - ay[filled]
    length = torch.sqrt(ex * ex + ey * ey).clamp(min=1e-12)
    nx, ny = -ey / length, ex / length
    mx, my = (ax[filled] + bx[filled]) / 2, (ay[filled] + by[filled]) / 2
    path = piece_path[filled]
    both = torch.ones_like(filled, dtype=torch.bool)
    for side in (1.0, -1.0):
        px = torch.floor(mx + side * nx).long()
        py = torch.floor(my + side * ny).long()
        both &= lookup_inside(winding, path, px, py)
    boundary[filled] = ~both
    return boundary


def _fill_from_neighbours(values: Tensor, group: Tensor) -> Tensor:
    """Replace -1 entries by the nearest (by index) known entry of the same group, if any."""
    count = values.shape[0]
    index = torch.arange(count, device=values.device)
    before = torch.cummax(torch.where(values >= 0, index, -1), 0).values  # last known at or before
    flipped = torch.cummax(torch.where(values.flip(0) >= 0, index, -1), 0).values.flip(0)
    after = torch.where(flipped >= 0, count - 1 - flipped, -1)  # first known at or after
    before_ok = (before >= 0) & (group[before.clamp(min=0)] == group)
    after_ok = (after >= 0) & (group[after.clamp(min=0)] == group)
    use_before = before_ok & (~after_ok | (index - before <= after - index))
    nearest = torch.where(use_before, before, torch.where(after_ok, after, -1))
    return torch.where((values < 0) & (nearest >= 0), values[nearest.clamp(min=0)], values)


def edge_of_fill(winding: dict | None, boundary: Tensor, piece: Tensor, pixel_y: Tensor) -> Tensor:
    """Whether a piece is an edge of its fill near a pixel's row: exact at the row of pixel
    centres the piece crosses nearest to that row, else the piece's :func:`boundary_pieces` flag."""
    if winding is None or winding["crossing_key"].numel() == 0:
        return boundary[piece]
    keys, stride = winding["crossing_key"], winding["height"] + 1
    key = piece * stride + pixel_y
    last = keys.numel() - 1
    after = torch.searchsorted(keys, key).clamp(max=last)
    before = (after - 1).clamp(min=0)
    after_ok = keys[after] // stride == piece
    before_ok = (keys[before] // stride == piece) & (keys[before] <= key)
    after_ok &= keys[after] >= key
    use_before = before_ok & (~after_ok | (key - keys[before] < keys[after] - key))
    chosen = torch.where(use_before, before, after)
    return torch.where(before_ok | after_ok, ~winding["crossing_both"][chosen], boundary[piece])


def _keep_nearest(keys: Tensor, distance: Tensor, piece: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The entries that reach the smallest distance of their key (all of them where several tie,
    so that the gradient of the minimum is shared among them, as autograd's ``amin`` does)."""
    unique, inverse = torch.unique(keys, return_inverse=True)
    nearest = distance.new_full((unique.shape[0],), float("inf")).scatter_reduce(0, inverse, distance, "amin")
    keep = distance == nearest[inverse]
    return keys[keep], distance[keep], piece[keep]


@torch.no_grad()
def nearest_pieces(geometry, chunks: list[tuple[int, int]], tests_for, reduce_every: int):
    """Run ``tests_for(first, end)`` over piece chunks and keep the nearest entries of every key.

    ``tests_for`` returns ``(keys, distance, piece)`` of the entries a chunk of pieces makes
    (piece -1 for entries that need no gradient). Results are merged as they come, so memory
    stays with the number of distinct keys (plus ties) plus one chunk.

    Returns:
        ``(keys, distance, piece)`` of the kept entries (a key appears more than once on ties).
    """
    if len(chunks) == 1:  # one chunk: the caller's reduction over its entries is all that is needed
        return tests_for(*chunks[0])
    merged = None
    pending: list[tuple[Tensor, Tensor, Tensor]] = []
    pending_size = 0
    for first, end in chunks:
        pending.append(_keep_nearest(*tests_for(first, end)))
        pending_size += pending[-1][0].shape[0]
        if pending_size >= max(reduce_every, merged[0].shape[0] if merged is not None else 0):
            parts = ([merged] if merged is not None else []) + pending
            merged = _keep_nearest(*(torch.cat(column) for column in zip(*parts, strict=False)))
            pending, pending_size = [], 0
    parts = ([merged] if merged is not None else []) + pending
    if not parts:
        empty = geometry.new_zeros(0, dtype=torch.long)
        return empty, geometry.new_zeros(0), empty
    if len(parts) == 1:
        return parts[0]
    return _keep_nearest(*(torch.cat(column) for column in zip(*parts, strict=False)))


def piece_chunks(tests_per_piece: Tensor, chunk_tests: int) -> list[tuple[int, int]]:
    """Consecutive piece ranges of at most ``chunk_tests`` tests each (a single piece may exceed it)."""
    count = tests_per_piece.shape[0]
    if count == 0:
        return []
    cumulative = torch.cumsum(tests_per_piece, 0).cpu()
    total = int(cumulative[-1])
    if total <= chunk_tests:
        return [(0, count)]
    chunks, first = [], 0
    while first < count:
        base = int(cumulative[first - 1]) if first else 0
        end = int(torch.searchsorted(cumulative, base + chunk_tests, right=True))
        end = max(end, first + 1)
        chunks.append((first, end))
        first = end
    return chunks
