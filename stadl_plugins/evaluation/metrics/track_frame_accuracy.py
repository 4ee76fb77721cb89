"""Per-frame accuracy of track heads (RecLNet) on labelled track windows."""
from __future__ import annotations

import numpy as np
from mmengine.evaluator import BaseMetric

from ...registry import METRICS


@METRICS.register_module()
class TrackFrameAccuracy(BaseMetric):
    """Accuracy of the per-frame argmax over ``C + 1`` classes (0 = background).

    Consumes the ``'predict'`` outputs of
    :class:`~stadl_plugins.models.localizers.reclnet.RecLNet`: dicts with
    ``pred_scores (T, C+1)`` and ``gt_labels (T,)`` (-1 = padding, ignored).

    Reports ``frame_acc`` (percent), ``action_frame_acc`` (over frames whose label is
    an action), ``majority_acc`` (always predicting the most frequent label of the
    evaluated frames: the chance level to beat) and ``num_frames``.
    """

    default_prefix = 'track'

    def process(self, data_batch, data_samples) -> None:
        for s in data_samples:
            gt = np.asarray(s['gt_labels'])
            pred = np.asarray(s['pred_scores']).argmax(-1)
            keep = gt >= 0
            self.results.append((pred[keep], gt[keep]))

    def compute_metrics(self, results: list) -> dict:
        pred = np.concatenate([p for p, _ in results]) if results else np.zeros(0, int)
        gt = np.concatenate([g for _, g in results]) if results else np.zeros(0, int)
        if not len(gt):
            raise ValueError('TrackFrameAccuracy: no labelled frames were evaluated')
        act = gt > 0
        return dict(frame_acc=100.0 * float(np.mean(pred == gt)),
                    action_frame_acc=100.0 * float(np.mean(pred[act] == gt[act]))
                    if act.any() else float('nan'),
                    majority_acc=100.0 * float(np.bincount(gt).max() / len(gt)),
                    num_frames=int(len(gt)))
