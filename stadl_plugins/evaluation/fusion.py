"""Multi-model score fusion (Jiang et al. 2018, Sec. II-B).

The paper ensembles models by averaging scores *before* or *after* the sigmoid
and by a "top-k" scheme, and reports that top-k with ``k = n // 2`` before the
sigmoid worked best. It does not define top-k further; we read it as: for every
(box, class), average the ``k`` largest logits among the ``n`` models, then apply
the sigmoid.

Dumped predictions hold probabilities (``BBoxHeadAVA`` applies the sigmoid), so
"before the sigmoid" means on ``logit(p)``, with ``p`` clipped to
``[eps, 1 - eps]``. Only multi-label (sigmoid) heads are meaningful here.
"""
from __future__ import annotations

import numpy as np
import torch

from .offline import as_numpy

MODES = ('mean_prob', 'mean_logit', 'topk_logit')


def _logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fuse_scores(scores: list[np.ndarray], mode: str = 'topk_logit',
                k: int | None = None) -> np.ndarray:
    """Fuse ``n`` models' probabilities for the same boxes.

    Args:
        scores: ``n`` arrays of shape ``(K, C)`` (probabilities).
        mode: ``'mean_prob'`` (average after the sigmoid), ``'mean_logit'``
            (average before), ``'topk_logit'`` (mean of the ``k`` largest logits).
        k: for ``topk_logit``; default ``max(1, n // 2)``.

    Returns:
        np.ndarray: ``(K, C)`` fused probabilities.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    stack = np.stack([np.asarray(s, np.float64) for s in scores])  # (n, K, C)
    n = stack.shape[0]
    if mode == 'mean_prob':
        return stack.mean(0)
    logits = _logit(stack)
    if mode == 'mean_logit':
        return _sigmoid(logits.mean(0))
    k = k or max(1, n // 2)
    if not 1 <= k <= n:
        raise ValueError(f'k must be in [1, {n}], got {k}')
    top = -np.sort(-logits, axis=0)[:k]
    return _sigmoid(top.mean(0))


def fuse_predictions(runs: list[list[dict]], mode: str = 'topk_logit',
                     k: int | None = None, names: list[str] | None = None) -> list[dict]:
    """Fuse several models' dumped predictions keyframe by keyframe.

    Every run must hold the same keyframes with the same boxes (the same proposals),
    in any order.

    Raises:
        ValueError: naming the run and the keyframe where keyframes or boxes differ.
    """
    names = names or [f'run {i}' for i in range(len(runs))]
    if len(runs) < 2:
        raise ValueError('fusion needs at least two runs')
    index = []
    for name, run in zip(names, runs):
        d = {}
        for s in run:
            key = (s['video_id'], int(s['timestamp']))
            if key in d:
                raise ValueError(f'{name}: keyframe {key} appears twice')
            d[key] = s
        index.append(d)
    keys = list(index[0])
    for name, d in zip(names[1:], index[1:]):
        missing = set(keys) ^ set(d)
        if missing:
            raise ValueError(f'{name} and {names[0]} differ in keyframes, e.g. '
                             f'{sorted(missing)[:3]}')
    fused = []
    for key in keys:
        boxes = [as_numpy(d[key]['pred_instances']['bboxes']) for d in index]
        for name, b in zip(names[1:], boxes[1:]):
            if b.shape != boxes[0].shape or not np.allclose(b, boxes[0], atol=1e-5):
                raise ValueError(f'{name} has other boxes than {names[0]} at keyframe '
                                 f'{key}: fusion needs the same proposals')
        scores = [as_numpy(d[key]['pred_instances']['scores']) for d in index]
        out = dict(index[0][key])
        out['pred_instances'] = dict(
            bboxes=torch.as_tensor(boxes[0]),
            scores=torch.as_tensor(fuse_scores(scores, mode, k), dtype=torch.float32))
        fused.append(out)
    return fused
