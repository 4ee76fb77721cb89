"""RecLNet's last step: trained checkpoint + track features -> tubes -> video-mAP / CSV.

    python tools/reclnet/localize.py CONFIG CHECKPOINT \
        [--feature-dir DIR] [--gt GT.pkl] [--split test|train|all] [--videos V ...] \
        [--method threshold|viterbi] [--theta 0.1] [--window 25] [--switch-penalty 2.0] \
        [--top-k 40] [--nms 0.2] [--thresholds 0.2 0.5 ...] [--protocol multisports] \
        [--out tubes.pkl] [--csv tubes.csv] [--device cpu] [--no-progress] \
        [--cfg-options K=V ...]

For every video: read ``<feature-dir>/<video>.npz`` (the files
``tools/reclnet/extract_track_features.py`` writes, or
``make_synthetic_track_features``), score each whole track with the RecLNet of
CONFIG/CHECKPOINT (``RecLNet.score_tracks``: per-frame C+1 softmax, background
dropped), spread per-step scores to every frame when features were sampled every
N frames (``densify_track_steps``), then cut the tracks into tubes per class with
``localize_tracks`` (``--method threshold``: the paper's median filter + theta;
``viterbi``: the baseline). With a GT pickle (default: the config's ``gt_file``)
it prints video-mAP at ``--thresholds``; ``--out`` writes the tubes
``{label: [(video, score, (L, 6) frame,x1,y1,x2,y2,score)]}`` (the input of
``video_map``), ``--csv`` one row per tube.

Defaults: the feature folder, streams and GT of the config's test dataset;
videos: the GT's ``test_videos[0]`` (``--split``), else every ``.npz`` found.
Exit status 0 on success, 2 on bad input.
"""
from __future__ import annotations

import argparse
import csv
import os
import os.path as osp
import pickle
import sys


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='RecLNet config (e.g. configs/reclnet/...)')
    p.add_argument('checkpoint', help='trained RecLNet weights (.pth)')
    p.add_argument('--feature-dir', help="folder of <video>.npz track features (default: "
                   "the config test dataset's feature_dir)")
    p.add_argument('--gt', help="ACT-schema GT pickle for video-mAP and the video list "
                   "(default: the config's gt_file; 'none' to skip evaluation)")
    p.add_argument('--split', choices=('test', 'train', 'all'), default='test',
                   help='which GT videos (split 1); all: every .npz in --feature-dir')
    p.add_argument('--videos', nargs='+', help='only these videos')
    p.add_argument('--method', choices=('threshold', 'viterbi'), default='threshold',
                   help='threshold: median filter + theta (paper); viterbi: baseline')
    p.add_argument('--theta', type=float, default=0.1, help='threshold on smoothed scores')
    p.add_argument('--window', type=int, default=25, help='median filter window (frames)')
    p.add_argument('--switch-penalty', type=float, default=2.0,
                   help='Viterbi state-switch penalty')
    p.add_argument('--top-k', type=int, default=40,
                   help='a tube scores the mean of its top-k frame scores')
    p.add_argument('--nms', type=float, default=0.2, help='spatio-temporal NMS IoU')
    p.add_argument('--thresholds', type=float, nargs='+', default=[0.2, 0.5],
                   help='video-mAP IoU thresholds')
    p.add_argument('--protocol', default='multisports',
                   help='video-AP rules (see docs/evaluation.md)')
    p.add_argument('--out', help='write the tubes to this pickle')
    p.add_argument('--csv', help='write one row per tube: video, label, name, score, '
                   'first_frame, last_frame, frames')
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--batch-size', type=int, default=256, help='tracks per forward')
    p.add_argument('--no-progress', dest='progress', action='store_false',
                   help='no progress bar')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value (data_root=DIR moves '
                   'every path under the old root)')
    return p.parse_args(argv)


def _test_dataset(cfg):
    dl = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    return dl.get('dataset', {}) if dl else {}


def build_model(cfg, checkpoint: str, device: str):
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from stadl_plugins.registry import MMACTION_MODELS
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = MMACTION_MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', revise_keys=[])
    return model.to(device).eval()


def score_video(model, path: str, streams, batch_size: int = 256) -> dict:
    """Per-frame class scores ``(N, T, C)`` (no background), boxes, lengths and start
    frames of the tracks of one feature file, every frame filled."""
    import numpy as np
    import torch

    from stadl_plugins.apis.track_features import densify_track_steps
    from stadl_plugins.datasets.track_windows import read_track_features
    data = read_track_features(path, streams)
    lengths = np.asarray(data['lengths'], np.int64)
    keep = np.where(lengths > 0)[0]
    feats = {s: data[f'feat_{s}'][keep].astype(np.float32) for s in streams}
    with torch.no_grad():
        probs = model.score_tracks(feats, lengths[keep], batch_size=batch_size)
    probs = probs.numpy() if len(keep) else np.zeros((0, 1, 1), np.float32)
    scores, boxes, lens, starts = densify_track_steps(
        probs[..., 1:], np.asarray(data['frames'])[keep],
        np.asarray(data['boxes'], np.float32)[keep], lengths[keep])
    return dict(scores=scores, boxes=boxes, lengths=lens, starts=starts)


def write_csv(path: str, tubes: dict, labels=None) -> int:
    rows = 0
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['video', 'label', 'name', 'score', 'first_frame', 'last_frame',
                    'frames'])
        for label in sorted(tubes):
            name = labels[label] if labels is not None and label < len(labels) else ''
            for video, score, tube in sorted(tubes[label], key=lambda t: -t[1]):
                w.writerow([video, label, name, f'{float(score):.6f}',
                            int(tube[0, 0]), int(tube[-1, 0]), len(tube)])
                rows += 1
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmengine.config import Config
    from tqdm import tqdm

    import stadl_plugins  # noqa: F401  (plugins, stack fixes)
    from stadl_plugins.evaluation.functional.video_ap import video_map
    from stadl_plugins.localization.temporal import localize_tracks
    from stadl_plugins.safe_load import safe_pickle_load
    from stadl_plugins.utils import apply_overrides

    cfg = Config.fromfile(args.config)
    apply_overrides(cfg, args.cfg_options)
    ds = _test_dataset(cfg)
    feature_dir = args.feature_dir or ds.get('feature_dir') or cfg.get('feature_dir')
    if not feature_dir or not osp.isdir(feature_dir):
        print(f'error: feature folder {feature_dir!r} not found (--feature-dir)',
              file=sys.stderr)
        return 2
    gt_file = None if (args.gt or '').lower() == 'none' else (
        args.gt or ds.get('gt_file') or cfg.get('gt_file'))
    gt = None
    if gt_file:
        if not osp.exists(gt_file):
            print(f'error: GT file {gt_file} not found (--gt, or --gt none)',
                  file=sys.stderr)
            return 2
        gt = safe_pickle_load(gt_file)
    streams = list(ds.get('streams') or cfg.get('streams') or ('rgb', ))
    if args.videos:
        videos = list(args.videos)
    elif gt is not None and args.split != 'all':
        videos = list(gt[f'{args.split}_videos'][0])
    else:
        videos = sorted(osp.relpath(osp.join(r, n), feature_dir)[:-4]
                        for r, _, names in os.walk(feature_dir)
                        for n in names if n.endswith('.npz'))
    missing = [v for v in videos if not osp.exists(osp.join(feature_dir, f'{v}.npz'))]
    if missing:
        print(f'error: {len(missing)} video(s) without features in {feature_dir}, e.g. '
              f'{missing[:3]} (run tools/reclnet/extract_track_features.py first)',
              file=sys.stderr)
        return 2

    model = build_model(cfg, args.checkpoint, args.device)
    tubes: dict = {}
    num_tracks = 0
    for video in tqdm(videos, desc='tracks -> tubes', unit='video',
                      disable=not args.progress, file=sys.stderr):
        s = score_video(model, osp.join(feature_dir, f'{video}.npz'), streams,
                        args.batch_size)
        n = len(s['lengths'])
        num_tracks += n
        if not n:
            continue
        out = localize_tracks(s['scores'], s['boxes'], s['lengths'], s['starts'],
                              [video] * n, method=args.method, theta=args.theta,
                              window=args.window, switch_penalty=args.switch_penalty,
                              top_k=args.top_k, nms_thr=args.nms)
        for label, items in out.items():
            tubes.setdefault(label, []).extend(items)
    total = sum(len(v) for v in tubes.values())
    print(f'{len(videos)} videos, {num_tracks} tracks -> {total} tubes '
          f'({args.method}) in {len(tubes)} classes')
    if args.out:
        with open(args.out, 'wb') as f:
            pickle.dump(tubes, f)
        print(f'tubes: {args.out}')
    if args.csv:
        rows = write_csv(args.csv, tubes, gt['labels'] if gt is not None else None)
        print(f'CSV: {args.csv} ({rows} rows)')
    if gt is not None:
        res = video_map(gt, tubes, videos, thresholds=tuple(args.thresholds), ranges=(),
                        protocol=args.protocol)
        for k, v in res.items():
            print(f'{k}: {v:.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
