"""Box overlap helpers shared by the frame- and video-level evaluators."""
from __future__ import annotations

import numpy as np


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``(..., 4)`` boxes ``x1, y1, x2, y2`` (continuous coordinates, no +1)."""
    return np.maximum(boxes[..., 2] - boxes[..., 0], 0) * \
        np.maximum(boxes[..., 3] - boxes[..., 1], 0)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between ``a (n, 4)`` and ``b (m, 4)`` boxes.

    Returns:
        ``(n, m)`` array; 0 where the union is empty.
    """
    a = np.asarray(a).reshape(-1, 4)
    b = np.asarray(b).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (n, m, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.maximum(rb - lt, 0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    # small arrays are the common case (linking): avoid errstate/where overhead
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64),
                     where=union > 0)


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise IoU of two equally long box lists ``(n, 4)`` -> ``(n,)``."""
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[:, 0] * wh[:, 1]
    union = box_area(a) + box_area(b) - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def greedy_match(det_boxes: np.ndarray, gt_boxes: np.ndarray,
                 iou_thr: float) -> np.ndarray:
    """PASCAL-style matching of score-ordered detections to ground truth.

    Each detection (in the given order, i.e. sorted by descending score) looks
    at the ground-truth box it overlaps most; it is a true positive when that
    IoU is at least ``iou_thr`` and that box is not matched yet. A detection
    whose best box is already taken is a false positive even if another box
    would be free: this is the rule of the AVA/ActivityNet, ACT and MultiSports
    evaluators alike.

    Args:
        det_boxes: ``(n, 4)`` detections, highest score first.
        gt_boxes: ``(m, 4)`` ground truth.

    Returns:
        ``(n,)`` bool array, True for true positives.
    """
    n = len(det_boxes)
    tp = np.zeros(n, dtype=bool)
    if n == 0 or len(gt_boxes) == 0:
        return tp
    iou = pairwise_iou(det_boxes, gt_boxes)
    best = iou.argmax(axis=1)
    ok = iou[np.arange(n), best] >= iou_thr
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i in np.flatnonzero(ok):
        if not taken[best[i]]:
            taken[best[i]] = True
            tp[i] = True
    return tp
