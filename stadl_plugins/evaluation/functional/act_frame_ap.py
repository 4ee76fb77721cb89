"""Frame-mAP for ACT-schema datasets (UCF101-24, JHMDB-21, MultiSports, synthetic).

Ground truth is the ACT/MOC pickle (``labels``, ``gttubes``, ``nframes``,
``train_videos``, ``test_videos``, ``resolution``); ``gttubes[video][label]`` is a
list of ``(n, 5)`` arrays ``frame, x1, y1, x2, y2`` in pixels, frames 1-based.

Detections are one row per (box, class) pair, so a box may carry several classes
(multi-label, AVA-style) or only its argmax class (single-label, as MMAction2's
``MultiSportsMetric``):

``dets``: ``(N, 8)`` float array ``video_index, frame, label, score, x1, y1, x2, y2``
with ``video_index`` into the evaluated video list and pixel boxes.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .average_precision import average_precision, precision_recall
from .boxes import greedy_match

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
                 ignore_labels=()) -> dict:
    """Frame-AP per class at ``iou_thr`` over every GT frame of ``videos``.

    A GT frame without any detection counts as missed; detections on frames
    without GT of the class are false positives. Classes without GT in ``videos``
    are left out of the mean, classes with GT and no detections get AP 0.

    Returns:
        dict: ``frameAP`` (mean AP in percent, the convention of ACT/MOC/
        MultiSports tables), ``per_class`` ``{label name: AP %}``, ``pr``.
    """
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
