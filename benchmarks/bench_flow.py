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


# ----------------------------------------------------------------------------------
# Flow accuracy: PWCNet trained briefly on the synthetic benchmark's exact flow vs
# OpenCV's Farneback and DIS on the same held-out pairs.

def _synthetic_pairs(root, split, every, rng=None, count=None):
    """``(frame_t, frame_t+1, gt_flow_t)`` of one split (``syn_<split>_*`` videos);
    images float32 ``(H, W, 3)`` BGR in [0, 1], flow ``(H, W, 2)`` (dx, dy) pixels."""
    import glob

    import cv2
    vids = sorted(os.path.basename(p)[:-4] for p in
                  glob.glob(os.path.join(root, 'flow', f'syn_{split}_*.npz')))
    if not vids:
        raise FileNotFoundError(f'no {root}/flow/syn_{split}_*.npz: generate the data '
                                'with `python -m stadl_plugins.datasets.synthetic '
                                f'{root}` first')
    keys = []
    for v in vids:
        n = np.load(os.path.join(root, 'flow', f'{v}.npz'))['flow'].shape[0]
        keys += [(v, t) for t in range(0, n, every)]
    if count is not None and count < len(keys):
        idx = (rng or np.random.default_rng(0)).choice(len(keys), count, replace=False)
        keys = [keys[i] for i in sorted(idx)]
    flows, out = {}, []
    for v, t in keys:
        if v not in flows:
            flows = {v: np.load(os.path.join(root, 'flow', f'{v}.npz'))['flow']}
        img = [cv2.imread(os.path.join(root, 'rawframes', v, f'img_{t + k:05d}.jpg'))
               .astype(np.float32) / 255 for k in (1, 2)]
        out.append((img[0], img[1], flows[v][t].astype(np.float32)))
    return out


def _epe(flow, gt):
    return float(np.linalg.norm(flow - gt, axis=-1).mean())


def _opencv_flow(method):
    import cv2
    if method == 'farneback':
        def fn(a, b):
            return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    else:
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

        def fn(a, b):
            return dis.calc(a, b, None)
    return fn


def _gray(img):
    import cv2
    return cv2.cvtColor((img * 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)


def _ms_per_pair_320(net, img1, img2, reps, net_name):
    """ms per 320x320 pair of ``net`` (no_grad), OpenCV Farneback and DIS-medium on
    the same frames (``img1``/``img2``: float BGR in [0, 1], resized here), median
    of round-robin rounds (the first round is a warm-up), at one thread and at
    torch's default thread count, and for ``net`` on CUDA when available.

    Returns:
        tuple: ``{(method, threads or 'cuda'): ms}`` and the thread counts used.
    """
    import cv2
    a320, b320 = cv2.resize(img1, (320, 320)), cv2.resize(img2, (320, 320))
    ga, gb = _gray(a320), _gray(b320)
    ta = torch.from_numpy(a320).permute(2, 0, 1)[None]
    tb = torch.from_numpy(b320).permute(2, 0, 1)[None]
    threads = torch.get_num_threads()
    counts = sorted({1, threads})
    fns = {net_name: lambda: net(ta, tb),
           'OpenCV Farneback': lambda: _opencv_flow('farneback')(ga, gb),
           'OpenCV DIS (medium)': lambda: _opencv_flow('dis')(ga, gb)}
    speed = {}
    for nt in counts:
        torch.set_num_threads(nt)
        cv2.setNumThreads(nt)
        samples = {k: [] for k in fns}
        with torch.no_grad():
            for _ in range(reps + 1):
                for k, fn in fns.items():
                    t = time.perf_counter()
                    fn()
                    samples[k].append(time.perf_counter() - t)
        for k, v in samples.items():
            speed[(k, nt)] = float(np.median(v[1:])) * 1e3
    torch.set_num_threads(threads)
    cv2.setNumThreads(-1)
    if torch.cuda.is_available():
        net.cuda()
        tc, uc = ta.cuda(), tb.cuda()
        with torch.no_grad():
            speed[(net_name, 'cuda')] = time_fn(
                lambda: (net(tc, uc), torch.cuda.synchronize()), reps) * 1e3
    return speed, counts


@benchmark('flow_accuracy')
def flow_accuracy(quick: bool, out_dir: str) -> Section:
    """PWCNet (trained here, briefly) vs Farneback vs DIS: EPE and ms/pair."""
    from stadl_plugins.models.flow.pwcnet import PWCNet
    root = os.path.join(os.path.dirname(HERE), 'data', 'synthetic')
    steps, batch, crop = (150, 4, (64, 128)) if quick else (600, 4, (64, 128))
    rng = np.random.default_rng(0)
    train = _synthetic_pairs(root, 'train', every=2)
    test = _synthetic_pairs(root, 'val', every=1, rng=rng, count=60)
    torch.manual_seed(0)
    net = PWCNet(size_mode='pad')        # the full PWC-DC, 9.37 M parameters
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=4e-4)

    def tensors(pairs):
        a = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2)
        b = torch.from_numpy(np.stack([p[1] for p in pairs])).permute(0, 3, 1, 2)
        g = torch.from_numpy(np.stack([p[2] for p in pairs])).permute(0, 3, 1, 2)
        return a, b, g

    t0 = time.perf_counter()
    losses = []
    net.train()
    for step in range(steps):
        idx = rng.choice(len(train), batch, replace=False)
        a, b, g = tensors([train[i] for i in idx])
        y0, x0 = rng.integers(0, a.shape[2] - crop[0] + 1), rng.integers(
            0, a.shape[3] - crop[1] + 1)          # random crop, no resize: flow unchanged
        a, b, g = (x[:, :, y0:y0 + crop[0], x0:x0 + crop[1]] for x in (a, b, g))
        if rng.random() < 0.5:          # horizontal flip: u changes sign
            a, b, g = a.flip(-1), b.flip(-1), g.flip(-1) * g.new_tensor(
                [-1, 1]).view(1, 2, 1, 1)
        _, preds = net(a, b, return_levels=True)
        loss = net.loss(preds, g) / batch
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    train_s = time.perf_counter() - t0
    net.eval()

    results = {}
    with torch.no_grad():
        flows = []
        for i in range(0, len(test), 8):
            a, b, _ = tensors(test[i:i + 8])
            flows.append(net(a, b).permute(0, 2, 3, 1).numpy())
        flows = np.concatenate(flows)
    results['PWCNet (trained here)'] = [_epe(f, p[2]) for f, p in zip(flows, test)]
    for name in ('farneback', 'dis'):
        fn = _opencv_flow(name)
        results[{'farneback': 'OpenCV Farneback', 'dis': 'OpenCV DIS (medium)'}[name]] = [
            _epe(fn(_gray(p[0]), _gray(p[1])), p[2]) for p in test]
    results['zero flow'] = [_epe(np.zeros_like(p[2]), p[2]) for p in test]

    # ms per pair at 320x320 (one thread and the default threads), same frames
    reps = 5 if quick else 15
    speed, counts = _ms_per_pair_320(net, test[0][0], test[0][1], reps,
                                     'PWCNet (trained here)')

    rows = []
    for k, v in results.items():
        row = [k, f'{np.mean(v):.3f}', f'{np.median(v):.3f}']
        row += [f"{speed[(k, nt)]:.1f}" if k != 'zero flow' else '–'
                for nt in counts]
        rows.append(row)
    header = ['method', f'EPE mean ({len(test)} held-out pairs)', 'EPE median'] + \
        [f'ms/pair 320x320, {nt} thread(s)' for nt in counts]
    if ('PWCNet (trained here)', 'cuda') in speed:
        rows[0].append(f"{speed[('PWCNet (trained here)', 'cuda')]:.1f}")
        header.append('ms/pair 320x320 CUDA')
        for r in rows[1:]:
            r.append('')

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.convolve(losses, np.ones(10) / 10, mode='valid'))
    ax.set_xlabel('training step')
    ax.set_ylabel('multi-level EPE loss (10-step mean)')
    fig.tight_layout()
    plot = 'flow_accuracy_training.png'
    fig.savefig(os.path.join(out_dir, plot), dpi=100)
    plt.close(fig)
    return Section(
        title='Flow accuracy: PWCNet trained on synthetic pairs vs OpenCV',
        description=(
            f'PWCNet (full PWC-DC, random init) trained on CPU for {steps} Adam steps '
            f'(lr 1e-4, batch {batch}, random {crop[0]}x{crop[1]} crops, horizontal flips, multi-level EPE loss, '
            f'{train_s:.0f} s) on consecutive frame pairs of the synthetic train '
            f'videos (120x160, exact GT flow); EPE (pixels) on {len(test)} random pairs '
            'of the held-out val videos, the same pairs for every method. Farneback: '
            'pyr_scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, sigma 1.2; DIS: '
            'the MEDIUM preset, both on grayscale. ms/pair: the same 320x320 pair, '
            'medians of round-robin rounds; PWCNet with no_grad.'),
        header=header, rows=rows, plots=[plot],
        notes=[f'training loss {np.mean(losses[:10]):.1f} (first 10 steps) -> '
               f'{np.mean(losses[-10:]):.1f} (last 10)'])


@benchmark('flow_overhead')
def flow_overhead(quick: bool, out_dir: str) -> Section:
    """Forward time / training memory: stock detector vs + PWCFlowNeck vs two-stream."""
    from detector_cost import HEADER, cost_rows
    from harness import machine_line
    stock = 'configs/baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py'
    neck = 'configs/pwc_flow/slowonly-pwcneck_r18-tiny_4x2x1-15e_synthetic-rgb.py'
    two = 'configs/pwc_flow/pwc-two-stream_r18-tiny_3x2x1-15e_synthetic-rgb.py'
    variants = [('stock SlowOnly FastRCNN', stock, {}, None)] + [
        (f'+ PWCFlowNeck {f}', neck, dict(fusion=f), None)
        for f in ('concat', 'sum', 'average', 'stfp')] + [
        ('integrated two-stream (PWCNet + shared backbone)', two, {}, None)]
    return Section(
        title='PWC-Net flow in the detector: forward time and training memory (CPU)',
        description=('`predict` of the tiny synthetic detectors (120x160 clip of the '
                     'config\'s length: 4 frames, 3 for the two-stream model, 2 '
                     'proposals), median wall time over round-robin repeats, ratio to the '
                     'stock detector; peak memory: growth of the peak resident size during '
                     'one training step (batch 2, loss + backward, one thread) in a fresh '
                     f'process. {machine_line()}.'),
        header=HEADER, rows=cost_rows(variants, quick))


@benchmark('flow_speed')
def flow_speed(quick: bool, out_dir: str) -> Section:
    """ms per 320x320 pair: PWCNet (full PWC-DC) vs OpenCV Farneback vs DIS, same
    frames, round-robin; speed does not depend on PWCNet's weights (random here)."""
    from stadl_plugins.models.flow.pwcnet import PWCNet
    root = os.path.join(os.path.dirname(HERE), 'data', 'synthetic')
    (a, b, _), = _synthetic_pairs(root, 'val', every=1, count=1)
    torch.manual_seed(0)
    net = PWCNet(size_mode='pad').eval()
    reps = 5 if quick else 15
    name = 'PWCNet (PWC-DC, 9.37 M parameters)'
    speed, counts = _ms_per_pair_320(net, a, b, reps, name)
    methods = [name, 'OpenCV Farneback', 'OpenCV DIS (medium)']
    rows = [[k] + [round(speed[(k, nt)], 1) for nt in counts] for k in methods]
    header = ['method'] + [f'ms/pair, {nt} thread(s)' for nt in counts]
    if (name, 'cuda') in speed:
        header.append('ms/pair CUDA')
        rows[0].append(round(speed[(name, 'cuda')], 2))
        for r in rows[1:]:
            r.append('')
    return Section(
        title='Flow speed at 320x320 (CPU)',
        description=('One 320x320 frame pair (a synthetic val pair resized), median of '
                     f'{reps} round-robin rounds per thread count; PWCNet under no_grad '
                     'with random weights (speed does not depend on them), OpenCV on '
                     'grayscale. The paper reports 6 ms per pair for PWC-Net on a GTX '
                     '1080Ti.'),
        header=header, rows=rows)
