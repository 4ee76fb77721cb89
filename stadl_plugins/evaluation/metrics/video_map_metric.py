"""``VideoMAPMetric``: frame-mAP and video-mAP for ACT-schema datasets."""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
from mmengine import load
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ...registry import METRICS
from ..functional.act_frame_ap import act_frame_ap, check_protocol, split_videos
from ..functional.tube_linking import link_tubes, moc_score_weights
from ..functional.video_ap import VIDEO_IOU_THRS, video_map
from ..offline import as_numpy


@METRICS.register_module()
class VideoMAPMetric(BaseMetric):
    """Frame-mAP@0.5 and video-mAP (UCF101-24, JHMDB-21, MultiSports, synthetic).

    Predictions are per-frame boxes with per-class scores (the STAD model run on
    every test frame, as the UCF101-24/JHMDB protocol requires). Each (box, class)
    pair scoring above ``score_thr`` becomes a detection (multi-label, like AVA);
    ``label_mode='argmax'`` keeps only each box's best class (MMAction2's
    ``MultiSportsMetric``). Detections are linked into tubes per class
    (:func:`~stadl_plugins.evaluation.functional.link_tubes`) and scored against
    the GT tubes (temporal IoU with inclusive frame counting x mean spatial IoU).
    All values are percentages, as in the UCF101-24/JHMDB literature.

    ``protocol='act'`` is the ACT/MOC evaluator that UCF101-24 and JHMDB-21 papers
    report (trapezoid AP, matching to the remaining GT, ``+1`` pixel IoU, tube
    NMS 0.3 before video-AP, every label in the mean) with MOC's linker
    (``link_cfg=dict(style='moc')``); ``protocol='multisports'`` (the default, for
    backward compatibility) is MMAction2's MultiSports evaluator with the
    hard-NMS linker. ``docs/evaluation.md`` lists the rules of each.

    Results: ``frameAP``, ``v_map@<thr>`` for each of ``video_iou_thrs`` (default
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75), ``v_map_0.5:0.95``, ``v_map_0.1:0.9``,
    ``v_map_0.05:0.45``, and ``frameAP/<class>`` when ``per_class``.

    Args:
        ann_file: ACT-schema GT pickle (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl``...).
        split: 1-based split of ``test_videos`` (JHMDB has 3).
        background_class: score column 0 is background (``BBoxHeadAVA`` with
            ``background_class=True``); class ``i`` of the GT is then column ``i+1``.
        label_mode: ``'multilabel'`` or ``'argmax'``.
        score_thr: minimum class score of a detection.
        protocol: ``'act'`` or ``'multisports'``.
        link_cfg: options of :func:`link_video` (style, nms_thr, top_k,
            link_iou, min_len, min_score); ``style`` defaults to ``'moc'`` with
            ``protocol='act'`` and to ``'hard'`` otherwise.
        frame_nms: ``None`` or a threshold: MOC's score-weighted per-frame NMS
            (``nms2d``, all boxes kept) on each frame's detections of a label
            before frame-AP, as MOC's ``load_frame_detections`` does to its
            tubelet outputs (0.6 there). Off by default: a frame detector's
            boxes are NMS'd already.
        pr_dtype: ``'float64'`` or ``'float32'`` (``'act'``: the reference's
            single-precision curves; differs by <1e-4 points).
        ignore_labels: class names to leave out (MultiSports skips six).
        upstream_bugs: reproduce MMAction2 1.2's linking defects (only for
            comparing with its published numbers).
    """
    default_prefix: Optional[str] = 'mAP'

    def __init__(self, ann_file: str, split: int = 1, background_class: bool = True,
                 label_mode: str = 'multilabel', score_thr: float = 0.01,
                 video_iou_thrs=VIDEO_IOU_THRS, link_cfg: Optional[dict] = None,
                 ignore_labels=(), per_class: bool = True, upstream_bugs: bool = False,
                 protocol: str = 'multisports', frame_nms: Optional[float] = None,
                 pr_dtype: str = 'float64',
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.protocol = check_protocol(protocol)
        if upstream_bugs and protocol != 'multisports':
            raise ValueError("upstream_bugs reproduces MMAction2's MultiSports "
                             "evaluator: use it with protocol='multisports'")
        if pr_dtype not in ('float64', 'float32'):
            raise ValueError(f"pr_dtype must be 'float64' or 'float32', got {pr_dtype!r}")
        self.pr_dtype = getattr(np, pr_dtype)
        self.frame_nms = frame_nms
        if label_mode not in ('multilabel', 'argmax'):
            raise ValueError(f"label_mode must be 'multilabel' or 'argmax', "
                             f'got {label_mode!r}')
        self.gt = load(ann_file)
        missing = {'labels', 'gttubes', 'nframes', 'test_videos',
                   'resolution'} - set(self.gt)
        if missing:
            raise ValueError(f'{ann_file}: not an ACT-schema GT pickle, missing '
                             f'keys {sorted(missing)}')
        self.ann_file = ann_file
        self.videos = split_videos(self.gt, split - 1, 'test')
        self.video_index = {v: i for i, v in enumerate(self.videos)}
        self.background_class = background_class
        self.label_mode = label_mode
        self.score_thr = score_thr
        self.video_iou_thrs = tuple(video_iou_thrs)
        self.link_cfg = dict(link_cfg or {})
        self.link_cfg.setdefault('style', 'moc' if protocol == 'act' else 'hard')
        self.ignore_labels = tuple(ignore_labels)
        self.per_class = per_class
        self.upstream_bugs = upstream_bugs

    @staticmethod
    def video_name(video_id: str) -> str:
        return video_id[:-4] if video_id.endswith(('.mp4', '.avi')) else video_id

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            pred = ds['pred_instances']
            boxes, scores = as_numpy(pred['bboxes']), as_numpy(pred['scores'])
            self.results.append((self.video_name(ds['video_id']), int(ds['timestamp']),
                                 boxes.astype(np.float32), scores.astype(np.float32)))

    def detections(self, results) -> np.ndarray:
        """``(N, 8)`` rows ``video_index, frame, label, score, x1, y1, x2, y2`` (px)."""
        num_labels = len(self.gt['labels'])
        off = 1 if self.background_class else 0
        rows = []
        unknown = set()
        for video, frame, boxes, scores in results:
            if video not in self.video_index:
                unknown.add(video)
                continue
            h, w = self.gt['resolution'][video]
            px = boxes[:, :4].astype(np.float64) * np.array([w, h, w, h])
            cls_scores = scores[:, off:off + num_labels]
            if self.label_mode == 'argmax':
                lab = cls_scores.argmax(1)
                sel = np.arange(len(lab))
                sc = cls_scores[sel, lab]
            else:
                sel, lab = np.nonzero(cls_scores > self.score_thr)
                sc = cls_scores[sel, lab]
            n = len(sel)
            rows.append(np.column_stack([
                np.full(n, self.video_index[video]), np.full(n, frame), lab, sc,
                px[sel]]))
        if unknown:
            raise ValueError(f'{len(unknown)} predicted videos are not test videos of '
                             f'{self.ann_file} (e.g. {sorted(unknown)[0]!r})')
        dets = np.concatenate(rows) if rows else np.zeros((0, 8))
        return dets if self.frame_nms is None else self.weighted_frame_nms(dets)

    def weighted_frame_nms(self, dets: np.ndarray) -> np.ndarray:
        """MOC's ``nms2d`` per (video, frame, label): scores reweighted in place."""
        dets = dets.copy()
        _, inverse = np.unique(dets[:, :3], axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for g in np.flatnonzero(np.bincount(inverse) > 1):
            idx = np.flatnonzero(inverse == g)
            dets[idx, 3] *= moc_score_weights(dets[idx][:, [4, 5, 6, 7, 3]],
                                              self.frame_nms)
        return dets

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        dets = self.detections(results)
        fr = act_frame_ap(self.gt, dets, self.videos, 0.5, self.ignore_labels,
                          protocol=self.protocol, pr_dtype=self.pr_dtype)
        tubes = link_tubes(dets, self.videos, self.gt['nframes'],
                           len(self.gt['labels']), upstream_bugs=self.upstream_bugs,
                           **self.link_cfg)
        vm = video_map(self.gt, tubes, self.videos, thresholds=self.video_iou_thrs,
                       inclusive=not self.upstream_bugs,
                       ignore_labels=self.ignore_labels, protocol=self.protocol,
                       pr_dtype=self.pr_dtype)
        out = OrderedDict(frameAP=fr['frameAP'])
        out.update(vm)
        lines = [f'frame-AP@0.5 and video-AP (protocol {self.protocol!r}), '
                 f'{len(self.videos)} test videos, '
                 f'{len(dets)} detections, {sum(map(len, tubes.values()))} tubes:']
        for name, ap in fr['per_class'].items():
            lines.append(f'  {name:<30s} frame-AP {ap:6.2f}')
            if self.per_class:
                out[f'frameAP/{name}'] = ap
        lines += [f'  {k:<30s} {v:6.2f}' for k, v in out.items() if k.startswith('v_')]
        logger.info('\n'.join(lines))
        return out
