"""Benchmark v2 suite (issue 19): ``python benchmarks/run.py --suite v2``.

Stages, each resumable (``<out>/state.json`` records what is done, with the
parameters it was done with; a stage whose parameters changed runs again):

1. ``data[d]``: benchmark v2 for each data seed ``d`` (train + val videos);
2. ``pretrain``: the tiny backbone on actor-centred clips of data seed 0's train
   videos (``stadl_plugins.benchmark.pretrain``, cached by its manifest);
3. ``cache``: frozen pretrained-backbone features of the val keyframe clips
   (``stadl_plugins.benchmark.feature_cache``; the head/neck blocks of later
   issues train on it);
4. ``stock[d,s]``: the stock detector (``configs/baseline/slowonly_..._synthetic-v2-rgb.py``)
   from the pretrained backbone, one run per training seed ``s`` on data seed 0
   and one per extra data seed; val detections saved; ``flow[src|s]``: the flow
   block's two-stream detector (``benchmarks/v2_flow.py``) with flow source
   ``src``, trained like ``stock[0,s]``, right after it (seed-major);
5. ``random[d]``: random scores on the same val proposals (the floor);
   ``reclnet_features[1]``, ``reclnet[1]``: the RecLNet block
   (``benchmarks/v2_reclnet.py``), cross-fitted -- the stock detector of data seed
   0 scores the person tracks of data seed 1, where RecLNet trains and is
   evaluated;
6. ``summary``: ``<out>/summary.json`` -- ``{"sanity": {...}, "blocks": {...}}``,
   every effect with its paired per-video bootstrap 95 % CI, and ``report.md``.

``--tiny`` shrinks everything (a few 8 s videos, 2 iterations) for the test;
``--scale`` multiplies the iteration counts (``--device cuda --scale 10`` on a
GPU); ``--time-budget`` (seconds, or ``90m`` / ``2h``) stops before a stage that
would start after the budget and writes the summary of what ran. Measured on
the 2-core CPU at ``--scale 0.25`` (docs/synthetic_benchmark.md): pretraining
6000 iterations took 35 min, one stock run 271-287 s; scale 1 (24000
pretraining iterations) does not fit the 2 h CPU target -- it is meant for a GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import pickle
import time

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
STOCK_CONFIG = osp.join(REPO, 'configs', 'baseline',
                        'slowonly_r18-tiny_4x2x1_synthetic-v2-rgb.py')
#: the sanity bars of issue 19 (printed, never asserted in unit tests)
BARS = dict(motion_class_ap=0.5, stock_frame_map=0.7, val_map_std_over_data_seeds=0.01)


def _safe_pickle_load(f):
    from stadl_plugins.safe_load import safe_pickle_load
    return safe_pickle_load(f)


def parse_budget(text) -> float | None:
    if text in (None, '', 'none'):
        return None
    t = str(text).strip().lower()
    mult = {'s': 1, 'm': 60, 'h': 3600}.get(t[-1])
    return float(t[:-1]) * mult if mult else float(t)


def plan(tiny: bool, scale: float) -> dict:
    """Sizes of every stage."""
    from v2_flow import CPU_SOURCES, TINY_SOURCES
    if tiny:
        return dict(num_train=2, num_val=2, min_seconds=8, max_seconds=8,
                    pretrain_iters=2, pretrain_batch=2, stock_iters=2, stock_batch=2,
                    seeds=[0, 1, 2], data_seeds=[0, 1], n_boot=50, cache_limit=4,
                    workers=0, head_iters=2, head_batch=2, reclnet_every=2,
                    reclnet_min_length=20, reclnet_epochs=1,
                    flow_sources=list(TINY_SOURCES))
    s = max(scale, 1e-6)
    return dict(num_train=240, num_val=120, min_seconds=30, max_seconds=60,
                pretrain_iters=int(24000 * s), pretrain_batch=32,
                stock_iters=int(2000 * s), stock_batch=8, seeds=[0, 1, 2],
                data_seeds=[0, 1, 2], n_boot=1000, cache_limit=None, workers=2,
                head_iters=int(4000 * s), head_batch=8, reclnet_every=2,
                reclnet_min_length=20, reclnet_epochs=max(1, int(round(80 * s))),
                flow_sources=list(CPU_SOURCES))


class State:
    """``state.json``: stage -> {params, result, seconds}."""

    def __init__(self, path: str, fresh: bool):
        self.path = path
        self.data = {}
        if not fresh and osp.isfile(path):
            with open(path) as f:
                self.data = json.load(f)

    def done(self, name: str, params: dict) -> bool:
        e = self.data.get(name)
        return bool(e) and e.get('params') == json.loads(json.dumps(params))

    def result(self, name: str):
        return self.data[name]['result']

    def record(self, name: str, params: dict, result, seconds: float):
        # stored JSON-normalised (tuples -> lists), as a later run reads it back, so
        # that done() is true for a stage recorded earlier in this same run
        self.data[name] = json.loads(json.dumps(dict(params=params, result=result,
                                                     seconds=round(seconds, 2))))
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


def _data_cfg(p: dict, seed: int):
    from stadl_plugins.datasets.synthetic import SyntheticV2Config, VideoConfigV2
    return SyntheticV2Config(seed=seed, num_train=p['num_train'], num_val=p['num_val'],
                             video=VideoConfigV2(min_seconds=p['min_seconds'],
                                                 max_seconds=p['max_seconds']))


def stock_config(root: str, meta: dict, checkpoint: str, work_dir: str, p: dict,
                 seed: int):
    """The stock v2 config for one training run (iteration based, no val loop)."""
    from mmengine.config import Config

    from stadl_plugins.utils import set_data_root
    cfg = Config.fromfile(STOCK_CONFIG)
    set_data_root(cfg, root)
    cfg.model.init_cfg.checkpoint = checkpoint
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.timestamp_end = meta['timestamp_end']
        cfg[dl].num_workers = p['workers']
        cfg[dl].persistent_workers = p['workers'] > 0
    cfg.train_dataloader.batch_size = p['stock_batch']
    n = p['stock_iters']
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=n, val_interval=10**9)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=max(1, min(200, n // 10))),
        dict(type='CosineAnnealingLR', T_max=n, eta_min=1e-5, by_epoch=False,
             begin=0, end=n)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=n,
                                        by_epoch=False, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = max(1, min(50, n))
    cfg.log_processor = dict(by_epoch=False)
    cfg.randomness = dict(seed=seed, diff_rank_seed=False, deterministic=False)
    cfg.work_dir = work_dir
    return cfg


def predict(model, dataset, class_ids, device: str, batch: int = 1) -> dict:
    """``{key: (boxes (n, 4) normalised, labels, scores)}`` on every val keyframe
    (AVARoIHead takes one sample per test batch)."""
    import torch
    from mmengine.dataset import pseudo_collate

    from stadl_plugins.benchmark.cached_heads import pack_detections
    model.to(device).eval()
    dets = {}
    with torch.no_grad():
        for b0 in range(0, len(dataset), batch):
            items = [dataset[i] for i in range(b0, min(len(dataset), b0 + batch))]
            for ds in model.test_step(pseudo_collate(items)):
                key, d = pack_detections(ds, class_ids)
                dets[key] = d
    return dets


def read_gt(ann_dir: str, split: str = 'val'):
    from stadl_plugins.datasets.ava_io import read_ava_csv, read_excluded_csv
    gt = {}
    for r in read_ava_csv(osp.join(ann_dir, f'{split}.csv')):
        key = f'{r.video_id},{r.timestamp:04d}'
        gt.setdefault(key, ([], []))
        gt[key][0].append(r.box)
        gt[key][1].append(r.action_id)
    gt = {k: (np.asarray(b, np.float64), np.asarray(l)) for k, (b, l) in gt.items()}
    return gt, read_excluded_csv(osp.join(ann_dir, f'{split}_excluded_timestamps.csv'))


def random_dets(proposals: dict, class_ids, seed: int, thr: float = 0.9) -> dict:
    """Random scores on the proposals the detector sees (score >= ``thr``)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key in sorted(proposals):
        p = proposals[key]
        p = p[p[:, 4] >= thr] if (p[:, 4] >= thr).any() else p[[int(np.argmax(p[:, 4]))]]
        n = len(p)
        out[key] = (np.repeat(p[:, :4].astype(np.float64), len(class_ids), 0),
                    np.tile(np.asarray(class_ids), n), rng.random(n * len(class_ids)))
    return out


def stage_list(p: dict, head_rows: list, track_blocks=(), flow_sources=()) -> list:
    """The run's stages in order, ``[(kind, arg)]``.

    Seed-major: training seed ``s`` of every row (the end-to-end stock detector,
    each cached head row of ``head_rows``, ``[(block, row)]``, and each
    two-stream row of the flow block, one per source in ``flow_sources``) comes
    before seed ``s + 1`` of any, so that a time budget cuts whole seeds and every row
    of a claim has the same number of seeds. Then the track blocks
    (``track_blocks``: ``'reclnet'``, cross-fitted on data seed 1, so only with a
    second data seed): its features, then its rows. The noise-floor replicates
    (stock on data seeds 1, 2) come last.
    """
    # the val feature cache is read only by the cached-head rows (and the
    # fine-tuned-vs-frozen comparison they make): a flow- or track-only run skips it
    # (4.5 min at --scale 0.25 on 2 cores)
    stages = ([('data', d) for d in p['data_seeds']] + [('pretrain', 0)]
              + ([('cache', 0)] if head_rows else [])
              # the ground-truth flow row reads the renderer's flow files
              + ([('flow_gt', 0)] if 'gt' in flow_sources else [])
              + [('random', d) for d in p['data_seeds']])
    for i, s in enumerate(p['seeds']):
        stages.append(('stock', (0, s)))
        if i == 0 and head_rows:
            stages.append(('cache_train', 0))
        stages += [('head', (b, row, s)) for b, row in head_rows]
        stages += [('flow', (src, s)) for src in flow_sources]
    if 'reclnet' in track_blocks and len(p['data_seeds']) > 1:
        stages += [('reclnet_features', 1), ('reclnet', 1)]
    return stages + [('stock', (d, 0)) for d in p['data_seeds'][1:]]


def run_suite(out: str, tiny: bool = False, scale: float = 1.0, device: str = 'cpu',
              time_budget: float | None = None, fresh: bool = False,
              data_root: str | None = None, progress: bool = True,
              blocks: list | None = None, isolate: bool | None = None,
              blocks_only: bool = False, data_seeds: list | None = None,
              flow_sources: list | None = None) -> dict:
    if device == 'cpu':
        os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
    from tqdm import tqdm
    from v2_blocks import BLOCKS, evaluate_block, slug
    from v2_flow import SOURCES, STOCK_ROW, check_sources, evaluate_flow_block, train_flow_row
    from v2_reclnet import TRACK_BLOCKS
    E2E_BLOCKS = ('flow',)  # trained end to end in their own stages

    import stadl_plugins  # noqa: F401
    from stadl_plugins.datasets.synthetic import (
        V2_CLASSES,
        V2_GROUPS,
        dataset_ready_v2,
        generate_synthetic_v2,
    )
    from stadl_plugins.evaluation.bootstrap import point_aps, rank_run
    t0 = time.time()
    p = plan(tiny, scale)
    if data_seeds is not None:  # e.g. [0]: block claims only, no noise-floor replicates
        if not data_seeds or data_seeds[0] != 0:
            raise ValueError(f'data_seeds must start with 0 (the seed every row trains '
                             f'on); got {data_seeds}')
        p['data_seeds'] = [int(d) for d in data_seeds]
    if flow_sources is not None:
        p['flow_sources'] = check_sources(flow_sources)
    not_run = {}
    if blocks is None:
        blocks = list(BLOCKS) + list(TRACK_BLOCKS) + list(E2E_BLOCKS)
        if len(p['data_seeds']) < 2:  # the track blocks are cross-fitted on data seed 1
            not_run = {b: 'needs a second data seed (--data-seeds 0 1)' for b in TRACK_BLOCKS}
            blocks = list(BLOCKS)
    elif len(p['data_seeds']) < 2 and any(b in TRACK_BLOCKS for b in blocks):
        raise ValueError(f'blocks {[b for b in blocks if b in TRACK_BLOCKS]} are cross-'
                         'fitted (detector on data seed 0, RecLNet on data seed 1): run '
                         'with --data-seeds 0 1')
    # every heavy stage in a fresh process (spawn) at full size: a 2 h run in one
    # process grew to 22 GB and was OOM-killed on the 24 GB CPU machine
    # (2026-12-02, in the first detector stage after data, pretraining and cache)
    isolate = (not tiny) if isolate is None else isolate
    call = _isolated if isolate else (lambda fn, *a, **k: fn(*a, **k))
    for b in blocks:
        if b not in BLOCKS and b not in TRACK_BLOCKS and b not in E2E_BLOCKS:
            raise ValueError(f'unknown v2 block {b!r}; known: '
                             f'{sorted(BLOCKS) + sorted(TRACK_BLOCKS) + list(E2E_BLOCKS)}')
    track_blocks = [b for b in blocks if b in TRACK_BLOCKS]
    run_flow = 'flow' in blocks
    blocks = [b for b in blocks if b in BLOCKS]  # the cached-feature blocks
    os.makedirs(out, exist_ok=True)
    work = osp.join(out, 'work')
    data_root = data_root or osp.join(work, 'data')
    state = State(osp.join(out, 'state.json'), fresh)
    stages = stage_list(p, _unique_rows(blocks), track_blocks,
                        p['flow_sources'] if run_flow else ())
    if blocks_only:  # e.g. a second process beside one that trains the stock rows
        stages = [st for st in stages if st[0] not in ('stock', 'random')]
    skipped, timings = [], {}
    class_ids = [c for c, _, _ in V2_CLASSES]
    names = {c: n for c, n, _ in V2_CLASSES}
    root_of = {d: osp.join(data_root, f'seed{d}') for d in p['data_seeds']}
    bar = tqdm(stages, desc='suite v2', unit='stage', disable=not progress)
    for kind, arg in bar:
        name = (f'head[{arg[0]}|{arg[1]}|{arg[2]}]' if kind == 'head'
                else f'flow[{arg[0]}|{arg[1]}]' if kind == 'flow'
                else f'{kind}[{arg}]')
        bar.set_postfix_str(name)
        if time_budget is not None and time.time() - t0 > time_budget:
            if name not in state.data:  # recorded by an earlier run: not skipped
                skipped.append(name)
            continue
        ts = time.time()
        if kind == 'data':
            cfg = _data_cfg(p, arg)
            params = dict(cfg.to_dict())
            if state.done(name, params) and dataset_ready_v2(root_of[arg], cfg):
                continue
            meta = call(generate_synthetic_v2, root_of[arg], cfg, progress=progress,
                        workers=None if not tiny else 1)
            state.record(name, params, dict(seconds_taken=meta['seconds_taken'],
                                            counts=meta['counts']), time.time() - ts)
        elif kind == 'pretrain':
            from stadl_plugins.benchmark.pretrain import pretrain
            params = dict(iters=p['pretrain_iters'], batch=p['pretrain_batch'],
                          data=state.data.get('data[0]', {}).get('params'))
            if state.done(name, params) and osp.isfile(
                    state.result(name)['checkpoint']):
                continue
            man = call(pretrain, root_of[0], osp.join(work, 'pretrain'),
                       max_iters=p['pretrain_iters'], batch_size=p['pretrain_batch'],
                       num_workers=p['workers'])
            state.record(name, params, dict(checkpoint=man['checkpoint'],
                                            sha256=man['checkpoint_sha256'],
                                            cached=man['cached']), time.time() - ts)
        elif kind in ('cache', 'cache_train'):
            from stadl_plugins.benchmark.feature_cache import build_feature_cache
            split = 'val' if kind == 'cache' else 'train'
            ckpt = state.result('pretrain[0]')['checkpoint']
            params = dict(sha=state.result('pretrain[0]')['sha256'],
                          limit=p['cache_limit'])
            cache_dir = osp.join(work, 'cache', split)
            if state.done(name, params) and osp.isfile(
                    osp.join(cache_dir, 'manifest.json')):
                continue
            cfg = stock_config(root_of[0], _meta(root_of[0]), ckpt,
                               osp.join(work, 'cache_cfg'), p, 0)
            # the suite owns cache_dir and its inputs changed (a new pretraining
            # checkpoint): rebuild rather than refuse the stale cache
            man = call(build_feature_cache, cfg, ckpt, cache_dir, split,
                       limit=p['cache_limit'], device=device, progress=progress,
                       rebuild=True)
            state.record(name, params, dict(num_clips=man['num_clips'],
                                            dir=cache_dir), time.time() - ts)
        elif kind == 'stock':
            d, s = arg
            ckpt = state.result('pretrain[0]')['checkpoint']
            params = dict(iters=p['stock_iters'], batch=p['stock_batch'],
                          pretrain=state.result('pretrain[0]')['sha256'])
            path = osp.join(work, f'stock_d{d}_s{s}', 'val_dets.pkl')
            if state.done(name, params) and osp.isfile(path):
                continue
            call(_train_and_predict, root_of[d], ckpt, osp.dirname(path), p, s,
                 class_ids, device, path)
            state.record(name, params, dict(dets=path), time.time() - ts)
        elif kind == 'head':
            b, row, s = arg
            ckpt = state.result('pretrain[0]')['checkpoint']
            overrides = BLOCKS[b]['rows'][row]
            params = dict(iters=p['head_iters'], batch=p['head_batch'],
                          pretrain=state.result('pretrain[0]')['sha256'],
                          overrides=json.loads(json.dumps(overrides, default=str)))
            path = osp.join(work, f'{b}_{slug(row)}_s{s}', 'val_dets.pkl')
            if state.done(name, params) and osp.isfile(path):
                continue
            info = call(_train_head_and_predict, root_of[0], ckpt, work, p, s, class_ids,
                        overrides, path, progress, device)
            state.record(name, params, dict(dets=path, **info), time.time() - ts)
        elif kind == 'flow_gt':
            from stadl_plugins.datasets.synthetic import flow_ready_v2, write_flow_v2
            cfg = _data_cfg(p, arg)
            params = dict(cfg.to_dict())
            if state.done(name, params) and flow_ready_v2(root_of[arg], cfg):
                continue
            man = call(write_flow_v2, root_of[arg], cfg, progress=progress,
                       workers=None if not tiny else 1)
            state.record(name, params, dict(bytes=man['bytes'],
                                            pairs=sum(man['flows'].values()),
                                            seconds_taken=man['seconds_taken']),
                         time.time() - ts)
        elif kind == 'flow':
            src, s = arg
            ckpt = state.result('pretrain[0]')['checkpoint']
            params = dict(iters=p['stock_iters'], batch=p['stock_batch'],
                          pretrain=state.result('pretrain[0]')['sha256'], source=src)
            path = osp.join(work, f'flow_{src}_s{s}', 'val_dets.pkl')
            if state.done(name, params) and osp.isfile(path):
                continue
            info = call(train_flow_row, root_of[0], ckpt, osp.dirname(path), p, s,
                        class_ids, device, path, src)
            state.record(name, params, dict(dets=path, **info), time.time() - ts)
        elif kind in ('reclnet_features', 'reclnet'):
            from v2_reclnet import extract_features, run_block
            stock = state.data.get('stock[(0, 0)]')
            if not stock or not osp.isfile(stock['result']['dets']):
                skipped.append(name)  # needs the detector of data seed 0
                continue
            det_dir = osp.dirname(stock['result']['dets'])
            det_ckpt = _last_checkpoint(det_dir)
            det_cfg = osp.join(det_dir, osp.basename(STOCK_CONFIG))
            feat_root = osp.join(work, f'reclnet_d{arg}')
            fparams = dict(stock=stock['params'], every=p['reclnet_every'],
                           min_length=p['reclnet_min_length'],
                           data=state.data.get(f'data[{arg}]', {}).get('params'))
            have = all(osp.isdir(osp.join(feat_root, sp)) for sp in ('train', 'val'))
            if kind == 'reclnet_features':
                if state.done(name, fparams) and have:
                    continue
                info = call(extract_features, root_of[arg], det_cfg, det_ckpt, feat_root,
                            every=p['reclnet_every'], min_length=p['reclnet_min_length'],
                            progress=progress, device=device)
                state.record(name, fparams, info, time.time() - ts)
            else:
                from v2_reclnet import DECISION_THRESHOLDS, PENALTIES, THETAS
                params = dict(features=fparams, epochs=p['reclnet_epochs'],
                              seeds=p['seeds'], n_boot=p['n_boot'],
                              grids=[PENALTIES, DECISION_THRESHOLDS, THETAS])
                path = osp.join(feat_root, 'block.json')
                if state.done(name, params) and osp.isfile(path):
                    continue
                if not (state.done(f'reclnet_features[{arg}]', fparams) and have):
                    skipped.append(name)
                    continue
                blk = call(run_block, feat_root,
                           osp.join(root_of[arg], 'annotations', 'synthetic_gt.pkl'),
                           det_ckpt, seeds=tuple(p['seeds']), epochs=p['reclnet_epochs'],
                           n_boot=p['n_boot'], plot_dir=out, progress=progress)
                with open(path, 'w') as f:
                    json.dump(blk, f, indent=1)
                state.record(name, params, dict(block=path), time.time() - ts)
        elif kind == 'random':
            params = dict(seed=arg)
            path = osp.join(work, f'random_d{arg}', 'val_dets.pkl')
            if not (state.done(name, params) and osp.isfile(path)):
                with open(osp.join(root_of[arg], 'annotations', 'proposals_val.pkl'),
                          'rb') as f:
                    props = _safe_pickle_load(f)
                os.makedirs(osp.dirname(path), exist_ok=True)
                with open(path, 'wb') as f:
                    pickle.dump(random_dets(props, class_ids, arg), f)
                state.record(name, params, dict(dets=path), time.time() - ts)
        timings[name] = round(time.time() - ts, 2)

    # ------------------------------------------------------------ summary
    def runs(prefix, keys):
        out_runs = []
        for d, key in keys:
            e = state.data.get(key)
            if not e or not osp.isfile(e['result']['dets']):
                continue
            gt, excl = read_gt(osp.join(root_of[d], 'annotations'))
            with open(e['result']['dets'], 'rb') as f:
                dets = _safe_pickle_load(f)
            out_runs.append((d, rank_run(gt, dets, class_ids, excluded=excl)))
        return out_runs

    stock0 = [r for _, r in runs('stock', [(0, f'stock[(0, {s})]') for s in p['seeds']])]
    stock_d = runs('stock', [(d, f'stock[({d}, 0)]') for d in p['data_seeds']])
    random0 = [r for _, r in runs('random', [(0, f'random[{d}]') for d in [0]])]
    sanity, out_blocks, block_names = {}, {}, blocks
    pre_man = osp.join(work, 'pretrain', 'manifest.json')
    if osp.isfile(pre_man):
        with open(pre_man) as f:
            heldout = json.load(f).get('heldout')
        if heldout:  # the pretraining task on the val videos, per movement
            sanity['pretrain_heldout'] = heldout
    if stock0:
        aps = [point_aps(r, names) for r in stock0]
        class_ap = {n: float(np.nanmean([a[n] for a in aps])) for n in names.values()}
        sanity['stock_class_ap'] = class_ap
        sanity['stock_frame_map'] = float(np.nanmean(list(class_ap.values())))
        sanity['stock_seeds'] = len(stock0)
    if random0:
        ra = point_aps(random0[0], names)
        sanity['random_frame_map'] = float(np.nanmean(list(ra.values())))
        sanity['random_class_ap'] = ra
    if len(stock_d) >= 2:
        maps = [float(np.nanmean(list(point_aps(r, names).values()))) for _, r in stock_d]
        sanity['val_map_std_over_data_seeds'] = float(np.std(maps, ddof=1))
        sanity['val_map_over_data_seeds'] = maps
    if 'stock_class_ap' in sanity:
        motion = [n for n in V2_GROUPS['motion']]
        sanity['bars'] = dict(
            motion_classes_ge_0_5=all(sanity['stock_class_ap'][n] >= BARS['motion_class_ap']
                                      for n in motion),
            frame_map_ge_0_7=sanity['stock_frame_map'] >= BARS['stock_frame_map'],
            stock_above_random=sanity['stock_frame_map'] > sanity.get(
                'random_frame_map', float('inf')),
            # None: not measured in this run (fewer than two data seeds)
            std_le_0_01=(None if 'val_map_std_over_data_seeds' not in sanity else
                         sanity['val_map_std_over_data_seeds']
                         <= BARS['val_map_std_over_data_seeds']))
    # one exact bootstrap cache for the whole summary: the stock rows enter
    # stock_vs_random, finetuned_vs_frozen and the flow block, the cached stock
    # head every cached-feature block
    boot_cache = {}
    if stock0 and random0:
        # the machinery on a known answer: the stock row against the random floor
        out_blocks['stock_vs_random'] = _pair_block(
            stock0, random0, 'stock', 'random', 'stock > random scores', names,
            V2_GROUPS, p['n_boot'], cache=boot_cache)
    block_runs = {}  # {block: {row: [RankedRun per seed]}}, loaded once
    for b in block_names:
        block_runs[b] = {}
        for row in BLOCKS[b]['rows']:
            cb, crow = _canonical_row(block_names, b, row)
            keys = [(0, f'head[{cb}|{crow}|{s}]') for s in p['seeds']]
            block_runs[b][row] = [r for _, r in runs('head', keys)]
    # the stock head on the frozen-backbone cache, from the first block that has it
    frozen = next((rr['stock'] for rr in block_runs.values() if 'stock' in rr), [])
    if stock0 and frozen:
        # does end-to-end fine-tuning (backbone at the detector's lr) beat the
        # frozen pretrained backbone with only the RoI head trained on the cache?
        out_blocks['finetuned_vs_frozen'] = _pair_block(
            stock0, frozen, 'stock, fine-tuned end to end',
            'stock head on the frozen-backbone cache',
            'fine-tuning the backbone helps', names, V2_GROUPS, p['n_boot'],
            cache=boot_cache)
    for b, runs_by_row in block_runs.items():
        if any(runs_by_row.values()):
            out_blocks[b] = evaluate_block(b, runs_by_row, names, V2_GROUPS,
                                           n_boot=p['n_boot'], cache=boot_cache)
    if run_flow:  # the two-stream rows against each other and the stock stage
        flow_runs = {STOCK_ROW: stock0}
        for src, row in SOURCES.items():
            flow_runs[row] = [r for _, r in runs('flow', [(0, f'flow[{src}|{s}]')
                                                          for s in p['seeds']])]
        if any(flow_runs.values()):
            out_blocks['flow'] = evaluate_flow_block(flow_runs, names, V2_GROUPS,
                                                     p['n_boot'], p['flow_sources'],
                                                     cache=boot_cache)
    for b in track_blocks:  # evaluated in their own stage (v2_reclnet.run_block)
        e = state.data.get(f'{b}[1]')
        if e and osp.isfile(e['result']['block']):
            with open(e['result']['block']) as f:
                out_blocks[b] = json.load(f)
    summary = dict(sanity=sanity, blocks=out_blocks,
                   meta=dict(tiny=tiny, scale=scale, device=device, plan=p,
                             skipped=skipped, not_run=not_run, stage_seconds=timings,
                             seconds=round(time.time() - t0, 1),
                             complete=not skipped))
    with open(osp.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    with open(osp.join(out, 'report.md'), 'w') as f:
        f.write(report_md(summary))
    return summary


def _child(conn, fn, args, kwargs):
    try:
        conn.send(('ok', fn(*args, **kwargs)))
    except BaseException as e:  # noqa: BLE001 -- reported to the parent
        import traceback
        conn.send(('error', f'{type(e).__name__}: {e}\n{traceback.format_exc()}'))
    finally:
        conn.close()


def _isolated(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a spawned process; its memory goes back to the
    OS when the stage ends. Errors are re-raised here with the child's traceback."""
    import multiprocessing as mp
    ctx = mp.get_context('spawn')
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args, kwargs))
    proc.start()
    child.close()
    try:
        status, value = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f'stage {fn.__name__} died (exit code {proc.exitcode}; '
                           '-9 is usually the OOM killer)') from None
    proc.join()
    if status == 'error':
        raise RuntimeError(f'stage {fn.__name__} failed in its process:\n{value}')
    return value


def _pair_block(a_runs, b_runs, a_name, b_name, claim, names, groups, n_boot,
                cache: dict | None = None) -> dict:
    """A two-row block: row ``a`` against row ``b`` with the paired per-video
    bootstrap, one claim ``a > b`` per group and overall."""
    from v2_blocks import claim_verdict

    from stadl_plugins.evaluation.bootstrap import paired_bootstrap
    res = paired_bootstrap(a_runs, b_runs, names, groups=groups, n_boot=n_boot, seed=0,
                           cache=cache)
    rows = [dict(row=a_name, seeds=len(a_runs), mAP=res['overall']['method'],
                 **{g: res['per_group'][g]['method'] for g in res['per_group']}),
            dict(row=b_name, seeds=len(b_runs), mAP=res['overall']['stock'],
                 **{g: res['per_group'][g]['stock'] for g in res['per_group']})]
    claims = []
    for g, e in [('mAP', res['overall'])] + list(res['per_group'].items()):
        claims.append(dict(claim=f'{claim} ({g})', effect=e['effect'], ci95=e['ci95'],
                           verdict=claim_verdict('better', *e['ci95'])))
    return dict(rows=rows, claims=claims, per_class=res['per_class'],
                seeds=res['seeds'], n_boot=res['n_boot'], videos=res['videos'])


def _rows_key(overrides: dict) -> str:
    return json.dumps(overrides, sort_keys=True, default=str)


def _canonical_row(blocks: list, block: str, row: str) -> tuple[str, str]:
    """The first (block, row) with the same overrides: identical configs (e.g.
    every block's stock row) are trained once and shared."""
    from v2_blocks import BLOCKS
    want = _rows_key(BLOCKS[block]['rows'][row])
    for b in blocks:
        for r, ov in BLOCKS[b]['rows'].items():
            if _rows_key(ov) == want:
                return b, r
    return block, row


def _unique_rows(blocks: list) -> list:
    from v2_blocks import BLOCKS
    out = []
    for b in blocks:
        for r in BLOCKS[b]['rows']:
            if _canonical_row(blocks, b, r) == (b, r):
                out.append((b, r))
    return out


def _meta(root: str) -> dict:
    with open(osp.join(root, 'annotations', 'meta.json')) as f:
        return json.load(f)


def train_and_dump(cfg, class_ids, device, path):
    """Train ``cfg`` with mmengine's Runner, write its detections on the
    test set to ``path`` (a pickle of :func:`predict`'s dict) and return the
    trained model."""
    from mmaction.registry import DATASETS
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    dets = predict(runner.model, DATASETS.build(cfg.test_dataloader.dataset), class_ids,
                   device)
    with open(path, 'wb') as f:
        pickle.dump(dets, f)
    return runner.model


def _train_and_predict(root, ckpt, work_dir, p, seed, class_ids, device, path):
    train_and_dump(stock_config(root, _meta(root), ckpt, work_dir, p, seed), class_ids,
                   device, path)


def _last_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine's Runner saved last in ``work_dir``."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    if not osp.isabs(path) or not osp.isfile(path):
        path = osp.join(work_dir, osp.basename(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'{work_dir}/last_checkpoint names {path}, which is missing')
    return path


def _backbone_overrides(overrides: dict | None) -> dict:
    """The ``model.backbone.*`` part of a row's overrides (what changes its cache)."""
    return {k: v for k, v in (overrides or {}).items() if k.startswith('model.backbone')}


def cache_root_for(work: str, overrides: dict | None) -> str:
    """The feature-cache folder of a cached row: ``work/cache`` unless the row
    overrides the backbone (``model.backbone.*``, which changes the cached
    features), then ``work/cache_<digest of those overrides>``."""
    import hashlib
    bb = _backbone_overrides(overrides)
    if not bb:
        return osp.join(work, 'cache')
    return osp.join(work, 'cache_' + hashlib.sha256(_rows_key(bb).encode()).hexdigest()[:10])


def _ensure_variant_cache(cfg, ckpt, cache_root, p, progress, device: str = 'cpu') -> None:
    """Build (or reuse) the train and val caches of a backbone variant; a stale
    one (its manifest's config or checkpoint changed) is rebuilt, never refused."""
    from stadl_plugins.benchmark.feature_cache import build_feature_cache
    from stadl_plugins.benchmark.manifest import StaleCacheError
    for split in ('train', 'val'):
        d = osp.join(cache_root, split)
        try:
            build_feature_cache(cfg, ckpt, d, split, limit=p['cache_limit'],
                                device=device, progress=progress)
        except StaleCacheError:  # the suite owns this folder: rebuild, never refuse
            build_feature_cache(cfg, ckpt, d, split, limit=p['cache_limit'],
                                device=device, progress=progress, rebuild=True)


def _train_head_and_predict(root, ckpt, work, p, seed, class_ids, overrides, path,
                            progress, device: str = 'cpu') -> dict:
    """One row of a cached block: the stock v2 config + ``overrides``, its neck /
    RoI head trained on the train cache, detections on the val cache."""
    from stadl_plugins.benchmark.cached_heads import predict_on_cache, train_on_cache
    from stadl_plugins.benchmark.feature_cache import load_feature_cache
    meta = _meta(root)
    cfg = stock_config(root, meta, ckpt, osp.dirname(path), p, seed)
    if overrides:
        cfg.merge_from_dict(overrides)
    cache_root = cache_root_for(work, overrides)
    if cache_root != osp.join(work, 'cache'):
        # a row that changes the backbone (e.g. the RoI feature from another
        # stage) has its own cache, built here by its first row and reused after,
        # from the stock config plus only the backbone overrides (extract_feat
        # would run a row's neck too; the cache must hold backbone features)
        cache_cfg = stock_config(root, meta, ckpt, osp.dirname(path), p, seed)
        cache_cfg.merge_from_dict(_backbone_overrides(overrides))
        _ensure_variant_cache(cache_cfg, ckpt, cache_root, p, progress, device)
    train = load_feature_cache(osp.join(cache_root, 'train'), cfg, ckpt, 'train',
                               limit=p['cache_limit'])
    val = load_feature_cache(osp.join(cache_root, 'val'), cfg, ckpt, 'val',
                             limit=p['cache_limit'])
    model = train_on_cache(cfg, train, iters=p['head_iters'], batch_size=p['head_batch'],
                           seed=seed, progress=progress)
    dets = predict_on_cache(model, val, class_ids, progress=progress)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        pickle.dump(dets, f)
    return model.cache_train_info


def report_md(summary: dict) -> str:
    s = summary['sanity']
    out = ['## Benchmark v2 (issue 19)', '',
           f"_plan: {json.dumps(summary['meta']['plan'])}; complete: "
           f"{summary['meta']['complete']}; skipped: {summary['meta']['skipped']}_", '']
    if 'stock_class_ap' in s:
        out += ['| class | stock AP | random AP |', '|---|---|---|']
        for n, v in s['stock_class_ap'].items():
            out.append(f"| {n} | {v:.3f} | {s.get('random_class_ap', {}).get(n, float('nan')):.3f} |")
        out += ['', f"stock frame-mAP {s['stock_frame_map']:.3f} "
                f"(random {s.get('random_frame_map', float('nan')):.3f}); "
                f"std over data seeds {s.get('val_map_std_over_data_seeds', float('nan')):.4f}; "
                f"bars {s.get('bars')}", '']
    if s.get('pretrain_heldout'):
        h = s['pretrain_heldout']
        out += [f"pretraining, held-out val movements ({h['num_clips']} clips): top-1 "
                f"{h['top1']:.3f}, mean per-class accuracy {h['mean_class_acc']:.3f}", '',
                '| movement | clips | accuracy |', '|---|---|---|']
        for v in h['classes']:
            acc = '-' if v['acc'] is None else f"{v['acc']:.3f}"
            out.append(f"| {v['name']} | {v['n']} | {acc} |")
        out.append('')
    for name, b in summary['blocks'].items():
        out += [f'### {name}', '']
        if b.get('paper'):
            out += [f"_{b['paper']}_", '']
        cols = [c for c in ('mAP', 'motion', 'in_box_motion', 'order', 'context', 'others')
                if any(c in r for r in b['rows'])]
        if cols and 'seeds' in b['rows'][0]:
            out += ['| row | seeds | ' + ' | '.join(cols) + ' |',
                    '|---|---|' + '---|' * len(cols)]
            for r in b['rows']:
                out.append(f"| {r['row']} | {r['seeds']} | " + ' | '.join(
                    f"{r[c]:.3f}" if c in r else '-' for c in cols) + ' |')
            out.append('')
        if b['rows'] and 'segment_cls_map' in b['rows'][0]:  # the RecLNet block
            from v2_reclnet import report_rows_md
            out += report_rows_md(b)
        out += ['| claim | effect | 95 % CI | verdict |', '|---|---|---|---|']
        for c in b['claims']:
            if c['effect'] is None:
                why = f" ({c['reason']})" if c.get('reason') else ''
                out.append(f"| {c['claim']} | - | - | {c['verdict']}{why} |")
                continue
            why = (f" (likely: {c['reason']}; test: {c['experiment']})"
                   if c.get('reason') and c['verdict'] != 'reproduced' else '')
            out.append(f"| {c['claim']} | {c['effect']:+.3f} | "
                       f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] | {c['verdict']}{why} |")
        out.append('')
    return '\n'.join(out) + '\n'


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--tiny', action='store_true', help='v2: tiny sizes (tests)')
    p.add_argument('--scale', type=float, default=1.0,
                   help='v2: multiply the iteration counts (GPU: 10)')
    p.add_argument('--device', default='cpu', help='v2: cpu or cuda')
    p.add_argument('--time-budget', default=None,
                   help='v2: stop starting stages after this (s, or 90m, 2h)')
    p.add_argument('--fresh', action='store_true', help='v2: ignore state.json')
    p.add_argument('--data-root', default=None, help='v2: where the data go')
    p.add_argument('--blocks-only', action='store_true',
                   help='v2: skip the stock and random stages (run the blocks beside '
                   'another process that trains them; merge the state files after)')
    p.add_argument('--in-process', action='store_true',
                   help='v2: run every stage in this process (default: a fresh '
                   'process per heavy stage unless --tiny)')
    p.add_argument('--data-seeds', nargs='+', type=int, default=None,
                   help='v2: data seeds (default 0 1 2; 0 alone skips the noise-floor '
                        'replicates, and the std bar reads None: not measured)')
    p.add_argument('--flow-sources', nargs='+', default=None,
                   help='v2: flow block rows by flow source (zero frame_difference '
                   'farneback dis tvl1; default: the plan\'s zero frame_difference dis)')
    p.add_argument('--blocks', nargs='*', default=None,
                   help='v2: ablation blocks to run (default: all; none: sanity only)')


def main_from_args(a, out: str) -> dict:
    summary = run_suite(out, tiny=a.tiny, scale=a.scale, device=a.device,
                        time_budget=parse_budget(a.time_budget), fresh=a.fresh,
                        data_root=a.data_root, blocks=a.blocks,
                        isolate=False if a.in_process else None,
                        blocks_only=a.blocks_only, data_seeds=a.data_seeds,
                        flow_sources=a.flow_sources)
    print(json.dumps(summary['sanity'], indent=1))
    print(f"[benchmarks] v2 summary written to {osp.join(out, 'summary.json')}")
    return summary
