"""Benchmark v2 probe (issue 19): does the stock RoI head on the frozen-backbone
cache gain from a longer training budget? If it does, the sanity bars are partly
an under-training problem; if not, the pretrained features are the limit.

    python benchmarks/v2_head_budget.py --out /work/bench_v2 --scale 0.25 \\
        --iters 1000 3000 --seeds 0 1 2

Reuses a finished ``--suite v2`` run in ``OUT/v2`` (its data, pretraining
checkpoint and feature caches; the stock cached-head detections, under whichever
block the run recorded them, when an iteration count equals the suite's
``head_iters`` and their recorded params match). Each other count trains the
stock config's RoI head on the train cache with the suite's own
``_train_head_and_predict`` (nothing re-implemented), the cosine schedule
stretched to the new length (warm-up ``min(200, iters // 10)``). Every count is
compared with the first by the paired per-video bootstrap over the same seeds. Writes
``OUT/v2/head_budget.json`` and prints one line per group.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', required=True, help='the folder given to --suite v2')
    ap.add_argument('--scale', type=float, default=0.25)
    ap.add_argument('--iters', type=int, nargs='+', default=[1000, 3000],
                    help='head iteration counts; the first is the reference')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--tiny', action='store_true',
                    help='the sizes of `--suite v2 --tiny` (tests), in this process')
    a = ap.parse_args(argv)
    os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
    import suite_v2 as sv
    from v2_blocks import claim_verdict

    import stadl_plugins  # noqa: F401
    from stadl_plugins.datasets.synthetic import V2_CLASSES, V2_GROUPS
    from stadl_plugins.evaluation.bootstrap import paired_bootstrap, rank_run
    out = osp.join(a.out, 'v2')
    work = osp.join(out, 'work')
    state = sv.State(osp.join(out, 'state.json'), fresh=False)
    if 'pretrain[0]' not in state.data or 'cache_train[0]' not in state.data:
        raise SystemExit(f'{out}/state.json has no pretraining or train cache: run '
                         f'`python benchmarks/run.py --suite v2 --out {a.out}` first')
    ckpt = state.result('pretrain[0]')['checkpoint']
    root = osp.join(work, 'data', 'seed0')
    p = sv.plan(a.tiny, a.scale)
    class_ids = [c for c, _, _ in V2_CLASSES]
    names = {c: n for c, n, _ in V2_CLASSES}
    gt, excl = sv.read_gt(osp.join(root, 'annotations'))
    sha = state.result('pretrain[0]')['sha256']

    def params(iters):  # what a stock cached-head stage of the suite records
        return dict(iters=iters, batch=p['head_batch'], pretrain=sha, overrides={})

    def suite_record(s):  # the stock row, under whichever block the run named it
        for name, e in state.data.items():
            if name.startswith('head[') and name.endswith(f'|{s}]') \
                    and state.done(name, params(p['head_iters'])) \
                    and osp.isfile(e['result']['dets']):
                return e
        return None

    runs, seconds = {}, {}
    for iters in a.iters:
        runs[iters] = []
        for s in a.seeds:
            rec = suite_record(s) if iters == p['head_iters'] else None
            if rec:
                path = rec['result']['dets']
            else:
                path = osp.join(work, f'head_budget_i{iters}_s{s}', 'val_dets.pkl')
                ppath = osp.join(osp.dirname(path), 'params.json')
                fresh = osp.isfile(path) and osp.isfile(ppath) and \
                    json.load(open(ppath)) == params(iters)
                if not fresh:  # missing, or from another pretraining / batch
                    ts = time.time()
                    call = (lambda fn, *x: fn(*x)) if a.tiny else sv._isolated
                    call(sv._train_head_and_predict, root, ckpt, work,
                         dict(p, head_iters=iters), s, class_ids, {}, path,
                         not a.tiny)
                    seconds[f'{iters}|{s}'] = round(time.time() - ts, 1)
                    with open(ppath, 'w') as f:
                        json.dump(params(iters), f)
            with open(path, 'rb') as f:
                dets = sv._safe_pickle_load(f)
            runs[iters].append(rank_run(gt, dets, class_ids, excluded=excl))
    ref = a.iters[0]
    result = dict(reference_iters=ref, seeds=a.seeds, scale=a.scale, seconds=seconds,
                  comparisons=[])
    for iters in a.iters[1:]:
        res = paired_bootstrap(runs[iters], runs[ref], names, groups=V2_GROUPS,
                               n_boot=p['n_boot'], seed=0)
        cmp_ = dict(iters=iters, groups={})
        for g, e in [('mAP', res['overall'])] + list(res['per_group'].items()):
            cmp_['groups'][g] = dict(longer=e['method'], reference=e['stock'],
                                     effect=e['effect'], ci95=e['ci95'],
                                     verdict=claim_verdict('better', *e['ci95']))
            lo, hi = e['ci95']
            print(f"{g:8s} {ref} it {e['stock']:.3f} -> {iters} it {e['method']:.3f}: "
                  f"{e['effect']:+.3f} [{lo:+.3f}, {hi:+.3f}] "
                  f"{cmp_['groups'][g]['verdict']}")
        cmp_['class_ap'] = {n: dict(longer=v['method'], reference=v['stock'])
                            for n, v in res['per_class'].items()}
        result['comparisons'].append(cmp_)
    with open(osp.join(out, 'head_budget.json'), 'w') as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(f'[benchmarks] written to {osp.join(out, "head_budget.json")}')
    return result


if __name__ == '__main__':
    main()
