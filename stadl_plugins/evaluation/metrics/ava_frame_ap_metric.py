"""``AVAFrameAPMetric``: AVA frame-mAP with per-class AP, groups, two protocols and
an optional submission CSV."""
from __future__ import annotations

import os.path as osp
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ...datasets.ava_io import img_key, read_ava_csv, read_label_map
from ...registry import METRICS
from ..functional.ava_frame_ap import ava_frame_ap_flat, csv_round
from ..offline import as_numpy
from ..submission import (
    detection_rows,
    read_ava_rows,
    read_excluded,
    validate_ava_submission,
    write_submission,
)


def _read_excluded(path):
    return read_excluded(path)


@METRICS.register_module()
class AVAFrameAPMetric(BaseMetric):
    """AVA frame-mAP@0.5 that reports per-class AP and can write the submission.

    A drop-in for MMAction2's ``AVAMetric`` (same arguments, same ``mAP/overall``,
    ``mAP/person_movement``, ``mAP/object_manipulation``, ``mAP/person_interaction``
    keys, so ``save_best='auto'`` keeps working). With the default
    ``protocol='mmaction'`` the numbers are identical to ``AVAMetric``; with
    ``protocol='activitynet'`` they are those of the official ActivityNet evaluator
    (2019, ``get_ava_performance.py`` with exclusions) on the submission CSV this
    metric writes (``outfile``; rows in ``write_submission``'s order, so the result
    does not depend on batch order): top-50 detections per keyframe, invalid boxes
    dropped, detections on keyframes without GT count as false positives, classes
    without detections count as AP 0; see
    :mod:`stadl_plugins.evaluation.functional.ava_frame_ap`. No temporary file is
    written to the working directory and no process pool is started.

    Args:
        ann_file: GT CSV (``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``).
        exclude_file: excluded keyframes CSV, or None.
        label_file: the label map (``.pbtxt``): the evaluated action ids. Use the
            60-class challenge map for numbers comparable to the leaderboard.
        options: kept for ``AVAMetric`` compatibility; only ``('mAP',)``.
        action_thr: (box, action) pairs scoring at most this are dropped, as in
            ``AVAMetric``.
        num_classes: score columns of the model (column 0: background).
        custom_classes: the dataset's ``custom_classes``.
        protocol: ``'mmaction'`` or ``'activitynet'``.
        per_class: add ``per_class/<action id>:<action name>`` AP entries to the results.
        outfile: if set, also write the predictions as a leaderboard CSV (50 rows
            per keyframe at most, label-map ids only) and validate it.
        format_only: only write ``outfile`` (test set without GT).
        zip_file: also write ``outfile + '.zip'`` (what the evaluation server takes).
    """
    default_prefix: Optional[str] = 'mAP'

    def __init__(self, ann_file: Optional[str], exclude_file: Optional[str],
                 label_file: str, options=('mAP', ), action_thr: float = 0.002,
                 num_classes: int = 81, custom_classes=None,
                 protocol: str = 'mmaction', per_class: bool = True,
                 outfile: Optional[str] = None, format_only: bool = False,
                 zip_file: bool = False,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if tuple(options) != ('mAP', ):
            raise ValueError(f"options must be ('mAP',), got {options}")
        if format_only and not outfile:
            raise ValueError('format_only=True needs outfile=... (where to write '
                             'the submission CSV)')
        self.ann_file = ann_file
        self.exclude_file = exclude_file
        self.label_file = label_file
        self.action_thr = action_thr
        self.num_classes = num_classes
        self.custom_classes = list(custom_classes) if custom_classes else None
        self.protocol = protocol
        self.per_class = per_class
        self.outfile = outfile
        self.format_only = format_only
        self.zip_file = zip_file
        self.label_map = read_label_map(label_file)
        if self.custom_classes:
            missing = [c for c in self.custom_classes if c not in self.label_map]
            if missing:
                raise ValueError(f'custom_classes {missing} are not in the label map '
                                 f'{label_file} (ids {sorted(self.label_map)})')
            if num_classes != len(self.custom_classes) + 1:
                raise ValueError(f'num_classes={num_classes} but custom_classes has '
                                 f'{len(self.custom_classes)} ids (+1 background)')
        elif max(self.label_map) >= num_classes:
            raise ValueError(f'label map {label_file} has action id '
                             f'{max(self.label_map)} but the model scores only '
                             f'{num_classes} columns (num_classes)')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            pred = ds['pred_instances']
            boxes, scores = as_numpy(pred['bboxes']), as_numpy(pred['scores'])
            self.results.append(dict(video_id=ds['video_id'],
                                     timestamp=int(ds['timestamp']),
                                     bboxes=boxes.astype(np.float32),
                                     scores=scores.astype(np.float32)))

    # ------------------------------------------------------------------
    def _action_id(self, col: int) -> int:
        return self.custom_classes[col - 1] if self.custom_classes else col

    def _detections(self, results):
        """Flat (box, action) rows in the order of AVAMetric's CSV.

        Returns:
            ``(keys, key_of_row, boxes (N, 4), action ids (N,), scores (N,))``;
            per sample, rows go class by class, box by box, as ``results2csv``
            writes them.
        """
        keys, key_index = [], {}
        k_rows, b_rows, l_rows, s_rows = [], [], [], []
        ids = np.asarray(self.custom_classes if self.custom_classes else
                         range(1, self.num_classes))
        for r in results:
            key = img_key(r['video_id'], r['timestamp'])
            if key not in key_index:
                key_index[key] = len(keys)
                keys.append(key)
            sc = r['scores'][:, 1:self.num_classes]
            col, box = np.nonzero((sc > self.action_thr).T)  # class-major order
            k_rows.append(np.full(len(col), key_index[key]))
            b_rows.append(r['bboxes'][box, :4])
            l_rows.append(ids[col])
            s_rows.append(sc[box, col])
        if not k_rows:
            return keys, np.zeros(0, int), np.zeros((0, 4)), np.zeros(0, int), \
                np.zeros(0)
        key_of_row = np.concatenate(k_rows)
        boxes = np.concatenate(b_rows).astype(np.float64)
        labels = np.concatenate(l_rows)
        scores = np.concatenate(s_rows).astype(np.float64)
        # AVAMetric writes '%.4f' and reads it back; the ActivityNet evaluator reads
        # the same 4-decimal submission files, so both protocols round alike
        boxes, scores = csv_round(boxes), csv_round(scores)
        # rows of one key may come from several results (stock appends them):
        # group by key, keeping input order within a key
        order = np.argsort(key_of_row, kind='stable')
        return keys, key_of_row[order], boxes[order], labels[order], scores[order]

    def _ground_truth(self):
        """GT rows in file order (flat), as the reference evaluators read them."""
        return read_ava_rows(self.ann_file, with_score=False)[:4]

    @staticmethod
    def _read_gt(ann_file) -> OrderedDict:
        gt = OrderedDict()
        for row in read_ava_csv(ann_file):
            b, lab = gt.setdefault(img_key(row.video_id, row.timestamp), ([], []))
            b.append(row.box)
            lab.append(row.action_id)
        return OrderedDict((k, (np.asarray(b, np.float64), np.asarray(lab)))
                           for k, (b, lab) in gt.items())

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        out = OrderedDict()
        if self.outfile:
            rows = detection_rows(
                [dict(video_id=r['video_id'], timestamp=r['timestamp'],
                      pred_instances=dict(bboxes=r['bboxes'], scores=r['scores']))
                 for r in results], num_classes=self.num_classes,
                action_thr=self.action_thr, custom_classes=self.custom_classes,
                label_ids=set(self.label_map), max_per_keyframe=50)
            write_submission(rows, self.outfile, zip_file=self.zip_file)
            report = validate_ava_submission(self.outfile, self.label_file)
            logger.info(f'submission written: {report.summary()}')
            out['submission_rows'] = report.num_rows
            if self.format_only:
                return out
        if self.ann_file is None:
            raise ValueError('ann_file=None: nothing to evaluate against; use '
                             'format_only=True with outfile=... for a test set')
        class_ids = self.custom_classes or sorted(self.label_map)
        res = ava_frame_ap_flat(self._ground_truth(), *self._detections(results),
                                class_ids, excluded=read_excluded(self.exclude_file),
                                protocol=self.protocol, class_names=self.label_map,
                                row_order='canonical' if self.protocol == 'activitynet'
                                else 'file')
        out['overall'] = res['mAP']
        for g in ('person_movement', 'object_manipulation', 'person_interaction'):
            out[g] = res[g]
        lines = [f'AVA frame-AP@0.5 ({self.protocol} protocol), '
                 f'{osp.basename(str(self.ann_file))}:']
        for c, ap in res['per_class'].items():
            name = self.label_map.get(c, str(c))
            lines.append(f'  {c:>3d} {name:<40s} AP {ap:.4f} '
                         f'(GT {res["num_gt"].get(c, 0)})')
            if self.per_class:
                out[f'per_class/{c}:{name}'] = ap
        lines.append(f'  mAP {res["mAP"]:.4f}')
        logger.info('\n'.join(lines))
        return out
