"""Frame-mAP for AVA-format data (keyframe detections, multi-label boxes).

Two protocols, chosen by ``protocol``:

``'mmaction'``
    Identical numbers to MMAction2's ``AVAMetric`` / ``ava_eval``: every GT
    keyframe that is not excluded is evaluated, detections on keyframes without GT
    are ignored, there is no cap on detections per keyframe, and a class gets an AP
    only if it has at least one detection on an evaluated keyframe (a class with
    GT but no detection is left out of the mean rather than counted as 0).
    Boxes and scores are rounded to 4 decimals, as ``AVAMetric`` does by writing
    and re-reading a CSV file.
``'activitynet'``
    The semantics of the official ActivityNet evaluator
    (``get_ava_performance.py``): the 50 highest-scoring detections of each
    keyframe are kept, detections on keyframes without GT are false positives,
    and every class of the label map with GT gets an AP (0 without detections);
    classes without GT are left out (NaN).

In both, AP is the all-point area under the PR curve at IoU 0.5, and the mean is
over classes with a (non-NaN) AP. The three AVA groups follow MMAction2's split of
the AVA ids: pose / person movement (id <= 14), object manipulation (15-63) and
person interaction (>= 64).
"""
from __future__ import annotations

import heapq
from collections import OrderedDict, defaultdict

import numpy as np

from .average_precision import average_precision, precision_recall
from .boxes import greedy_match

AVA_GROUPS = OrderedDict([
    ('person_movement', lambda c: c <= 14),
    ('object_manipulation', lambda c: 14 < c < 64),
    ('person_interaction', lambda c: c >= 64),
])

PROTOCOLS = ('mmaction', 'activitynet')


def csv_round(a) -> np.ndarray:
    """Round like ``'%.4f'`` formatting followed by parsing (what a CSV does)."""
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return a
    return np.char.mod('%.4f', a).astype(np.float64)


def top_k_per_key(boxes, labels, scores, k=50):
    """The ``k`` highest-scoring detections of one keyframe (ActivityNet's cap).

    Ties at the cut are broken like the official reader's heap of
    ``(score, action_id, box)`` tuples (a larger action id wins a tie).
    """
    if len(scores) <= k:
        return boxes, labels, scores
    items = [(float(s), int(lab), i) for i, (s, lab) in enumerate(zip(scores, labels))]
    keep = sorted(i for _, _, i in heapq.nlargest(k, items))
    return boxes[keep], labels[keep], scores[keep]


def ava_frame_ap(gt: dict, dets: dict, class_ids, excluded=(), protocol='mmaction',
                 iou_thr: float = 0.5, max_dets_per_key: int | None = None,
                 class_names: dict | None = None) -> dict:
    """Frame-AP per class over AVA keyframes.

    Args:
        gt: ``{key: (boxes (n, 4) x1y1x2y2, labels (n,))}``; key order matters
            only for tie-breaking among equal scores (it is the GT file order).
        dets: ``{key: (boxes (m, 4), labels (m,), scores (m,))}``; each row is one
            (box, action) pair, so a multi-label box has one row per action.
        class_ids: the evaluated action ids (the label map, or ``custom_classes``).
            GT and detections of other ids are dropped.
        excluded: keys to ignore (AVA's excluded timestamps).
        protocol: ``'mmaction'`` or ``'activitynet'`` (module docstring).
        iou_thr: IoU for a true positive.
        max_dets_per_key: cap per keyframe; default None for ``'mmaction'``, 50 for
            ``'activitynet'``.
        class_names: ``{id: name}`` for the report.

    Returns:
        dict with ``mAP``, the three AVA group means, ``per_class`` ``{id: AP}``
        (NaN for classes without GT), ``num_gt`` ``{id: n}`` and ``pr``
        ``{id: (precision, recall)}``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    if max_dets_per_key is None and protocol == 'activitynet':
        max_dets_per_key = 50
    class_ids = [int(c) for c in class_ids]
    wanted = set(class_ids)
    excluded = set(excluded)

    gt_count = defaultdict(int)
    for key, (_, labels) in gt.items():
        for lab in np.asarray(labels).tolist():
            if lab in wanted:
                gt_count[int(lab)] += 1

    if protocol == 'mmaction':
        keys = [k for k in gt if k not in excluded]
    else:
        keys = [k for k in dets if k not in excluded]

    scores_per_class = defaultdict(list)
    tp_per_class = defaultdict(list)
    empty_gt = (np.zeros((0, 4)), np.zeros((0,), dtype=np.int64))
    for key in keys:
        if key not in dets:
            continue
        d_boxes, d_labels, d_scores = (np.asarray(x) for x in dets[key])
        d_boxes = d_boxes.reshape(-1, 4)
        keep = np.isin(d_labels, class_ids)
        d_boxes, d_labels, d_scores = d_boxes[keep], d_labels[keep], d_scores[keep]
        if max_dets_per_key is not None:
            d_boxes, d_labels, d_scores = top_k_per_key(d_boxes, d_labels, d_scores,
                                                        max_dets_per_key)
        # within a keyframe: highest score first, ties in input order
        order = np.argsort(-d_scores, kind='stable')
        d_boxes, d_labels, d_scores = d_boxes[order], d_labels[order], d_scores[order]
        g_boxes, g_labels = gt.get(key, empty_gt)
        g_boxes = np.asarray(g_boxes).reshape(-1, 4)
        g_labels = np.asarray(g_labels)
        for lab in dict.fromkeys(d_labels.tolist()):
            sel = d_labels == lab
            db = d_boxes[sel].astype(np.float32)
            gb = g_boxes[g_labels == lab].astype(np.float32)
            scores_per_class[lab].append(d_scores[sel].astype(np.float32))
            tp_per_class[lab].append(greedy_match(db, gb, iou_thr))

    if protocol == 'mmaction':
        evaluated = list(scores_per_class)  # classes with a detection
    else:
        evaluated = class_ids
    per_class, pr = OrderedDict(), OrderedDict()
    for c in evaluated:
        n_gt = gt_count.get(c, 0)
        if n_gt == 0:
            per_class[c] = float('nan')
            continue
        s = np.concatenate(scores_per_class[c]) if scores_per_class[c] else \
            np.zeros((0,), np.float32)
        t = np.concatenate(tp_per_class[c]) if tp_per_class[c] else \
            np.zeros((0,), bool)
        p, r = precision_recall(s, t, n_gt)
        per_class[c] = average_precision(p, r)
        pr[c] = (p, r)

    def _mean(vals):
        vals = [v for v in vals if not np.isnan(v)]
        return float(np.mean(vals)) if vals else float('nan')

    out = OrderedDict(mAP=_mean(per_class.values()))
    for group, member in AVA_GROUPS.items():
        out[group] = _mean([ap for c, ap in per_class.items() if member(c)])
    out['per_class'] = per_class
    out['num_gt'] = {c: gt_count.get(c, 0) for c in class_ids}
    out['pr'] = pr
    if class_names:
        out['class_names'] = {c: class_names.get(c, str(c)) for c in per_class}
    return out
