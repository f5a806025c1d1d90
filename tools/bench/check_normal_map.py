"""How well a baked normal map stands in for the displaced geometry (prints the errors).

A style field with a random displacement head (sigma 2, up to 0.05 of the normalised size) on an
icosphere; its normal map is baked as ``--normal-map`` bakes it, then the undisplaced sphere
shaded with the map is compared with a densely subdivided, displaced copy under the same
world-space SH lights (see :mod:`stylize.testing.normal_map`).

Usage: PYTHONPATH=. python tools/bench/check_normal_map.py [--size 512] [--levels 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import torch

from stylize.mesh.config import FieldConfig
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.geometry import make_icosphere
from stylize.testing.normal_map import normal_map_error


def relief_field(seed: int = 0, sigma: float = 2.0, max_displacement: float = 0.05) -> NeuralStyleField:
    """A small field whose displacement head has random (not zero) last weights: a bumpy relief."""
    generator = torch.Generator().manual_seed(seed)
    config = FieldConfig(width=64, depth=2, head_depth=1, n_frequencies=32, sigma=sigma, progressive=False,
                         max_displacement=max_displacement)  # fmt: skip
    field = NeuralStyleField(config, generator=generator)
    with torch.no_grad():
        field.displacement_head[-1].weight.normal_(0.0, 0.5, generator=generator)
    return field


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="normal map size")
    parser.add_argument("--levels", type=int, default=4, help="subdivision levels of the displaced reference")
    parser.add_argument("--render", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    vertices, faces = make_icosphere(2)
    for displacement in (0.0, 0.05):
        start = time.perf_counter()
        error = normal_map_error(relief_field(args.seed, max_displacement=displacement), vertices * 0.8, faces, args.size,
                                 args.render, args.levels)  # fmt: skip
        print(
            f"max displacement {displacement}: mean |shading difference| normal-mapped {error.normal_mapped:.4f}, "
            f"without the map {error.baseline:.4f} ({error.pixels} pixels, {time.perf_counter() - start:.1f} s)"
        )


if __name__ == "__main__":
    main()
