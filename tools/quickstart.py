"""The main job: generate the synthetic benchmark, train the stock baseline, test it.

    python tools/quickstart.py [--config CFG] [--data-root data/synthetic]
        [--work-dir work_dirs/quickstart] [--seed 0] [--cfg-options k=v ...]

Steps: (1) generate ``--data-root`` if it is missing or was made with other
parameters; (2) train ``--config`` with mmengine's Runner; (3) test the final
weights with ``AVAMetric`` (frame-mAP@0.5 over the label map's classes); (4) score
the *same* boxes with uniformly random class scores through the same metric, the
floor a model has to beat; (5) print both and write ``summary.json`` to the work
dir.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np
import torch

import stadl_plugins  # noqa: F401  (plugins + stack fixes)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from stadl_plugins.datasets.synthetic import SyntheticConfig, dataset_ready, \
    generate_synthetic
from stadl_plugins.evaluation import evaluate_samples, load_dump
from stadl_plugins.utils import set_data_root

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(ROOT, 'configs', 'baseline',
                          'slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py')


def random_score_baseline(dump_file: str, evaluator_cfg: dict, seed: int = 0) -> dict:
    """mAP of the dumped predictions' boxes with uniform random class scores."""
    rng = np.random.default_rng(seed)
    randomized = []
    for s in load_dump(dump_file):
        pred = dict(s['pred_instances'])
        pred['scores'] = torch.from_numpy(
            rng.uniform(size=tuple(pred['scores'].shape)).astype(np.float32))
        randomized.append(dict(s, pred_instances=pred))
    return evaluate_samples(randomized, evaluator_cfg)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=DEFAULT_CONFIG,
                   help='config to train (default: the stock SlowOnly baseline)')
    p.add_argument('--data-root', default='data/synthetic',
                   help='synthetic data folder (generated when missing or stale)')
    p.add_argument('--work-dir', default='work_dirs/quickstart',
                   help='logs, checkpoints, predictions and summary.json')
    p.add_argument('--seed', type=int, default=0, help='training seed')
    p.add_argument('--data-seed', type=int, default=0,
                   help='seed of the generated synthetic data')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config keys, KEY=VALUE')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    data_cfg = SyntheticConfig(seed=args.data_seed)
    if dataset_ready(args.data_root, data_cfg):
        print(f'[quickstart] synthetic data found in {args.data_root}')
    else:
        print(f'[quickstart] generating the synthetic benchmark in {args.data_root}')
        meta = generate_synthetic(args.data_root, data_cfg)
        print(f"[quickstart] generated in {meta['seconds_taken']} s: "
              f"{json.dumps(meta['counts'])}")
    t_data = time.time() - t0

    cfg = Config.fromfile(args.config)
    set_data_root(cfg, args.data_root)
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed, deterministic=False)
    dump = osp.join(args.work_dir, 'predictions.pkl')
    cfg.test_evaluator = [cfg.test_evaluator, dict(type='DumpResults',
                                                   out_file_path=dump)]
    # Time the quickstart does not need (docs/synthetic_benchmark.md, "Where the
    # quickstart's time goes"); neither changes the trained weights or the mAP:
    # - no validation pass inside runner.train(): the config validates once, after
    #   the last epoch, on the val split that runner.test() evaluates right after
    #   with the same weights (each pass is ~10 % of the run: batch-1 inference);
    # - one checkpoint, the final one (save_last), instead of one per epoch.
    # Either comes back with --cfg-options train_cfg.val_begin=N /
    # default_hooks.checkpoint.interval=N.
    cfg.train_cfg.val_begin = cfg.train_cfg.max_epochs + 1
    cfg.default_hooks.checkpoint.interval = -1
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
        if 'train_cfg.val_begin' not in args.cfg_options:
            cfg.train_cfg.val_begin = cfg.train_cfg.max_epochs + 1
    evaluator_cfg = cfg.test_evaluator[0]

    runner = Runner.from_cfg(cfg)
    t1 = time.time()
    runner.train()
    t_train = time.time() - t1
    metrics = runner.test()
    # AVAFrameAPMetric reports per-class AP as 'mAP/per_class/<id>:<name>'; stock
    # AVAMetric only prints its table, which evaluate_samples reads back.
    per_class = {k.rsplit(':', 1)[1]: round(float(v), 4) for k, v in metrics.items()
                 if k.startswith('mAP/per_class/')}
    if not per_class:
        per_class = evaluate_samples(load_dump(dump), evaluator_cfg,
                                     per_class=True)['per_class']
    rand = random_score_baseline(dump, evaluator_cfg, seed=args.seed)

    key = 'mAP/overall'
    model_map = float(metrics[key])
    rand_map = float(rand['overall'])
    summary = dict(config=osp.relpath(args.config, ROOT) if args.config.startswith(ROOT)
                   else args.config,
                   frame_mAP=model_map, random_scores_frame_mAP=rand_map,
                   metrics={k: float(v) for k, v in metrics.items()},
                   per_class_AP=per_class,
                   random_metrics={k: float(v) for k, v in rand.items()},
                   seconds=dict(data=round(t_data, 1), train=round(t_train, 1),
                                total=round(time.time() - t0, 1)),
                   seed=args.seed, data_seed=args.data_seed)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print('\n' + '=' * 64)
    print(f'frame-mAP@0.5 (AVAFrameAPMetric = AVAMetric) on the synthetic val set, {args.config}')
    print(f'  trained model            : {model_map:.4f}')
    print(f'  random scores, same boxes: {rand_map:.4f}')
    print('  per-class AP (model): ' + ', '.join(f'{k} {v:.3f}'
                                                for k, v in per_class.items()))
    print(f'  train time {t_train:.0f} s, total {time.time() - t0:.0f} s; '
          f'summary in {osp.join(args.work_dir, "summary.json")}')
    print('=' * 64)
    return summary


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
