"""Metrics, offline evaluation and multi-model fusion of STAD predictions."""
from .fusion import fuse_predictions, fuse_scores
from .offline import evaluate_samples, load_dump, write_ava_csv

__all__ = ['fuse_scores', 'fuse_predictions', 'evaluate_samples', 'load_dump',
           'write_ava_csv']
