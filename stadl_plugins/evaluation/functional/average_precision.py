"""Precision/recall and VOC-style (all-point) average precision."""
from __future__ import annotations

import numpy as np


def precision_recall(scores: np.ndarray, tp: np.ndarray, num_gt: int,
                     order: np.ndarray | None = None):
    """Cumulative precision and recall of detections ranked by score.

    Args:
        scores: ``(n,)`` detection scores.
        tp: ``(n,)`` bool, True for true positives.
        num_gt: number of ground-truth instances (> 0).
        order: the ranking to use (default: ``np.argsort(scores)[::-1]``,
            the tie order of the AVA/TF object-detection evaluator).

    Returns:
        ``(precision, recall)``, each ``(n,)`` float64.
    """
    if num_gt <= 0:
        raise ValueError('precision/recall need at least one ground-truth instance')
    if order is None:
        order = np.argsort(scores)[::-1]
    tp_sorted = np.asarray(tp, dtype=np.int64)[order]
    ctp = np.cumsum(tp_sorted)
    cfp = np.cumsum(1 - tp_sorted)
    precision = ctp.astype(np.float64) / np.maximum(ctp + cfp, 1)
    recall = ctp.astype(np.float64) / num_gt
    return precision, recall


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision envelope (all-point interpolation, VOC 2010+).

    This is the AP of the AVA evaluator (``compute_average_precision``) and of the
    ACT/MOC/MultiSports evaluators (``pr_to_ap``): precision is made monotone
    from the right and summed over the recall steps. No detections -> 0.
    """
    if precision is None or recall is None:
        return float('nan')
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[steps] - r[steps - 1]) * p[steps]))
