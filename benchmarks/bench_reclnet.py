"""RecLNet temporal localization: vectorized vs naive per-track loop.

Synthetic scored tracks (tracks x frames x classes, each track with two planted
actions over low noise), 100 tracks per video. Times ``localize_tracks`` (threshold
and Viterbi) against ``localize_tracks_naive`` on the same subset, then the
vectorized version alone on the full size (paper scale: 10k tracks x 1000 frames x
24 classes; ``--quick``: 1000 tracks).

Run: ``python benchmarks/bench_reclnet.py [--quick]`` or
``python benchmarks/run.py --only temporal_localization --quick``.

Second benchmark ``reclnet_synthetic`` (``bench_reclnet.py --synthetic [--quick]``):
RecLNet variants trained on synthetic track features, video-mAP of their tubes.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Section, benchmark, machine_line  # noqa: E402


def make_tracks(n, t, c, seed=0, tracks_per_video=100):
    rng = np.random.default_rng(seed)
    scores = (rng.random((n, t, c), dtype=np.float32) * 0.12)
    for k in range(2):
        b = rng.integers(0, t - 60, n)
        ln = rng.integers(30, 60, n)
        cls = rng.integers(0, c, n)
        for i in range(n):
            scores[i, b[i]:b[i] + ln[i], cls[i]] += 0.5
    boxes = np.empty((n, t, 4), np.float32)
    xy = rng.uniform(0, 200, (n, 1, 2)) + np.cumsum(rng.normal(0, 0.5, (n, t, 2)), 1)
    boxes[..., :2] = xy
    boxes[..., 2:] = xy + rng.uniform(30, 80, (n, 1, 2))
    lengths = rng.integers(t // 2, t + 1, n)
    videos = [f'video{i // tracks_per_video}' for i in range(n)]
    return scores, boxes, lengths, np.ones(n, np.int64), videos


def _time(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


@benchmark('temporal_localization')
def temporal_localization(quick: bool, out_dir: str) -> Section:
    from stadl_plugins.localization.temporal import localize_tracks, localize_tracks_naive
    t, c = 1000, 24
    n_full = 1000 if quick else 10000
    n_sub = 20 if quick else 100
    rows = []
    sub = make_tracks(n_sub, t, c, seed=1)
    fps = 25  # paper scale (UCF101-24): the 1-s median window = 25 frames
    for method in ('threshold', 'viterbi'):
        t_naive, ref = _time(lambda: localize_tracks_naive(*sub, method=method, fps=fps))
        t_vec, got = _time(lambda: localize_tracks(*sub, method=method, fps=fps))
        same = sorted(len(v) for v in ref.values()) == sorted(len(v) for v in got.values())
        rows.append([method, f'{n_sub}x{t}x{c}', round(t_naive, 3), round(t_vec, 3),
                     round(t_naive / t_vec, 1), 'yes' if same else 'NO'])
    full = make_tracks(n_full, t, c, seed=2)
    for method in ('threshold', 'viterbi'):
        t_vec, got = _time(lambda: localize_tracks(*full, method=method, fps=fps))
        n_tubes = sum(len(v) for v in got.values())
        rows.append([method, f'{n_full}x{t}x{c}', '-', round(t_vec, 2), '-',
                     f'{n_tubes} tubes'])
    return Section(
        title='RecLNet temporal localization: vectorized vs per-track loop',
        description=('`localize_tracks` (median 1 s = 25 frames at 25 fps + theta 0.1 or '
                     '2-state Viterbi, top-40 '
                     'scores, ST-NMS 0.2 per video and class) vs `localize_tracks_naive` '
                     '(loop over tracks and classes, NMS with `tube_iou`) on random tracks '
                     'with two planted actions each, 100 tracks per video; single run '
                     f'wall time in seconds. {machine_line()}.'),
        header=['method', 'tracks x frames x classes', 'naive s', 'vectorized s',
                'speed-up', 'same tube counts'],
        rows=rows)


if __name__ == '__main__' and '--synthetic' not in sys.argv:
    quick = '--quick' in sys.argv
    print(temporal_localization(quick, '.').to_markdown())


# --------------------------------------------------------------------------------------
# RecLNet on synthetic tracks: per-frame linear vs FC vs LSTM vs GRU, RGB vs flow vs
# fusions, threshold vs Viterbi (mirrors the paper's Tables 1-3 on toy data).


def synthetic_gt_from_geometry(num_train: int, num_test: int, seconds: int, seed: int) -> dict:
    """ACT-schema GT of synthetic-benchmark videos from their geometry alone (no
    rendering): one tube per maximal run of frames in which an actor carries a label,
    exactly as ``stadl_plugins.datasets.synthetic.generator`` writes it."""
    from stadl_plugins.datasets.synthetic import SYNTHETIC_CLASSES, SyntheticConfig
    from stadl_plugins.datasets.synthetic.generator import _video_seed
    from stadl_plugins.datasets.synthetic.video import SyntheticVideo, VideoConfig
    cfg = SyntheticConfig(seed=seed, num_train=num_train, num_val=num_test,
                          video=VideoConfig(seconds=seconds))
    names = [n for _, n, _ in SYNTHETIC_CLASSES]
    vids = [f'syn_train_{i:03d}' for i in range(num_train)] + \
        [f'syn_val_{i:03d}' for i in range(num_test)]
    gt = dict(labels=names, gttubes={}, nframes={}, resolution={},
              train_videos=[vids[:num_train]], test_videos=[vids[num_train:]])
    for index, vid in enumerate(vids):
        video = SyntheticVideo(cfg.video, _video_seed(cfg, index))
        nf = cfg.video.num_frames
        anns = [video.annotations(t) for t in range(nf)]
        tubes = {}
        for pid in range(len(video.tracks)):
            for li, name in enumerate(names):
                run = []
                for t in range(nf + 1):
                    hit = None if t == nf else next(
                        (a for a in anns[t] if a.person_id == pid and name in a.labels), None)
                    if hit is not None:
                        run.append([t + 1, *hit.box])
                    elif run:
                        tubes.setdefault(li, []).append(np.asarray(run, np.float32))
                        run = []
        gt['gttubes'][vid], gt['nframes'][vid] = tubes, nf
        gt['resolution'][vid] = (cfg.video.height, cfg.video.width)
    return gt


def _train_model(model, loader_data, epochs, lr, seed):
    import torch
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return model
    opt = torch.optim.Adam(params, lr=lr, weight_decay=5e-4)  # paper: Adam, wd 5e-4
    feats, labels = loader_data
    n = len(labels)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=g).split(100):  # paper: 100 tracks
            loss = model({s: f[idx] for s, f in feats.items()}, labels[idx], mode='loss')
            opt.zero_grad()
            loss['loss_cls'].backward()
            opt.step()
    return model


def per_frame_linear(d: int, c: int):
    """The "CNN" row: one linear layer per frame on the ``rgb`` feature (no
    context), C+1-way log-softmax; NLL over frames with label -1 ignored."""
    import torch
    import torch.nn as nn

    class PerFrameLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(d, c + 1)

        def forward(self, inputs, labels=None, mode='tensor'):
            logp = torch.log_softmax(self.fc(inputs['rgb']), -1)
            if mode == 'loss':
                return dict(loss_cls=nn.functional.nll_loss(
                    logp.flatten(0, 1), labels.flatten(), ignore_index=-1))
            return logp.exp()

    return PerFrameLinear()


def stack_track_rows(rows: list, videos: list) -> dict:
    """Every track of the read feature files ``rows`` (one per video of
    ``videos``, ``read_track_features(..., ('rgb',))``) padded to one length:
    ``feat (N, S, D)`` float32 (0), ``frames`` (-1), ``boxes`` (0), ``labels`` (-1),
    ``lengths``, and ``videos`` (the video of each track)."""
    s = max(r['frames'].shape[1] for r in rows)

    def pad(key, fill):
        return np.concatenate([np.pad(r[key], [(0, 0), (0, s - r[key].shape[1])]
                                      + [(0, 0)] * (r[key].ndim - 2),
                                      constant_values=fill) for r in rows])
    return dict(feat=pad('feat_rgb', 0).astype(np.float32), frames=pad('frames', -1),
                boxes=pad('boxes', 0), labels=pad('labels', -1),
                lengths=np.concatenate([r['lengths'] for r in rows]),
                videos=[v for v, r in zip(videos, rows) for _ in r['lengths']])


def _windows(ds):
    import torch
    items = [ds[i] for i in range(len(ds))]
    feats = {s: torch.stack([it['inputs'][s] for it in items]) for s in ds.streams}
    return feats, torch.stack([it['labels'] for it in items])


@benchmark('reclnet_synthetic')
def reclnet_synthetic(quick: bool, out_dir: str) -> Section:
    import torch
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny GRUs: one thread is faster and immune to a busy machine
    try:
        return _reclnet_synthetic(quick, out_dir)
    finally:
        torch.set_num_threads(n_threads)


def _reclnet_synthetic(quick: bool, out_dir: str) -> Section:
    import tempfile

    import torch

    from stadl_plugins.datasets.synthetic.video import VideoConfig
    from stadl_plugins.datasets.track_windows import (
        TrackWindowDataset,
        make_synthetic_track_features,
        read_track_features,
    )
    from stadl_plugins.evaluation.functional.video_ap import video_map
    from stadl_plugins.localization.temporal import localize_tracks, median_window_frames
    from stadl_plugins.models.localizers.reclnet import RecLNet
    from stadl_plugins.tracking.linking import tracks_to_arrays

    seeds = (0, 1) if quick else (0, 1, 2)
    n_train, n_test, seconds = (8, 4, 12) if quick else (16, 8, 12)
    fps = VideoConfig(seconds=seconds).fps  # the videos synthetic_gt_from_geometry builds
    epochs, dim, fc, mem = (15, 32, 64, 32) if quick else (20, 32, 64, 32)
    thrs = (0.1, 0.2, 0.3, 0.5)

    rows_spec = [('per-frame linear (CNN)', 'rgb', 'linear', 'threshold'),
                 ('per-frame linear (CNN)', 'rgb', 'linear', 'viterbi'),
                 ('FC', 'rgb', 'fc', 'threshold'), ('LSTM', 'rgb', 'lstm', 'threshold'),
                 ('GRU', 'rgb', 'gru', 'threshold'), ('GRU', 'rgb', 'gru', 'viterbi'),
                 ('GRU', 'flow', 'gru', 'threshold'),
                 ('GRU average', 'rgb+flow', 'average', 'threshold'),
                 ('GRU gating layer', 'rgb+flow', 'gating', 'threshold'),
                 ('GRU fusion layer', 'rgb+flow', 'fusion_layer', 'threshold')]
    results = {k: [] for k in range(len(rows_spec))}
    acc = {k: [] for k in range(len(rows_spec))}
    curves = {}  # first seed: per-frame probabilities for the score-curve plot
    for seed in seeds:
        gt = synthetic_gt_from_geometry(n_train, n_test, seconds, seed)
        c = len(gt['labels'])
        with tempfile.TemporaryDirectory() as tmp:
            tracks = make_synthetic_track_features(gt, tmp, dim=dim, seed=seed)
            train = {}
            for s in ('rgb', 'flow'):
                ds = TrackWindowDataset(tmp, (s,), 20, 5, videos=gt['train_videos'][0])
                train[s] = _windows(ds)
            test_v = gt['test_videos'][0]
            boxes, lengths, starts, videos, index = tracks_to_arrays(
                {v: tracks[v] for v in test_v})
            full = {s: np.zeros((len(index), boxes.shape[1], dim), np.float32)
                    for s in ('rgb', 'flow')}
            labels = np.full((len(index), boxes.shape[1]), -1)
            for i, (v, k) in enumerate(index):
                d = read_track_features(f'{tmp}/{v}.npz', ('rgb', 'flow'))
                for s in full:
                    full[s][i, :lengths[i]] = d[f'feat_{s}'][k, :lengths[i]]
                labels[i, :lengths[i]] = d['labels'][k, :lengths[i]]
        if seed == seeds[0]:
            first_labels, first_lengths = labels, lengths
        streams = {}
        for s in ('rgb', 'flow'):
            streams[s] = _train_model(RecLNet(c, {s: dim}, fc, mem, 'gru'), train[s],
                                      epochs, 5e-3, seed)
        feats2 = {'rgb': train['rgb'][0]['rgb'], 'flow': train['flow'][0]['flow']}
        both = (feats2, train['rgb'][1])
        models = {}
        for k, (_, stream, kind, _) in enumerate(rows_spec):
            key = (stream, kind)
            if key in models:
                continue
            if kind == 'linear':
                m = _train_model(per_frame_linear(dim, c), train['rgb'], epochs, 5e-3, seed)
            elif kind in ('fc', 'lstm'):
                m = _train_model(RecLNet(c, {'rgb': dim}, fc, mem, kind), train['rgb'],
                                 epochs, 5e-3, seed)
            elif kind == 'gru':
                m = streams[stream]
            else:
                m = RecLNet(c, {'rgb': dim, 'flow': dim}, fc, mem, 'gru', fusion=kind,
                            freeze_streams=True)
                for s in ('rgb', 'flow'):
                    m.streams[s].load_state_dict(streams[s].streams[s].state_dict())
                m = _train_model(m, both, max(epochs // 3, 1), 5e-3, seed)
            models[key] = m
        for k, (_, stream, kind, method) in enumerate(rows_spec):
            m = models[(stream, kind)]
            m.eval()
            with torch.no_grad():
                probs = m({s: torch.from_numpy(full[s]) for s in full}).numpy()
            if seed == seeds[0] and method == 'threshold' and stream == 'rgb':
                curves[rows_spec[k][0]] = probs
            valid = labels >= 0
            acc[k].append(100 * float(np.mean(probs.argmax(-1)[valid] == labels[valid])))
            tubes = localize_tracks(probs[..., 1:], boxes, lengths, starts, videos,
                                    method=method, switch_penalty=2.0, fps=fps)
            results[k].append(video_map(gt, tubes, test_v, thresholds=thrs, ranges=()))
    plots = []
    if out_dir and curves:
        plots.append(_plot_curves(curves, first_labels, first_lengths, out_dir))
    rows = []
    for k, (name, stream, _, method) in enumerate(rows_spec):
        cells = [f'{np.mean(acc[k]):.1f} ± {np.std(acc[k]):.1f}']
        for t in thrs:
            v = [r[f'v_map@{t:g}'] for r in results[k]]
            cells.append(f'{np.mean(v):.1f} ± {np.std(v):.1f}')
        rows.append([name, stream, method] + cells)
    return Section(
        title='RecLNet on synthetic tracks: recurrence, streams, fusion, localization',
        description=(f'{n_train} train / {n_test} test synthetic-benchmark videos of {seconds} s '
                     '(GT from the scene geometry), person tracks = GT boxes jittered 4 % '
                     'and linked; per-frame features = noisy class prototypes (dim '
                     f'{dim}, rgb noise 1.0, flow noise 1.5, per-track offset), windows of '
                     f'20 frames, Adam lr 5e-3 wd 5e-4, {epochs} epochs (fusions '
                     f'{max(epochs // 3, 1)} on frozen streams), fc {fc}, M {mem} (paper: '
                     '1024, 256); plain PyTorch loop (the Runner path is tested in '
                     'tests/models/test_reclnet.py). Tubes: median 1 s '
                     f'({median_window_frames(1.0, fps)} frames at {fps} fps) + theta 0.1 '
                     '(threshold) or '
                     '2-state Viterbi (penalty 2), top-40 scores, ST-NMS 0.2. Mean ± std '
                     f'over seeds {list(seeds)} (new videos and features per seed).'),
        header=['model', 'features', 'localization', 'frame acc %'] +
               [f'v-mAP@{t:g}' for t in thrs],
        rows=rows, plots=plots)


def _plot_curves(curves, labels, lengths, out_dir, name='reclnet_score_curves.png'):
    """Paper Fig. 3 style: score of the true action along test tracks, per model,
    GT frames of that action shaded; the three tracks with most label changes."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    changes = [(np.count_nonzero(np.diff(labels[i, :lengths[i]])), i)
               for i in range(len(labels))]
    picks = [i for _, i in sorted(changes, reverse=True)[:3]]
    fig, axes = plt.subplots(len(picks), 1, figsize=(8, 2.2 * len(picks)), squeeze=False)
    for ax, i in zip(axes[:, 0], picks):
        lab = labels[i, :lengths[i]]
        acts = lab[lab > 0]
        c = int(np.bincount(acts).argmax()) if len(acts) else 1
        t = np.arange(lengths[i])
        ax.fill_between(t, 0, 1, where=lab == c, color='0.85', step='mid', label='GT')
        for model, probs in curves.items():
            ax.plot(t, probs[i, :lengths[i], c], label=model)
        ax.axhline(0.1, color='k', lw=0.5, ls='--')
        ax.set_ylim(0, 1)
        ax.set_ylabel(f'track {i}, class {c - 1}')
    axes[0, 0].legend(fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel('frame in track')
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(os.path.join(out_dir, name), dpi=80)
    plt.close(fig)
    return name


if __name__ == '__main__' and '--synthetic' in sys.argv:
    print(reclnet_synthetic('--quick' in sys.argv, '/tmp/bench_reclnet_out').to_markdown())
