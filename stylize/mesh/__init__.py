"""stylize.mesh"""
