"""Fuse several models' AVA predictions (Jiang et al. 2018, Sec. II-B).

    python tools/analysis/fuse_predictions.py a.pkl b.pkl c.pkl --out fused.pkl \
        [--mode topk_logit|mean_logit|mean_prob] [--k K] [--csv fused.csv] \
        [--eval-config CONFIG]

Inputs are ``tools/test.py CONFIG CKPT --dump preds.pkl`` files of models run on the
same keyframes and proposals. The fused pickle has the same layout (so it can be
fused, evaluated or exported again); ``--csv`` writes AVA detection rows;
``--eval-config`` evaluates the fused predictions with that config's
``test_evaluator`` and prints the metrics.
"""
import argparse
import json
import os
import pickle
import sys

import stadl_plugins  # noqa: F401
from stadl_plugins.evaluation import evaluate_samples, fuse_predictions, load_dump, write_ava_csv
from stadl_plugins.evaluation.fusion import MODES


def main(argv=None):
    p = argparse.ArgumentParser(description='Fuse AVA predictions of several models')
    p.add_argument('dumps', nargs='+', help='prediction pickles from tools/test.py --dump')
    p.add_argument('--out', required=True, help='fused prediction pickle')
    p.add_argument('--mode', choices=MODES, default='topk_logit',
                   help='mean of the top-k logits (default), of all logits, or of '
                   'the probabilities, per (box, class)')
    p.add_argument('--k', type=int, default=None, help='top-k (default n//2)')
    p.add_argument('--csv', help='also write AVA detection CSV rows here')
    p.add_argument('--action-thr', type=float, default=0.002,
                   help='drop (box, class) rows below this score in the CSV')
    p.add_argument('--eval-config', help='evaluate with this config\'s test_evaluator')
    a = p.parse_args(argv)
    runs = [load_dump(d) for d in a.dumps]
    fused = fuse_predictions(runs, a.mode, a.k, names=a.dumps)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, 'wb') as f:
        pickle.dump(fused, f)
    print(f'fused {len(a.dumps)} runs ({a.mode}) over {len(fused)} keyframes -> {a.out}')
    if a.csv:
        write_ava_csv(fused, a.csv, action_thr=a.action_thr)
        print(f'AVA rows written to {a.csv}')
    if a.eval_config:
        from mmengine.config import Config
        cfg = Config.fromfile(a.eval_config)
        ev = cfg.test_evaluator
        ev = [e for e in (ev if isinstance(ev, list) else [ev])
              if e['type'] != 'DumpResults'][0]
        metrics = evaluate_samples(fused, ev)
        print(json.dumps({k: float(v) for k, v in metrics.items()}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
