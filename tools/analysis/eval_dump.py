"""Evaluate dumped predictions offline with any registered metric.

    python tools/test.py CONFIG CKPT --dump preds.pkl
    # the config's own test_evaluator (AVA frame-mAP, or frame/video-mAP):
    python tools/analysis/eval_dump.py preds.pkl CONFIG
    # the ActivityNet protocol on the same predictions:
    python tools/analysis/eval_dump.py preds.pkl CONFIG \
        --metric AVAFrameAPMetric --options protocol=activitynet
    # save per-class APs (and plot them with tools/analysis/visualize.py ap):
    python tools/analysis/eval_dump.py preds.pkl CONFIG --out results.json
"""
import argparse
import json
import sys

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import stadl_plugins  # noqa: F401
from stadl_plugins.evaluation import evaluate_samples, load_dump


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('dump', help='prediction pickle from tools/test.py --dump')
    p.add_argument('config', help='config whose test_evaluator (files) to use')
    p.add_argument('--metric', help="metric type replacing the evaluator's, e.g. "
                   'AVAFrameAPMetric (other arguments are kept)')
    p.add_argument('--options', nargs='+', action=DictAction, default={},
                   help='metric arguments, key=value')
    p.add_argument('--out', help='write the results as JSON')
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    ev = cfg.test_evaluator
    ev = [e for e in ev if e.type != 'DumpResults'][0] if isinstance(ev, list) else ev
    ev = dict(ev)
    if args.metric:
        ev['type'] = args.metric
        if args.metric == 'AVAFrameAPMetric':
            ev.pop('options', None)
    ev.update(args.options)
    res = evaluate_samples(load_dump(args.dump), ev)
    res = {k: float(v) for k, v in res.items()}
    width = max(map(len, res))
    for k, v in res.items():
        print(f'{k:<{width}}  {v:.4f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
