"""Hostile vector inputs: time and peak memory of the rasterizer and the SVG importer.

Each case runs in its own child process under an address-space limit (``--limit-gib``, 4 by
default) so that a case that grows without bound fails there instead of taking the machine;
the table gives wall time, peak RSS (``resource`` high-water mark of the child, so it includes
the interpreter and torch, about 300 MiB) and the outcome (the image's ink, the number of paths,
or the one-line error).

Cases:

- ``long-path``: one open stroke of ``--segments`` cubic segments zigzagging across a 512 px
  canvas (every segment about 700 px long), rendered forward + backward;
- ``long-fill``: the same zigzag closed and filled (nonzero);
- ``css-attributes``: 9,000 rects styled by 2,000 attribute-selector rules (``[data-k="i"]``);
- ``css-nth``: 9,000 rects styled by 2,000 ``rect:nth-child(i)`` rules.

    python tools/bench/bench_vector_hostile.py [--segments 100000] [--limit-gib 4] [--cases long-path,css-nth]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CASES = ("long-path", "long-fill", "css-attributes", "css-nth")


def _zigzag_scene(segments: int, closed: bool):
    import torch

    from stylize.vector.scene import Scene, VectorPath

    generator = torch.Generator().manual_seed(0)
    ends = torch.rand(segments + 1, 2, generator=generator) * 512.0
    ends[:, 0] = torch.where(torch.arange(segments + 1) % 2 == 0, 4.0, 508.0)  # across the canvas
    points = [ends[0:1]]
    for index in range(segments):
        a, b = ends[index], ends[index + 1]
        points.append(torch.stack([a + (b - a) / 3.0, a + (b - a) * 2.0 / 3.0]))
        if not (closed and index == segments - 1):
            points.append(b[None])
    contour = torch.cat(points)
    path = (
        VectorPath([contour], closed=True, stroke_color=None, fill_color=(0.2, 0.4, 0.8, 1.0))
        if closed
        else VectorPath([contour], closed=False, stroke_width=0.5)
    )
    return Scene.from_paths([path], requires_grad=True)


def _css_svg(selector: str) -> bytes:
    rules = "\n".join(selector.format(i=i + 1) + f" {{ fill: #{i % 256:02x}3344; }}" for i in range(2000))
    rects = "\n".join(f'<rect data-k="{i % 2000 + 1}" x="{i % 100}" y="{i // 100}" width="1" height="1"/>' for i in range(9000))
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><style>{rules}</style><g>{rects}</g></svg>'.encode()


def _child(case: str, segments: int) -> dict:
    if case in ("long-path", "long-fill"):
        from stylize.vector.raster import render

        scene = _zigzag_scene(segments, closed=case == "long-fill")
        start = time.perf_counter()
        try:
            image = render(scene, 512, 512, background=None)
            image[..., 3].sum().backward()
            outcome = f"ink {float(image[..., 3].sum()):.0f} px"
        except ValueError as exc:
            outcome = f"refused: {str(exc).splitlines()[0][:110]}"
        return {"seconds": time.perf_counter() - start, "outcome": outcome}
    from stylize.vector.svg.importer import import_svg
    from stylize.vector.svg.read import parse_document

    data = _css_svg('[data-k="{i}"]' if case == "css-attributes" else "rect:nth-child({i})")
    start = time.perf_counter()
    paths, _, _ = import_svg(parse_document(data, case), case)
    return {"seconds": time.perf_counter() - start, "outcome": f"{len(paths)} paths"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--limit-gib", type=float, default=4.0)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        limit = int(args.limit_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            result = _child(args.child, args.segments)
        except (MemoryError, RuntimeError) as exc:  # torch reports a failed allocation as RuntimeError
            if not isinstance(exc, MemoryError) and "allocate" not in str(exc):
                raise
            result = {"seconds": float("nan"), "outcome": f"out of memory at the {args.limit_gib:g} GiB limit"}
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps(result))
        return
    print(f"load before: {os.getloadavg()}")
    print(f"{'case':16s} {'seconds':>9s} {'peak RSS MiB':>13s}  outcome")
    for case in args.cases.split(","):
        command = [
            sys.executable,
            __file__,
            "--child",
            case,
            "--segments",
            str(args.segments),
            "--limit-gib",
            str(args.limit_gib),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"{case:16s} {'-':>9s} {'-':>13s}  crashed (exit {done.returncode}): {tail[:100]}")
            continue
        row = json.loads(lines[-1])
        print(f"{case:16s} {row['seconds']:9.2f} {row['peak_rss_mib']:13.0f}  {row['outcome']}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
