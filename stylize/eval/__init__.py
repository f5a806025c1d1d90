"""stylize.eval"""
