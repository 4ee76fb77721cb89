"""Online linking of per-frame detections into class-specific tubes (ACT/MOC style).

Two styles (``style=`` of :func:`link_video` / :func:`link_tubes`):

* ``'moc'``: MOC-Detector's ``BuildTubes`` (``src/ACT_utils/ACT_build.py``) with
  single-frame tubelets (K=1), the linker behind the MOC/ACT video-mAP numbers
  and the default of ``protocol='act'``. Per frame, MOC's score-weighted NMS
  (``nms_tubelets``): boxes visited by score, a box whose inclusive-pixel IoU with
  the visited box exceeds ``nms_thr`` (0.6) is kept with its score times
  ``1 - IoU`` and no longer suppresses others; the boxes are re-sorted by the new
  scores and the ``top_k`` (10) best kept. Tubes are ordered by mean score with
  numpy's default ``argsort``; the link IoU uses ``+1`` pixel areas; tubes that end
  in the same frame are closed in reverse order, as the reference does. Each
  output box keeps its weighted score, and the tube score is their mean.
* ``'hard'``: plain greedy NMS (suppressed boxes dropped), continuous IoU. In
  dense scenes the MOC style keeps down-weighted duplicates that can extend a
  tube when its actor's own box is missed, so it finds more and longer tubes
  (``docs/evaluation.md`` gives numbers).

Common to both: for each video and class, frames are visited in order. The
detections of a frame are reduced by the per-frame NMS; the current tubes,
best mean score first, each take the highest-scoring free detection whose IoU with
the tube's last box is at least ``link_iou``; a tube that finds none is finished
(no gaps are bridged); detections left over start new tubes. Finished tubes
scoring below ``min_score`` (mean detection score) or shorter than ``min_len``
frames are dropped. Each output box keeps its own detection score.

Upstream differences (``upstream_bugs=True`` reproduces MMAction2 1.2's
``multisports_utils.link_tubes`` so its reference numbers can be checked):

* MMAction2 gives every box the score of the *last detection of the whole
  prediction list* (``det = [*frm_dets[-4:], frm_det[3]]`` reads the stale loop
  variable ``frm_det``), so all tubes tie and ranking is arbitrary;
* its per-frame "NMS" is MOC's score-weighted one (suppressed boxes kept with
  ``score * (1 - IoU)``, ``+1`` pixel areas), but its link IoU is continuous;
  ``style='moc'`` is MOC's linker as a whole (the original ACT-detector
  ``BuildTubes`` used a plain NMS at 0.3 instead).
"""
from __future__ import annotations

import functools
from collections import defaultdict

import numpy as np

from ...structures.bbox import nms, pairwise_iou
from . import boxes as _boxes


def _upstream_soft_nms(dets: np.ndarray, thr: float, top_k: int) -> np.ndarray:
    """MMAction2 1.2's ``nms_tubelets`` for K=1 (kept for reproducing its numbers)."""
    if len(dets) == 0:
        return dets
    dets = dets.copy()
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    weight = np.ones_like(scores)
    while order.size > 0:
        i = order[0]
        rest = order[1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        ious = inter / (area[rest] + area[i] - inter)
        over = ious > thr
        weight[rest[over]] = 1 - ious[over]
        order = rest[~over]
    dets[:, 4] = dets[:, 4] * weight
    dets = dets[np.argsort(dets[:, 4])[::-1]]
    return dets[:top_k]


def moc_score_weights(dets: np.ndarray, thr: float = 0.6) -> np.ndarray:
    """The ``1 - IoU`` score weights of MOC's score-weighted NMS, in row order.

    ``dets`` ``(n, 5)`` rows ``x1, y1, x2, y2, score``. Boxes are visited in
    ``np.argsort(scores)[::-1]`` order; each box still in the queue gives every
    later box whose inclusive-pixel IoU with it exceeds ``thr`` the weight
    ``1 - IoU`` and removes it from the queue (it is kept, but suppresses
    nothing). Other boxes keep weight 1. This is MOC's ``nms2d`` (applied to frame
    detections before frame-AP) and, followed by a re-sort and a cut, its
    ``nms_tubelets`` for K=1 (:func:`moc_weighted_nms`).
    """
    dets = np.asarray(dets).reshape(-1, 5)
    x1, y1, x2, y2, scores = dets.T
    weight = np.ones_like(scores)
    if len(dets) == 0:
        return weight
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    while order.size > 0:
        i, rest = order[0], order[1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        ious = inter / (area[rest] + area[i] - inter)
        over = ious > thr
        weight[rest[over]] = 1 - ious[over]
        order = rest[ious <= thr]  # NaN IoU leaves the queue unweighted, as MOC
    return weight


def moc_weighted_nms(dets: np.ndarray, thr: float = 0.6,
                     top_k: int | None = 10) -> np.ndarray:
    """MOC's per-frame ``nms_tubelets`` for single-frame tubelets (K=1).

    Scores multiplied by :func:`moc_score_weights`, rows re-sorted by the new
    scores (``np.argsort(...)[::-1]``, as MOC) and cut to ``top_k``. Returns a
    copy.
    """
    dets = np.array(dets, copy=True).reshape(-1, 5)
    if len(dets) == 0:
        return dets
    dets[:, 4] = dets[:, 4] * moc_score_weights(dets, thr)
    dets = dets[np.argsort(dets[:, 4])[::-1]]
    return dets if top_k is None else dets[:top_k]


LINK_STYLES = ('hard', 'moc')


def link_video(frame_dets: dict, nframes: int, nms_thr: float = 0.6,
               top_k: int = 10, link_iou: float = 0.5, min_len: int = 15,
               min_score: float = 0.005, upstream_soft_nms: bool = False,
               style: str = 'hard') -> list:
    """Link one class's detections of one video.

    Args:
        frame_dets: ``{frame (1-based): (n, 5) array x1, y1, x2, y2, score}``
            (row order matters only for ties, as in the reference).
        nframes: number of frames of the video.
        nms_thr, top_k: per-frame NMS (ACT/MOC: 0.6, 10).
        link_iou: IoU with a tube's last box needed to extend it (0.5).
        min_len, min_score: drop tubes shorter (frames) or weaker (mean score)
            (MOC: 15, 0.005).
        upstream_soft_nms: use MMAction2 1.2's per-frame NMS instead (module
            docstring); only for reproducing its numbers.
        style: ``'hard'`` or ``'moc'`` (module docstring).

    Returns:
        list of ``(score, tube)`` with ``tube`` ``(L, 6)`` float32
        ``frame, x1, y1, x2, y2, score`` (one row per frame, gap-free).
    """
    if style not in LINK_STYLES:
        raise ValueError(f'style must be one of {LINK_STYLES}, got {style!r}')
    moc = style == 'moc'
    # a tube: [list of (frame, det row (5,)), running score sum]
    current: list = []
    finished: list = []
    empty = np.zeros((0, 5))
    for frame in range(1, nframes + 1):
        d = frame_dets.get(frame)
        d = empty if d is None else np.asarray(d, dtype=np.float64).reshape(-1, 5)
        if moc:
            d = moc_weighted_nms(d, nms_thr, top_k)
        elif upstream_soft_nms:
            d = _upstream_soft_nms(d, nms_thr, top_k)
        elif len(d) > 1:
            d = d[nms(d[:, :4], d[:, 4], nms_thr, top_k)]
        if not current:
            current = [[[(frame, row)], row[4]] for row in d]
            continue
        # best mean score first: 'hard' sorts stably (ties keep their order),
        # 'moc' with numpy's default sort (ties as MOC)
        if moc:
            means = np.array([t[1] / len(t[0]) for t in current])
            current = [current[i] for i in np.argsort(-means)]
        else:
            current.sort(key=lambda t: -t[1] / len(t[0]))
        if len(d):
            last = np.array([t[0][-1][1][:4] for t in current])
            ok = pairwise_iou(last, d[:, :4], plus_one=moc and _boxes.ACT_PLUS_ONE
                              ) >= link_iou  # (tubes, dets)
        free = np.ones(len(d), dtype=bool)
        still, ended = [], []
        for it, t in enumerate(current):
            cand = np.flatnonzero(free & ok[it]) if len(d) else ()
            if len(cand):
                j = cand[np.argmax(d[cand, 4])]
                free[j] = False
                t[0].append((frame, d[j]))
                t[1] += d[j, 4]
                still.append(t)
            else:
                ended.append(t)
        finished += ended[::-1] if moc else ended  # MOC closes them in reverse order
        current = still + [[[(frame, row)], row[4]] for row in d[free]]
    finished += current
    return _build_tubes(finished, min_len, min_score)


def _build_tubes(finished, min_len, min_score) -> list:
    out = []
    for t, total in finished:
        score = float(total / len(t))
        if score < min_score:
            continue
        begin, end = t[0][0], t[-1][0]
        if end - begin + 1 < min_len:
            continue
        tube = np.zeros((end - begin + 1, 6), dtype=np.float32)
        tube[:, 0] = np.arange(begin, end + 1)
        for frame, row in t:
            tube[frame - begin, 1:6] = row
        out.append((score, tube))
    return out


def link_tubes(dets: np.ndarray, videos: list, nframes: dict, num_classes: int,
               progress: bool = False, upstream_bugs: bool = False,
               impl: str = 'auto', **kwargs) -> dict:
    """Link ACT-format detections of all videos and classes.

    Args:
        dets: ``(N, 8)`` rows ``video_index, frame, label, score, x1, y1, x2, y2``.
        videos: the video names ``video_index`` refers to.
        nframes: ``{video: number of frames}``.
        num_classes: number of classes (labels ``0..num_classes-1``).
        progress: show a progress bar over videos.
        upstream_bugs: reproduce MMAction2 1.2 (stale score + its soft NMS).
        impl: ``'auto'`` (default): the fast kernel (:func:`_link_group_fast`,
            plain Python floats on the few boxes of a frame, detections grouped once
            with ``np.lexsort``) where it applies, else the reference loop;
            ``'reference'``: always :func:`link_video` (numpy per frame). Both give
            bit-identical tubes (the fast kernel does the same float operations and
            defers to numpy's ``argsort`` wherever scores tie).
        **kwargs: :func:`link_video` options (``style='moc'`` for MOC's linker).

    Returns:
        ``{label: [(video, score, tube), ...]}``.
    """
    if impl not in ('auto', 'reference'):
        raise ValueError(f"impl must be 'auto' or 'reference', got {impl!r}")
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 8)
    if upstream_bugs:
        kwargs['upstream_soft_nms'] = True
    if upstream_bugs and len(dets):
        dets = dets.copy()
        dets[:, 3] = dets[-1, 3]  # the stale-score bug, see the module docstring
    if impl == 'auto' and _fast_applies(dets, kwargs):
        grouped = _group_fast(dets)
        link = functools.partial(_link_group_fast, **kwargs)
    else:
        grouped = defaultdict(lambda: defaultdict(list))
        for row in dets:
            grouped[(int(row[0]), int(row[2]))][int(row[1])].append(
                [row[4], row[5], row[6], row[7], row[3]])
        link = functools.partial(link_video, **kwargs)
    tubes = {c: [] for c in range(num_classes)}
    iterator = range(len(videos))
    if progress:
        from mmengine.utils import track_iter_progress
        iterator = track_iter_progress(list(iterator))
    for iv in iterator:
        v = videos[iv]
        for c in range(num_classes):
            fd = grouped.get((iv, c))
            if not fd:
                continue
            for score, tube in link(fd, int(nframes[v])):
                tubes[c].append((v, score, tube))
    return tubes


# --------------------------------------------------------------------------
# the fast kernel: the same arithmetic as link_video on Python floats

#: frames with more boxes than this go through the numpy per-frame NMS
_FAST_MAX_BOXES = 48
_LINK_DEFAULTS = dict(nms_thr=0.6, top_k=10, link_iou=0.5, min_len=15,
                      min_score=0.005, upstream_soft_nms=False, style='hard')


def _fast_applies(dets, kwargs) -> bool:
    """The fast kernel reproduces :func:`link_video` for finite values and boxes with
    ``x1 <= x2``, ``y1 <= y2`` (no NaN comparisons, no zero or negative unions in
    MOC's weights), with the module's own NMS functions (tests may replace them)."""
    opts = {**_LINK_DEFAULTS, **kwargs}
    if set(opts) != set(_LINK_DEFAULTS) or opts['upstream_soft_nms'] or \
            opts['style'] not in LINK_STYLES:
        return False
    if moc_weighted_nms is not _MOC_WEIGHTED_NMS or nms is not _NMS:
        return False
    if not len(dets):
        return True
    return bool(np.isfinite(dets).all() and (dets[:, 4] <= dets[:, 6]).all()
                and (dets[:, 5] <= dets[:, 7]).all())


def _group_fast(dets) -> dict:
    """``{(video, label): {frame: [[x1, y1, x2, y2, score], ...]}}`` in row order,
    grouped with one stable ``np.lexsort`` (``int()`` truncation as the loop)."""
    if not len(dets):
        return {}
    iv, fr, lab = (np.trunc(dets[:, j]).astype(np.int64) for j in (0, 1, 2))
    o = np.lexsort((fr, lab, iv))
    iv, fr, lab = iv[o], fr[o], lab[o]
    rows = dets[o][:, [4, 5, 6, 7, 3]].tolist()
    new_frame = np.r_[True, (iv[1:] != iv[:-1]) | (lab[1:] != lab[:-1]) |
                      (fr[1:] != fr[:-1])]
    starts = np.flatnonzero(new_frame)
    ends = np.r_[starts[1:], len(o)].tolist()
    grouped: dict = {}
    for a, b, v, c, f in zip(starts.tolist(), ends, iv[starts].tolist(),
                             lab[starts].tolist(), fr[starts].tolist()):
        g = grouped.get((v, c))
        if g is None:
            g = grouped[(v, c)] = {}
        g[f] = rows[a:b]
    return grouped


def _has_ties(vals) -> bool:
    return len(set(vals)) < len(vals)


def _desc_order(vals) -> list:
    """``np.argsort(vals)[::-1]`` as a list: plain descending order when the values
    are distinct, numpy itself where ties make its (unstable) order matter."""
    if _has_ties(vals):
        return np.argsort(np.asarray(vals, np.float64))[::-1].tolist()
    return sorted(range(len(vals)), key=vals.__getitem__, reverse=True)


def _hard_nms_py(d, thr, top_k):
    """:func:`~stadl_plugins.structures.bbox.nms` (continuous IoU) on the rows of one
    frame, returning the kept rows best first."""
    n = len(d)
    order = sorted(range(n), key=lambda i: -d[i][4])  # stable, as kind='stable'
    area = []
    for x1, y1, x2, y2, _ in d:
        w, h = x2 - x1, y2 - y1
        area.append((w if w > 0 else 0.0) * (h if h > 0 else 0.0))
    supp = [False] * n
    keep = []
    for i in order:
        if supp[i]:
            continue
        keep.append(d[i])
        if top_k is not None and len(keep) >= top_k:
            break
        ax1, ay1, ax2, ay2, _ = d[i]
        ai = area[i]
        for j in range(n):
            if supp[j]:
                continue
            bx1, by1, bx2, by2, _ = d[j]
            w = (ax2 if ax2 < bx2 else bx2) - (ax1 if ax1 > bx1 else bx1)
            h = (ay2 if ay2 < by2 else by2) - (ay1 if ay1 > by1 else by1)
            if w > 0 and h > 0:
                inter = w * h
                union = ai + area[j] - inter
                iou = inter / union if union > 0 else 0.0
            else:
                iou = 0.0  # no overlap (pairwise_iou gives 0 whatever the union)
            if iou > thr:
                supp[j] = True
    return keep


def _moc_nms_py(d, thr, top_k):
    """:func:`moc_weighted_nms` on the rows of one frame (valid boxes): rows with
    weighted scores, re-sorted, cut to ``top_k``."""
    n = len(d)
    if n == 0:
        return []
    area = [(x2 - x1 + 1) * (y2 - y1 + 1) for x1, y1, x2, y2, _ in d]
    weight = [1.0] * n
    order = _desc_order([r[4] for r in d])
    while order:
        i, rest = order[0], order[1:]
        ax1, ay1, ax2, ay2, _ = d[i]
        ai = area[i]
        order = []
        for j in rest:
            bx1, by1, bx2, by2, _ = d[j]
            w = (ax2 if ax2 < bx2 else bx2) - (ax1 if ax1 > bx1 else bx1) + 1
            h = (ay2 if ay2 < by2 else by2) - (ay1 if ay1 > by1 else by1) + 1
            inter = (w if w > 0 else 0) * (h if h > 0 else 0)
            iou = inter / (area[j] + ai - inter)
            if iou > thr:
                weight[j] = 1 - iou
            else:
                order.append(j)
    new = [r[4] * wt for r, wt in zip(d, weight)]
    keep = _desc_order(new)
    if top_k is not None:
        keep = keep[:top_k]
    return [(*d[i][:4], new[i]) for i in keep]


def _frame_nms(d, style, thr, top_k):
    if len(d) > _FAST_MAX_BOXES:  # many boxes: numpy's per-frame NMS is faster
        a = np.asarray(d, dtype=np.float64).reshape(-1, 5)
        a = moc_weighted_nms(a, thr, top_k) if style == 'moc' else \
            a[nms(a[:, :4], a[:, 4], thr, top_k)]
        return a.tolist()
    if style == 'moc':
        return _moc_nms_py(d, thr, top_k)
    return _hard_nms_py(d, thr, top_k) if len(d) > 1 else d


def _link_ok(t_box, r, off, link_iou) -> bool:
    """``pairwise_iou(last box, det box, plus_one) >= link_iou`` for one pair."""
    ax1, ay1, ax2, ay2 = t_box[:4]
    bx1, by1, bx2, by2 = r[:4]
    w = (ax2 if ax2 < bx2 else bx2) - (ax1 if ax1 > bx1 else bx1) + off
    h = (ay2 if ay2 < by2 else by2) - (ay1 if ay1 > by1 else by1) + off
    inter = (w if w > 0 else 0.0) * (h if h > 0 else 0.0)
    wa, ha, wb, hb = ax2 - ax1 + off, ay2 - ay1 + off, bx2 - bx1 + off, by2 - by1 + off
    union = (wa if wa > 0 else 0.0) * (ha if ha > 0 else 0.0) + \
        (wb if wb > 0 else 0.0) * (hb if hb > 0 else 0.0) - inter
    iou = inter / union if union > 0 else 0.0
    return iou >= link_iou


def _link_group_fast(frame_dets: dict, nframes: int, nms_thr: float = 0.6,
                     top_k: int = 10, link_iou: float = 0.5, min_len: int = 15,
                     min_score: float = 0.005, upstream_soft_nms: bool = False,
                     style: str = 'hard') -> list:
    """:func:`link_video` (both styles) with the per-frame work on Python floats.

    Same loop, same operations in the same order, so the tubes are bit-identical:
    IoUs as :func:`pairwise_iou` / :func:`moc_score_weights` compute them (only
    compared, or ``1 - IoU`` stored), sums of scores in the same order, stable
    sorts where the reference sorts stably, numpy's ``argsort`` where the
    reference uses it and values tie.
    """
    moc = style == 'moc'
    off = (1.0 if _boxes.ACT_PLUS_ONE else 0.0) if moc else 0.0
    current: list = []   # [list of (frame, row), running score sum]
    finished: list = []
    for frame in range(1, nframes + 1):
        d = frame_dets.get(frame)
        d = _frame_nms(d, style, nms_thr, top_k) if d else []
        if not current:
            current = [[[(frame, r)], r[4]] for r in d]
            continue
        if moc:
            means = [t[1] / len(t[0]) for t in current]
            if _has_ties(means):
                current = [current[i] for i in np.argsort(-np.asarray(means))]
            else:
                current = [current[i] for i in sorted(
                    range(len(means)), key=means.__getitem__, reverse=True)]
        else:
            current.sort(key=lambda t: -t[1] / len(t[0]))
        free = [True] * len(d)
        still, ended = [], []
        for t in current:
            last = t[0][-1][1]
            best = -1
            for j, r in enumerate(d):
                if free[j] and (best < 0 or r[4] > d[best][4]) and \
                        _link_ok(last, r, off, link_iou):
                    best = j
            if best >= 0:
                free[best] = False
                t[0].append((frame, d[best]))
                t[1] += d[best][4]
                still.append(t)
            else:
                ended.append(t)
        finished += ended[::-1] if moc else ended
        current = still + [[[(frame, r)], r[4]] for j, r in enumerate(d) if free[j]]
    finished += current
    return _build_tubes(finished, min_len, min_score)


_MOC_WEIGHTED_NMS = moc_weighted_nms
_NMS = nms
