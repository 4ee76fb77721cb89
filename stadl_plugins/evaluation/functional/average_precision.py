"""Precision/recall and the two AP definitions used by the evaluators.

* :func:`average_precision`: area under the precision *envelope* (all-point
  interpolation, VOC 2010+). The AVA/ActivityNet (TF object-detection
  ``compute_average_precision``) evaluator and MMAction2's MultiSports evaluator
  use it.
* :func:`act_average_precision`: trapezoidal area under the *raw*
  precision/recall curve started at (recall 0, precision 1): ACT's ``pr_to_ap``,
  used by the ACT and MOC-Detector evaluators for UCF101-24 and JHMDB-21. It is
  lower than the envelope whenever a false positive is ranked above a true
  positive.
"""
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

    This is the AP of the AVA/ActivityNet evaluator (``compute_average_precision``)
    and of MMAction2's MultiSports evaluator: precision is made monotone from the
    right and summed over the recall steps. No detections -> 0. The ACT evaluator
    does *not* use it (see :func:`act_average_precision`).
    """
    if precision is None or recall is None:
        return float('nan')
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[steps] - r[steps - 1]) * p[steps]))


def act_average_precision(precision: np.ndarray, recall: np.ndarray,
                          dtype=np.float64) -> float:
    """ACT's ``pr_to_ap``: trapezoid under the raw curve, starting at (0, 1).

    The points are (0, 1) followed by one (recall, precision) point per ranked
    detection; consecutive points are joined by straight lines and the area under
    them is summed. Precision is not made monotone, nothing is appended at
    recall 1. No detections -> 0.

    ``dtype=np.float32`` stores the curve in single precision first and integrates
    in single precision, as the reference does (its ``pr`` array is float32; that
    moves mAP by up to ~1e-5 points).
    """
    p = np.concatenate([[1.0], np.asarray(precision, dtype=np.float64)]).astype(dtype)
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64)]).astype(dtype)
    return float(np.sum((r[1:] - r[:-1]) * (p[1:] + p[:-1]) * dtype(0.5)))


def act_percent_mean(aps: list, dtype=np.float64):
    """``100 * AP`` per label and their mean, in ``dtype`` as ACT prints them.

    ``aps`` are fractions from :func:`act_average_precision`; the reference
    computes ``100 * np.array(aps)`` and ``np.mean`` in float32 when its curves
    are float32. Returns ``(list of float percent, float mean)`` (mean NaN if
    empty).
    """
    a = np.asarray(aps, dtype=dtype) * dtype(100)
    return [float(x) for x in a], (float(np.mean(a)) if len(a) else float('nan'))
