"""stylize.pipeline"""
