"""``load_image``: every bit depth and sample type read on the [0, 1] scale it means."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from stylize.engine.prompts import load_image

RAMP = np.linspace(0.0, 1.0, 32 * 32).reshape(32, 32)


def _rgb16_png(path):
    """A 16-bit RGB PNG (PIL does not write one): red ramps 0 -> 65535 across, green 0, blue 30000."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\0" + b"".join(struct.pack(">HHH", 65535 * x // 31, 0, 30000) for x in range(32)) for _ in range(32))
    header = struct.pack(">IIBBBBB", 32, 32, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(
    "name, values",
    [("grey16.png", (RAMP * 65535).astype(np.uint16)),  # PIL mode I;16
     ("grey32.tif", (RAMP * 65535).astype(np.int32)),  # mode I holding 16-bit values
     ("grey32_full.tif", (RAMP * (2**31 - 1)).astype(np.int32)),  # mode I over its whole range
     ("float.tif", RAMP.astype(np.float32))],  # mode F
)  # fmt: skip
def test_deep_pictures_are_scaled_not_clipped(tmp_path, name, values):
    Image.fromarray(values).save(tmp_path / name)
    pixels = load_image(tmp_path / name)
    assert pixels.shape == (3, 32, 32)
    assert abs(float(pixels.mean()) - 0.5) < 0.01 and float(pixels.min()) == 0.0 and float(pixels.max()) == 1.0


def test_float_pictures_are_clipped_to_the_unit_range(tmp_path):
    values = np.array([[-1.0, 0.25, 2.0, np.nan]], dtype=np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    assert load_image(tmp_path / "f.tif")[0, 0].tolist() == pytest.approx([0.0, 64 / 255, 1.0, 0.0])


def test_a_16_bit_rgb_png_keeps_its_colours(tmp_path):
    pixels = load_image(_rgb16_png(tmp_path / "rgb16.png"))
    assert pixels[:, 0].mean(1).tolist() == pytest.approx([0.5, 0.0, 30000 / 65535], abs=0.01)
