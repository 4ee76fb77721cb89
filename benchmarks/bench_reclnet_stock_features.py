"""RecLNet on REAL detector features of the synthetic benchmark.

Needs the features extracted once (about 5 s per video on the shared 2-core CPU)::

    nice -n 10 .venv/bin/python tools/reclnet/extract_track_features.py \\
        configs/baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py \\
        benchmarks/results/atr_runs/stock_s0/epoch_15.pth \\
        data/synthetic/track_features_stock \\
        --gt data/synthetic/annotations/synthetic_gt.pkl

then ``nice -n 10 .venv/bin/python benchmarks/bench_reclnet_stock_features.py
[--quick]`` (or ``benchmarks/run.py --only reclnet_stock_features``).

Rows: the stock detector's own per-frame scores (its ``fc_cls`` on the extracted
feature, sigmoid, at the 7 synthetic class ids), a per-frame linear classifier,
the FC baseline and the GRU RecLNet trained on windows of 20 of the train videos'
tracks (features standardised with train statistics), each localized with the
threshold method and the GRU/detector also with Viterbi; frame accuracy on the
val tracks (labels >= 0) and video-mAP on the 12 val videos.
"""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import Section, benchmark  # noqa: E402

from stadl_plugins.safe_load import safe_pickle_load

REPO = os.path.dirname(HERE)
FEATURES = os.path.join(REPO, 'data', 'synthetic', 'track_features_stock')
GT = os.path.join(REPO, 'data', 'synthetic', 'annotations', 'synthetic_gt.pkl')
META = os.path.join(REPO, 'data', 'synthetic', 'annotations', 'meta.json')
CKPT = os.path.join(REPO, 'benchmarks', 'results', 'atr_runs', 'stock_s0', 'epoch_15.pth')
CLASS_IDS = (4, 7, 12, 14, 17, 69, 79)  # synthetic_gt.pkl labels order -> AVA ids


def _fps(rows) -> float:
    """The videos' frame rate: the feature files' ``fps`` (extract_track_features.py
    writes it), else the synthetic dataset's meta.json (files extracted before
    the key existed)."""
    import json

    from stadl_plugins.datasets.track_feature_io import track_fps
    rates = {track_fps(r) for r in rows} - {None}
    if len(rates) > 1:
        raise ValueError(f'{FEATURES}: the files disagree on fps: {sorted(rates)}')
    if rates:
        return rates.pop()
    with open(META) as f:
        return float(json.load(f)['config']['video']['fps'])


def _stack(videos):
    from stadl_plugins.datasets.track_windows import read_track_features
    rows = [read_track_features(os.path.join(FEATURES, f'{v}.npz'), ('rgb',))
            for v in videos]
    from bench_reclnet import stack_track_rows
    return dict(stack_track_rows(rows, videos), fps=_fps(rows))


@benchmark('reclnet_stock_features')
def reclnet_stock_features(quick: bool, out_dir: str) -> Section:
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(quick)
    finally:
        torch.set_num_threads(n)


def _run(quick: bool) -> Section:
    import torch
    from bench_reclnet import _train_model, per_frame_linear

    from stadl_plugins.apis.track_features import densify_track_steps
    from stadl_plugins.datasets.track_windows import TrackWindowDataset
    from stadl_plugins.evaluation.functional.video_ap import video_map
    from stadl_plugins.localization.temporal import localize_tracks
    from stadl_plugins.models.localizers.reclnet import RecLNet
    if not os.path.isdir(FEATURES):
        raise FileNotFoundError(f'{FEATURES} missing: extract it first (module docstring)')
    with open(GT, 'rb') as f:
        gt = safe_pickle_load(f)
    c = len(gt['labels'])
    train_v, test_v = gt['train_videos'][0], gt['test_videos'][0]
    ds = TrackWindowDataset(FEATURES, ('rgb',), 20, 5, videos=train_v)
    items = [ds[i] for i in range(len(ds))]
    x_train = torch.stack([it['inputs']['rgb'] for it in items])     # (W, 20, D)
    y_train = torch.stack([it['labels'] for it in items])            # (W, 20)
    valid = y_train >= 0
    mean = x_train[valid].mean(0)
    std = x_train[valid].std(0) + 1e-6
    test = _stack(test_v)
    d = test['feat'].shape[2]
    x_test = torch.from_numpy((test['feat'] - mean.numpy()) / std.numpy())
    train = ({'rgb': (x_train - mean) / std}, y_train)

    seeds = (0, 1) if quick else (0, 1, 2)
    epochs, fc, mem = (15, 64, 32) if quick else (25, 64, 32)
    thrs = (0.1, 0.2, 0.3, 0.5)
    specs = [('stock detector scores', 'det', 'threshold'),
             ('stock detector scores', 'det', 'viterbi'),
             ('per-frame linear', 'linear', 'threshold'),
             ('FC', 'fc', 'threshold'), ('GRU', 'gru', 'threshold'),
             ('GRU', 'gru', 'viterbi')]
    lab = test['labels']
    ok = lab >= 0

    def evaluate(probs, method):  # probs (N, T, C+1) per step
        acc = 100 * float(np.mean(probs.argmax(-1)[ok] == lab[ok]))
        s, b, ln, st = densify_track_steps(probs[..., 1:], test['frames'], test['boxes'],
                                           test['lengths'])
        tubes = localize_tracks(s, b, ln, st, test['videos'], method=method,
                                fps=test['fps'])
        return acc, video_map(gt, tubes, test_v, thresholds=thrs, ranges=())

    # the detector itself: fc_cls of the checkpoint on the raw features
    sd = torch.load(CKPT, map_location='cpu', weights_only=True)['state_dict']
    w = sd['roi_head.bbox_head.fc_cls.weight'][list(CLASS_IDS)]
    bias = sd['roi_head.bbox_head.fc_cls.bias'][list(CLASS_IDS)]
    det = torch.sigmoid(torch.from_numpy(test['feat']) @ w.T + bias).numpy()  # (N, T, C)
    # frame accuracy of the detector: argmax over [1 - max score, scores]
    det_probs = np.concatenate([1 - det.max(-1, keepdims=True), det], -1)
    res = {k: [] for k in range(len(specs))}
    for seed in seeds:
        models = {'linear': _train_model(per_frame_linear(d, c), train, epochs, 5e-3, seed),
                  'fc': _train_model(RecLNet(c, {'rgb': d}, fc, mem, 'fc'), train,
                                     epochs, 5e-3, seed),
                  'gru': _train_model(RecLNet(c, {'rgb': d}, fc, mem, 'gru'), train,
                                      epochs, 5e-3, seed)}
        for k, (_, kind, method) in enumerate(specs):
            if kind == 'det':
                if seed != seeds[0]:
                    continue
                probs = det_probs
            else:
                m = models[kind].eval()
                with torch.no_grad():
                    probs = m({'rgb': x_test}).numpy()
            res[k].append(evaluate(probs, method))
    rows = []
    for k, (name, kind, method) in enumerate(specs):
        accs = [a for a, _ in res[k]]
        cells = [f'{np.mean(accs):.1f} ± {np.std(accs):.1f}']
        for t in thrs:
            v = [r[f'v_map@{t:g}'] for _, r in res[k]]
            cells.append(f'{np.mean(v):.1f} ± {np.std(v):.1f}')
        rows.append([name, method] + cells)
    return Section(
        title='RecLNet on real stock-detector RoI features (synthetic benchmark)',
        description=(f'{len(train_v)} train / {len(test_v)} val videos; tracks linked from '
                     'the keyframe proposals (tools/reclnet/extract_track_features.py), '
                     f'{int(test["lengths"].sum())} val track frames; features = the '
                     f'stock detector\'s {d}-d fc_cls input per frame. Trained rows: '
                     f'windows of 20 (stride 5), Adam lr 5e-3 wd 5e-4, {epochs} epochs, '
                     f'fc {fc}, M {mem}; mean ± std over seeds {list(seeds)}. Detector row: '
                     'its own sigmoid scores (one run, deterministic).'),
        header=['model', 'localization', 'frame acc %'] + [f'v-mAP@{t:g}' for t in thrs],
        rows=rows)


if __name__ == '__main__':
    print(reclnet_stock_features('--quick' in sys.argv, '/tmp').to_markdown())
