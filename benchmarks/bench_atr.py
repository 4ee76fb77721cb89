"""ATR head benchmarks: accuracy on the synthetic benchmark, and overhead."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import torch
from harness import Section, benchmark, time_fn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STOCK = 'configs/baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py'
ATR = 'configs/atr/slowonly-atr_r18-tiny_4x2x1-15e_synthetic-rgb.py'
OUTSIDE = ('carry', 'talk_to')                    # evidence outside the actor box
INSIDE = ('spin', 'jump', 'stand', 'walk', 'wave')  # motion inside the box


def _run_quickstart(config, seed, work_dir, extra):
    summary = os.path.join(work_dir, 'summary.json')
    if not os.path.exists(summary):
        cmd = [sys.executable, os.path.join(REPO, 'tools', 'quickstart.py'), '--config',
               os.path.join(REPO, config), '--seed', str(seed), '--work-dir', work_dir,
               '--data-root', os.path.join(REPO, 'data', 'synthetic')] + extra
        print('[atr_synthetic]', ' '.join(cmd), flush=True)
        os.makedirs(work_dir, exist_ok=True)
        with open(os.path.join(os.path.dirname(work_dir), 'runs.log'), 'a') as log:
            subprocess.run(cmd, check=True, cwd=REPO, stdout=log, stderr=log)
    with open(summary) as f:
        return json.load(f)


def _ms(values):
    v = np.asarray(values, float)
    return f'{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}'


@benchmark('atr_synthetic')
def atr_synthetic(quick: bool, out_dir: str) -> Section:
    """Stock AVARoIHead vs + ATR on the synthetic benchmark, 3 training seeds."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    seeds = [0] if quick else [0, 1, 2]
    extra = ['--cfg-options', 'train_cfg.max_epochs=2', 'train_cfg.val_begin=2',
             'train_cfg.val_interval=2'] if quick else []
    runs_dir = os.path.join(out_dir, 'atr_runs' + ('_quick' if quick else ''))
    res = {}
    for name, short, cfg in (('stock AVARoIHead', 'stock', STOCK),
                             ('+ ATRHead', 'atr', ATR)):
        res[name] = [_run_quickstart(cfg, s, os.path.join(runs_dir, f'{short}_s{s}'),
                                     extra) for s in seeds]
    classes = list(res['stock AVARoIHead'][0]['per_class_AP'])
    header = ['model', 'frame-mAP', 'outside-box classes (carry, talk_to)',
              'inside-box motion classes'] + classes
    rows = []
    for name, runs in res.items():
        pc = {c: [r['per_class_AP'][c] for r in runs] for c in classes}
        outside = [np.nanmean([r['per_class_AP'][c] for c in OUTSIDE]) for r in runs]
        inside = [np.nanmean([r['per_class_AP'][c] for c in INSIDE]) for r in runs]
        rows.append([name, _ms([r['frame_mAP'] for r in runs]), _ms(outside),
                     _ms(inside)] + [_ms(pc[c]) for c in classes])
    rnd = res['stock AVARoIHead']
    rows.append(['random scores (same boxes)',
                 _ms([r['random_scores_frame_mAP'] for r in rnd]), '', ''] +
                [''] * len(classes))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    w = 0.38
    xs = np.arange(len(classes))
    for i, (name, runs) in enumerate(res.items()):
        vals = np.array([[r['per_class_AP'][c] for c in classes] for r in runs])
        ax.bar(xs + (i - 0.5) * w, np.nanmean(vals, 0), w, yerr=np.nanstd(vals, 0),
               label=name, capsize=3)
    ax.set_xticks(xs, classes)
    ax.set_ylabel('AP@0.5 (mean ± std over seeds)')
    ax.legend()
    fig.tight_layout()
    plot = 'atr_synthetic' + ('_quick' if quick else '') + '.png'
    fig.savefig(os.path.join(out_dir, plot), dpi=100)
    plt.close(fig)
    sched = '2 epochs (--quick)' if quick else 'the quickstart schedule (15 epochs)'
    return Section(
        'ATR on the synthetic benchmark',
        f'SlowOnly-R18-tiny FastRCNN trained from scratch with {sched}, training '
        f'seeds {seeds}, same data (data seed 0); frame-mAP@0.5 with AVAMetric on '
        'the val split, mean ± std over seeds. carry and talk_to can only be told '
        'from evidence outside the actor\'s box; the other five from motion inside '
        'it. Each run is `python tools/quickstart.py --config CONFIG --seed S`.',
        header, rows, plots=[plot])


def _roi_heads(C, latent, query='cell', context_stride=1):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    base = dict(type='AVARoIHead', _scope_='mmdet',
                bbox_roi_extractor=dict(type='SingleRoIExtractor3D',
                                        roi_layer_type='RoIAlign', output_size=8,
                                        with_temporal_pool=True),
                bbox_head=dict(type='BBoxHeadAVA', background_class=True,
                               in_channels=C, num_classes=81, multilabel=True),
                test_cfg=dict(rcnn=None))
    stock = MODELS.build(base)
    atr = MODELS.build(dict(base, shared_head=dict(
        type='ATRHead', in_channels=C, latent_channels=latent, featmap_stride=16,
        query=query, context_stride=context_stride)))
    return stock.eval(), atr.eval()


def _peak_rss_mb(code: str) -> float:
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.abspath(__file__)), check=True)
    return float(out.stdout.strip().splitlines()[-1])


_MEM_CODE = '''
import torch, stadl_plugins, bench_atr
stock, atr = bench_atr._roi_heads(2048, 512, {query!r})
head = {which}
x = torch.randn(1, 2048, 4, 16, 16)
rois = bench_atr._rois(32)
metas = [dict(img_shape=(256, 256))]

def status(key):
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024

with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')  # reset the peak resident size (VmHWM) to the current one
base = status('VmRSS:')
with torch.no_grad():
    head._bbox_forward(x, rois, metas)
print(status('VmHWM:') - base)
'''


def _rois(k):
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(k, 2, generator=g) * 160
    wh = 40 + torch.rand(k, 2, generator=g) * 60
    return torch.cat([torch.zeros(k, 1), xy, (xy + wh).clamp(max=256)], 1)


@benchmark('atr_overhead')
def atr_overhead(quick: bool, out_dir: str) -> Section:
    """Forward time of AVARoIHead with ATR vs stock at AVA-like sizes."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import stadl_plugins  # noqa: F401
    x = torch.randn(1, 2048, 4, 16, 16)  # SlowOnly-R50 output for 4x256x256
    rois, metas = _rois(32), [dict(img_shape=(256, 256))]
    reps = 3 if quick else 10
    variants = [('stock AVARoIHead', None),
                ('+ ATR (cell queries, latent 512)', ('cell', 1)),
                ('+ ATR (pooled query, latent 512)', ('pooled', 1)),
                ('+ ATR (cell, context stride 2)', ('cell', 2))]
    rows, times = [], []
    for name, v in variants:
        stock, atr = _roi_heads(2048, 512, *(v or ('cell', 1)))
        head = stock if v is None else atr
        with torch.no_grad():
            t = time_fn(lambda: head._bbox_forward(x, rois, metas), repeats=reps)
        times.append(t)
        rows.append([name, f'{t * 1e3:.1f}', t / times[0]])
    # whole detector: SlowOnly-R50 backbone + head, 1 clip of 4x256x256
    init_default_scope('mmaction')
    cfg = Config.fromfile(os.path.join(
        REPO, 'configs', 'atr',
        'slowonly-atr_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py'))
    cfg.model.init_cfg = None
    det_atr = MODELS.build(cfg.model).eval()
    stock_cfg = cfg.model.copy()
    stock_cfg.roi_head = dict(stock_cfg.roi_head)
    stock_cfg.roi_head.pop('shared_head')
    det_stock = MODELS.build(stock_cfg).eval()
    clip = torch.randn(1, 3, 4, 256, 256)

    def det_forward(det):
        feat = det.extract_feat(clip)
        return det.roi_head._bbox_forward(feat, rois, metas)

    with torch.no_grad():
        ts = time_fn(lambda: det_forward(det_stock), repeats=2 if quick else 5)
        ta = time_fn(lambda: det_forward(det_atr), repeats=2 if quick else 5)
    rows.append(['SlowOnly-R50 detector, stock head', f'{ts * 1e3:.1f}', 1.0])
    rows.append(['SlowOnly-R50 detector, + ATR (cell)', f'{ta * 1e3:.1f}', ta / ts])
    mem_stock = _peak_rss_mb(_MEM_CODE.format(query='cell', which='stock'))
    mem_atr = _peak_rss_mb(_MEM_CODE.format(query='cell', which='atr'))
    return Section(
        'ATR overhead at AVA-like sizes',
        'Forward (no grad) of the RoI head on a SlowOnly-R50-sized clip feature '
        '(2048x4x16x16, temporal pooling on) with 32 RoIs, median of repeated runs, '
        'ratios to the first row of each block, measured side by side in one run. '
        f'{torch.get_num_threads()} CPU threads.',
        ['variant', 'ms', 'ratio'], rows,
        notes=[f'Peak memory of one RoI-head forward (rise of the peak resident size, '
               f'VmHWM reset before the call, in a fresh process): stock '
               f'{mem_stock:.0f} MB, + ATR (cell) {mem_atr:.0f} MB.',
               'The stock head alone is a RoIAlign plus one linear layer, so any '
               'relation module costs several times the head by itself; the '
               'detector rows show the overhead a user pays end to end.'])
