"""Frame-mAP for AVA-format data (keyframe detections, multi-label boxes).

Two protocols, chosen by ``protocol``. Each reproduces one reference evaluator
number for number (``tests/evaluation/test_ava_official.py`` checks both on
``shared/data/eval_ava_official``); ``docs/evaluation.md`` has the rules side by side.

``'activitynet'`` -- the official ActivityNet evaluator, 2019 revision
(``Evaluation/get_ava_performance.py`` at ``3fee089``, the one that takes an
excluded-timestamps file), rule by rule:

1. only label-map ids count (GT and detection rows of other ids are skipped);
2. excluded keyframes are removed completely (their GT is not a positive, their
   detections are not scored);
3. per keyframe, the official reader keeps at most 50 detection rows, all actions
   together: a min-heap of ``(score, action, y1, x1, y2, x2)`` tuples filled in row
   order, a row entering a full heap only with a score strictly above its minimum
   (which evicts the smallest tuple); the kept rows are then ordered by descending
   score, ties in heap-array order. This is emulated exactly (``heapq``), so with
   tied scores the result depends on the row order as it does for the official
   script (see *row order* below);
4. detection boxes with ``x1 >= x2`` or ``y1 >= y2`` are discarded after that cut
   (so they still take a place among the 50);
5. detections on keyframes without GT (and of actions without GT on that keyframe)
   are false positives;
6. per keyframe and action, detections in that order each take the GT box of
   highest IoU (IoU in float64, continuous coordinates, the first box on equal IoU,
   GT in the reader's heap order); TP if IoU >= ``iou_thr`` and that box is not
   matched yet, otherwise FP (no fall-back to another box);
7. per action, scores are ranked with ``np.argsort(scores)[::-1]`` over the
   concatenation keyframe by keyframe (keyframes in order of their first counted
   row), AP is VOC all-point (``compute_average_precision``); an action with GT and
   no detection gets 0, one without GT NaN; the mAP is ``np.nanmean`` over the
   label-map ids.

``'mmaction'`` -- MMAction2 1.2.0's ``ava_eval`` / ``AVAMetric``:

* only keyframes that have GT and are not excluded are scored; detections on other
  keyframes are ignored;
* GT on excluded keyframes still counts toward the positives of its action;
* no cap on detections per keyframe; per keyframe the rows are ordered by
  descending score (stable, so ties keep row order);
* boxes and scores as float32; IoU with float32 box arithmetic (areas, widths, the
  sum of the two areas) into float64 intersection and division, exactly as stock,
  so boxes at IoU 0.5 come out the same side of the threshold;
* a box with ``x1 > x2`` or ``y1 > y2`` that stock would evaluate (a detection on a
  scored keyframe, or a GT box of an action detected on its keyframe) raises
  :class:`InvalidBoxError` naming the keyframe, action and box, where stock stops
  with ``ValueError: Invalid box data``; degenerate boxes (``x1 == x2``) are
  evaluated (IoU 0), as stock does;
* an action gets an AP only if it has a detection on a scored keyframe (otherwise
  it is left out of the mean even with GT); the mean runs in stock's action order.

Both: matching and AP as in rules 6 and 7.

**Row order.** Only tied scores make the result depend on the order of rows. With
the flat API and ``row_order='file'`` the rows are taken in the given order, which
is what the reference does when reading a CSV (``evaluate_submission`` keeps file
order). In-memory results (:func:`ava_frame_ap`, ``AVAFrameAPMetric``) use, for
``'activitynet'``, ``row_order='canonical'``: rows sorted by (video id, timestamp,
action id, score descending, x1, y1, x2, y2) -- the order ``write_submission``
writes -- the 50-row cut of rule 3 applied in that order, and the kept rows then
evaluated as the official script evaluates the file holding only them in that
order. That is exactly what the official script prints on the submission CSV the
metric writes. ``'mmaction'`` keeps the input order (``AVAMetric``'s CSV order).

The three AVA groups follow MMAction2's split of the AVA ids: pose / person
movement (id <= 14), object manipulation (15-63) and person interaction (>= 64).
"""
from __future__ import annotations

import heapq
import warnings
from collections import OrderedDict, defaultdict, deque

import numpy as np

AVA_GROUPS = OrderedDict([
    ('person_movement', lambda c: c <= 14),
    ('object_manipulation', lambda c: 14 < c < 64),
    ('person_interaction', lambda c: c >= 64),
])

PROTOCOLS = ('mmaction', 'activitynet')
ROW_ORDERS = ('file', 'canonical')


class InvalidBoxError(ValueError):
    """A box with ``x1 > x2`` or ``y1 > y2`` where stock ``ava_eval`` would crash."""


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


# --------------------------------------------------------------------------
# box and AP arithmetic of the two references

def pair_iou(d: np.ndarray, g: np.ndarray, stock_precision: bool = False) -> np.ndarray:
    """IoU of row ``i`` of ``d`` with row ``i`` of ``g`` (``x1, y1, x2, y2``).

    The operations and their order are those of the references' ``np_box_ops.iou``
    (areas ``(y2 - y1) * (x2 - x1)``, union ``area_det + area_gt - intersection``),
    so the values are bit-identical to theirs. ``stock_precision``: float32 boxes
    and areas, float64 intersection and division (MMAction2's ``ava_eval``, which
    builds float32 arrays); otherwise everything in float64 (official script).
    """
    dt = np.float32 if stock_precision else np.float64
    d = np.asarray(d).astype(dt, copy=False)
    g = np.asarray(g).astype(dt, copy=False)
    h = np.minimum(d[:, 3], g[:, 3]) - np.maximum(d[:, 1], g[:, 1])
    w = np.minimum(d[:, 2], g[:, 2]) - np.maximum(d[:, 0], g[:, 0])
    inter = np.maximum(np.zeros(h.shape), h) * np.maximum(np.zeros(w.shape), w)
    area_d = (d[:, 3] - d[:, 1]) * (d[:, 2] - d[:, 0])
    area_g = (g[:, 3] - g[:, 1]) * (g[:, 2] - g[:, 0])
    with np.errstate(divide='ignore', invalid='ignore'):
        return inter / ((area_d + area_g) - inter)


def precision_recall_ranked(scores: np.ndarray, tp: np.ndarray, num_gt: int):
    """The references' ``compute_precision_recall``: rank with
    ``np.argsort(scores)[::-1]`` (numpy's default sort, reversed)."""
    order = np.argsort(scores)[::-1]
    t = tp.astype(int)[order]
    ctp, cfp = np.cumsum(t), np.cumsum(1 - t)
    return ctp.astype(float) / (ctp + cfp), ctp.astype(float) / num_gt


def voc_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """The references' ``compute_average_precision`` (VOC all-point): precision made
    non-increasing from the right, summed over the recall steps; 0 when empty."""
    if not precision.size:
        return 0.0
    r = np.concatenate([[0], recall, [1]])
    p = np.concatenate([[0], precision, [0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    i = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[i] - r[i - 1]) * p[i]))


# --------------------------------------------------------------------------
# the official reader (heap of 50 per keyframe)

def _simulate_reader(rows, S, A, Y1, X1, Y2, X2, capacity):
    """The official reader on the given rows (indices into the column lists, in
    file order): kept row indices, best first, ties in heap-array order."""
    heap = []
    push, replace = heapq.heappush, heapq.heapreplace
    for i in rows:
        s = S[i]
        if capacity < 1 or len(heap) < capacity:
            push(heap, (s, A[i], Y1[i], X1[i], Y2[i], X2[i]))
        elif s > heap[0][0]:
            replace(heap, (s, A[i], Y1[i], X1[i], Y2[i], X2[i]))
    heap = sorted(heap, key=lambda t: -t[0])
    lowest = heap[-1][0] if heap else 0.0
    where = defaultdict(deque)  # equal tuples are interchangeable
    for i in rows:
        if S[i] >= lowest:
            where[(S[i], A[i], Y1[i], X1[i], Y2[i], X2[i])].append(i)
    return [where[t].popleft() for t in heap]


def _columns(scores, labels, boxes):
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return (np.asarray(scores, np.float64).tolist(),
            np.asarray(labels).astype(np.int64).tolist(),
            b[:, 1].tolist(), b[:, 0].tolist(), b[:, 3].tolist(), b[:, 2].tolist())


def official_reader_order(scores, labels, boxes, capacity: int = 50) -> np.ndarray:
    """Rows of one keyframe (in file order) as the official ``read_csv`` keeps and
    orders them: indices of the kept rows, best first.

    A min-heap of ``(score, action, y1, x1, y2, x2)`` tuples filled in row order;
    when it holds ``capacity`` rows a new row replaces the smallest tuple only if
    its score is strictly above the smallest score; the heap array is then sorted
    by descending score (stable). ``capacity < 1``: no limit.
    """
    n = len(scores)
    s = np.asarray(scores, np.float64)
    if capacity < 1 or n <= capacity:
        if n < 2 or len(np.unique(s)) == n:  # no tie: the order is the score order
            return np.argsort(-s, kind='stable')
    return np.array(_simulate_reader(range(n), *_columns(s, labels, boxes), capacity),
                    dtype=np.int64)


def _official_gt_order(labels, boxes) -> np.ndarray:
    """GT rows of one keyframe in the order the official reader returns them (it
    pushes every row, score 1.0, into a heap and keeps the heap-array order)."""
    n = len(labels)
    if n < 2:
        return np.arange(n)
    return official_reader_order(np.ones(n), labels, boxes, capacity=0)


# --------------------------------------------------------------------------
# inputs

def _flat_gt(gt):
    """``gt`` as ``(keys, key_of_row, boxes, labels)`` in file order."""
    if isinstance(gt, tuple):
        keys, kr, b, lab = gt
        return (list(keys), np.asarray(kr, np.int64),
                np.asarray(b, np.float64).reshape(-1, 4), np.asarray(lab, np.int64))
    keys = list(gt)
    sizes = [len(np.asarray(gt[k][1]).reshape(-1)) for k in keys]
    if not keys or not sum(sizes):
        return keys, np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.int64)
    b = np.concatenate([np.asarray(gt[k][0], np.float64).reshape(-1, 4) for k in keys])
    lab = np.concatenate([np.asarray(gt[k][1]).reshape(-1) for k in keys])
    return keys, np.repeat(np.arange(len(keys)), sizes), b, lab.astype(np.int64)


def _split_key(k: str):
    vid, _, ts = k.rpartition(',')
    try:
        return vid, int(ts)
    except ValueError:
        return k, 0


def _canonical(keys, kr, boxes, labels, scores) -> np.ndarray:
    """Row permutation into ``write_submission``'s order."""
    uk = sorted(range(len(keys)), key=lambda i: _split_key(keys[i]))
    krank = np.empty(len(keys), np.int64)
    krank[uk] = np.arange(len(keys))
    return np.lexsort((boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], -scores,
                       labels, krank[kr]))


def _reader(kr, boxes, labels, scores, capacity):
    """The official reader over rows in file order: the kept row indices grouped
    keyframe by keyframe (keyframes in order of their first row), best first within
    each keyframe.

    Vectorised where the result cannot depend on ties: a keyframe whose kept rows
    have distinct scores and whose 50th and 51st scores differ keeps exactly its 50
    best, in score order. Other keyframes are run through the heap itself.
    """
    if not len(kr):
        return np.zeros(0, np.int64)
    _, first = np.unique(kr, return_index=True)
    rank = np.empty(kr.max() + 1, np.int64)
    rank[kr[np.sort(first)]] = np.arange(len(first))
    r = rank[kr]
    o = np.lexsort((-scores, r))  # by keyframe, best first, stable
    rs, so = r[o], scores[o]
    starts = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]])
    sizes = np.diff(np.r_[starts, len(o)])
    pos = np.arange(len(o)) - np.repeat(starts, sizes)
    tie = np.r_[False, (rs[1:] == rs[:-1]) & (so[1:] == so[:-1])]
    if capacity >= 1:
        kept = pos < capacity
        tie &= pos <= capacity  # among the kept rows, or across the cut
    else:
        kept = np.ones(len(o), bool)
    slow_keys = np.unique(rs[tie])
    if not len(slow_keys):
        return o[kept]
    slow_row = np.isin(rs, slow_keys)
    fast = o[kept & ~slow_row]
    f_key, f_pos = rs[kept & ~slow_row], pos[kept & ~slow_row]
    cols = _columns(scores, labels, boxes)
    s_rows, s_key, s_pos = [], [], []
    for k, a in zip(slow_keys, starts[slow_keys]):
        rows = np.sort(o[a:a + sizes[k]]).tolist()  # this keyframe in file order
        got = _simulate_reader(rows, *cols, capacity)
        s_rows += got
        s_key += [k] * len(got)
        s_pos += range(len(got))
    allr = np.concatenate([fast, np.asarray(s_rows, np.int64)])
    order = np.lexsort((np.concatenate([f_pos, s_pos]), np.concatenate([f_key, s_key])))
    return allr[order]


# --------------------------------------------------------------------------
# matching

def _match(d_grp, d_boxes, g_grp, g_boxes, iou_thr, stock_precision):
    """Greedy matching without fall-back, vectorised.

    ``d_grp`` / ``g_grp``: an integer (keyframe, action) code per row; detections
    in evaluation order within each code, GT in the reference's order within each
    code. Each detection takes its best-IoU GT box of the same code (the first on
    equal IoU, as ``np.argmax``); it is a TP if that IoU >= ``iou_thr`` and no
    earlier detection of the code took the box. Returns ``(tp, best_gt)``.
    """
    nd = len(d_grp)
    tp = np.zeros(nd, bool)
    if not nd or not len(g_grp):
        return tp
    go = np.argsort(g_grp, kind='stable')
    gs = g_grp[go]
    ucode, gstart, gcount = np.unique(gs, return_index=True, return_counts=True)
    pos = np.searchsorted(ucode, d_grp)
    pos = np.minimum(pos, len(ucode) - 1)
    has = ucode[pos] == d_grp
    di = np.flatnonzero(has)
    if not len(di):
        return tp
    cnt = gcount[pos[di]]
    pair_d = np.repeat(di, cnt)
    pstart = np.r_[0, np.cumsum(cnt)[:-1]]
    pair_g = go[np.repeat(gstart[pos[di]], cnt) + np.arange(len(pair_d))
                - np.repeat(pstart, cnt)]
    iou = pair_iou(d_boxes[pair_d], g_boxes[pair_g], stock_precision)
    best = np.maximum.reduceat(iou, pstart)
    is_best = iou == np.repeat(best, cnt)
    cand_pairs = np.flatnonzero(is_best)
    # first best pair per detection (GT order), then those at or above threshold
    d_of, first = np.unique(pair_d[cand_pairs], return_index=True)
    p = cand_pairs[first]
    ok = iou[p] >= iou_thr
    d_ok, g_ok = d_of[ok], pair_g[p[ok]]
    # in evaluation order, the first detection on each GT box is the TP
    _, f = np.unique(g_ok, return_index=True)
    tp[d_ok[f]] = True
    return tp


def _nanmean(vals) -> float:
    vals = np.asarray(list(vals), np.float64)
    if not len(vals) or np.isnan(vals).all():
        return float('nan')
    return float(np.nanmean(vals))


# --------------------------------------------------------------------------
# the two protocols

def _activitynet(gt, det, class_ids, excluded, iou_thr, cap, row_order):
    g_keys, g_kr, g_box, g_lab = gt
    keys, kr, box, lab, sc = det
    ids = np.asarray(class_ids, np.int64)
    # shared integer keyframe ids
    kid = {k: i for i, k in enumerate(dict.fromkeys(list(g_keys) + list(keys)))}
    g_kid = np.array([kid[k] for k in g_keys], np.int64)[g_kr] if len(g_kr) else g_kr
    d_kid = np.array([kid[k] for k in keys], np.int64)[kr] if len(kr) else kr
    ex = np.zeros(len(kid), bool)
    for k in excluded:
        if k in kid:
            ex[kid[k]] = True

    # rule 1 and 2 for GT; GT order per keyframe as the official reader's heap
    gm = np.isin(g_lab, ids) & ~ex[g_kid]
    gi = np.flatnonzero(gm)
    g_kid, g_box, g_lab = g_kid[gi], g_box[gi], g_lab[gi]
    num_gt = {int(c): 0 for c in ids}
    for c, n in zip(*np.unique(g_lab, return_counts=True)):
        num_gt[int(c)] = int(n)
    o = np.argsort(g_kid, kind='stable')
    g_kid, g_box, g_lab = g_kid[o], g_box[o], g_lab[o]
    if len(g_kid):
        st = np.flatnonzero(np.r_[True, g_kid[1:] != g_kid[:-1]])
        en = np.r_[st[1:], len(g_kid)]
        perm = np.concatenate([a + _official_gt_order(g_lab[a:e], g_box[a:e])
                               for a, e in zip(st, en)])
        g_kid, g_box, g_lab = g_kid[perm], g_box[perm], g_lab[perm]

    # rule 1 for detections, then the reader (rule 3), then rule 2
    dm = np.flatnonzero(np.isin(lab, ids))
    d_kid, box, lab, sc = d_kid[dm], box[dm], lab[dm], sc[dm]
    if row_order == 'canonical' and len(d_kid):
        c = _canonical(list(kid), d_kid, box, lab, sc)
        d_kid, box, lab, sc = d_kid[c], box[c], lab[c], sc[c]
        if cap >= 1:
            # the cut, then the kept rows as the file holding only them reads
            kept = np.sort(_reader(d_kid, box, lab, sc, cap))
            d_kid, box, lab, sc = d_kid[kept], box[kept], lab[kept], sc[kept]
    rows = _reader(d_kid, box, lab, sc, cap)
    d_kid, box, lab, sc = d_kid[rows], box[rows], lab[rows], sc[rows]
    keep = ~ex[d_kid] if len(d_kid) else np.zeros(0, bool)
    # rule 4: invalid boxes dropped after the cut
    keep &= (box[:, 1] < box[:, 3]) & (box[:, 0] < box[:, 2])
    d_kid, box, lab, sc = d_kid[keep], box[keep], lab[keep], sc[keep]

    # rules 5 and 6
    ncls = int(max(ids.max(initial=0), lab.max(initial=0), g_lab.max(initial=0))) + 1
    tp = _match(d_kid * ncls + lab, box, g_kid * ncls + g_lab, g_box, iou_thr, False)

    # rule 7: per action, keyframe by keyframe in evaluation order
    co = np.argsort(lab, kind='stable')
    lab_s, sc_s, tp_s = lab[co], sc[co], tp[co]
    bounds = {}
    if len(lab_s):
        st = np.flatnonzero(np.r_[True, lab_s[1:] != lab_s[:-1]])
        en = np.r_[st[1:], len(lab_s)]
        bounds = {int(lab_s[a]): (a, e) for a, e in zip(st, en)}
    per_class, pr = OrderedDict(), OrderedDict()
    for c in sorted(int(c) for c in ids):
        if num_gt[c] == 0:
            per_class[c] = float('nan')
            continue
        a, e = bounds.get(c, (0, 0))
        p, r = precision_recall_ranked(sc_s[a:e], tp_s[a:e], num_gt[c])
        per_class[c] = voc_average_precision(p, r)
        pr[c] = (p, r)
    # np.nanmean over the evaluator's array indexed by id - 1
    arr = np.full(max(per_class, default=0), np.nan)
    for c, ap in per_class.items():
        if c >= 1:
            arr[c - 1] = ap
    return per_class, pr, num_gt, _nanmean(arr)


def _raise_invalid(what, n, key, action, box):
    raise InvalidBoxError(
        f'{n} {what} box(es) with x1 > x2 or y1 > y2 that stock ava_eval evaluates '
        f'(first: keyframe {key}, action {action}, box x1,y1,x2,y2 = '
        f'{[round(float(v), 6) for v in box]}); stock stops there with '
        '"ValueError: Invalid box data". Drop or fix these rows '
        "(protocol='activitynet' discards invalid detections, as the official "
        'script does)')


def _mmaction(gt, det, class_ids, excluded, iou_thr, row_order):
    g_keys, g_kr, g_box, g_lab = gt
    keys, kr, box, lab, sc = det
    ids = np.asarray(class_ids, np.int64)
    kid = {k: i for i, k in enumerate(dict.fromkeys(list(g_keys) + list(keys)))}
    names = list(kid)
    g_kid = np.array([kid[k] for k in g_keys], np.int64)[g_kr] if len(g_kr) else g_kr
    d_kid = np.array([kid[k] for k in keys], np.int64)[kr] if len(kr) else kr

    gi = np.flatnonzero(np.isin(g_lab, ids))
    g_kid, g_box, g_lab = g_kid[gi], g_box[gi], g_lab[gi]
    num_gt = {int(c): 0 for c in ids}
    for c, n in zip(*np.unique(g_lab, return_counts=True)):
        num_gt[int(c)] = int(n)  # excluded keyframes included, as stock
    # scored keyframes: GT keyframes (order of first counted GT row), not excluded
    scored = [k for k in dict.fromkeys(g_kid.tolist()) if names[k] not in excluded]
    srank = np.full(len(kid), -1, np.int64)
    srank[scored] = np.arange(len(scored))

    dm = np.flatnonzero(np.isin(lab, ids))
    d_kid, box, lab, sc = d_kid[dm], box[dm], lab[dm], sc[dm]
    if row_order == 'canonical' and len(d_kid):
        c = _canonical(names, d_kid, box, lab, sc)
        d_kid, box, lab, sc = d_kid[c], box[c], lab[c], sc[c]
    r = srank[d_kid] if len(d_kid) else d_kid
    keep = np.flatnonzero(r >= 0)
    # per scored keyframe, descending score, stable (stock's sorted(key=-score))
    o = keep[np.lexsort((-sc[keep], r[keep]))]
    d_kid, box, lab, sc, r = d_kid[o], box[o], lab[o], sc[o], r[o]
    # GT keeps file order (stock sorts it by its constant score, stably)
    box32 = box.astype(np.float32)
    if len(box32):
        bad = (box32[:, 1] > box32[:, 3]) | (box32[:, 0] > box32[:, 2])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _raise_invalid('detection', int(bad.sum()), names[d_kid[i]], int(lab[i]),
                           box32[i])
        # GT boxes of (keyframe, action) groups that have a detection
        g32 = g_box.astype(np.float32)
        gbad = (g32[:, 1] > g32[:, 3]) | (g32[:, 0] > g32[:, 2])
        if gbad.any():
            ncls0 = int(max(ids.max(initial=0), lab.max(initial=0))) + 1
            det_codes = np.unique(d_kid * ncls0 + lab)
            gbad &= np.isin(g_kid * ncls0 + g_lab, det_codes) & (srank[g_kid] >= 0)
        if gbad.any():
            i = int(np.flatnonzero(gbad)[0])
            _raise_invalid('GT', int(gbad.sum()), names[g_kid[i]], int(g_lab[i]),
                           g32[i])

    ncls = int(max(ids.max(initial=0), lab.max(initial=0), g_lab.max(initial=0))) + 1
    tp = _match(d_kid * ncls + lab, box, g_kid * ncls + g_lab, g_box, iou_thr, True)

    # stock's action order: keyframe by keyframe, list(set(labels)) of each
    order = {}
    if len(r):
        st = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        en = np.r_[st[1:], len(r)]
        for a, e in zip(st, en):
            for c in list(set(lab[a:e].tolist())):
                order.setdefault(c, None)
    co = np.argsort(lab, kind='stable')
    lab_s, sc_s, tp_s = lab[co], sc[co].astype(np.float32), tp[co]
    bounds = {}
    if len(lab_s):
        st = np.flatnonzero(np.r_[True, lab_s[1:] != lab_s[:-1]])
        en = np.r_[st[1:], len(lab_s)]
        bounds = {int(lab_s[a]): (a, e) for a, e in zip(st, en)}
    per_class, pr = OrderedDict(), OrderedDict()
    for c in order:
        a, e = bounds[c]
        if num_gt.get(c, 0) == 0:
            per_class[c] = float('nan')
            continue
        p, rc = precision_recall_ranked(sc_s[a:e], tp_s[a:e], num_gt[c])
        per_class[c] = voc_average_precision(p, rc)
        pr[c] = (p, rc)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return per_class, pr, num_gt, _nanmean(per_class.values())


def ava_frame_ap(gt: dict, dets: dict, class_ids, excluded=(), protocol='mmaction',
                 iou_thr: float = 0.5, max_dets_per_key: int | None = None,
                 class_names: dict | None = None, row_order: str | None = None) -> dict:
    """Frame-AP per class over AVA keyframes (in-memory results).

    Args:
        gt: ``{key: (boxes (n, 4) x1y1x2y2, labels (n,))}``, keys ``'vid,0902'``;
            dict and row order are taken as the GT file's order.
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
        row_order: ``'file'`` (the rows as given) or ``'canonical'``; default
            ``'canonical'`` for ``'activitynet'`` and ``'file'`` for
            ``'mmaction'`` (module docstring, *row order*).

    Returns:
        dict with ``mAP``, the three AVA group means, ``per_class`` ``{id: AP}``
        (NaN for classes without GT), ``num_gt`` ``{id: n}`` and ``pr``
        ``{id: (precision, recall)}``.
    """
    keys = list(dets)
    sizes = [len(np.asarray(dets[k][2]).reshape(-1)) for k in keys]
    if keys and sum(sizes):
        boxes = np.concatenate([np.asarray(dets[k][0], np.float64).reshape(-1, 4)
                                for k in keys])
        labels = np.concatenate([np.asarray(dets[k][1]).reshape(-1) for k in keys])
        scores = np.concatenate([np.asarray(dets[k][2], np.float64).reshape(-1)
                                 for k in keys])
    else:
        boxes, labels, scores = np.zeros((0, 4)), np.zeros(0, int), np.zeros(0)
    key_of_row = np.repeat(np.arange(len(keys)), sizes)
    if row_order is None:
        row_order = 'canonical' if protocol == 'activitynet' else 'file'
    return ava_frame_ap_flat(gt, keys, key_of_row, boxes, labels, scores, class_ids,
                             excluded=excluded, protocol=protocol, iou_thr=iou_thr,
                             max_dets_per_key=max_dets_per_key,
                             class_names=class_names, row_order=row_order)


def ava_frame_ap_flat(gt, keys: list, key_of_row: np.ndarray,
                      boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                      class_ids, excluded=(), protocol='mmaction',
                      iou_thr: float = 0.5, max_dets_per_key: int | None = None,
                      class_names: dict | None = None,
                      row_order: str = 'file') -> dict:
    """:func:`ava_frame_ap` on flat detection arrays (CSV rows, the metric's path).

    Args:
        gt: the ``{key: (boxes, labels)}`` dict of :func:`ava_frame_ap`, or flat
            ``(keys, key_of_row, boxes, labels)`` in GT-file row order (what
            :func:`stadl_plugins.evaluation.submission.read_ava_rows` returns; the
            exact file order matters for ``'mmaction'``'s keyframe order).
        keys: the detection keys; ``key_of_row[i]`` indexes them for row ``i``.
        boxes, labels, scores: ``(N, 4)``, ``(N,)``, ``(N,)`` detection rows in
            file order (``row_order='file'``) or any order (``'canonical'``).
        row_order: module docstring, *row order*.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    if row_order not in ROW_ORDERS:
        raise ValueError(f'row_order must be one of {ROW_ORDERS}, got {row_order!r}')
    if max_dets_per_key is None and protocol == 'activitynet':
        max_dets_per_key = 50
    cap = int(max_dets_per_key) if max_dets_per_key else 0
    class_ids = sorted({int(c) for c in class_ids})
    excluded = set(excluded)
    g = _flat_gt(gt)
    d = (list(keys), np.asarray(key_of_row, np.int64),
         np.asarray(boxes, np.float64).reshape(-1, 4),
         np.asarray(labels).astype(np.int64).reshape(-1),
         np.asarray(scores, np.float64).reshape(-1))
    if protocol == 'activitynet':
        per_class, pr, num_gt, mean = _activitynet(g, d, class_ids, excluded, iou_thr,
                                                   cap, row_order)
    else:
        if cap:
            raise ValueError("max_dets_per_key is an 'activitynet' rule; stock "
                             "ava_eval ('mmaction') has no cap")
        per_class, pr, num_gt, mean = _mmaction(g, d, class_ids, excluded, iou_thr,
                                                row_order)

    out = OrderedDict(mAP=mean)
    for group, member in AVA_GROUPS.items():
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)
            out[group] = _nanmean([ap for c, ap in per_class.items() if member(c)])
    out['per_class'] = per_class
    out['num_gt'] = {c: num_gt.get(c, 0) for c in class_ids}
    out['pr'] = pr
    if class_names:
        out['class_names'] = {c: class_names.get(c, str(c)) for c in per_class}
    return out
