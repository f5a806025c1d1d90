"""Judging results: multi-view scores and caption rankings."""

from stylize.eval.ranking import caption_rank, caption_scores

__all__ = ["caption_rank", "caption_scores"]
