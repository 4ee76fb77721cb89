"""Temporal localization of actions inside person tracks (RecLNet, Chéron et al. 2018, Sec. 3.3).

A person track carries one box and one score vector (``C`` action classes) per
frame. Per class, the track is cut into *sub-tracks* that become the final
spatio-temporal detections (tubes):

* **threshold** (the paper's method): median filter along time over
  ``median_seconds`` (default 1 s, see below), keep the maximal runs with smoothed
  score ``>= theta`` (0.1); several sub-tracks per track are allowed;
* **viterbi** (the baseline of Saha et al. 2016 the paper compares against,
  Table 2): a 2-state (background / action) labelling per class maximising
  ``sum_t log p(state_t) - switch_penalty * [state_t != state_{t-1}]`` with
  ``p(action) = s_t`` and ``p(background) = 1 - s_t``; runs of the action state
  are the sub-tracks.

Each sub-track is scored by the mean of its top-40 *raw* scores (paper: "the
average of the top 40 action scores s_t^a contained in nu") and the candidates of
one video and class go through greedy spatio-temporal NMS at 0.2 (temporal IoU x
mean spatial IoU over the common frames, the semantics of
:func:`stadl_plugins.evaluation.functional.video_ap.tube_iou`).

Everything is vectorized over tracks and classes: ``median_smooth`` is one
``scipy.ndimage.median_filter`` call over a ``(N, T, C)`` block, but the
localization itself only needs ``median >= theta``, which equals a moving count
of ``scores >= theta`` (:func:`median_threshold_mask`, cumulative sums, ~100x
faster than the rank filter and exact); the Viterbi recursion runs over time on
``(N, C)`` arrays of the score difference of the two states; runs are found
with ``diff`` on the thresholded mask, top-k means with one ``lexsort`` per chunk
of tracks and NMS compares one kept tube against all the remaining ones at once.
:func:`localize_tracks_naive` is the per-track / per-class loop reference.

Track format (padded arrays, gap-free tracks):

* ``scores`` ``(N, T, C)`` per-frame class scores (no background column),
* ``boxes`` ``(N, T, 4)`` ``x1, y1, x2, y2``,
* ``lengths`` ``(N,)`` valid frames of each track (rows ``>= length`` ignored),
* ``start_frames`` ``(N,)`` frame number of each track's first row,
* ``videos`` ``(N,)`` video name of each track.

Output: ``{label: [(video, score, tube)]}`` with ``tube`` ``(L, 6)`` float32
``frame, x1, y1, x2, y2, score`` -- the input of
:func:`~stadl_plugins.evaluation.functional.video_ap.video_map`.

The median window is a time (:func:`resolve_median_window`). The paper says only
"the median window size is 25" (Sec. 3.4 "Detection", for all experiments; no unit
and no frame rate are given). Its per-frame tracks are UCF101-24's, whose videos
are 25 fps (UCF101's fixed rate), so we read it as 25 frames = 1 s. A fixed 25 frames is 2.5 s on the synthetic benchmark's
10-fps videos and erases every action shorter than 13 frames (1.3 s; a median of
``w`` frames keeps an isolated run only if it is ``>= (w + 1) / 2`` frames long), so
the window is given in seconds (``median_seconds``, default
:data:`PAPER_MEDIAN_SECONDS` = 1.0) and converted with the videos' frame rate
``fps`` at use time by :func:`median_window_frames`: the odd frame count nearest to
``seconds * fps``, ties (an even product) rounded *down*, at least 1 -- 25 fps -> 25,
30 fps -> 29, 10 fps -> 9 frames. Odd, because scipy's median of an even window is
off-centre (rank ``w // 2``, origin shifted half a frame); ties down, so the window
never spans more time than asked. ``fps`` must come from the data (the ``fps`` key
of track-feature files) or the config (``fps`` of the RecLNet configs) and is never
assumed: without it :func:`localize_tracks` raises. ``median_frames`` gives the
window in frames instead (an explicit alternative, an error together with
``median_seconds``); the old ``window=`` (frames) still works for one release
with a ``DeprecationWarning``. The Viterbi baseline has no window and needs no fps.

Paper gaps filled:
    * The median filter's boundary handling is not given: ``mode='reflect'``
      (scipy's default; mirrored at each track's own ends). ``'nearest'`` would
      repeat an edge score 12 times and turn any single edge frame >= theta
      into a spurious sub-track.
    * The Viterbi baseline's potentials are not restated in the paper: we use
      log-probability unaries ``log s`` / ``log(1 - s)`` (clipped at 1e-6) and
      one switching penalty for all classes (``switch_penalty``, default 2.0),
      where Saha et al. tune it per class; tracks may start and end in any state.
    * The ``score`` column of output tubes holds the raw per-frame score.
    * The window's unit: 25 read as 1 s (the frame rate of UCF101-24, where the
      paper's numbers come from), converted per dataset as described above.
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict

import numpy as np
from scipy.ndimage import median_filter

from stadl_plugins.evaluation.functional.video_ap import tube_iou
from stadl_plugins.structures.bbox import box_area

__all__ = ['PAPER_MEDIAN_SECONDS', 'median_window_frames', 'resolve_median_window',
           'median_smooth', 'median_threshold_mask', 'threshold_segments', 'viterbi_segments',
           'topk_segment_means', 'st_iou_one_to_many', 'st_nms',
           'localize_tracks', 'localize_tracks_naive', 'short_classes', 'short_class_report']


#: the paper's median window as a time: 25 frames on UCF101-24's 25-fps videos
PAPER_MEDIAN_SECONDS = 1.0


def median_window_frames(seconds: float, fps: float) -> int:
    """Median-filter window in frames for a duration in seconds.

    The odd integer nearest to ``seconds * fps``; an even product (a tie between
    two odd numbers) is rounded down, so the window never covers more than
    ``seconds``; at least 1. Examples: 1 s at 25 fps -> 25, at 30 fps -> 29, at
    10 fps -> 9 (0.9 s; 11 would be 1.1 s), 1.3 s at 10 fps -> 13.

    Raises:
        ValueError: ``seconds`` or ``fps`` not a positive finite number.
    """
    for name, v in (('seconds', seconds), ('fps', fps)):
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float, np.number)) \
                or not math.isfinite(v) or v <= 0:
            raise ValueError(f'median_window_frames: {name} must be a positive number, '
                             f'got {v!r}')
    n = round(float(seconds) * float(fps), 6)  # 0.4 * 25 = 10.000000000000002 -> 10
    return max(1, 2 * math.ceil((n - 1) / 2 - 0.5) + 1)


def resolve_median_window(fps: float | None = None, median_seconds: float | None = None,
                          median_frames: int | None = None, window: int | None = None,
                          stacklevel: int = 2) -> int:
    """The median window in frames from the localization arguments.

    Args:
        fps: frame rate of the videos the scores are per frame of.
        median_seconds: the window as a time (default
            :data:`PAPER_MEDIAN_SECONDS`); needs ``fps``.
        median_frames: the window in frames (an alternative to ``median_seconds``).
        window: deprecated name of ``median_frames`` (``DeprecationWarning``).

    Raises:
        ValueError: both a time and a frame count, a bad value, or a time without
            ``fps`` (the message names the fixes).
    """
    if window is not None:
        warnings.warn('localize_tracks(window=<frames>) is deprecated and will be removed '
                      'in the next release: give the median window as a time '
                      "(median_seconds=, default 1 s = the paper's 25 frames at 25 fps) "
                      'with fps=, or in frames with median_frames=',
                      DeprecationWarning, stacklevel=stacklevel + 1)
        if median_frames is not None and median_frames != window:
            raise ValueError(f'window={window} (deprecated) and median_frames='
                             f'{median_frames} disagree: give median_frames only')
        median_frames = window
    if median_frames is not None:
        if median_seconds is not None:
            raise ValueError(f'give the median window either as a time (median_seconds='
                             f'{median_seconds}) or in frames (median_frames='
                             f'{median_frames}), not both')
        if isinstance(median_frames, bool) or int(median_frames) != median_frames \
                or median_frames < 1:
            raise ValueError(f'median_frames must be a positive integer, got '
                             f'{median_frames!r}')
        return int(median_frames)
    seconds = PAPER_MEDIAN_SECONDS if median_seconds is None else median_seconds
    if fps is None:
        raise ValueError(
            f'the median window is a time (median_seconds={seconds:g}; the paper\'s 25 '
            'frames at 25 fps = 1 s) and needs the frame rate of the videos: pass fps= '
            "(track-feature files written with fps carry it as their 'fps' key, "
            'tools/reclnet/extract_track_features.py --fps; the RecLNet configs set '
            'fps =), or give the window in frames with median_frames=')
    return median_window_frames(seconds, fps)


def _check_tracks(scores, boxes, lengths, start_frames, videos):
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 3:
        raise ValueError(f'scores must be (N, T, C), got shape {scores.shape}')
    n, t, _ = scores.shape
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.shape != (n, t, 4):
        raise ValueError(f'boxes must be (N, T, 4) = {(n, t, 4)}, got {boxes.shape}')
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    start_frames = np.asarray(start_frames, dtype=np.int64).reshape(-1)
    if lengths.shape != (n,) or start_frames.shape != (n,) or len(videos) != n:
        raise ValueError(f'lengths, start_frames and videos need {n} entries, got '
                         f'{lengths.shape}, {start_frames.shape}, {len(videos)}')
    if (lengths < 0).any() or (lengths > t).any():
        raise ValueError(f'lengths must lie in [0, {t}], got min {lengths.min()} '
                         f'max {lengths.max()}')
    return scores, boxes, lengths, start_frames


def _valid_mask(lengths, t):
    return np.arange(t)[None, :] < np.asarray(lengths)[:, None]  # (N, T)


def median_smooth(scores: np.ndarray, lengths: np.ndarray, window: int = 25) -> np.ndarray:
    """Median filter along time, per track and class, on each track's own length.

    Each track is extended by mirroring at its own ends (``mode='reflect'``,
    scipy's default, ``d c b a | a b c d | d c b a``) before one filter over the
    padded block, which makes it equal to filtering each track separately.

    Args:
        scores: ``(N, T, C)``.
        lengths: ``(N,)``.
        window: filter size in frames (the paper's 25 = 1 s at 25 fps; from a
            time: :func:`median_window_frames`).

    Returns:
        ``(N, T, C)`` smoothed scores (rows past a track's length are meaningless).
    """
    scores = np.asarray(scores, dtype=np.float32)
    t = scores.shape[1]
    left = window // 2
    pos = _mirror_index(lengths, t, left, window - 1 - left)
    ext = np.take_along_axis(scores, pos[:, :, None], axis=1)  # (N, T + w - 1, C)
    return median_filter(ext, size=(1, window, 1), mode='reflect')[:, left:left + t]


def _mirror_index(lengths, t, left, right):
    """Row index of positions ``-left .. t + right - 1`` of each track after
    mirroring at its ends (period ``2 L``), ``(N, t + left + right)``."""
    ln = np.maximum(np.asarray(lengths, dtype=np.int64), 1)[:, None]
    q = np.mod(np.arange(-left, t + right)[None, :], 2 * ln)
    return np.where(q < ln, q, 2 * ln - 1 - q)


def _runs(mask: np.ndarray):
    """Maximal runs of True along axis 1 of a ``(N, T, C)`` mask.

    Returns:
        ``track, cls, begin, end`` int arrays (``end`` inclusive), one per run.
    """
    n, t, c = mask.shape
    m = np.zeros((n, t + 2, c), dtype=np.int8)
    m[:, 1:-1] = mask
    d = np.diff(m, axis=1)  # (N, T+1, C): +1 at run starts, -1 one past run ends
    tr_s, t_s, c_s = np.nonzero(d == 1)
    tr_e, t_e, c_e = np.nonzero(d == -1)
    # order both by (track, class, time) so the k-th start pairs with the k-th end
    o_s = np.lexsort((t_s, c_s, tr_s))
    o_e = np.lexsort((t_e, c_e, tr_e))
    return tr_s[o_s], c_s[o_s], t_s[o_s], t_e[o_e] - 1


def threshold_segments(smoothed: np.ndarray, lengths: np.ndarray, theta: float = 0.1):
    """Maximal runs with ``smoothed >= theta`` inside each track.

    Returns:
        ``track, cls, begin, end`` int arrays (row indices, ``end`` inclusive).
    """
    mask = (smoothed >= theta) & _valid_mask(lengths, smoothed.shape[1])[:, :, None]
    return _runs(mask)


def median_threshold_mask(scores: np.ndarray, lengths: np.ndarray, window: int = 25,
                          theta: float = 0.1) -> np.ndarray:
    """``median_smooth(scores) >= theta`` without sorting: a moving count.

    The median of a window (``scipy.ndimage.median_filter``'s rank ``window // 2``
    of the sorted window) is ``>= theta`` exactly when at least
    ``window - window // 2`` of its values are ``>= theta``, so the mask is a
    box-filter count of ``scores >= theta`` (cumulative sums, O(N T C)) with the
    same ``'reflect'`` edge padding and window placement as the median filter.

    Returns:
        ``(N, T, C)`` bool, False past each track's length.
    """
    n, t, c = scores.shape
    lengths = np.asarray(lengths, dtype=np.int64)
    left = window // 2  # scipy centres the window at index window // 2
    right = window - 1 - left
    pos = _mirror_index(lengths, t, left, right)  # (N, T + w - 1) mirrored at track ends
    above = np.take_along_axis(scores >= theta, pos[:, :, None], axis=1)
    csum = np.zeros((n, t + window, c), dtype=np.int32)
    np.cumsum(above, axis=1, dtype=np.int32, out=csum[:, 1:])
    count = csum[:, window:] - csum[:, :t]  # (N, T, C) values >= theta per window
    return (count >= window - window // 2) & _valid_mask(lengths, t)[:, :, None]


def viterbi_segments(scores: np.ndarray, lengths: np.ndarray, switch_penalty: float = 2.0,
                     eps: float = 1e-6, decision_threshold: float = 0.5):
    """2-state (background / action) Viterbi labelling per track and class.

    Maximises ``sum_t u(state_t, t) - switch_penalty * [state_t != state_{t-1}]``
    with ``u(action, t) = log(s_t / tau)`` and ``u(background, t) = log((1 - s_t) /
    (1 - tau))`` over each track's valid frames (``tau = decision_threshold``; at
    the default 0.5 these are ``log s_t`` and ``log(1 - s_t)`` up to a constant,
    so a frame alone is labelled action iff ``s_t > tau``); vectorized over tracks and classes, a loop over
    time. With two states only the difference ``delta = V(action) - V(background)``
    of the best path scores matters: ``delta_t = clip(delta_{t-1}, -lambda,
    lambda) + log(s_t / (1 - s_t)) - log(tau / (1 - tau))``; the best predecessor of the background
    state is the action state iff ``delta_{t-1} > lambda``, that of the action
    state is the action state iff ``delta_{t-1} >= -lambda`` (ties keep the state).

    Args:
        scores: ``(N, T, C)`` raw scores in [0, 1].
        lengths: ``(N,)``.
        switch_penalty: ``lambda``, cost of one state change (larger -> fewer,
            longer runs).
        decision_threshold: ``tau`` in (0, 1), where a lone frame's unaries are
            equal (0.5: the plain log-odds). Scores that are not calibrated
            probabilities (e.g. a multi-label sigmoid head, mostly far below 0.5)
            need a lower one; gap we filled: the paper's Viterbi baseline [49]
            weights its unaries per class, tuned on training data.

    Returns:
        ``track, cls, begin, end`` int arrays of the action-state runs.
    """
    scores = np.asarray(scores)
    n, t, c = scores.shape
    lengths = np.asarray(lengths, dtype=np.int64)
    lam = float(switch_penalty)
    tau = float(decision_threshold)
    if not 0 < tau < 1:
        raise ValueError(f'decision_threshold must be in (0, 1), got {decision_threshold}')
    offset = np.log(tau) - np.log1p(-tau)

    def llr(k):
        s = np.clip(scores[:, k].astype(np.float64), eps, 1 - eps)
        return np.log(s) - np.log1p(-s) - offset  # (N, C)

    prev_bg_is_action = np.zeros((t, n, c), dtype=bool)
    prev_action_is_action = np.zeros((t, n, c), dtype=bool)
    final = np.zeros((n, c), dtype=bool)  # state at each track's last frame
    delta = llr(0)
    for k in range(t):
        if k > 0:
            prev_bg_is_action[k] = delta > lam
            prev_action_is_action[k] = delta >= -lam
            delta = np.clip(delta, -lam, lam) + llr(k)
        ends = lengths - 1 == k
        final[ends] = delta[ends] > 0
    labels = np.zeros((n, t, c), dtype=bool)
    state = final.copy()
    for k in range(t - 1, -1, -1):
        state = np.where((lengths - 1 == k)[:, None], final, state)
        labels[:, k] = state & (k < lengths)[:, None]
        state = np.where(state, prev_action_is_action[k], prev_bg_is_action[k])
    return _runs(labels)


def topk_segment_means(scores: np.ndarray, track, cls, begin, end, k: int = 40,
                       chunk_elems: int = 4_000_000) -> np.ndarray:
    """Mean of the top-``k`` raw scores of each segment (paper: k = 40).

    Args:
        scores: ``(N, T, C)``.
        track, cls, begin, end: segments (``end`` inclusive).

    Returns:
        ``(S,)`` float64 segment scores.
    """
    track, cls, begin, end = (np.asarray(a, dtype=np.int64) for a in (track, cls, begin, end))
    out = np.zeros(len(track), dtype=np.float64)
    seg_len = end - begin + 1
    lo = 0
    while lo < len(track):
        # a block of segments holding at most chunk_elems frames (at least one)
        csum = np.cumsum(seg_len[lo:])
        hi = lo + max(1, int(np.searchsorted(csum, chunk_elems, side='right')))
        ln = seg_len[lo:hi]
        seg_id = np.repeat(np.arange(hi - lo), ln)
        offs = np.concatenate([[0], np.cumsum(ln)[:-1]])
        frame = np.arange(len(seg_id)) - offs[seg_id] + begin[lo:hi][seg_id]
        vals = scores[track[lo:hi][seg_id], frame, cls[lo:hi][seg_id]].astype(np.float64)
        order = np.lexsort((-vals, seg_id))  # by segment, best score first
        rank = np.arange(len(order)) - offs[seg_id[order]]
        top = order[rank < k]
        sums = np.bincount(seg_id[top], weights=vals[top], minlength=hi - lo)
        out[lo:hi] = sums / np.minimum(ln, k)
        lo = hi
    return out


def st_iou_one_to_many(start: np.ndarray, end: np.ndarray, dense: np.ndarray, i: int,
                       others: np.ndarray) -> np.ndarray:
    """ST-IoU of gap-free tube ``i`` against tubes ``others`` (inclusive frames).

    Args:
        start, end: ``(n,)`` first / last frame of each tube (inclusive).
        dense: ``(n, F, 4)`` boxes of each tube on the common frame axis
            ``f0 .. f0+F-1`` (rows outside a tube are ignored).
        i: the reference tube; others: ``(m,)`` indices.

    Returns:
        ``(m,)`` temporal IoU x mean spatial IoU over the common frames.
    """
    if len(others) == 0:
        return np.zeros(0)
    tmin = np.maximum(start[i], start[others])
    tmax = np.minimum(end[i], end[others])
    inter = tmax - tmin + 1
    union = np.maximum(end[i], end[others]) - np.minimum(start[i], start[others]) + 1
    t_iou = np.where(inter > 0, inter / union, 0.0)
    f0 = int(start.min())
    lo, hi = start[i] - f0, end[i] - f0 + 1  # only tube i's frames can overlap
    a = dense[i, lo:hi][None]  # (1, L, 4)
    b = dense[others, lo:hi]  # (m, L, 4)
    lt = np.maximum(a[..., :2], b[..., :2])
    rb = np.minimum(a[..., 2:], b[..., 2:])
    wh = np.clip(rb - lt, 0, None)
    inter_a = wh[..., 0] * wh[..., 1]
    union_a = box_area(a) + box_area(b) - inter_a
    iou = np.where(union_a > 0, inter_a / np.where(union_a > 0, union_a, 1), 0.0)  # (m, L)
    frames = start[i] + np.arange(hi - lo)
    inside = (frames[None] >= tmin[:, None]) & (frames[None] <= tmax[:, None])
    s_iou = (iou * inside).sum(1) / np.maximum(inter, 1)
    return np.where(inter > 0, t_iou * s_iou, 0.0)


def st_nms(tubes: list, iou_thr: float = 0.2) -> list:
    """Greedy spatio-temporal NMS of gap-free tubes of one video and class.

    Args:
        tubes: list of ``(score, tube (L, 5+))`` with consecutive frames.
        iou_thr: a tube is dropped if its ST-IoU with a kept, better tube is
            larger than this (paper: 0.2).

    Returns:
        the kept ``(score, tube)`` entries, best first.
    """
    if len(tubes) <= 1:
        return list(tubes)
    scores = np.array([s for s, _ in tubes], dtype=np.float64)
    start = np.array([int(t[0, 0]) for _, t in tubes])
    end = np.array([int(t[-1, 0]) for _, t in tubes])
    for _, t in tubes:
        if len(t) != t[-1, 0] - t[0, 0] + 1:
            raise ValueError('st_nms expects gap-free tubes (one row per frame), got a tube '
                             f'of {len(t)} rows spanning frames {t[0, 0]:g}..{t[-1, 0]:g}')
    f0 = start.min()
    dense = np.zeros((len(tubes), end.max() - f0 + 1, 4), dtype=np.float32)
    for j, (_, t) in enumerate(tubes):
        dense[j, start[j] - f0:end[j] - f0 + 1] = t[:, 1:5]
    order = np.argsort(-scores, kind='stable')
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        # ST-IoU <= temporal IoU: only temporally overlapping enough tubes need boxes
        inter = np.minimum(end[i], end[rest]) - np.maximum(start[i], start[rest]) + 1
        union = np.maximum(end[i], end[rest]) - np.minimum(start[i], start[rest]) + 1
        near = inter / union > iou_thr
        if near.any():
            drop = np.zeros(len(rest), dtype=bool)
            drop[near] = st_iou_one_to_many(start, end, dense, i, rest[near]) > iou_thr
            rest = rest[~drop]
        order = rest
    return [tubes[j] for j in keep]


def _make_tubes(scores, boxes, start_frames, videos, track, cls, begin, end, seg_scores,
                min_length):
    groups = defaultdict(list)  # (video, cls) -> [(score, tube)]
    for j in range(len(track)):
        n_, b, e = track[j], begin[j], end[j]
        if e - b + 1 < min_length:
            continue
        tube = np.empty((e - b + 1, 6), dtype=np.float32)
        tube[:, 0] = start_frames[n_] + np.arange(b, e + 1)
        tube[:, 1:5] = boxes[n_, b:e + 1]
        tube[:, 5] = scores[n_, b:e + 1, cls[j]]
        groups[(videos[n_], int(cls[j]))].append((float(seg_scores[j]), tube))
    return groups


def localize_tracks(scores, boxes, lengths, start_frames, videos, method: str = 'threshold',
                    window: int | None = None, theta: float = 0.1, top_k: int = 40,
                    nms_thr: float | None = 0.2, switch_penalty: float = 2.0,
                    min_length: int = 1, chunk: int = 1024, *, fps: float | None = None,
                    median_seconds: float | None = None,
                    median_frames: int | None = None,
                    viterbi_threshold: float = 0.5) -> dict:
    """Cut scored person tracks into per-class tubes (vectorized).

    Args:
        scores: ``(N, T, C)`` per-frame class scores (background column removed).
        boxes: ``(N, T, 4)``; lengths, start_frames: ``(N,)``; videos: ``N`` names.
        method: ``'threshold'`` (median filter + theta) or ``'viterbi'``.
        window: deprecated: the median window in frames (use ``median_frames``).
        theta: threshold on the smoothed scores (paper: 0.1).
        top_k: sub-track score = mean of its top-``top_k`` raw scores (40).
        nms_thr: ST-NMS threshold per video and class (0.2); None disables it.
        switch_penalty: Viterbi state-change cost.
        viterbi_threshold: Viterbi decision threshold ``tau``
            (:func:`viterbi_segments`' ``decision_threshold``; 0.5: plain log-odds).
        min_length: drop sub-tracks shorter than this many frames.
        chunk: tracks segmented at once.
        fps: frame rate of the videos (rows of ``scores`` are frames); needed by
            the threshold method unless ``median_frames`` is given.
        median_seconds: median window as a time (default 1 s, the paper's 25
            frames at 25 fps), :func:`median_window_frames` frames at ``fps``.
        median_frames: the median window in frames instead (not with
            ``median_seconds``).

    Returns:
        ``{label: [(video, score, tube (L, 6))]}`` for ``video_map``.
    """
    scores, boxes, lengths, start_frames = _check_tracks(scores, boxes, lengths,
                                                         start_frames, videos)
    if method not in ('threshold', 'viterbi'):
        raise ValueError(f"method must be 'threshold' or 'viterbi', got {method!r}")
    if method == 'threshold':
        window = resolve_median_window(fps, median_seconds, median_frames, window)
    parts = []
    for lo in range(0, len(scores), chunk):  # bounded memory: (chunk, T, C) blocks
        s, ln = scores[lo:lo + chunk], lengths[lo:lo + chunk]
        if method == 'threshold':
            tr, cl, b, e = _runs(median_threshold_mask(s, ln, window, theta))
        else:
            tr, cl, b, e = viterbi_segments(s, ln, switch_penalty,
                                            decision_threshold=viterbi_threshold)
        parts.append((tr + lo, cl, b, e))
    segs = tuple(np.concatenate([p[j] for p in parts]) for j in range(4))
    seg_scores = topk_segment_means(scores, *segs, k=top_k)
    groups = _make_tubes(scores, boxes, start_frames, videos, *segs, seg_scores, min_length)
    out = defaultdict(list)
    for (video, c), cand in groups.items():
        kept = st_nms(cand, nms_thr) if nms_thr is not None else cand
        out[c] += [(video, s, t) for s, t in kept]
    return dict(out)


def localize_tracks_naive(scores, boxes, lengths, start_frames, videos, method='threshold',
                          window=None, theta=0.1, top_k=40, nms_thr=0.2, switch_penalty=2.0,
                          min_length=1, *, fps=None, median_seconds=None,
                          median_frames=None, viterbi_threshold=0.5) -> dict:
    """Per-track, per-class Python loop reference of :func:`localize_tracks`
    (NMS with :func:`tube_iou`; same window arguments); used by the tests and the
    benchmark."""
    scores, boxes, lengths, start_frames = _check_tracks(scores, boxes, lengths,
                                                         start_frames, videos)
    if method == 'threshold':
        window = resolve_median_window(fps, median_seconds, median_frames, window)
    n, _, c = scores.shape
    groups = defaultdict(list)
    for i in range(n):
        ln = int(lengths[i])
        for a in range(c):
            raw = scores[i, :ln, a].astype(np.float64)
            if method == 'threshold':
                keep = median_filter(scores[i, :ln, a], size=window, mode='reflect') >= theta
            else:
                keep = _viterbi_1d(raw, switch_penalty, tau=viterbi_threshold)
            t = 0
            while t < ln:
                if not keep[t]:
                    t += 1
                    continue
                b = t
                while t < ln and keep[t]:
                    t += 1
                e = t - 1
                if e - b + 1 < min_length:
                    continue
                seg = np.sort(raw[b:e + 1])[::-1][:top_k]
                tube = np.empty((e - b + 1, 6), dtype=np.float32)
                tube[:, 0] = start_frames[i] + np.arange(b, e + 1)
                tube[:, 1:5] = boxes[i, b:e + 1]
                tube[:, 5] = scores[i, b:e + 1, a]
                groups[(videos[i], a)].append((float(seg.mean()), tube))
    out = defaultdict(list)
    for (video, a), cand in groups.items():
        cand = sorted(cand, key=lambda x: -x[0])
        kept = []
        for s, t in cand:
            if nms_thr is None or all(tube_iou(k, t) <= nms_thr for _, k in kept):
                kept.append((s, t))
        out[a] += [(video, s, t) for s, t in kept]
    return dict(out)


def _viterbi_1d(s, switch_penalty, eps=1e-6, tau=0.5):
    """Textbook 2-state Viterbi on one score sequence (reference); unaries
    ``log((1 - s) / (1 - tau))`` and ``log(s / tau)``."""
    s = np.clip(np.asarray(s, dtype=np.float64), eps, 1 - eps)
    u = np.stack([np.log1p(-s) - np.log1p(-tau), np.log(s) - np.log(tau)], 1)  # (T, 2)
    v = u[0].copy()
    back = np.zeros((len(s), 2), dtype=np.int64)
    for k in range(1, len(s)):
        new = np.empty(2, dtype=v.dtype)
        for st in (0, 1):
            cand = [v[p] - (switch_penalty if p != st else 0.0) for p in (0, 1)]
            # ties: stay in the same state
            back[k, st] = st if cand[st] >= cand[1 - st] else 1 - st
            new[st] = max(cand) + u[k, st]
        v = new
    st = int(v[1] > v[0])
    lab = np.zeros(len(s), dtype=bool)
    for k in range(len(s) - 1, -1, -1):
        lab[k] = st == 1
        st = back[k, st]
    return lab


def short_classes(gt: dict, videos=None, max_coverage: float = 0.5) -> list:
    """Class indices whose GT actions cover less than ``max_coverage`` of their video
    on average (the paper's "short classes", Table 6-7: < half of the video).

    Args:
        gt: ACT-schema GT dict; videos: videos to consider (default: all).
    """
    videos = list(gt['nframes']) if videos is None else videos
    out = []
    for c in range(len(gt['labels'])):
        cov = [len(t) / gt['nframes'][v] for v in videos
               for t in gt['gttubes'].get(v, {}).get(c, [])]
        if cov and float(np.mean(cov)) < max_coverage:
            out.append(c)
    return out


def short_class_report(gt: dict, tubes: dict, videos: list, iou_thr: float = 0.3,
                       max_coverage: float = 0.5) -> dict:
    """Per-class video-AP with the short-class mean (paper Table 6 ``mAP-short``).

    Returns:
        dict ``mAP``, ``mAP_short`` (nan without short classes), ``per_class``
        ``{name: AP %}``, ``short`` (names of the short classes).
    """
    from stadl_plugins.evaluation.functional.video_ap import video_ap
    res = video_ap(gt, tubes, videos, iou_thr)
    short = [gt['labels'][c] for c in short_classes(gt, videos, max_coverage)]
    vals = [res['per_class'][n] for n in short if n in res['per_class']]
    return dict(mAP=res['mAP'], mAP_short=float(np.mean(vals)) if vals else float('nan'),
                per_class=dict(res['per_class']), short=short)
