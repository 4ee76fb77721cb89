"""Train and evaluate necks / RoI heads on a frozen-backbone feature cache
(benchmark v2, issue 19 item 3).

    from stadl_plugins.benchmark.cached_heads import train_on_cache, predict_on_cache
    model = train_on_cache(cfg, train_cache, iters=2000, batch_size=8, seed=0)
    dets = predict_on_cache(model, val_cache, class_ids)

The model is the config's own detector, built by the registry exactly as
``tools/train.py`` would build it (so a row of an ablation is "this config", with
our registered plugins and MMAction2's stock modules, never a re-implementation),
with one change: its backbone is replaced by :class:`CachedFeatures`, which
returns the cached backbone output it is given. Everything after the backbone --
the neck, the RoI extractor, the shared head, the bbox head, the assigner and
sampler, the losses, the test-time post-processing -- runs the detector's own
``loss`` / ``predict`` code (mmdet ``TwoStageDetector``).

What differs from end-to-end training, by design (state it with the numbers):

* the backbone is frozen at the cached (pretrained) weights;
* the cache is read with the config's *val* pipeline, so training sees no flip;
* the data preprocessor is not run (the cache holds backbone outputs, already
  normalised inputs went in).

Optimiser and gradient clipping come from the config's ``optim_wrapper``; the
schedule is the v2 suite's (linear warm-up over ``min(200, iters // 10)``
iterations, then cosine to ``1e-5``). Batches are drawn without replacement per
pass from a generator seeded by ``seed``; ``torch.manual_seed(seed)`` is set
before the model is built, so one (config, cache, seed) gives one model.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

__all__ = ['CachedFeatures', 'build_cached_model', 'cache_data_samples',
           'train_on_cache', 'predict_on_cache', 'pack_detections']


class CachedFeatures(nn.Module):
    """Stands in for the backbone: returns the cached backbone output it gets."""

    def forward(self, x):
        return x

    def init_weights(self):  # nothing to initialise
        pass


def build_cached_model(cfg) -> nn.Module:
    """The config's detector with :class:`CachedFeatures` as its backbone."""
    from mmaction.registry import MODELS
    from mmengine.config import Config, ConfigDict
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(cfg) if isinstance(cfg, str) else cfg
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model_cfg = ConfigDict(cfg.model.to_dict())
    model_cfg.pop('init_cfg', None)   # the cached backbone already carries the weights
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.backbone = CachedFeatures()
    return model


def cache_data_samples(rows: list) -> list:
    """One ``ActionDataSample`` per cache row: proposals, GT and metainfo as
    ``PackActionInputs`` packed them when the cache was built."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    out = []
    for r in rows:
        if 'metainfo' not in r:
            raise KeyError('this feature cache has no metainfo per row (format 1): '
                           'rebuild it with build_feature_cache(..., rebuild=True)')
        ds = ActionDataSample()
        ds.set_metainfo(dict(r['metainfo']))
        if r.get('proposals') is not None:
            ds.proposals = InstanceData(bboxes=torch.as_tensor(r['proposals'],
                                                               dtype=torch.float32))
        gt = InstanceData()
        if r.get('gt_bboxes') is not None:
            gt.bboxes = torch.as_tensor(r['gt_bboxes'], dtype=torch.float32)
            gt.labels = torch.as_tensor(r['gt_labels'], dtype=torch.float32)
        ds.gt_instances = gt
        out.append(ds)
    return out


def _batch(cache, idx) -> torch.Tensor:
    return torch.from_numpy(np.asarray(cache.features[np.sort(idx)], np.float32))


def train_on_cache(cfg, cache, iters: int, batch_size: int = 8, seed: int = 0,
                   progress: bool = True, log_every: int = 0) -> nn.Module:
    """Train the config's neck + RoI head on ``cache`` (a
    :class:`~stadl_plugins.benchmark.feature_cache.FeatureCache` of the train split).

    Keyframes without GT boxes are skipped (as ``AVADataset`` drops them in
    training); the count is part of the returned model's ``cache_train_info``.
    """
    from mmengine.config import Config
    from mmengine.optim import CosineAnnealingLR, LinearLR, build_optim_wrapper
    cfg = Config.fromfile(cfg) if isinstance(cfg, str) else cfg
    torch.manual_seed(seed)
    model = build_cached_model(cfg)
    model.train()
    usable = np.array([i for i, r in enumerate(cache.index)
                       if r.get('gt_bboxes') is not None and len(r['gt_bboxes'])])
    if not len(usable):
        raise ValueError('the feature cache has no keyframe with GT boxes to train on')
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    warm = max(1, min(200, iters // 10))
    scheds = [LinearLR(wrapper, start_factor=0.1, by_epoch=False, begin=0, end=warm),
              CosineAnnealingLR(wrapper, T_max=iters, eta_min=1e-5, by_epoch=False,
                                begin=0, end=iters)]
    rng = np.random.default_rng(seed)
    order, pos = rng.permutation(usable), 0
    it = range(iters)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc='train on cache', unit='it', leave=False)
    losses_seen = []
    for step in it:
        if pos + batch_size > len(order):
            order, pos = rng.permutation(usable), 0
        idx = np.sort(order[pos:pos + batch_size])
        pos += batch_size
        feats = _batch(cache, idx)
        # fresh samples per step: the RoI head pops ``proposals.bboxes`` in place
        losses = model.loss(feats, cache_data_samples([cache.index[i] for i in idx]))
        loss, _ = model.parse_losses(losses)
        wrapper.update_params(loss)
        for s in scheds:
            s.step()
        losses_seen.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0 and progress:
            it.set_postfix(loss=f'{np.mean(losses_seen[-log_every:]):.4f}')
    model.cache_train_info = dict(
        iters=iters, batch_size=batch_size, seed=seed, train_rows=len(cache),
        rows_without_gt_skipped=int(len(cache) - len(usable)),
        final_loss=float(np.mean(losses_seen[-min(50, len(losses_seen)):])))
    return model


def pack_detections(data_sample, class_ids) -> tuple[str, tuple]:
    """``('vid,TTTT', (boxes (n*C, 4) normalised, labels, scores))`` of one
    predicted data sample: every box once per class in ``class_ids``."""
    key = f"{data_sample.video_id},{int(data_sample.timestamp):04d}"
    pred = data_sample.pred_instances
    boxes = pred.bboxes.cpu().numpy().astype(np.float64)
    scores = pred.scores.cpu().numpy()
    if boxes.size and boxes.max() > 1.5:   # pixels -> normalised
        h, w = data_sample.img_shape[:2]
        boxes = boxes / [w, h, w, h]
    n = len(boxes)
    return key, (np.repeat(boxes, len(class_ids), 0), np.tile(np.asarray(class_ids), n),
                 scores[:, class_ids].reshape(-1))


def predict_on_cache(model: nn.Module, cache, class_ids, progress: bool = True) -> dict:
    """``{key: (boxes, labels, scores)}`` for every row of ``cache`` (the format
    of :func:`~stadl_plugins.evaluation.bootstrap.rank_run`)."""
    model.eval()
    dets = {}
    it = range(len(cache))
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc='predict on cache', unit='clip', leave=False)
    with torch.no_grad():
        for i in it:
            sample = cache_data_samples([cache.index[i]])[0]
            if sample.get('proposals', None) is None:
                continue
            out = model.predict(_batch(cache, [i]), [sample])
            key, d = pack_detections(out[0], class_ids)
            dets[key] = d
    return dets
