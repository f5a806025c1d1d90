"""stylize.raster: CLIP-guided raster painting with pixel and FFT image parameterisations."""

from stylize.raster.params import IMAGE_PARAMETERISATIONS, FFTImage, PixelImage, make_image

__all__ = ["FFTImage", "IMAGE_PARAMETERISATIONS", "PixelImage", "make_image"]
