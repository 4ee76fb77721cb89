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
    if style == 'moc':
        return _link_video_moc(frame_dets, nframes, nms_thr, top_k, link_iou,
                               min_len, min_score)
    # a tube: [list of (frame, det row (5,)), running score sum]
    current: list = []
    finished: list = []
    empty = np.zeros((0, 5))
    for frame in range(1, nframes + 1):
        d = frame_dets.get(frame)
        d = empty if d is None else np.asarray(d, dtype=np.float64).reshape(-1, 5)
        if upstream_soft_nms:
            d = _upstream_soft_nms(d, nms_thr, top_k)
        elif len(d) > 1:
            d = d[nms(d[:, :4], d[:, 4], nms_thr, top_k)]
        if not current:
            current = [[[(frame, row)], row[4]] for row in d]
            continue
        # best mean score first (stable: ties keep their order)
        current.sort(key=lambda t: -t[1] / len(t[0]))
        if len(d):
            last = np.array([t[0][-1][1][:4] for t in current])
            ok = pairwise_iou(last, d[:, :4]) >= link_iou  # (tubes, dets)
        free = np.ones(len(d), dtype=bool)
        still = []
        for it, t in enumerate(current):
            cand = np.flatnonzero(free & ok[it]) if len(d) else ()
            if len(cand):
                j = cand[np.argmax(d[cand, 4])]
                free[j] = False
                t[0].append((frame, d[j]))
                t[1] += d[j, 4]
                still.append(t)
            else:
                finished.append(t)
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


def _link_video_moc(frame_dets, nframes, nms_thr, top_k, link_iou, min_len,
                    min_score) -> list:
    """MOC's ``BuildTubes`` loop for one video and label (K=1)."""
    current: list = []   # [list of (frame, row (5,)), running score sum]
    finished: list = []
    empty = np.zeros((0, 5))
    for frame in range(1, nframes + 1):
        d = frame_dets.get(frame)
        d = empty if d is None else np.asarray(d, dtype=np.float64).reshape(-1, 5)
        d = moc_weighted_nms(d, nms_thr, top_k)
        if current:
            # best mean score first, with numpy's default sort (ties as MOC)
            means = np.array([t[1] / len(t[0]) for t in current])
            current = [current[i] for i in np.argsort(-means)]
            ok = (pairwise_iou(np.array([t[0][-1][1][:4] for t in current]),
                               d[:, :4], plus_one=_boxes.ACT_PLUS_ONE) >= link_iou
                  if len(d) else None)
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
            finished += ended[::-1]  # MOC closes them in reverse order
            d = d[free]
        else:
            still = []
        current = still + [[[(frame, row)], row[4]] for row in d]
    finished += current
    return _build_tubes(finished, min_len, min_score)


def link_tubes(dets: np.ndarray, videos: list, nframes: dict, num_classes: int,
               progress: bool = False, upstream_bugs: bool = False,
               **kwargs) -> dict:
    """Link ACT-format detections of all videos and classes.

    Args:
        dets: ``(N, 8)`` rows ``video_index, frame, label, score, x1, y1, x2, y2``.
        videos: the video names ``video_index`` refers to.
        nframes: ``{video: number of frames}``.
        num_classes: number of classes (labels ``0..num_classes-1``).
        progress: show a progress bar over videos.
        upstream_bugs: reproduce MMAction2 1.2 (stale score + its soft NMS).
        **kwargs: :func:`link_video` options (``style='moc'`` for MOC's linker).

    Returns:
        ``{label: [(video, score, tube), ...]}``.
    """
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 8)
    if upstream_bugs:
        kwargs['upstream_soft_nms'] = True
    if upstream_bugs and len(dets):
        dets = dets.copy()
        dets[:, 3] = dets[-1, 3]  # the stale-score bug, see the module docstring
    grouped = defaultdict(lambda: defaultdict(list))
    for row in dets:
        grouped[(int(row[0]), int(row[2]))][int(row[1])].append(
            [row[4], row[5], row[6], row[7], row[3]])
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
            for score, tube in link_video(fd, int(nframes[v]), **kwargs):
                tubes[c].append((v, score, tube))
    return tubes
