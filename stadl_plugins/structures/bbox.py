"""The one box module: areas, IoU (matrix and paired), GT matching, greedy NMS.

Used by the evaluators, tube linking, the online tracker, the demo, attention
localization and the track-feature tools (``stadl_plugins.structures`` is the
lowest layer: it imports nothing from the package).

Two pixel conventions:

* continuous (``plus_one=False``, the default): a box ``x1, y1, x2, y2`` covers
  ``(x2 - x1) * (y2 - y1)``; MMAction2's MultiSports/AVA evaluators and the
  TF object-detection code use it;
* inclusive pixels (``plus_one=True``): widths and heights are ``x2 - x1 + 1`` and
  ``y2 - y1 + 1``, and so is the intersection (``min(x2) - max(x1) + 1``, clipped
  at 0). The ACT evaluator (``area2d`` / ``overlap2d`` / ``iou2d`` of ACT and
  MOC-Detector) and MOC's per-frame NMS use it. For small boxes the difference is
  large: two 10 px boxes shifted by 3.6 px have IoU 0.507 inclusive, 0.471
  continuous.
"""
from __future__ import annotations

import numpy as np


def box_area(boxes: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """Areas of ``(..., 4)`` boxes ``x1, y1, x2, y2`` (``+1`` pixel when ``plus_one``)."""
    off = 1.0 if plus_one else 0.0
    return np.maximum(boxes[..., 2] - boxes[..., 0] + off, 0) * \
        np.maximum(boxes[..., 3] - boxes[..., 1] + off, 0)


def pairwise_iou(a: np.ndarray, b: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """IoU matrix between ``a (n, 4)`` and ``b (m, 4)`` boxes.

    Returns:
        ``(n, m)`` array; 0 where the union is empty.
    """
    a = np.asarray(a).reshape(-1, 4)
    b = np.asarray(b).reshape(-1, 4)
    off = 1.0 if plus_one else 0.0
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (n, m, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.maximum(rb - lt + off, 0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a, plus_one)[:, None] + box_area(b, plus_one)[None, :] - inter
    # small arrays are the common case (linking): avoid errstate/where overhead
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64),
                     where=union > 0)


def paired_iou(a: np.ndarray, b: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """Element-wise IoU of two equally long box lists ``(n, 4)`` -> ``(n,)``."""
    off = 1.0 if plus_one else 0.0
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    wh = np.clip(rb - lt + off, 0, None)
    inter = wh[:, 0] * wh[:, 1]
    union = box_area(a, plus_one) + box_area(b, plus_one) - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def greedy_match(det_boxes: np.ndarray, gt_boxes: np.ndarray,
                 iou_thr: float, plus_one: bool = False) -> np.ndarray:
    """PASCAL/TF-style matching of score-ordered detections to ground truth.

    Each detection (in the given order, i.e. sorted by descending score) looks
    at the ground-truth box it overlaps most among *all* boxes; it is a true
    positive when that IoU is at least ``iou_thr`` and that box is not matched
    yet. A detection whose best box is already taken is a false positive even if
    another box would be free. This is the rule of the AVA/ActivityNet (TF
    object-detection) evaluator and of MMAction2's MultiSports evaluator
    (``protocol='multisports'``). The ACT evaluator does *not* apply it: see
    :func:`remaining_match`.

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
    iou = pairwise_iou(det_boxes, gt_boxes, plus_one)
    best = iou.argmax(axis=1)
    ok = iou[np.arange(n), best] >= iou_thr
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i in np.flatnonzero(ok):
        if not taken[best[i]]:
            taken[best[i]] = True
            tp[i] = True
    return tp


def remaining_match(det_boxes: np.ndarray, gt_boxes: np.ndarray,
                    iou_thr: float, plus_one: bool = True) -> np.ndarray:
    """ACT-style matching: each detection looks only at the still unmatched GT.

    Detections are visited in the given order (descending score). A detection
    takes, among the ground-truth boxes not matched yet, the one it overlaps most
    (the first one in GT order on an exact tie, as ``np.argmax`` over ACT's
    ``np.delete``-shrunk list); it is a true positive when that IoU is at least
    ``iou_thr``, and the box is then used up. When every box is used up the
    detection is a false positive. Unlike :func:`greedy_match`, a detection whose
    best box was already taken can still match a second box of the frame.
    ``plus_one`` defaults to the inclusive-pixel IoU that ACT uses.

    Returns:
        ``(n,)`` bool array, True for true positives.
    """
    n = len(det_boxes)
    tp = np.zeros(n, dtype=bool)
    if n == 0 or len(gt_boxes) == 0:
        return tp
    iou = pairwise_iou(det_boxes, gt_boxes, plus_one)
    free = np.ones(len(gt_boxes), dtype=bool)
    for i in range(n):
        cand = np.flatnonzero(free)
        if not len(cand):
            break
        j = cand[np.argmax(iou[i, cand])]
        if iou[i, j] >= iou_thr:
            free[j] = False
            tp[i] = True
    return tp


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float,
        top_k: int | None = None, plus_one: bool = False) -> np.ndarray:
    """Greedy non-maximum suppression; the indices of the kept boxes, best first.

    Boxes are visited by descending score (stable: ties keep their order); a box
    whose IoU with a kept box exceeds ``iou_thr`` is dropped.

    Args:
        boxes: ``(n, 4)`` ``x1, y1, x2, y2``.
        scores: ``(n,)``.
        top_k: stop after this many kept boxes.
        plus_one: inclusive-pixel IoU (module docstring).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores), kind='stable')
    keep = []
    iou = pairwise_iou(boxes, boxes, plus_one)
    suppressed = np.zeros(len(boxes), dtype=bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        if top_k is not None and len(keep) >= top_k:
            break
        suppressed |= iou[i] > iou_thr
    return np.asarray(keep, dtype=np.int64)
