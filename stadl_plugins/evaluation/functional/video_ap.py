"""Tube IoU and video-mAP (ACT/MOC convention) for ACT-schema ground truth.

A tube is an ``(L, 5+)`` array ``frame, x1, y1, x2, y2[, score]`` sorted by frame.
A detected tube list per class is ``[(video, score, tube), ...]``.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .average_precision import average_precision, precision_recall
from .boxes import paired_iou

#: thresholds of the tables in the ACT / MOC / YOWO papers and of this toolbox
VIDEO_IOU_THRS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75)
RANGES = OrderedDict([
    ('0.5:0.95', np.round(np.arange(0.5, 0.951, 0.05), 2)),
    ('0.1:0.9', np.round(np.arange(0.1, 0.901, 0.1), 2)),
    ('0.05:0.45', np.round(np.arange(0.05, 0.451, 0.05), 2)),
])


def tube_iou(a: np.ndarray, b: np.ndarray, inclusive: bool = True,
             spatial_only: bool = False, temporal_only: bool = False) -> float:
    """Spatio-temporal IoU of two tubes: temporal IoU x mean spatial IoU.

    Temporal IoU counts frames inclusively: tubes over frames 1..10 and 6..15
    overlap on 5 of 15 frames (``inclusive=True``, the ACT definition). With
    ``inclusive=False`` the ``+1`` is dropped as in MMAction2's
    ``multisports_utils.iou3dt_voc`` (then 1..10 vs 6..15 gives 4/14, and two
    tubes sharing a single frame get temporal IoU 0).

    The spatial term is the mean IoU over the frames inside the temporal overlap
    that both tubes annotate (for gap-free tubes: every frame of the overlap).
    """
    a = np.asarray(a)
    b = np.asarray(b)
    tmin = max(a[0, 0], b[0, 0])
    tmax = min(a[-1, 0], b[-1, 0])
    if tmax < tmin:
        return 0.0
    off = 1.0 if inclusive else 0.0
    inter = tmax - tmin + off
    union = max(a[-1, 0], b[-1, 0]) - min(a[0, 0], b[0, 0]) + off
    t_iou = inter / union if union > 0 else 0.0
    if temporal_only:
        return float(t_iou)
    fa = a[(a[:, 0] >= tmin) & (a[:, 0] <= tmax)]
    fb = b[(b[:, 0] >= tmin) & (b[:, 0] <= tmax)]
    common, ia, ib = np.intersect1d(fa[:, 0], fb[:, 0], return_indices=True)
    if len(common) == 0:
        return 0.0
    s_iou = float(np.mean(paired_iou(fa[ia, 1:5], fb[ib, 1:5])))
    return s_iou if spatial_only else float(t_iou * s_iou)


def video_ap(gt: dict, tubes: dict, videos: list, iou_thr: float,
             inclusive: bool = True, ignore_labels=()) -> dict:
    """Video-AP per class at tube-IoU ``iou_thr``.

    Args:
        gt: ACT-schema GT dict.
        tubes: ``{label index: [(video, score, tube), ...]}`` detected tubes.
        videos: evaluated videos (a split of ``gt['test_videos']``).

    Returns:
        dict: ``mAP`` (percent), ``per_class`` ``{name: AP %}``.
    """
    vset = set(videos)
    per_class = OrderedDict()
    for ilabel, name in enumerate(gt['labels']):
        if name in ignore_labels:
            continue
        gtt = {v: list(gt['gttubes'][v][ilabel]) for v in videos
               if ilabel in gt['gttubes'].get(v, {}) and len(gt['gttubes'][v][ilabel])}
        num_gt = sum(len(t) for t in gtt.values())
        if num_gt == 0:
            continue
        cand = [t for t in tubes.get(ilabel, []) if t[0] in vset]
        scores = np.array([t[1] for t in cand], dtype=np.float64)
        order = np.argsort(-scores, kind='stable')
        tp = np.zeros(len(cand), dtype=bool)
        taken = {v: np.zeros(len(g), dtype=bool) for v, g in gtt.items()}
        for rank, j in enumerate(order):
            v, _, tube = cand[j]
            if v not in gtt:
                continue
            ious = [tube_iou(g, tube, inclusive=inclusive) for g in gtt[v]]
            best = int(np.argmax(ious))
            if ious[best] >= iou_thr and not taken[v][best]:
                taken[v][best] = True
                tp[rank] = True
        p, r = precision_recall(scores[order], tp, num_gt, order=np.arange(len(cand)))
        per_class[name] = 100.0 * average_precision(p, r)
    vals = list(per_class.values())
    return OrderedDict(mAP=float(np.mean(vals)) if vals else float('nan'),
                       per_class=per_class)


def video_map(gt: dict, tubes: dict, videos: list, thresholds=VIDEO_IOU_THRS,
              ranges=tuple(RANGES), inclusive: bool = True,
              ignore_labels=()) -> OrderedDict:
    """Video-mAP at each threshold (``v_map@0.5``...) and range means.

    Range keys: ``v_map_0.5:0.95`` (mean over 0.5:0.05:0.95), ``v_map_0.1:0.9``,
    ``v_map_0.05:0.45``. Values in percent.
    """
    cache = {}

    def at(thr):
        thr = round(float(thr), 4)
        if thr not in cache:
            cache[thr] = video_ap(gt, tubes, videos, thr, inclusive=inclusive,
                                  ignore_labels=ignore_labels)['mAP']
        return cache[thr]

    out = OrderedDict()
    for thr in thresholds:
        out[f'v_map@{thr:g}'] = at(thr)
    for name in ranges:
        out[f'v_map_{name}'] = float(np.mean([at(t) for t in RANGES[name]]))
    return out
