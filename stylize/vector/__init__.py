"""stylize.vector"""
