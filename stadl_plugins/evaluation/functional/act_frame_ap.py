"""Frame-mAP for ACT-schema datasets (UCF101-24, JHMDB-21, MultiSports, synthetic).

Ground truth is the ACT/MOC pickle (``labels``, ``gttubes``, ``nframes``,
``train_videos``, ``test_videos``, ``resolution``); ``gttubes[video][label]`` is a
list of ``(n, 5)`` arrays ``frame, x1, y1, x2, y2`` in pixels, frames 1-based.

Detections are one row per (box, class) pair, so a box may carry several classes
(multi-label, AVA-style) or only its argmax class (single-label, as MMAction2's
``MultiSportsMetric``):

``dets``: ``(N, 8)`` float array ``video_index, frame, label, score, x1, y1, x2, y2``
with ``video_index`` into the evaluated video list and pixel boxes.

Two protocols (``docs/evaluation.md`` has the full table):

* ``'act'``: the ACT evaluator (``frameAP`` of ACT / MOC-Detector ``src/ACT.py``),
  the one UCF101-24 and JHMDB-21 papers report: detections of a label ranked by
  ``np.argsort(-scores)`` (numpy's default, non-stable sort, so ties fall as they
  fall in the reference when the same array is passed); each detection is matched
  to the best *still unmatched* GT box of its frame (:func:`remaining_match`);
  inclusive-pixel IoU (``+1``); AP is the trapezoid under the raw PR curve from
  (0, 1) (:func:`act_average_precision`); the mean runs over every label.
* ``'multisports'``: MMAction2's MultiSports evaluator: stable descending sort, a
  detection whose best GT box is taken is a false positive
  (:func:`greedy_match`), continuous IoU, all-point (VOC) AP, labels without GT
  left out of the mean.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...structures.bbox import greedy_match, paired_iou, remaining_match
from . import boxes as _boxes
from .average_precision import (
    act_average_precision,
    act_percent_mean,
    average_precision,
    precision_recall,
)

PROTOCOLS = ('act', 'multisports')


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    return protocol

DET_COLUMNS = ('video_index', 'frame', 'label', 'score', 'x1', 'y1', 'x2', 'y2')


def split_videos(gt: dict, split: int = 0, subset: str = 'test') -> list:
    """The video list of split ``split`` (0-based) of ``subset`` ('train'/'test')."""
    lists = gt[f'{subset}_videos']
    if not 0 <= split < len(lists):
        raise ValueError(f'split {split} out of range: the GT has {len(lists)} '
                         f'{subset} splits')
    return list(lists[split])


def gt_frame_boxes(gt: dict, videos: list, label: int) -> dict:
    """``{(video_index, frame): (n, 4) boxes}`` of one class."""
    out = {}
    for iv, v in enumerate(videos):
        for tube in gt['gttubes'].get(v, {}).get(label, []):
            for row in np.asarray(tube):
                out.setdefault((iv, int(row[0])), []).append(row[1:5])
    return {k: np.asarray(b, dtype=np.float64) for k, b in out.items()}


def act_frame_ap(gt: dict, dets: np.ndarray, videos: list, iou_thr: float = 0.5,
                 ignore_labels=(), protocol: str = 'multisports',
                 pr_dtype=np.float64) -> dict:
    """Frame-AP per class at ``iou_thr`` over every GT frame of ``videos``.

    A GT frame without any detection counts as missed; detections on frames
    without GT of the class are false positives.

    ``protocol='act'`` (module docstring) reproduces ACT's ``frameAP``. Every
    label of ``gt['labels']`` (less ``ignore_labels``) is in the mean; a label
    without GT in ``videos`` gets AP 0. (The reference gives 0 only when such a
    label also has no detection; with detections it divides 0 by 0 for the
    recall and crashes. We return 0 in both cases: every detection of it is a
    false positive and its recall is 0.)

    ``pr_dtype=np.float32`` (``'act'`` only) keeps the precision/recall curve,
    the AP integration and the mean in single precision as the reference does,
    so the result equals what it prints to ~1e-7 relative; the default float64
    is the same computation in double precision.

    ``protocol='multisports'``: classes without GT in ``videos`` are left out of
    the mean, classes with GT and no detections get AP 0.

    Returns:
        dict: ``frameAP`` (mean AP in percent, the convention of ACT/MOC/
        MultiSports tables), ``per_class`` ``{label name: AP %}``, ``pr``
        (``None`` for a label without GT).
    """
    if check_protocol(protocol) == 'act':
        return _act_frame_ap(gt, dets, videos, iou_thr, ignore_labels, pr_dtype)
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 8)
    labels = gt['labels']
    per_class, pr = OrderedDict(), OrderedDict()
    for ilabel, name in enumerate(labels):
        if name in ignore_labels:
            continue
        gtb = gt_frame_boxes(gt, videos, ilabel)
        num_gt = sum(len(b) for b in gtb.values())
        if num_gt == 0:
            continue
        d = dets[dets[:, 2] == ilabel]
        order = np.argsort(-d[:, 3], kind='stable')
        d = d[order]
        tp = np.zeros(len(d), dtype=bool)
        # group detections by frame; matching only interacts within a frame
        keys = d[:, 0].astype(np.int64) * 1_000_000 + d[:, 1].astype(np.int64)
        uniq, inverse = np.unique(keys, return_inverse=True)
        groups = np.argsort(inverse, kind='stable')
        bounds = np.searchsorted(inverse[groups], np.arange(len(uniq) + 1))
        for gi, key in enumerate(uniq):
            idx = groups[bounds[gi]:bounds[gi + 1]]  # score order kept
            g = gtb.get((int(key // 1_000_000), int(key % 1_000_000)))
            if g is not None:
                tp[idx] = greedy_match(d[idx, 4:8], g, iou_thr)
        p, r = precision_recall(d[:, 3], tp, num_gt, order=np.arange(len(d)))
        per_class[name] = 100.0 * average_precision(p, r)
        pr[name] = (p, r)
    vals = list(per_class.values())
    return OrderedDict(frameAP=float(np.mean(vals)) if vals else float('nan'),
                       per_class=per_class, pr=pr)


def _frame_groups(d: np.ndarray):
    """``(video_index, frame)`` keys and row indices (order kept) of sorted dets."""
    keys = d[:, 0].astype(np.int64) * 1_000_000 + d[:, 1].astype(np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    groups = np.argsort(inverse, kind='stable')
    bounds = np.searchsorted(inverse[groups], np.arange(len(uniq) + 1))
    for gi, key in enumerate(uniq):
        yield (int(key // 1_000_000), int(key % 1_000_000)), \
            groups[bounds[gi]:bounds[gi + 1]]


_KEY = 1_000_000  # frame keys video_index * _KEY + frame, as _frame_groups


def _gt_by_label(gt, videos):
    """``{label: (keys, boxes)}``: every GT box of ``videos`` with its frame key, in
    the order :func:`gt_frame_boxes` lists them (video, tube, row); None if a frame
    number does not fit the key (then the loop below is used)."""
    parts: dict = {}
    for iv, v in enumerate(videos):
        for label, tubes in gt['gttubes'].get(v, {}).items():
            for tube in tubes:
                t = np.asarray(tube, dtype=np.float64).reshape(-1, 5)
                if len(t):
                    parts.setdefault(label, []).append((iv, t))
    out = {}
    for label, ts in parts.items():
        t = np.concatenate([t for _, t in ts])
        iv = np.repeat([iv for iv, _ in ts], [len(t) for _, t in ts])
        if not np.isfinite(t[:, 0]).all():
            return None
        frame = t[:, 0].astype(np.int64)  # int() truncation, as gt_frame_boxes
        if frame.min() < 0 or frame.max() >= _KEY:
            return None
        out[label] = (iv * _KEY + frame, t[:, 1:5])
    return out


def _act_frame_ap(gt, dets, videos, iou_thr, ignore_labels, pr_dtype) -> dict:
    """ACT's frameAP, all labels matched in one pass: each label's detections ranked
    exactly as the reference ranks them (``np.argsort(-score)`` on that label's
    rows), then (label, video, frame) keys; frames with one GT box of the label are
    matched vectorised (the first ranked detection at IoU >= thr takes it), frames
    with several through :func:`remaining_match`. Identical results to
    :func:`_act_frame_ap_reference`, the plain loop over labels and frames (used
    where frame numbers or video indices do not fit the integer keys)."""
    dets = np.asarray(dets)
    if dets.dtype.kind != 'f':
        dets = dets.astype(np.float64)
    dets = dets.reshape(-1, 8)  # dtype kept: the tie order of the sort depends on it
    gtl = _gt_by_label(gt, videos)
    fr = dets[:, 1]
    if gtl is None or not np.isfinite(dets[:, :2]).all() or \
            (len(dets) and (fr.min() < 0 or fr.max() >= _KEY or dets[:, 0].min() < 0)):
        return _act_frame_ap_reference(gt, dets, videos, iou_thr, ignore_labels,
                                       pr_dtype)
    plus_one = _boxes.ACT_PLUS_ONE
    nlab = len(gt['labels'])
    lab, sc = dets[:, 2], dets[:, 3]
    valid = (lab >= 0) & (lab < nlab) & (lab == np.floor(lab))
    codes = np.where(valid, lab, -1).astype(np.int64)  # -1: not an evaluated label
    # each label's rows (= dets[dets[:, 2] == label], one radix sort of int16
    # codes) ranked by np.argsort(-score), ACT's default (non-stable) sort
    code_t = np.int16 if nlab < 2 ** 15 - 1 else np.int64
    by_label = np.argsort(codes.astype(code_t), kind='stable')
    bounds = np.searchsorted(codes[by_label], np.arange(nlab + 1))
    parts = []
    for ilabel in range(nlab):
        idx = by_label[bounds[ilabel]:bounds[ilabel + 1]]
        parts.append(idx[np.argsort(-sc[idx])])
    perm = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    bounds = bounds - bounds[0]  # rows of label -1 are not in perm
    d_code = np.repeat(np.arange(nlab), np.diff(bounds))
    # detection and GT keys (label, video, frame) -> match all labels in one pass
    vid = dets[:, 0].astype(np.int64)
    span = (max(len(videos), int(vid.max(initial=0)) + 1)) * _KEY
    if span * max(nlab, 1) >= 2 ** 62:
        return _act_frame_ap_reference(gt, dets, videos, iou_thr, ignore_labels,
                                       pr_dtype)
    dk = d_code * span + (vid * _KEY + dets[:, 1].astype(np.int64))[perm]
    g_parts = [(c, *gtl[c]) for c in range(nlab) if c in gtl]
    num_gt = {c: len(k) for c, k, _ in g_parts}
    if g_parts:
        gk = np.concatenate([c * span + k for c, k, _ in g_parts])
        gb = np.concatenate([b for _, _, b in g_parts])
    else:
        gk, gb = np.zeros(0, np.int64), np.zeros((0, 4))
    boxes = dets[:, 4:8]
    tp = _match_frames(dk, lambda i: boxes[perm[i]].astype(np.float64), gk, gb,
                       iou_thr, plus_one)
    scores = sc[perm]
    per_class, pr = OrderedDict(), OrderedDict()
    for ilabel, name in enumerate(gt['labels']):
        if name in ignore_labels:
            continue
        if not num_gt.get(ilabel):
            per_class[name] = 0.0
            pr[name] = None  # see the docstring: the reference crashes with dets
            continue
        a, b = bounds[ilabel], bounds[ilabel + 1]
        p, r = precision_recall(scores[a:b], tp[a:b], num_gt[ilabel],
                                order=np.arange(b - a))
        per_class[name] = act_average_precision(p, r, pr_dtype)
        pr[name] = (p, r)
    vals, mean = act_percent_mean(list(per_class.values()), pr_dtype)
    per_class = OrderedDict(zip(per_class, vals))
    return OrderedDict(frameAP=mean, per_class=per_class, pr=pr)


def _match_frames(dk, box_of, gk, gb, iou_thr, plus_one) -> np.ndarray:
    """:func:`remaining_match` per frame key, detections in rank order.

    ``dk``: a frame key per detection, ``box_of(i)``: the float64 boxes of the
    detections at positions ``i``; ``gk``/``gb``: GT keys and boxes, GT order
    within a key as the reference lists them. Keys with one GT box are matched
    vectorised (the first ranked detection at IoU >= thr takes it, as
    :func:`remaining_match` does with one box), keys with several box by box."""
    tp = np.zeros(len(dk), dtype=bool)
    if not len(dk) or not len(gk):
        return tp
    go = np.argsort(gk, kind='stable')  # GT order kept within a frame
    gk_s, gb_s = gk[go], gb[go]
    ukey, gstart, gcount = np.unique(gk_s, return_index=True, return_counts=True)
    pos = np.minimum(np.searchsorted(ukey, dk), len(ukey) - 1)
    has = ukey[pos] == dk
    one = np.flatnonzero(has & (gcount[pos] == 1))
    if len(one):
        ok = paired_iou(box_of(one), gb_s[gstart[pos[one]]], plus_one) >= iou_thr
        hit = one[ok]
        _, first = np.unique(dk[hit], return_index=True)
        tp[hit[first]] = True
    many = np.flatnonzero(has & (gcount[pos] > 1))
    if len(many):
        o = many[np.argsort(dk[many], kind='stable')]  # rank kept per frame
        bnd = np.flatnonzero(np.r_[True, dk[o][1:] != dk[o][:-1], True])
        for a, b in zip(bnd[:-1], bnd[1:]):
            idx = o[a:b]
            u = pos[idx[0]]
            g = gb_s[gstart[u]:gstart[u] + gcount[u]]
            tp[idx] = remaining_match(box_of(idx), g, iou_thr, plus_one=plus_one)
    return tp


def _act_frame_ap_reference(gt, dets, videos, iou_thr, ignore_labels,
                            pr_dtype) -> dict:
    """:func:`_act_frame_ap` as a plain loop over frames (kept as the reference)."""
    dets = np.asarray(dets)
    if dets.dtype.kind != 'f':
        dets = dets.astype(np.float64)
    dets = dets.reshape(-1, 8)  # dtype kept: the tie order of the sort depends on it
    per_class, pr = OrderedDict(), OrderedDict()
    for ilabel, name in enumerate(gt['labels']):
        if name in ignore_labels:
            continue
        gtb = gt_frame_boxes(gt, videos, ilabel)
        num_gt = sum(len(b) for b in gtb.values())
        d = dets[dets[:, 2] == ilabel]
        d = d[np.argsort(-d[:, 3])]  # ACT's order: default (non-stable) argsort
        if num_gt == 0:
            per_class[name] = 0.0
            pr[name] = None  # see the docstring: the reference crashes with dets
            continue
        tp = np.zeros(len(d), dtype=bool)
        boxes = d[:, 4:8].astype(np.float64)
        for key, idx in _frame_groups(d):
            g = gtb.get(key)
            if g is not None:
                tp[idx] = remaining_match(boxes[idx], g, iou_thr, plus_one=_boxes.ACT_PLUS_ONE)
        p, r = precision_recall(d[:, 3], tp, num_gt, order=np.arange(len(d)))
        per_class[name] = act_average_precision(p, r, pr_dtype)
        pr[name] = (p, r)
    vals, mean = act_percent_mean(list(per_class.values()), pr_dtype)
    per_class = OrderedDict(zip(per_class, vals))
    return OrderedDict(frameAP=mean, per_class=per_class, pr=pr)
