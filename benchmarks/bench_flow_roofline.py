"""Roofline of the flow path: where PWCNet's forward time goes, against what the
CPU gives a dense matrix product in the same run.

    python benchmarks/run.py --only flow_roofline [--quick]

For the full PWCNet at 320x320 (batch 1) and for the two-stream detector's flow
subnet at its input (the synthetic config's tiny PWCNet on the clip's 2 pairs,
120x160 padded to 128x160), timed round-robin in one process at 1 and 2 threads:

(a) the whole forward (no_grad);
(b) the convolutions alone: the same forward with the cost volume replaced by a
    zero tensor of its shape and the warp by the identity (the up-sampling
    transposed convolutions are convolutions and stay);
(c) the cost volume alone: the calls of (a), inputs captured, replayed; also with
    the pad-shift-multiply loop on the same inputs, forward and forward+backward;
(d) the warps and the bilinear resizes (``F.interpolate``) of (a), replayed;

and a dense 2048x2048 float32 matmul probe. GFLOP/s: analytic multiply-adds x 2
of the convolutions (hooks on every Conv2d / ConvTranspose2d) over (b), of the cost
volume's definition (``B*(2d+1)^2*H*W*C``) over (c). Headline ratios go to
``results/flow_roofline.json``.
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Section, benchmark  # noqa: E402


def _round_robin(fns: dict, reps: int) -> dict:
    """Median seconds of every ``fn`` over ``reps`` rounds (each round runs all of
    them once; a first round is a warm-up)."""
    samples = {k: [] for k in fns}
    for i in range(reps + 1):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            samples[k].append(time.perf_counter() - t)
    return {k: float(np.median(v[1:])) for k, v in samples.items()}


def _conv_flops(net, a, b) -> float:
    """Multiply-adds x 2 of every Conv2d / ConvTranspose2d of one forward."""
    total = [0.0]

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, torch.nn.ConvTranspose2d):
            total[0] += 2.0 * inp[0].numel() * m.out_channels // m.groups * k
        else:
            total[0] += 2.0 * out.numel() * (m.in_channels // m.groups) * k
    hs = [m.register_forward_hook(hook) for m in net.modules()
          if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.no_grad():
        net(a, b)
    for h in hs:
        h.remove()
    return total[0]


class _Capture:
    """Patch the cost volume, the warp and F.interpolate inside pwcnet.py: record
    their inputs (``record``) or replace them by cheap stand-ins (``stub``)."""

    def __init__(self, net, mode):
        from stadl_plugins.models.flow import pwcnet as mod
        self.mod, self.net, self.mode = mod, net, mode
        self.corr, self.warp, self.interp = [], [], []

    def __enter__(self):
        mod, net = self.mod, self.net
        self._orig = (net.correlation.forward, mod.flow_warp, mod.F)
        corr_fwd, warp, Fmod = self._orig
        K2 = net.correlation.out_channels
        cap = self

        class _F:                      # F with interpolate wrapped, the rest as is
            def __getattr__(self, name):
                return getattr(Fmod, name)

            @staticmethod
            def interpolate(x, *args, **kw):
                if cap.mode == 'record':
                    cap.interp.append((x, args, kw))
                return Fmod.interpolate(x, *args, **kw)

        if self.mode == 'record':
            def corr(f1, f2):
                self.corr.append((f1, f2))
                return corr_fwd(f1, f2)

            def warp_fn(img, flow, **kw):
                self.warp.append((img, flow, kw))
                return warp(img, flow, **kw)
        else:
            def corr(f1, f2):
                return f1.new_zeros(()).expand(f1.shape[0], K2, *f1.shape[2:])

            def warp_fn(img, flow, **kw):
                return img
        net.correlation.forward = corr
        mod.flow_warp = warp_fn
        mod.F = _F()
        return self

    def __exit__(self, *exc):
        self.net.correlation.forward, self.mod.flow_warp, self.mod.F = self._orig
        del self.net.correlation.forward        # back to the class's method
        return False


def _models():
    from stadl_plugins.models.flow.pwcnet import PWCNet
    torch.manual_seed(0)
    full = PWCNet().eval()
    # the synthetic two-stream config's flow subnet, on the clip's 2 pairs
    tiny = PWCNet(num_levels=4, output_level=2, channel_mult=0.25, max_displacement=2,
                  size_mode='pad').eval()
    return [('PWCNet 320x320, batch 1', full, (1, 320, 320)),
            ('two-stream flow subnet 120x160, 2 pairs', tiny, (2, 120, 160))]


def _measure(name, net, shape, threads, reps):
    from stadl_plugins.models.flow.correlation import correlation, correlation_shift_loop
    from stadl_plugins.models.flow.warp import flow_warp
    torch.set_num_threads(threads)
    B, H, W = shape
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(B, 3, H, W, generator=g), torch.rand(B, 3, H, W, generator=g)
    with torch.no_grad(), _Capture(net, 'record') as cap:
        net(a, b)
    d = net.correlation.max_displacement
    norm = net.correlation.normalize
    corr_in = [(f1.detach(), f2.detach()) for f1, f2 in cap.corr]
    corr_grad = [(f1.clone().requires_grad_(True), f2.clone().requires_grad_(True))
                 for f1, f2 in corr_in]
    warps = [(i.detach(), f.detach(), kw) for i, f, kw in cap.warp]
    interps = [(x.detach(), args, kw) for x, args, kw in cap.interp]

    def whole():
        with torch.no_grad():
            net(a, b)

    def convs():
        with torch.no_grad(), _Capture(net, 'stub'):
            net(a, b)

    def cost():
        with torch.no_grad():
            for f1, f2 in corr_in:
                correlation(f1, f2, d, norm)

    def cost_loop():
        with torch.no_grad():
            for f1, f2 in corr_in:
                correlation_shift_loop(f1, f2, d, norm)

    def cost_fb():
        for f1, f2 in corr_grad:
            correlation(f1, f2, d, norm).sum().backward()

    def cost_loop_fb():
        for f1, f2 in corr_grad:
            correlation_shift_loop(f1, f2, d, norm).sum().backward()

    def glue():
        with torch.no_grad():
            for img, flow, kw in warps:
                flow_warp(img, flow, **kw)
            for x, args, kw in interps:
                F.interpolate(x, *args, **kw)

    probe_n = 1024 if threads == 1 else 2048
    m = torch.rand(probe_n, probe_n, generator=g)

    def probe():
        m @ m
    t = _round_robin(dict(whole=whole, convs=convs, cost=cost, cost_loop=cost_loop,
                          cost_fb=cost_fb, cost_loop_fb=cost_loop_fb, glue=glue,
                          probe=probe), reps)
    conv_flops = _conv_flops(net, a, b)
    cost_flops = sum(2.0 * f1.shape[0] * (2 * d + 1) ** 2 * f1[0].numel()
                     for f1, _ in corr_in)
    probe_gflops = 2.0 * probe_n ** 3 / t['probe'] / 1e9
    return dict(model=name, threads=threads, whole_ms=t['whole'] * 1e3,
                convs_ms=t['convs'] * 1e3, cost_ms=t['cost'] * 1e3,
                cost_loop_ms=t['cost_loop'] * 1e3, cost_fb_ms=t['cost_fb'] * 1e3,
                cost_loop_fb_ms=t['cost_loop_fb'] * 1e3, glue_ms=t['glue'] * 1e3,
                conv_gflop=conv_flops / 1e9, cost_gflop=cost_flops / 1e9,
                conv_gflops=conv_flops / t['convs'] / 1e9,
                cost_gflops=cost_flops / t['cost'] / 1e9, probe_gflops=probe_gflops,
                corr_calls=len(corr_in), warp_calls=len(warps),
                interp_calls=len(interps))


def _two_stream_over_stock(quick):
    from detector_cost import predict_times
    variants = [('stock', 'configs/baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py', {}, None),
                ('two-stream', 'configs/pwc_flow/pwc-two-stream_r18-tiny_3x2x1-15e_synthetic-rgb.py',
                 {}, None)]
    torch.set_num_threads(1)
    t = predict_times(variants, 3 if quick else 9)
    return t['two-stream'] / t['stock'], t


@benchmark('flow_roofline')
def flow_roofline(quick: bool, out_dir: str) -> Section:
    threads0 = torch.get_num_threads()
    reps = 3 if quick else 7
    res = []
    for name, net, shape in _models():
        for threads in (1, 2):
            res.append(_measure(name, net, shape, threads, reps))
    torch.set_num_threads(threads0)
    ts_ratio, ts_times = _two_stream_over_stock(quick)
    rows = []
    for r in res:
        rows.append([r['model'], r['threads'], r['whole_ms'], r['convs_ms'],
                     r['whole_ms'] / r['convs_ms'], r['cost_ms'], r['glue_ms'],
                     (r['cost_ms'] + r['glue_ms']) / r['whole_ms'],
                     r['cost_loop_ms'] / r['cost_ms'], r['cost_loop_fb_ms'] / r['cost_fb_ms'],
                     r['conv_gflops'], r['cost_gflops'], r['probe_gflops'],
                     r['conv_gflops'] / r['probe_gflops']])
    head = next(r for r in res if r['threads'] == 1 and r['model'].startswith('PWCNet'))
    summary = dict(
        pwcnet_forward_over_convs=head['whole_ms'] / head['convs_ms'],
        costvolume_and_warps_fraction=(head['cost_ms'] + head['glue_ms']) / head['whole_ms'],
        correlation_fwd_speedup_b1=head['cost_loop_ms'] / head['cost_ms'],
        correlation_fwdbwd_speedup_b1=head['cost_loop_fb_ms'] / head['cost_fb_ms'],
        two_stream_over_stock_forward=ts_ratio,
        threads=1,
        measured=datetime.date.today().isoformat(),
        conv_gflops_over_matmul_probe=head['conv_gflops'] / head['probe_gflops'],
        pwcnet_320_forward_ms=head['whole_ms'],
        pwcnet_320_convs_ms=head['convs_ms'],
        two_stream_predict_ms=ts_times['two-stream'] * 1e3,
        stock_predict_ms=ts_times['stock'] * 1e3,
        command='python benchmarks/run.py --only flow_roofline' + (' --quick' if quick else ''),
        rows=res)
    with open(os.path.join(out_dir, 'flow_roofline.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return Section(
        title='Flow roofline: PWCNet forward vs its convolutions, cost volume, warps',
        description=(
            'Side by side in one process, round-robin, median of '
            f'{reps} rounds: (a) whole forward (no_grad), (b) the same forward with '
            'the cost volume replaced by zeros of its shape and the warp by the '
            'identity (convolutions incl. the transposed up-sampling convs), (c) the '
            'cost volume calls of (a) replayed on their captured inputs (speed-ups: '
            'the pad-shift-multiply loop on the same inputs / ours), (d) the warps and '
            'bilinear resizes of (a) replayed. GFLOP/s: analytic conv FLOPs / (b), '
            'the cost volume\'s definition FLOPs / (c), and a dense float32 matmul '
            'probe (1024^2 at 1 thread, 2048^2 at 2) in the same rounds. The '
            'two-stream model is the synthetic config\'s flow subnet (2 pairs of a '
            '120x160 clip, padded to 128x160).'),
        header=['model', 'threads', '(a) forward ms', '(b) convs ms', '(a)/(b)',
                '(c) cost volume ms', '(d) warps+resize ms', '((c)+(d))/(a)',
                'cost fwd speed-up vs loop', 'cost fwd+bwd speed-up', 'conv GFLOP/s',
                'cost GFLOP/s', 'matmul probe GFLOP/s', 'conv / probe'],
        rows=rows,
        notes=[f'two-stream detector predict / stock SlowOnly predict (synthetic tiny '
               f'configs, 120x160, 1 thread): {ts_ratio:.2f} '
               f'({ts_times["two-stream"] * 1e3:.1f} vs {ts_times["stock"] * 1e3:.1f} ms)',
               f'conv GFLOP per forward: {res[0]["conv_gflop"]:.2f} (PWCNet 320), '
               f'{res[2]["conv_gflop"]:.3f} (two-stream subnet); cost volume GFLOP '
               f'(definition): {res[0]["cost_gflop"]:.3f}, {res[2]["cost_gflop"]:.4f}',
               'headline ratios: results/flow_roofline.json'])
