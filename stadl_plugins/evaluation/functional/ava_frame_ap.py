"""Frame-mAP for AVA-format data (keyframe detections, multi-label boxes).

Two protocols, chosen by ``protocol``:

``'mmaction'``
    Identical numbers to MMAction2's ``AVAMetric`` / ``ava_eval``: every GT
    keyframe that is not excluded is evaluated, detections on keyframes without GT
    are ignored, there is no cap on detections per keyframe, and a class gets an AP
    only if it has at least one detection on an evaluated keyframe (a class with
    GT but no detection is left out of the mean rather than counted as 0).
    (``AVAFrameAPMetric`` rounds boxes and scores to 4 decimals in both
    protocols, as ``AVAMetric`` does by writing and re-reading a CSV file and as a
    submission file does.)
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
    """Round like ``'%.4f'`` formatting followed by parsing (what a CSV does).

    ``np.round`` agrees with correctly rounded decimal formatting except where a
    value lies (within float error) half-way between two 4-decimal numbers; those
    few are formatted as strings, so the result is exactly the CSV round trip.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return a
    out = np.round(a, 4)
    frac = np.abs(a * 1e4 - np.floor(a * 1e4) - 0.5)
    near = frac < 1e-6
    if near.any():
        out[near] = np.char.mod('%.4f', a[near]).astype(np.float64)
    return out


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
    keys = list(dets)
    sizes = [len(np.asarray(dets[k][2]).reshape(-1)) for k in keys]
    if keys:
        boxes = np.concatenate([np.asarray(dets[k][0], np.float64).reshape(-1, 4)
                                for k in keys])
        labels = np.concatenate([np.asarray(dets[k][1]).reshape(-1) for k in keys])
        scores = np.concatenate([np.asarray(dets[k][2], np.float64).reshape(-1)
                                 for k in keys])
    else:
        boxes, labels, scores = np.zeros((0, 4)), np.zeros(0, int), np.zeros(0)
    key_of_row = np.repeat(np.arange(len(keys)), sizes)
    return ava_frame_ap_flat(gt, keys, key_of_row, boxes, labels, scores, class_ids,
                             excluded=excluded, protocol=protocol, iou_thr=iou_thr,
                             max_dets_per_key=max_dets_per_key,
                             class_names=class_names)


def ava_frame_ap_flat(gt: dict, keys: list, key_of_row: np.ndarray,
                      boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                      class_ids, excluded=(), protocol='mmaction',
                      iou_thr: float = 0.5, max_dets_per_key: int | None = None,
                      class_names: dict | None = None) -> dict:
    """:func:`ava_frame_ap` on flat detection arrays (the fast path of the metric).

    Args:
        keys: the detection keys; ``key_of_row[i]`` indexes them for row ``i``.
        boxes, labels, scores: ``(N, 4)``, ``(N,)``, ``(N,)`` detection rows in
            input order (input order breaks score ties, as the CSV order does in
            the stock evaluator).

    Only (keyframe, class) groups that have ground truth need the greedy
    matching loop; every other detection is a false positive, and the ranking per
    class is one stable ``lexsort``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    if max_dets_per_key is None and protocol == 'activitynet':
        max_dets_per_key = 50
    class_ids = [int(c) for c in class_ids]
    wanted = set(class_ids)
    excluded = set(excluded)

    gt_count = defaultdict(int)
    for _, lab in gt.values():
        for c in np.asarray(lab).reshape(-1).tolist():
            if c in wanted:
                gt_count[int(c)] += 1

    # the keys evaluated, in the stock evaluator's order
    if protocol == 'mmaction':
        order_keys = [k for k in gt if k not in excluded]
    else:
        # sorted: the result must not depend on the order of a submission file
        order_keys = sorted(k for k in keys if k not in excluded)
    rank = {k: i for i, k in enumerate(order_keys)}
    row_rank = np.array([rank.get(k, -1) for k in keys], dtype=np.int64)
    row_rank = row_rank[key_of_row] if len(key_of_row) else row_rank[:0]
    labels = np.asarray(labels).astype(np.int64)
    keep = (row_rank >= 0) & np.isin(labels, class_ids)
    idx = np.flatnonzero(keep)
    r_rank, r_lab = row_rank[idx], labels[idx]
    r_score, r_box = np.asarray(scores, np.float64)[idx], np.asarray(boxes)[idx]

    if protocol == 'activitynet' and len(idx):
        # a canonical row order (keyframe, action, score desc, box), so that the
        # result does not depend on how a submission file happens to be sorted
        o = np.lexsort((r_box[:, 3], r_box[:, 2], r_box[:, 1], r_box[:, 0], -r_score,
                        r_lab, r_rank))
        r_rank, r_lab, r_score, r_box = r_rank[o], r_lab[o], r_score[o], r_box[o]

    if max_dets_per_key is not None and len(idx):
        # rank within keyframe by score (ties: larger action id first, as the
        # official reader's heap), keep the first max_dets_per_key
        o = np.lexsort((-r_lab, -r_score, r_rank))
        first = np.searchsorted(r_rank[o], r_rank[o], side='left')
        pos = np.arange(len(o)) - first
        sel = np.sort(o[pos < max_dets_per_key])
        r_rank, r_lab, r_score, r_box = r_rank[sel], r_lab[sel], r_score[sel], r_box[sel]

    # stock order: class, then keyframe (evaluation order), then score descending,
    # then input order (np.lexsort is stable)
    o = np.lexsort((-r_score, r_rank, r_lab))
    r_rank, r_lab, r_score, r_box = r_rank[o], r_lab[o], r_score[o], r_box[o]
    tp = np.zeros(len(o), dtype=bool)
    if len(o):
        grp = np.flatnonzero(np.diff(r_rank) | np.diff(r_lab)) + 1
        starts = np.concatenate([[0], grp])
        ends = np.concatenate([grp, [len(o)]])
        for a, b in zip(starts, ends):
            g = gt.get(order_keys[r_rank[a]])
            if g is None:
                continue
            g_lab = np.asarray(g[1]).reshape(-1)
            hit = g_lab == r_lab[a]
            if not hit.any():
                continue
            g_box = np.asarray(g[0], np.float32).reshape(-1, 4)[hit]
            tp[a:b] = greedy_match(r_box[a:b].astype(np.float32), g_box, iou_thr)

    present = list(dict.fromkeys(r_lab.tolist()))
    evaluated = sorted(present, key=present.index) if protocol == 'mmaction' \
        else class_ids
    per_class, pr = OrderedDict(), OrderedDict()
    bounds = {}
    if len(r_lab):
        cls_change = np.flatnonzero(np.diff(r_lab)) + 1
        cs = np.concatenate([[0], cls_change])
        ce = np.concatenate([cls_change, [len(r_lab)]])
        bounds = {int(r_lab[a]): (a, b) for a, b in zip(cs, ce)}
    for c in evaluated:
        n_gt = gt_count.get(c, 0)
        if n_gt == 0:
            per_class[c] = float('nan')
            continue
        a, b = bounds.get(c, (0, 0))
        p, r = precision_recall(r_score[a:b].astype(np.float32), tp[a:b], n_gt)
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
