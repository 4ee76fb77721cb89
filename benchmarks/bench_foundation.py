"""Benchmarks of the foundation: quickstart backbone choices, data generation."""
from __future__ import annotations

import os
import shutil
import tempfile
import time

import torch
from harness import Section, benchmark, time_fn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@benchmark('quickstart_backbone')
def quickstart_backbone(quick: bool, out_dir: str) -> Section:
    """Why the quickstart backbone is SlowOnly-R18 with base width 8 at stride 8."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import stadl_plugins  # noqa: F401
    init_default_scope('mmaction')
    base = Config.fromfile(f'{REPO}/configs/_base_/models/slowonly_r18_tiny.py')
    variants = [
        ('quickstart: base 8, stride 8', dict()),
        ('base 16, stride 8', dict(base_channels=16)),
        ('base 16, stride 16', dict(base_channels=16, spatial_strides=(1, 2, 2, 1))),
        ('base 8, stride 16', dict(spatial_strides=(1, 2, 2, 1))),
    ]
    x = torch.randn(8, 3, 4, 120, 160)
    rows, times = [], []
    for name, over in variants:
        cfg = base.model.backbone.copy()
        cfg.update(over)
        net = MODELS.build(cfg)

        def step():
            net.zero_grad()
            out = net(x)
            out = out[0] if isinstance(out, tuple) else out
            out.mean().backward()

        t = time_fn(step, repeats=2 if quick else 5)
        out = net(x)
        out = out[0] if isinstance(out, tuple) else out
        times.append(t)
        rows.append([name, sum(p.numel() for p in net.parameters()),
                     'x'.join(map(str, out.shape[1:])), t])
    ref = times[0]
    for r, t in zip(rows, times):
        r.append(t / ref)
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.barh([r[0] for r in rows][::-1], [r[-1] for r in rows][::-1], color='tab:blue')
    ax.axvline(1.0, color='k', lw=0.8)
    ax.set_xlabel('fwd+bwd time / quickstart backbone (batch 8, 4x120x160)')
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, 'quickstart_backbone.png'), dpi=100)
    plt.close(fig)
    return Section(
        'Quickstart backbone: cost of the alternatives',
        'Forward + backward of the backbone alone on a batch of 8 clips of '
        '4x120x160 (the synthetic benchmark\'s input), median of repeated runs, '
        'measured side by side in one process.',
        ['backbone', 'params', 'output CxTxHxW', 'seconds', 'ratio'], rows,
        plots=['quickstart_backbone.png'])


@benchmark('synthetic_generation')
def synthetic_generation(quick: bool, out_dir: str) -> Section:
    """Frames per second of the synthetic generator with 1 and 2 processes."""
    from stadl_plugins.datasets.synthetic import SyntheticConfig, VideoConfig, generate_synthetic
    n = 2 if quick else 6
    rows, ref = [], None
    for workers in (1, 2):
        for flow in (False, True):
            tmp = tempfile.mkdtemp()
            cfg = SyntheticConfig(num_train=n, num_val=0, with_flow=flow,
                                  video=VideoConfig())
            t = time.perf_counter()
            generate_synthetic(tmp, cfg, workers=workers, progress=False)
            dt = time.perf_counter() - t
            shutil.rmtree(tmp)
            fps = n * cfg.video.num_frames / dt
            ref = ref or fps
            rows.append([workers, 'yes' if flow else 'no', n, round(dt, 2),
                         round(fps, 1), fps / ref])
    return Section('Synthetic benchmark generation throughput',
                   'Rendering + JPEG writing (+ ground-truth flow) of default-size '
                   'videos (12 s, 10 fps, 160x120).',
                   ['workers', 'flow', 'videos', 'seconds', 'frames/s',
                    'ratio to 1 worker, no flow'], rows)

