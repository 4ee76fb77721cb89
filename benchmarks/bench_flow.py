"""Flow benchmarks: the cost volume (ours vs the pad-shift-multiply loop vs an
unfold/einsum version, same inputs, same run) and PWCNet forward time.

    python benchmarks/run.py --only flow_correlation pwcnet_forward --quick
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Section, benchmark, time_fn  # noqa: E402

# PWC-Net's level sizes for a 320x320 input (level 2: C=32 at 80x80, ...)
LEVELS = [(32, 80), (64, 40), (96, 20), (196, 5)]


def correlation_unfold(f1, f2, d=4):
    """Every displacement at once via unfold + einsum (B*C*(2d+1)^2*H*W memory)."""
    B, C, H, W = f1.shape
    K = 2 * d + 1
    cols = F.unfold(f2, K, padding=d).view(B, C, K * K, H, W)
    return torch.einsum('bchw,bckhw->bkhw', f1, cols) / C


def _timed_fwd(fn, f1, f2, dev):
    t = time.perf_counter()
    with torch.no_grad():
        fn(f1, f2)
    if dev == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - t


def _timed_fwd_bwd(fn, f1, f2, dev):
    f1.grad = f2.grad = None
    t = time.perf_counter()
    fn(f1, f2).sum().backward()
    if dev == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - t


def _mb(n_floats):
    return n_floats * 4 / 2 ** 20


@benchmark('flow_correlation')
def flow_correlation(quick: bool, out_dir: str) -> Section:
    from stadl_plugins.models.flow.correlation import correlation, correlation_shift_loop
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    reps = 5 if quick else 15
    threads = torch.get_num_threads()
    if dev == 'cpu':
        # one thread: on a shared machine, OpenMP threads waiting for a busy core
        # make multi-threaded timings jump by 10x; one thread degrades evenly
        torch.set_num_threads(1)
    rows = []
    methods = [('ours (tiled block products)', correlation),
               ('pad-shift-multiply loop', correlation_shift_loop),
               ('unfold + einsum', correlation_unfold)]
    for batch in (1, 8):
        for C, S in LEVELS:
            torch.manual_seed(0)
            f1 = torch.randn(batch, C, S, S, device=dev, requires_grad=True)
            f2 = torch.randn(batch, C, S, S, device=dev, requires_grad=True)
            ref = correlation_shift_loop(f1, f2).detach()
            times = {}
            errs = {}
            for name, fn in methods:
                out = fn(f1, f2)
                errs[name] = float((out.detach() - ref).abs().max())
            # round-robin: every method is timed once per round, so load changes on
            # a shared machine hit all of them alike; median over the rounds
            samples = {name: ([], []) for name, _ in methods}
            for _ in range(reps + 1):
                for name, fn in methods:
                    samples[name][0].append(_timed_fwd(fn, f1, f2, dev))
                    samples[name][1].append(_timed_fwd_bwd(fn, f1, f2, dev))
            for name, fn in methods:
                t_f, t_fb = (float(np.median(v[1:])) for v in samples[name])  # 1st = warm-up
                times[name] = (t_f, t_fb)
                err = errs[name]
                # transient memory beyond the output (analytic, float32)
                out_n = batch * 81 * S * S
                if name.startswith('ours'):
                    tile = 8
                    n_x = -(-S // tile)
                    extra = batch * n_x * tile * tile * (tile + 8) ** 2 + \
                        batch * n_x * C * (tile + 8) ** 2
                elif name.startswith('pad'):
                    extra = batch * C * S * S * 2     # one product + padded f2; autograd keeps 81 slices' views only
                else:
                    extra = batch * C * 81 * S * S
                rows.append([batch, f'C={C} {S}x{S}', name, t_f * 1e3, t_fb * 1e3,
                             _mb(out_n), _mb(extra), err])
            loop_f, loop_fb = times['pad-shift-multiply loop']
            for r in rows[-3:]:
                r.insert(5, loop_fb / (r[4] / 1e3))
                r.insert(5, loop_f / (r[3] / 1e3))
    torch.set_num_threads(threads)
    return Section(
        title='Cost volume: ours vs pad-shift-multiply loop vs unfold/einsum',
        description=(f'max_displacement 4 (81 channels), mean normalisation, device {dev}, '
                     f'{"one torch thread, " if dev == "cpu" else ""}median of {reps} rounds in '
                     'which every method runs once (round-robin). Speed-up = loop time / method time (same '
                     'inputs, same run). Max |diff| is against the loop. Extra memory is '
                     'the analytic size of the transient tensors of one call beyond the '
                     'output (ours: one row of 8x8 tiles at a time).'),
        header=['batch', 'level', 'method', 'fwd ms', 'fwd+bwd ms', 'fwd speed-up',
                'fwd+bwd speed-up', 'output MB', 'extra MB', 'max |diff|'],
        rows=rows)


@benchmark('pwcnet_forward')
def pwcnet_forward(quick: bool, out_dir: str) -> Section:
    from stadl_plugins.models.flow.pwcnet import PWCNet
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    reps = 3 if quick else 7
    net = PWCNet().to(dev).eval()
    rows = []
    for size in (64, 320):
        for batch in (1, 2):
            a = torch.rand(batch, 3, size, size, device=dev)
            b = torch.rand(batch, 3, size, size, device=dev)

            def run():
                with torch.no_grad():
                    net(a, b)
                if dev == 'cuda':
                    torch.cuda.synchronize()
            t = time_fn(run, reps)
            rows.append([f'{size}x{size}', batch, t * 1e3, t * 1e3 / batch])
    return Section(
        title='PWCNet (full PWC-DC, 9.37 M parameters) forward time',
        description=(f'Random weights (speed does not depend on them), device {dev}, '
                     f'median of {reps} runs, no_grad. The paper reports 6 ms per pair at '
                     '320x320 on a GTX 1080Ti.'),
        header=['input', 'batch', 'ms / call', 'ms / pair'], rows=rows)
