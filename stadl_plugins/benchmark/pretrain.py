"""Pretraining stage of benchmark v2: one command, cached, deterministic per seed.

    python -m stadl_plugins.benchmark.pretrain --data-root data/synthetic_v2 \
        [--out work_dirs/synthetic_v2/pretrain] [--seed 0] [--max-iters 3000]

trains the tiny SlowOnly-R18 backbone on actor-centred movement clips of the
**train** videos (``configs/baseline/pretrain_r18-tiny_actor-clips_synthetic-v2.py``)
and writes ``<out>/backbone_pretrained.pth`` -- an mmengine checkpoint
(``state_dict`` with ``backbone.*`` and ``cls_head.*`` keys, ``meta``) that every
v2 detector config loads with ``init_cfg=dict(type='Pretrained', checkpoint=...)``
-- and ``<out>/manifest.json`` (config digest, data digest, seed, checkpoint
hash). A second call with the same inputs returns the cached checkpoint.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil

from .manifest import StaleCacheError, check_manifest, digest, sha256_file, write_manifest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'baseline',
                          'pretrain_r18-tiny_actor-clips_synthetic-v2.py')
CHECKPOINT_NAME = 'backbone_pretrained.pth'


def pretrain_config(config: str, data_root: str, work_dir: str, seed: int = 0,
                    max_iters: int | None = None, batch_size: int | None = None,
                    num_workers: int | None = None):
    """The pretraining config pointed at ``data_root`` (an ``mmengine.Config``)."""
    from mmengine.config import Config

    from ..utils import set_data_root
    cfg = Config.fromfile(config)
    set_data_root(cfg, data_root)
    if max_iters is not None:
        cfg.train_cfg.max_iters = int(max_iters)
        warm = min(100, max(1, int(max_iters) // 10))
        cfg.param_scheduler = [
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warm),
            dict(type='CosineAnnealingLR', T_max=int(max_iters), eta_min=1e-5,
                 by_epoch=False, begin=0, end=int(max_iters))]
        cfg.default_hooks.checkpoint.interval = int(max_iters)
    if batch_size is not None:
        cfg.train_dataloader.batch_size = int(batch_size)
    if num_workers is not None:
        for dl in ('train_dataloader', 'test_dataloader'):
            if cfg.get(dl):
                cfg[dl].num_workers = int(num_workers)
                cfg[dl].persistent_workers = int(num_workers) > 0
    cfg.randomness = dict(seed=int(seed), diff_rank_seed=False, deterministic=False)
    cfg.work_dir = work_dir
    return cfg


def train_ann_file(cfg) -> str:
    return cfg.train_dataloader.dataset.ann_file


def ensure_movement_frames(cfg, data_root: str) -> None:
    """Backfill ``movement_frames_{train,val}.csv`` into a v2 dataset generated
    before the generator wrote them (no re-rendering; same bytes)."""
    ann = train_ann_file(cfg)
    if osp.basename(ann).startswith('movement_frames_') and not osp.isfile(ann):
        from ..datasets.synthetic.generator_v2 import write_movement_frames
        write_movement_frames(data_root, progress=False)


def expected_manifest(cfg, data_root: str) -> dict:
    d = cfg.to_dict()
    d.pop('work_dir', None)
    ann = osp.join(data_root, 'annotations')
    return dict(kind='pretrain', config=digest(d),
                data=digest([sha256_file(osp.join(ann, 'meta.json')),
                             sha256_file(train_ann_file(cfg))]),
                seed=cfg.randomness['seed'])


def heldout_accuracy(dump_file: str, classes) -> dict:
    """Top-1, per-class and mean per-class accuracy of the pretraining task on the
    held-out (val) clips, from mmengine's ``DumpResults`` file. The top-1 alone
    hides a model that predicts the majority movement everywhere (``stand`` is
    ~half the rows); the per-class numbers do not."""
    import numpy as np
    from mmengine.fileio import load
    res = load(dump_file)
    gt = np.array([int(r['gt_label']) for r in res])
    pred = np.array([int(np.argmax(np.asarray(r['pred_score']))) for r in res])
    per = []  # a list, in class order (manifests are written with sorted keys)
    for k, name in enumerate(classes):
        n = int((gt == k).sum())
        per.append(dict(name=name, n=n,
                        acc=float((pred[gt == k] == k).mean()) if n else None))
    accs = [v['acc'] for v in per if v['acc'] is not None]
    return dict(num_clips=int(len(gt)), top1=float((pred == gt).mean()),
                mean_class_acc=float(np.mean(accs)), classes=per)


def pretrain(data_root: str, out_dir: str, config: str = DEFAULT_CONFIG, seed: int = 0,
             max_iters: int | None = None, batch_size: int | None = None,
             num_workers: int | None = None, force: bool = False) -> dict:
    """Run (or reuse) the pretraining stage; returns the manifest (``checkpoint``,
    ``checkpoint_sha256``, ``cached``)."""
    os.makedirs(out_dir, exist_ok=True)
    cfg = pretrain_config(config, data_root, osp.join(out_dir, 'run'), seed, max_iters,
                          batch_size, num_workers)
    ensure_movement_frames(cfg, data_root)
    expected = expected_manifest(cfg, data_root)
    man_path = osp.join(out_dir, 'manifest.json')
    ckpt = osp.join(out_dir, CHECKPOINT_NAME)
    if not force and osp.isfile(ckpt):
        try:
            found = check_manifest(man_path, expected, 'pretrained backbone', '')
            if found.get('checkpoint_sha256') == sha256_file(ckpt):
                return dict(found, checkpoint=ckpt, cached=True)
        except StaleCacheError:
            pass  # inputs changed: train again
    from mmengine.runner import Runner
    dump = osp.join(cfg.work_dir, 'heldout_predictions.pkl')
    has_test = cfg.get('test_dataloader') is not None
    if has_test:
        evals = cfg.test_evaluator
        evals = list(evals) if isinstance(evals, (list, tuple)) else [evals]
        cfg.test_evaluator = evals + [dict(type='DumpResults', out_file_path=dump)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    last = osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    if not osp.isfile(last):
        raise FileNotFoundError(f'pretraining finished without {last}')
    shutil.copyfile(last, ckpt)
    heldout = None
    if has_test:
        runner.test()
        heldout = heldout_accuracy(dump, runner.test_dataloader.dataset.metainfo['classes'])
    man = dict(expected, checkpoint_sha256=sha256_file(ckpt),
               max_iters=cfg.train_cfg.max_iters, heldout=heldout)
    write_manifest(man_path, man)
    return dict(man, checkpoint=ckpt, cached=False)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', default='data/synthetic_v2')
    p.add_argument('--out', default='work_dirs/synthetic_v2/pretrain')
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--max-iters', type=int, default=None)
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--num-workers', type=int, default=None)
    p.add_argument('--force', action='store_true', help='retrain even if cached')
    a = p.parse_args(argv)
    man = pretrain(a.data_root, a.out, a.config, a.seed, a.max_iters, a.batch_size,
                   a.num_workers, a.force)
    print(('cached: ' if man['cached'] else 'written: ') + man['checkpoint'])


if __name__ == '__main__':
    main()
