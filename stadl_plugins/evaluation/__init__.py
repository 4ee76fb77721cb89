"""Metrics, offline evaluation, submissions and multi-model fusion of STAD predictions."""
from . import functional, metrics  # noqa: F401
from .fusion import fuse_predictions, fuse_scores
from .metrics import AVAFrameAPMetric, VideoMAPMetric
from .offline import evaluate_samples, load_dump, write_ava_csv
from .submission import SubmissionError, detection_rows, validate_ava_submission, write_submission

__all__ = ['fuse_scores', 'fuse_predictions', 'evaluate_samples', 'load_dump',
           'write_ava_csv', 'AVAFrameAPMetric', 'VideoMAPMetric', 'SubmissionError',
           'detection_rows', 'validate_ava_submission', 'write_submission']
