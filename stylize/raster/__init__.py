"""The old name of :mod:`stylize.painting` (it held painting, not rasterizers); kept as an alias."""

from stylize.painting import IMAGE_PARAMETERISATIONS, FFTImage, PixelImage, get_image, make_image  # noqa: F401

__all__ = ["FFTImage", "IMAGE_PARAMETERISATIONS", "PixelImage", "get_image", "make_image"]
