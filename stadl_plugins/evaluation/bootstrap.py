"""Paired per-video bootstrap of frame-AP and video-AP differences (benchmark v2).

A comparison row (a method) and the stock row are evaluated on the *same* val
videos, each over several training seeds. Resampling **videos** with
replacement (the unit whose sampling noise dominates: keyframes of one video are
strongly correlated) and applying the same resample to both rows gives the
paired bootstrap distribution of

    effect = mean over seeds AP(method) - mean over seeds AP(stock)

per class, per class group (mean of its classes' APs) and overall (mAP). The
95 % CI is the percentile interval; a cell reads ``n.s.`` when it contains 0.

Exactness. Matching detections to GT happens inside a keyframe, so resampling
videos never changes whether a detection is a TP; a resample is a vector of
per-video counts ``w`` and the AP of the resampled set is the AP of the original
ranked list with every detection (and every GT box) of video ``v`` counted
``w[v]`` times. :func:`weighted_ap` computes exactly that (VOC all-point AP on
the precision envelope, the AVA evaluator's rule), vectorised over resamples;
tests check it against expanding the copies and running the ordinary evaluator,
and the whole interval against ``scipy.stats.bootstrap`` drawing the same
indices (``rng.integers(0, V, (n_boot, V))`` from ``np.random.default_rng(seed)``,
percentiles by linear interpolation). Copies of one detection are adjacent in the
ranking (ties between different detections keep the original, stable order).

Video-AP (RecLNet block): tubes are matched to the GT tubes of their own video
(ACT's rule, :func:`rank_video_run`), so the same argument holds; the AP of a
resample is ACT's trapezoid with the copies expanded (:func:`weighted_act_ap`,
tested against ``video_ap(protocol='act')`` on the expanded video list).

Matching rules (per keyframe and class): detections by descending score (stable),
each takes the GT box of highest IoU (the first on equal IoU); TP if IoU >=
``iou_thr`` and that box is still free, else FP; only keyframes with GT are
scored (detections elsewhere are ignored, as MMAction2's ``ava_eval``), excluded
keyframes are dropped with their GT.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .functional.boxes import pairwise_iou
from .functional.video_ap import ACT_TUBE_NMS_THR, act_ranked, act_true_positives, act_tube_nms


@dataclass
class RankedClass:
    """One class's detections ranked by score, with TP flags and video indices."""
    tp: np.ndarray        # (D,) float64 0/1, in ranking order
    video: np.ndarray     # (D,) int64, index into the video list
    num_gt: np.ndarray    # (V,) GT boxes of the class per video


@dataclass
class RankedRun:
    """Every class of one run (one seed of one row) on a fixed video list."""
    videos: list
    classes: dict         # class id -> RankedClass


def _split(key: str) -> str:
    return key.rsplit(',', 1)[0]


def rank_run(gt: dict, dets: dict, class_ids, videos: list | None = None,
             iou_thr: float = 0.5, excluded=()) -> RankedRun:
    """Match one run's detections to GT and rank them per class.

    Args:
        gt: ``{'vid,TTTT': (boxes (n, 4), labels (n,))}``.
        dets: ``{'vid,TTTT': (boxes (m, 4), labels (m,), scores (m,))}``, one row
            per (box, class) pair.
        class_ids: evaluated class ids.
        videos: the video list (default: the sorted video ids of ``gt``). Every
            run compared with another must use the same list.
        excluded: keys to drop (GT and detections).
    """
    excluded = set(excluded)
    videos = sorted({_split(k) for k in gt}) if videos is None else list(videos)
    vidx = {v: i for i, v in enumerate(videos)}
    class_ids = [int(c) for c in class_ids]
    per = {c: ([], [], [], np.zeros(len(videos), np.int64)) for c in class_ids}
    for key, (gboxes, glabels) in gt.items():
        if key in excluded:
            continue
        v = vidx[_split(key)]
        gboxes = np.asarray(gboxes, np.float64).reshape(-1, 4)
        glabels = np.asarray(glabels).reshape(-1)
        if key in dets:
            dboxes, dlabels, dscores = (np.asarray(a) for a in dets[key])
            dboxes = dboxes.astype(np.float64).reshape(-1, 4)
            dlabels, dscores = dlabels.reshape(-1), dscores.astype(np.float64).reshape(-1)
        else:
            dboxes, dlabels, dscores = np.zeros((0, 4)), np.zeros(0, int), np.zeros(0)
        for c in class_ids:
            g = gboxes[glabels == c]
            per[c][3][v] += len(g)
            m = np.flatnonzero(dlabels == c)
            if not len(m):
                continue
            m = m[np.argsort(-dscores[m], kind='stable')]
            tp = np.zeros(len(m))
            if len(g):
                iou = pairwise_iou(dboxes[m], g)
                free = np.ones(len(g), bool)
                for i in range(len(m)):
                    j = int(np.argmax(iou[i]))
                    if iou[i, j] >= iou_thr and free[j]:
                        tp[i], free[j] = 1.0, False
            per[c][0].append(dscores[m])
            per[c][1].append(tp)
            per[c][2].append(np.full(len(m), v, np.int64))
    classes = {}
    for c, (sc, tp, vi, ng) in per.items():
        sc = np.concatenate(sc) if sc else np.zeros(0)
        tp = np.concatenate(tp) if tp else np.zeros(0)
        vi = np.concatenate(vi) if vi else np.zeros(0, np.int64)
        o = np.argsort(-sc, kind='stable')
        classes[c] = RankedClass(tp[o], vi[o], ng)
    return RankedRun(videos, classes)


def _weighted(rc: RankedClass, weights: np.ndarray, chunk: int, area) -> np.ndarray:
    """The frame both AP rules share: ``area(w, tp)`` gives each resample's
    summed precision x recall-step (``(b,)``, before dividing by the GT count)
    from its per-detection counts ``w`` ``(b, D)``; resamples are processed in
    chunks of about ``chunk`` elements. NaN where a resample holds no GT, 0 where
    it holds GT but the class has no detections."""
    W = np.atleast_2d(np.asarray(weights, np.float64))
    B = W.shape[0]
    npos = W @ rc.num_gt.astype(np.float64)
    out = np.full(B, np.nan)
    D = len(rc.tp)
    if D == 0:
        out[npos > 0] = 0.0
        return out
    tp = np.asarray(rc.tp, np.float64)
    step = max(1, chunk // D)
    for b0 in range(0, B, step):
        num = area(W[b0:b0 + step][:, rc.video], tp)         # w: (b, D)
        n = npos[b0:b0 + step]
        with np.errstate(invalid='ignore', divide='ignore'):
            out[b0:b0 + step] = np.where(n > 0, num / n, np.nan)
    return out


def _voc_area(w: np.ndarray, tp: np.ndarray) -> np.ndarray:
    wtp = w * tp
    ctp = np.cumsum(wtp, axis=1)
    cnt = np.cumsum(w, axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        prec = np.where(cnt > 0, ctp / cnt, 0.0)
    env = np.maximum.accumulate(prec[:, ::-1], axis=1)[:, ::-1]
    return (wtp * env).sum(axis=1)


def _act_area(w: np.ndarray, tp: np.ndarray) -> np.ndarray:
    wtp = w * tp
    b = np.cumsum(w, axis=1) - w                              # detections before
    a = np.cumsum(wtp, axis=1) - wtp                          # TPs before
    with np.errstate(invalid='ignore', divide='ignore'):
        p0 = np.where(b > 0, a / b, 1.0)
    pw = np.where(w > 0, (a + w) / np.maximum(b + w, 1), p0)
    inner = np.zeros_like(w)                                  # p_1 + ... + p_{w-1}
    for k in range(1, int(w.max()) if w.size else 0):
        inner += np.where(k < w, (a + k) / (b + k), 0.0)
    return (tp * (w > 0) * (p0 / 2 + inner + pw / 2)).sum(axis=1)


def weighted_ap(rc: RankedClass, weights: np.ndarray, chunk: int = 2 ** 22) -> np.ndarray:
    """AP of the resampled set for each row of ``weights`` (``(B, V)`` counts).

    Returns ``(B,)`` float64; NaN where the resample holds no GT of the class.
    """
    return _weighted(rc, weights, chunk, _voc_area)


def weighted_act_ap(rc: RankedClass, weights: np.ndarray, chunk: int = 2 ** 22) -> np.ndarray:
    """ACT's AP (trapezoid under the raw PR curve from (0, 1), no envelope) of the
    resampled set for each row of ``weights`` (``(B, V)`` counts); a fraction.

    The copies of a detection are adjacent in the ranking. A run of ``w`` copies
    of an FP leaves recall unchanged and adds no area. A run of ``w`` copies of a
    TP preceded by ``b`` detections of which ``a`` are TPs passes through the
    precisions ``p_k = (a + k) / (b + k)``, ``k = 0..w`` (``p_0 = 1`` when
    ``b = 0``: the curve's start point), each step ``1 / N`` wide, so it adds
    ``(p_0 / 2 + p_1 + ... + p_{w-1} + p_w / 2) / N``. Tested against expanding the
    copies into separate videos and running ``video_ap(protocol='act')``.
    Returns ``(B,)`` float64; NaN where the resample holds no GT of the class
    (ACT itself would give 0 there).
    """
    return _weighted(rc, weights, chunk, _act_area)


_AP_RULES = {'voc': weighted_ap, 'act': weighted_act_ap}


def _ap_rule(ap: str):
    if ap not in _AP_RULES:
        raise ValueError(f"ap must be one of {sorted(_AP_RULES)}, got {ap!r}")
    return _AP_RULES[ap]


def rank_video_run(gt: dict, tubes: dict, videos: list, iou_thr: float,
                   labels=None) -> RankedRun:
    """ACT video-AP matching of one run's tubes, ranked per label, for the bootstrap.

    Args:
        gt: ACT-schema GT dict (``labels``, ``gttubes``).
        tubes: ``{label index: [(video, score, tube), ...]}`` as for
            :func:`~stadl_plugins.evaluation.functional.video_ap.video_ap`; they go
            through ACT's 3D tube NMS (0.3) here, once.
        videos: the evaluated videos (the same list for every compared run).
        iou_thr: the tube-IoU threshold.
        labels: label indices to rank (default: all of ``gt['labels']``).

    Returns:
        :class:`RankedRun` whose classes are label indices; use ``ap='act'`` with
        :func:`paired_bootstrap` / :func:`point_aps` (``point_aps(...)`` times 100
        equals ``video_ap(..., protocol='act')``'s per-class AP).
    """
    videos = list(videos)
    vidx = {v: i for i, v in enumerate(videos)}
    kept = act_tube_nms(tubes, videos, ACT_TUBE_NMS_THR)
    labels = range(len(gt['labels'])) if labels is None else labels
    classes = {}
    for il in labels:
        il = int(il)
        _, ranked = act_ranked(gt, kept, videos, il)
        tp = act_true_positives(ranked, iou_thr).astype(np.float64)
        vi = np.array([vidx[v] for v, _ in ranked], np.int64)
        ng = np.array([len(gt['gttubes'].get(v, {}).get(il, ())) for v in videos],
                      np.int64)
        classes[il] = RankedClass(tp, vi, ng)
    return RankedRun(videos, classes)


def resample_weights(num_videos: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, V)`` per-video counts of ``rng.integers(0, V, (n_boot, V))``."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num_videos, (n_boot, num_videos))
    return counts_of(idx, num_videos)


def counts_of(idx: np.ndarray, num_videos: int) -> np.ndarray:
    """Per-video counts of each row of resampled indices ``(B, V')``."""
    B = idx.shape[0]
    flat = (idx + num_videos * np.arange(B)[:, None]).ravel()
    return np.bincount(flat, minlength=B * num_videos).reshape(B, num_videos).astype(
        np.float64)


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval (linear interpolation, NaN resamples dropped)."""
    s = np.asarray(samples, np.float64)
    s = s[np.isfinite(s)]
    if not len(s):
        return float('nan'), float('nan')
    a = (1 - level) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi)


def verdict(lo: float, hi: float) -> str:
    """``'n.s.'`` when the interval contains 0, else ``'+'`` or ``'-'``."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi:
        return 'n.s.'
    return '+' if lo > 0 else '-'


def run_aps(runs: list[RankedRun], class_ids, weights: np.ndarray,
            ap: str = 'voc') -> np.ndarray:
    """``(S, B, C)`` APs of each run under each resample (``ap``: ``'voc'``, the
    frame-AP envelope rule, or ``'act'``, ACT's video-AP trapezoid)."""
    fn = _ap_rule(ap)
    return np.stack([np.stack([fn(r.classes[int(c)], weights)
                               for c in class_ids], axis=-1) for r in runs])


def paired_bootstrap(method_runs: list[RankedRun], stock_runs: list[RankedRun],
                     class_names: dict, groups: dict | None = None,
                     n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                     ap: str = 'voc', cache: dict | None = None) -> dict:
    """Effect of a method over the stock row with paired per-video bootstrap CIs.

    Args:
        method_runs, stock_runs: one :class:`RankedRun` per training seed (>= 3
            for a benchmark row), all on the same video list.
        class_names: ``{class id: name}`` of the evaluated classes.
        groups: ``{group: [class names]}``; a group's value is the mean of its
            classes' APs (classes without GT in a resample are left out).
        n_boot, seed: resamples and the seed of their generator.
        ap: ``'voc'`` (frame-AP, :func:`weighted_ap`) or ``'act'`` (video-AP,
            :func:`weighted_act_ap`, runs from :func:`rank_video_run`).
        cache: a dict kept across calls (e.g. one per benchmark block, whose
            claims share rows): each run's ``(B, C)`` resampled APs are computed
            once per ``(run, classes, ap, n_boot, seed)`` and reused; the same
            seed draws the same resamples, so the result is identical to the
            uncached one (the dict holds the runs, so their ids stay theirs).

    Returns:
        dict with ``per_class``, ``per_group`` and ``overall`` (the mAP); each
        entry holds ``method``, ``stock`` (means over seeds), ``effect``,
        ``ci95`` ``[lo, hi]`` and ``verdict`` (``'n.s.'``, ``'+'`` or ``'-'``),
        plus ``seeds``, ``n_boot``, ``videos``.
    """
    videos = method_runs[0].videos
    for r in list(method_runs) + list(stock_runs):
        if r.videos != videos:
            raise ValueError('paired bootstrap needs every run on the same videos')
    ids = list(class_names)
    names = [class_names[c] for c in ids]
    V = len(videos)
    W = np.vstack([np.ones((1, V)), resample_weights(V, n_boot, seed)])
    _ap_rule(ap)

    def aps_of(runs):
        if cache is None:
            return run_aps(runs, ids, W, ap)
        out = []
        for r in runs:
            key = (id(r), tuple(ids), ap, n_boot, seed, V)
            hit = cache.get(key)
            if hit is None or hit[0] is not r:
                hit = cache[key] = (r, run_aps([r], ids, W, ap)[0])
            out.append(hit[1])
        return np.stack(out)

    m = np.nanmean(aps_of(method_runs), axis=0) if len(method_runs) else None
    s = np.nanmean(aps_of(stock_runs), axis=0)

    def cell(mv, sv):
        d = mv - sv
        lo, hi = percentile_ci(d[1:], level)
        return dict(method=float(mv[0]), stock=float(sv[0]), effect=float(d[0]),
                    ci95=[lo, hi], verdict=verdict(lo, hi))

    def mean_cols(a, cols):
        with np.errstate(invalid='ignore'):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', RuntimeWarning)
                return np.nanmean(a[:, cols], axis=1)

    out = dict(per_class={}, per_group={}, seeds=[len(method_runs), len(stock_runs)],
               n_boot=n_boot, videos=V)
    for j, n in enumerate(names):
        out['per_class'][n] = cell(m[:, j], s[:, j])
    for g, members in (groups or {}).items():
        cols = [names.index(n) for n in members if n in names]
        if cols:
            out['per_group'][g] = cell(mean_cols(m, cols), mean_cols(s, cols))
    allc = list(range(len(names)))
    out['overall'] = cell(mean_cols(m, allc), mean_cols(s, allc))
    return out


def point_aps(run: RankedRun, class_names: dict, ap: str = 'voc') -> dict:
    """``{name: AP}`` of one run on its own videos (no resampling)."""
    ones = np.ones((1, len(run.videos)))
    fn = _ap_rule(ap)
    return {n: float(fn(run.classes[int(c)], ones)[0])
            for c, n in class_names.items()}


def format_cell(entry: dict, digits: int = 3) -> str:
    """``'+0.034 [+0.010, +0.058]'``; ``'n.s. (+0.004 [-0.010, +0.018])'``."""
    f = f'{{:+.{digits}f}}'
    lo, hi = entry['ci95']
    body = f'{f.format(entry["effect"])} [{f.format(lo)}, {f.format(hi)}]'
    return f'n.s. ({body})' if entry['verdict'] == 'n.s.' else body


__all__ = ['RankedClass', 'RankedRun', 'rank_run', 'rank_video_run', 'weighted_ap',
           'weighted_act_ap', 'resample_weights',
           'counts_of', 'percentile_ci', 'verdict', 'run_aps', 'paired_bootstrap',
           'point_aps', 'format_cell']
