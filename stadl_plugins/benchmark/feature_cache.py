"""Frozen-backbone feature cache for head / neck ablations (benchmark v2).

    from stadl_plugins.benchmark.feature_cache import build_feature_cache, load_feature_cache
    build_feature_cache(cfg, checkpoint, 'work_dirs/synthetic_v2/cache/val', split='val')
    cache = load_feature_cache('work_dirs/synthetic_v2/cache/val', cfg, checkpoint, 'val')

One row per keyframe clip of the split (the dataset of ``<split>_dataloader``
read with the config's *val* pipeline: no flip, deterministic sampling):

* ``features.npy``: float16 ``(N, C, T, H, W)``, the backbone's output for the
  clip (what the RoI extractor of the config reads), memory-mapped on load;
* ``index.pkl``: per row ``key`` (``'vid,TTTT'``), ``proposals`` (px), ``gt_bboxes``
  (px), ``gt_labels`` (multi-hot, as packed), ``img_shape`` and ``metainfo`` (the
  packed data sample's metainfo: what the RoI head's ``predict`` reads, e.g.
  ``scale_factor``), so :mod:`~stadl_plugins.benchmark.cached_heads` can rebuild
  the data samples;
* ``manifest.json`` (written last): digests of the backbone config, the pipeline
  and dataset config of the split, the checkpoint file (SHA-256) and the data's
  ``meta.json``, plus dtype and format version. :func:`load_feature_cache`
  refuses a cache whose manifest differs from the one the caller's inputs give
  (:class:`~stadl_plugins.benchmark.manifest.StaleCacheError`, naming each
  differing field) and a cache without a manifest (an interrupted build).
"""
from __future__ import annotations

import os
import os.path as osp
import pickle
from dataclasses import dataclass

import numpy as np

from ..safe_load import safe_pickle_load
from .manifest import StaleCacheError, check_manifest, digest, sha256_file, write_manifest

CACHE_FORMAT = 2  # 2: rows carry the data sample's metainfo
__all__ = ['build_feature_cache', 'load_feature_cache', 'cache_manifest',
           'FeatureCache', 'StaleCacheError']


def _load_cfg(cfg):
    from mmengine.config import Config
    return Config.fromfile(cfg) if isinstance(cfg, str) else cfg


def _split_dataset_cfg(cfg, split: str) -> dict:
    # 'val' falls back to the test set when the config has no val loop
    dl = cfg.get(f'{split}_dataloader') or (
        cfg.get('test_dataloader') if split == 'val' else None)
    if dl is None:
        raise KeyError(f'the config has no {split}_dataloader to cache')
    ds = dl.dataset.to_dict()
    ref = cfg.get('val_dataloader') or cfg.get('test_dataloader')
    ds['pipeline'] = ref.dataset.to_dict()['pipeline']
    ds['test_mode'] = True
    return ds


def _own(t) -> np.ndarray:
    """A numpy array that owns its memory (not a view of the tensor's buffer)."""
    return np.array(t.detach().cpu().numpy(), copy=True)


def _plain_metainfo(meta: dict) -> dict:
    """The metainfo entries a data-only unpickler can read back (numbers, strings,
    tuples, numpy arrays); anything else is dropped (e.g. file handles)."""
    out = {}
    for k, v in meta.items():
        if isinstance(v, (int, float, str, bool, type(None))):
            out[k] = v
        elif isinstance(v, (tuple, list)) and all(
                isinstance(e, (int, float, str, bool)) for e in v):
            out[k] = tuple(v)
        elif isinstance(v, np.ndarray) and v.dtype.kind in 'biuf':
            out[k] = np.array(v, copy=True)
    return out


def cache_manifest(cfg, checkpoint: str | None, split: str) -> dict:
    """What a cache of ``split`` built from ``cfg`` and ``checkpoint`` must record."""
    cfg = _load_cfg(cfg)
    ds = _split_dataset_cfg(cfg, split)
    ann = ds.get('ann_file', '')
    meta = osp.join(osp.dirname(ann), 'meta.json') if ann else ''
    return dict(kind='feature_cache', format=CACHE_FORMAT, split=split, dtype='float16',
                backbone_config=digest(cfg.model.backbone.to_dict()),
                data_preprocessor=digest(cfg.model.data_preprocessor.to_dict()),
                dataset_config=digest(ds),
                checkpoint=osp.basename(checkpoint) if checkpoint else 'none',
                checkpoint_sha256=sha256_file(checkpoint),
                data_meta_sha256=sha256_file(meta) if osp.isfile(meta) else 'none')


def _hint(cache_dir: str) -> str:
    return (f'Rebuild it: delete {cache_dir} (or pass rebuild=True / '
            '--rebuild-cache) and run build_feature_cache again.')


def build_feature_cache(cfg, checkpoint: str | None, cache_dir: str, split: str = 'val',
                        limit: int | None = None, device: str = 'cpu',
                        progress: bool = True, rebuild: bool = False) -> dict:
    """Extract and store the features (skipped if a matching cache exists)."""
    import torch
    from mmaction.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    cfg = _load_cfg(cfg)
    expected = cache_manifest(cfg, checkpoint, split)
    expected['limit'] = limit
    man_path = osp.join(cache_dir, 'manifest.json')
    if not rebuild and osp.isfile(man_path):
        return check_manifest(man_path, expected, 'feature cache', _hint(cache_dir))
    os.makedirs(cache_dir, exist_ok=True)
    if osp.exists(man_path):
        os.remove(man_path)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    from mmengine.config import ConfigDict
    model_cfg = ConfigDict(cfg.model.to_dict())
    model_cfg.pop('init_cfg', None)  # the checkpoint is loaded below
    model = MODELS.build(model_cfg)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=False,
                        logger='silent')
    model.to(device).eval()
    dataset = DATASETS.build(_split_dataset_cfg(cfg, split))
    n = len(dataset) if limit is None else min(limit, len(dataset))
    feats, index = None, []
    it = range(n)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=f'feature cache ({split})', unit='clip')
    with torch.no_grad():
        for i in it:
            data = model.data_preprocessor(pseudo_collate([dataset[i]]), False)
            x = model.extract_feat(data['inputs'].to(device))
            x = x[0] if isinstance(x, (tuple, list)) else x
            x = x[0].float().cpu().numpy().astype(np.float16)
            if feats is None:
                feats = np.lib.format.open_memmap(osp.join(cache_dir, 'features.npy'),
                                                  mode='w+', dtype=np.float16,
                                                  shape=(n, *x.shape))
            feats[i] = x
            ds = data['data_samples'][0]
            gt = ds.get('gt_instances')
            # copies: a numpy view of a packed tensor keeps its whole base buffer
            # alive (measured: ~3 MB per train clip, 23 GB and the OOM killer
            # after 4093 clips without them)
            index.append(dict(
                key=f"{ds.metainfo.get('video_id')},{int(ds.metainfo.get('timestamp')):04d}",
                proposals=_own(ds.proposals.bboxes) if 'proposals' in ds else None,
                gt_bboxes=_own(gt.bboxes) if gt is not None and 'bboxes' in gt else None,
                gt_labels=_own(gt.labels) if gt is not None and 'labels' in gt else None,
                img_shape=tuple(ds.metainfo.get('img_shape', ())),
                metainfo=_plain_metainfo(ds.metainfo)))
    if feats is not None:
        feats.flush()
        del feats
    with open(osp.join(cache_dir, 'index.pkl'), 'wb') as f:
        pickle.dump(index, f, protocol=4)
    man = dict(expected, num_clips=n)
    write_manifest(man_path, man)
    return man


@dataclass
class FeatureCache:
    features: np.ndarray   # (N, C, T, H, W) float16, memory-mapped
    index: list
    manifest: dict

    def __len__(self) -> int:
        return len(self.index)


def load_feature_cache(cache_dir: str, cfg, checkpoint: str | None, split: str = 'val',
                       limit: int | None = None) -> FeatureCache:
    """Open a cache, refusing it (:class:`StaleCacheError`) if it was built from
    another config, checkpoint or dataset than ``cfg`` / ``checkpoint``."""
    expected = cache_manifest(_load_cfg(cfg), checkpoint, split)
    expected['limit'] = limit
    man = check_manifest(osp.join(cache_dir, 'manifest.json'), expected,
                         'feature cache', _hint(cache_dir))
    feats = np.load(osp.join(cache_dir, 'features.npy'), mmap_mode='r')
    with open(osp.join(cache_dir, 'index.pkl'), 'rb') as f:
        index = safe_pickle_load(f)
    if len(index) != len(feats) or len(index) != man['num_clips']:
        raise StaleCacheError(f'feature cache at {cache_dir} is inconsistent: '
                              f'{len(feats)} feature rows, {len(index)} index rows, '
                              f'manifest says {man["num_clips"]}. {_hint(cache_dir)}')
    return FeatureCache(feats, index, man)
