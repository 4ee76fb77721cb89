"""Evaluate or export dumped STAD predictions (``tools/test.py --dump``) offline."""
from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import torch

from ..safe_load import safe_pickle_load


def load_dump(path: str) -> list[dict]:
    """Read a ``DumpResults`` pickle: a list of per-keyframe prediction dicts."""
    with open(path, 'rb') as f:
        samples = safe_pickle_load(f)
    if not isinstance(samples, list) or (samples and 'pred_instances' not in samples[0]):
        raise ValueError(f'{path}: expected the list of dicts with "pred_instances" '
                         'written by tools/test.py --dump')
    return samples


def as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


_PER_CLASS = re.compile(r'^Index: (\d+), Action: (.*): AP: (nan|[-+0-9.eE]+);$')


def evaluate_samples(samples: list[dict], evaluator_cfg: dict,
                     per_class: bool = False) -> dict:
    """Run a registered metric (e.g. ``AVAMetric``) over prediction dicts.

    Args:
        samples: prediction dicts as dumped by ``tools/test.py --dump``.
        evaluator_cfg: the metric's config dict.
        per_class: also return ``'per_class': {class name: AP}``. MMAction2's
            ``ava_eval`` computes per-class APs but only prints them (4 decimals);
            they are read from that printed table, so they are exactly the stock
            numbers behind the overall mAP. ``'per_class_id'`` has the same
            values keyed by action id (names need not be unique).
    """
    from mmaction.registry import METRICS
    metric = METRICS.build(dict(evaluator_cfg))
    ready = []
    for s in samples:
        pred = {k: (torch.as_tensor(v) if k in ('bboxes', 'scores') else v)
                for k, v in dict(s['pred_instances']).items()}
        ready.append(dict(s, pred_instances=pred))
    metric.process(None, ready)
    if not per_class:
        return metric.compute_metrics(metric.results)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = dict(metric.compute_metrics(metric.results))
    out['per_class'] = {}
    out['per_class_id'] = {}
    for line in buf.getvalue().splitlines():
        m = _PER_CLASS.match(line.strip())
        if m:
            out['per_class'][m.group(2)] = float(m.group(3))
            out['per_class_id'][int(m.group(1))] = float(m.group(3))
    return out


def write_ava_csv(samples: list[dict], path: str, num_classes: int = 81,
                  action_thr: float = 0.002, custom_classes=None) -> None:
    """Write predictions as AVA detection rows (``vid,ts,x1,y1,x2,y2,action,score``)."""
    from mmaction.evaluation.functional import results2csv
    from mmaction.structures import bbox2result
    results = []
    for s in samples:
        p = s['pred_instances']
        results.append(dict(video_id=s['video_id'], timestamp=s['timestamp'],
                            outputs=bbox2result(torch.as_tensor(p['bboxes']),
                                                torch.as_tensor(p['scores']),
                                                num_classes=num_classes,
                                                thr=action_thr)))
    results2csv(results, path, custom_classes)
