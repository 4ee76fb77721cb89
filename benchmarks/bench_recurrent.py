"""Forward-time overhead of the recurrent necks (HST-LSTM, ConvLSTM, ConvALSTM,
VideoLSTM) in the tiny synthetic detector, vs the stock detector on the same clip.

Run: ``python benchmarks/bench_recurrent.py [--quick]`` (or through
``benchmarks/run.py --only recurrent_overhead`` once registered there).
"""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Section, benchmark, machine_line, time_fn  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = f'{REPO}/configs/synthetic/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py'
HST = f'{REPO}/configs/synthetic/slowonly-hstlstm_r18-tiny_9x3x1-15e_synthetic-rgb.py'
VL = f'{REPO}/configs/synthetic/slowonly-videolstm_r18-tiny_8x2x1-15e_synthetic-rgb.py'


def _variants():
    return [
        ('stock (no neck)', BASE, {}),
        ('HST-LSTM 1 layer', HST, dict(num_layers=1)),
        ('HST-LSTM 2 layers', HST, {}),
        ('ConvLSTM', VL, dict(attention='none')),
        ('ConvALSTM (appearance attention)', VL, dict(attention='appearance')),
        ('VideoLSTM (motion attention)', VL, {}),
    ]


@benchmark('recurrent_overhead')
def recurrent_overhead(quick: bool, out_dir: str) -> Section:
    import stadl_plugins  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData
    from mmaction.structures import ActionDataSample
    init_default_scope('mmaction')
    x = torch.randn(1, 3, 9, 120, 160)  # 3 s x 3 micro-steps for HST-LSTM
    ds = ActionDataSample()
    ds.proposals = InstanceData(bboxes=torch.tensor([[10., 10., 60., 100.],
                                                     [70., 20., 120., 110.]]))
    ds.set_metainfo(dict(img_shape=(120, 160)))
    models = []
    for name, path, neck_over in _variants():
        cfg = Config.fromfile(path)
        if neck_over:
            cfg.model.neck.update(neck_over)
        models.append((name, MODELS.build(cfg.model).eval()))
    # round robin, so machine load drifts hit every model alike
    times = {name: [] for name, _ in models}
    for _ in range(3 if quick else 9):
        for name, det in models:
            def fwd(det=det):
                with torch.no_grad():
                    det.predict(x, [ds])
            times[name].append(time_fn(fwd, repeats=1, warmup=1))
    rows, ref = [], None
    for name, det in models:
        t = sorted(times[name])[len(times[name]) // 2]
        ref = ref or t
        n_par = sum(p.numel() for p in det.neck.parameters()) if det.with_neck else 0
        rows.append([name, n_par, round(t * 1000, 1), round(t / ref, 2)])
    return Section(
        title='Recurrent necks: forward overhead (tiny synthetic detector, CPU)',
        description=('`FastRCNN.predict` of the tiny SlowOnly-R18 synthetic detector '
                     '(120x160 clip, 2 proposals) with each neck, median wall time; ratio '
                     f'to the stock detector on the same 9-frame clip; round-robin repeats. '
                     f'{machine_line()}.'),
        header=['model', 'neck params', 'predict ms', 'ratio vs stock'],
        rows=rows)


if __name__ == '__main__':
    quick = '--quick' in sys.argv
    print(recurrent_overhead(quick, '.').to_markdown())
