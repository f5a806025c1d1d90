"""Alias of :mod:`stylize.painting.params` (the module's name before 0.2)."""

from stylize.painting.params import IMAGE_PARAMETERISATIONS, FFTImage, PixelImage, get_image, make_image  # noqa: F401
