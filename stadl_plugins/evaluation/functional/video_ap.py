"""Tube IoU and video-mAP for ACT-schema ground truth.

A tube is an ``(L, 5+)`` array ``frame, x1, y1, x2, y2[, score]`` sorted by frame.
A detected tube list per class is ``[(video, score, tube), ...]``.

Two protocols (``docs/evaluation.md`` has the table):

* ``'act'``: ACT's ``videoAP`` (ACT / MOC-Detector ``src/ACT.py``). Per video and
  label the detected tubes first go through the 3D tube NMS at 0.3
  (:func:`tube_nms`, ACT's ``nms3dt``); the kept tubes of all videos are ranked by
  ``np.argsort(-scores)`` (numpy's default sort, ties as in the reference);
  each is matched to the best *remaining* GT tube of its video; tube IoU with
  inclusive frame counting and inclusive-pixel (``+1``) box IoU; AP is the
  trapezoid under the raw PR curve from (0, 1); the mean runs over every label
  (0 for a label without GT).
* ``'multisports'``: MMAction2's MultiSports evaluator (what this module did
  before the ACT protocol existed): no tube NMS, stable sort, a tube whose best GT
  is taken is a false positive, continuous box IoU, all-point (VOC) AP, labels
  without GT left out; temporal IoU inclusive unless ``inclusive=False`` (the
  stock code's exclusive count).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...structures.bbox import paired_iou
from . import boxes as _boxes
from .act_frame_ap import check_protocol
from .average_precision import (
    act_average_precision,
    act_percent_mean,
    average_precision,
    precision_recall,
)

#: ACT's ``nms3dt`` threshold applied before video-AP (``protocol='act'``)
ACT_TUBE_NMS_THR = 0.3

#: thresholds of the tables in the ACT / MOC / YOWO papers and of this toolbox
VIDEO_IOU_THRS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75)
RANGES = OrderedDict([
    ('0.5:0.95', np.round(np.arange(0.5, 0.951, 0.05), 2)),
    ('0.1:0.9', np.round(np.arange(0.1, 0.901, 0.1), 2)),
    ('0.05:0.45', np.round(np.arange(0.05, 0.451, 0.05), 2)),
])


def tube_iou(a: np.ndarray, b: np.ndarray, inclusive: bool = True,
             spatial_only: bool = False, temporal_only: bool = False,
             plus_one: bool = False) -> float:
    """Spatio-temporal IoU of two tubes: temporal IoU x mean spatial IoU.

    Temporal IoU counts frames inclusively: tubes over frames 1..10 and 6..15
    overlap on 5 of 15 frames (``inclusive=True``, the ACT definition). With
    ``inclusive=False`` the ``+1`` is dropped as in MMAction2's
    ``multisports_utils.iou3dt_voc`` (then 1..10 vs 6..15 gives 4/14, and two
    tubes sharing a single frame get temporal IoU 0).

    The spatial term is the mean IoU over the frames inside the temporal overlap
    that both tubes annotate (for gap-free tubes: every frame of the overlap),
    with inclusive-pixel box areas when ``plus_one`` (ACT's ``iou3dt``, which is
    ``inclusive=True, plus_one=True``). ACT slices each tube from its row of
    frame ``tmin`` to its row of frame ``tmax`` and asserts that the two slices
    cover the same frames, so it crashes on a tube with a gap inside the overlap;
    there we average over the frames both tubes have instead.
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
    s_iou = float(np.mean(paired_iou(fa[ia, 1:5].astype(np.float64),
                                     fb[ib, 1:5].astype(np.float64), plus_one)))
    return s_iou if spatial_only else float(t_iou * s_iou)


def tube_nms(tubes: list, thr: float = ACT_TUBE_NMS_THR) -> np.ndarray:
    """ACT's ``nms3dt``: indices of the kept tubes of one video and label.

    ``tubes`` is a list of ``(score, tube)``. The tubes are ordered by
    ``np.argsort(scores)`` (numpy's default sort; the best is the *last* of that
    order, so ties fall as in the reference); the best is kept, every remaining
    tube whose :func:`tube_iou` (ACT's: inclusive frames, ``+1`` pixels) with it
    is above ``thr`` is discarded, and so on. Returns indices in keep order.
    """
    if not len(tubes):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(np.array([t[0] for t in tubes]))
    keep = []
    while order.size:
        i = order[-1]
        keep.append(int(i))
        rest = order[:-1]
        ious = np.array([tube_iou(tubes[j][1], tubes[i][1], plus_one=_boxes.ACT_PLUS_ONE)
                         for j in rest])
        order = rest[ious <= thr] if len(rest) else rest
    return np.asarray(keep, dtype=np.int64)


def act_tube_nms(tubes: dict, videos: list, thr: float = ACT_TUBE_NMS_THR) -> dict:
    """:func:`tube_nms` per video and label, in ACT's order.

    Returns ``{label: [(video, score, tube), ...]}`` with the kept tubes of the
    videos of ``videos`` in that order, each video's tubes in keep order (the
    list ACT's ``videoAP`` ranks). Tubes of other videos are dropped.
    """
    out = {}
    for label, cands in tubes.items():
        by_video = {}
        for t in cands:
            by_video.setdefault(t[0], []).append(t)
        kept = []
        for v in videos:
            vt = by_video.get(v)
            if not vt:
                continue
            if thr is None:
                kept += vt
            else:
                kept += [vt[i] for i in tube_nms([(t[1], t[2]) for t in vt], thr)]
        out[label] = kept
    return out


def _act_ranked(gt, tubes, videos, ilabel):
    """Ranked tubes of one label and their IoU with each GT tube of their video."""
    gtt = {v: list(gt['gttubes'][v][ilabel]) for v in videos
           if ilabel in gt['gttubes'].get(v, {}) and len(gt['gttubes'][v][ilabel])}
    num_gt = sum(len(t) for t in gtt.values())
    cand = tubes.get(ilabel, [])
    scores = np.array([t[1] for t in cand])  # dtype as the reference builds it
    order = np.argsort(-scores) if len(cand) else np.zeros(0, dtype=np.int64)
    ranked = []
    for j in order:
        v, _, tube = cand[j]
        ious = (np.array([tube_iou(g, tube, plus_one=_boxes.ACT_PLUS_ONE) for g in gtt[v]])
                if v in gtt else None)
        ranked.append((v, ious))
    return num_gt, ranked


def _best_remaining(ious: np.ndarray, free: np.ndarray) -> int:
    """ACT: the best of the still unmatched GT tubes (first on a tie); -1 if none."""
    cand = np.flatnonzero(free)
    return int(cand[np.argmax(ious[cand])]) if len(cand) else -1


def act_true_positives(ranked, iou_thr: float) -> np.ndarray:
    """ACT's TP flags of ranked tubes: each takes the best remaining GT tube of its
    video and is a TP if that tube IoU is >= ``iou_thr`` (GT fresh at each call).

    ``ranked``: ``[(video, ious or None), ...]`` in ranking order, ``ious`` the
    tube's IoU with each GT tube of its video (None: the video has no GT).
    Returns ``(len(ranked),)`` bool. Matching never looks outside a video, so
    the flags do not change when videos are resampled (the bootstrap relies on it).
    """
    tp = np.zeros(len(ranked), dtype=bool)
    free = {}
    for rank, (v, ious) in enumerate(ranked):
        if ious is None:
            continue
        f = free.setdefault(v, np.ones(len(ious), dtype=bool))
        best = _best_remaining(ious, f)
        if best >= 0 and ious[best] >= iou_thr:
            f[best] = False
            tp[rank] = True
    return tp


def act_ranked(gt: dict, tubes: dict, videos: list, ilabel: int):
    """``(num_gt, ranked)`` of one label for :func:`act_true_positives`.

    ``tubes`` must already be through :func:`act_tube_nms`; the ranking is ACT's
    ``np.argsort(-scores)``.
    """
    return _act_ranked(gt, tubes, videos, ilabel)


def _act_ap(num_gt, ranked, iou_thr, pr_dtype=np.float64) -> float:
    """AP (a fraction) of one label at ``iou_thr``; GT fresh at each call."""
    if num_gt == 0:
        return 0.0  # the reference: 0 without detections, a 0/0 crash with them
    tp = act_true_positives(ranked, iou_thr)
    p, r = precision_recall(np.zeros(len(ranked)), tp, num_gt,
                            order=np.arange(len(ranked)))
    return act_average_precision(p, r, pr_dtype)


def _act_mean(per_class: OrderedDict, pr_dtype) -> tuple:
    vals, mean = act_percent_mean(list(per_class.values()), pr_dtype)
    return OrderedDict(zip(per_class, vals)), mean


def video_ap(gt: dict, tubes: dict, videos: list, iou_thr: float,
             inclusive: bool = True, ignore_labels=(), protocol: str = 'multisports',
             tube_nms_thr: float | None = ACT_TUBE_NMS_THR,
             pr_dtype=np.float64) -> dict:
    """Video-AP per class at tube-IoU ``iou_thr``.

    Args:
        gt: ACT-schema GT dict.
        tubes: ``{label index: [(video, score, tube), ...]}`` detected tubes.
        videos: evaluated videos (a split of ``gt['test_videos']``).
        inclusive: temporal IoU counting (``'multisports'`` only; ACT is
            inclusive).
        protocol: ``'act'`` or ``'multisports'`` (module docstring).
        tube_nms_thr: ``'act'`` only: the tube NMS threshold (ACT: 0.3);
            ``None`` if ``tubes`` already went through :func:`act_tube_nms`.
        pr_dtype: ``'act'`` only: ``np.float32`` computes the curve, AP and mean
            in single precision as the reference does (it prints that value).

    Returns:
        dict: ``mAP`` (percent), ``per_class`` ``{name: AP %}``.
    """
    if check_protocol(protocol) == 'act':
        kept = act_tube_nms(tubes, videos, tube_nms_thr)
        per_class = OrderedDict()
        for ilabel, name in enumerate(gt['labels']):
            if name in ignore_labels:
                continue
            per_class[name] = _act_ap(*_act_ranked(gt, kept, videos, ilabel),
                                      iou_thr, pr_dtype)
        per_class, mean = _act_mean(per_class, pr_dtype)
        return OrderedDict(mAP=mean, per_class=per_class)
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
              ignore_labels=(), protocol: str = 'multisports',
              tube_nms_thr: float | None = ACT_TUBE_NMS_THR,
              per_class: bool = False, pr_dtype=np.float64) -> OrderedDict:
    """Video-mAP at each threshold (``v_map@0.5``...) and range means.

    Range keys: ``v_map_0.5:0.95`` (mean over 0.5:0.05:0.95), ``v_map_0.1:0.9``,
    ``v_map_0.05:0.45``. Values in percent. ``protocol`` and ``tube_nms_thr`` as
    in :func:`video_ap`; with ``'act'`` the tube NMS and the tube IoUs are
    computed once for all thresholds (GT is fresh at each threshold, as when the
    reference is run once per threshold). ``per_class=True`` adds
    ``v_ap@<thr>/<label>`` for the single thresholds.
    """
    check_protocol(protocol)
    cache, per = {}, {}
    if protocol == 'act':
        kept = act_tube_nms(tubes, videos, tube_nms_thr)
        ranked = OrderedDict((name, _act_ranked(gt, kept, videos, ilabel))
                             for ilabel, name in enumerate(gt['labels'])
                             if name not in ignore_labels)

    def at(thr):
        thr = round(float(thr), 4)
        if thr not in cache:
            if protocol == 'act':
                per[thr], cache[thr] = _act_mean(
                    OrderedDict((n, _act_ap(*r, thr, pr_dtype))
                                for n, r in ranked.items()), pr_dtype)
            else:
                res = video_ap(gt, tubes, videos, thr, inclusive=inclusive,
                               ignore_labels=ignore_labels)
                per[thr] = res['per_class']
                cache[thr] = res['mAP']
        return cache[thr]

    out = OrderedDict()
    for thr in thresholds:
        out[f'v_map@{thr:g}'] = at(thr)
    for name in ranges:
        if protocol == 'act' and pr_dtype is not np.float64:
            # the reference adds its (float32) results one by one, then / 10
            acc = pr_dtype(0)
            for t in RANGES[name]:
                acc = acc + pr_dtype(at(t))
            out[f'v_map_{name}'] = float(acc / pr_dtype(len(RANGES[name])))
        else:
            out[f'v_map_{name}'] = float(np.mean([at(t) for t in RANGES[name]]))
    if per_class:
        for thr in thresholds:
            for name, ap in per[round(float(thr), 4)].items():
                out[f'v_ap@{thr:g}/{name}'] = ap
    return out
