"""stylize.raster"""
