"""RecLNet's last step: trained checkpoint + track features -> tubes -> video-mAP / CSV.

    python tools/reclnet/localize.py CONFIG CHECKPOINT \
        [--feature-dir DIR] [--gt GT.pkl] [--split test|train|all] [--videos V ...] \
        [--method threshold|viterbi] [--theta 0.1] [--median-seconds 1.0 | --median-frames N] \
        [--fps FPS] [--switch-penalty 2.0] [--viterbi-threshold 0.5] \
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

Median window: a time, ``--median-seconds`` (default: the config's
``localization.median_seconds``, else 1 s -- the paper's 25 frames at UCF101-24's
25 fps), turned into frames with each video's frame rate
(:func:`~stadl_plugins.localization.temporal.median_window_frames`: the nearest odd
count, ties down; 10 fps -> 9 frames). The frame rate is ``--fps``, else the
feature file's ``fps`` key (``extract_track_features.py`` writes it), else the
config's ``fps``; with none of them the threshold method stops with exit status 2
and a message naming these fixes. ``--median-frames N`` gives the window in frames
instead (no fps needed; not with ``--median-seconds``); ``--window N`` is its
deprecated old name (one more release, with a warning).

Defaults: the feature folder, streams and GT of the config's test dataset;
localization parameters from the config's ``localization`` dict (``theta``,
``top_k``, ``nms_thr``, ``switch_penalty``, ``viterbi_threshold``, ``median_seconds`` /
``median_frames``),
else the paper's; videos: the GT's ``test_videos[0]`` (``--split``), else every
``.npz`` found. Exit status 0 on success, 2 on bad input.
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
    p.add_argument('--theta', type=float, help='threshold on smoothed scores (0.1)')
    win = p.add_mutually_exclusive_group()
    win.add_argument('--median-seconds', type=float,
                     help='median filter window in seconds (default: the config, else 1; '
                     'converted with the fps)')
    win.add_argument('--median-frames', type=int,
                     help='median filter window in frames instead of seconds')
    win.add_argument('--window', type=int, help='deprecated: use --median-frames')
    p.add_argument('--fps', type=float, help="frame rate of the videos (default: each "
                   "feature file's fps, else the config's fps)")
    p.add_argument('--switch-penalty', type=float, help='Viterbi state-switch penalty (2)')
    p.add_argument('--viterbi-threshold', type=float,
                   help='Viterbi decision threshold tau (0.5: plain log-odds; lower for '
                        'scores far below 0.5, e.g. a sigmoid detector head)')
    p.add_argument('--top-k', type=int,
                   help='a tube scores the mean of its top-k frame scores (40)')
    p.add_argument('--nms', type=float, help='spatio-temporal NMS IoU (0.2)')
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


#: the localization settings a config's ``localization`` dict may hold, and the
#: paper's values used when neither the command line nor the config sets them
LOCALIZATION_DEFAULTS = dict(theta=0.1, top_k=40, nms_thr=0.2, switch_penalty=2.0,
                             viterbi_threshold=0.5)


def localization_settings(args, cfg) -> dict:
    """``localize_tracks`` keywords: command line > config ``localization`` > paper.

    Returns ``theta, top_k, nms_thr, switch_penalty, viterbi_threshold`` and one of
    ``median_seconds`` / ``median_frames``.

    Raises:
        ValueError: unknown config keys, or both window forms in the config.
    """
    loc = dict(cfg.get('localization') or {})
    loc.pop('method', None)
    unknown = set(loc) - set(LOCALIZATION_DEFAULTS) - {'median_seconds', 'median_frames'}
    if unknown:
        raise ValueError(f'config localization has unknown keys {sorted(unknown)}; known: '
                         f"{sorted(LOCALIZATION_DEFAULTS) + ['median_frames', 'median_seconds']}")
    cli = dict(theta=args.theta, top_k=args.top_k, nms_thr=args.nms,
               switch_penalty=args.switch_penalty, viterbi_threshold=args.viterbi_threshold)
    out = {k: cli[k] if cli[k] is not None else loc.get(k, v)
           for k, v in LOCALIZATION_DEFAULTS.items()}
    if not 0 < float(out['viterbi_threshold']) < 1:
        raise ValueError(f"viterbi_threshold must be in (0, 1), got {out['viterbi_threshold']} "
                         '(--viterbi-threshold or the config localization dict)')
    frames = args.median_frames if args.median_frames is not None else args.window
    if args.median_seconds is not None:
        out['median_seconds'] = args.median_seconds
    elif frames is not None:
        out['median_frames'] = frames
    elif loc.get('median_seconds') is not None and loc.get('median_frames') is not None:
        raise ValueError('config localization sets both median_seconds and median_frames; '
                         'keep one')
    elif loc.get('median_frames') is not None:
        out['median_frames'] = loc['median_frames']
    else:
        out['median_seconds'] = loc.get('median_seconds')  # None: the paper's 1 s
    return out


def video_fps(path: str, cli_fps=None, cfg_fps=None):
    """Frame rate for one feature file: ``--fps`` > the file's ``fps`` > the config's."""
    if cli_fps is not None:
        return float(cli_fps)
    import numpy as np
    with np.load(path) as z:
        if 'fps' in z.files:
            return float(z['fps'])
    return None if cfg_fps is None else float(cfg_fps)


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
    if args.window is not None:
        print('warning: --window is deprecated (removed in the next release): the median '
              'window is a time now, --median-seconds (default 1 s), or give frames '
              'with --median-frames', file=sys.stderr)
    try:
        settings = localization_settings(args, cfg)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    fps = {}
    if args.method == 'threshold' and 'median_frames' not in settings:
        fps = {v: video_fps(osp.join(feature_dir, f'{v}.npz'), args.fps, cfg.get('fps'))
               for v in videos}
        no_fps = [v for v, f in fps.items() if f is None]
        if no_fps:
            print(f'error: {len(no_fps)} video(s) have no frame rate, e.g. {no_fps[:3]}: '
                  'the median window is a time (median_seconds) and needs the fps. Pass '
                  '--fps N, set fps = N in the config, re-extract the features with '
                  'tools/reclnet/extract_track_features.py --fps N (stored in each file), '
                  'or give the window in frames with --median-frames N', file=sys.stderr)
            return 2
        bad = [(v, f) for v, f in fps.items() if not f > 0]
        if bad:
            print(f'error: fps must be positive, got {bad[:3]}', file=sys.stderr)
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
                              [video] * n, method=args.method, fps=fps.get(video),
                              **settings)
        for label, items in out.items():
            tubes.setdefault(label, []).extend(items)
    total = sum(len(v) for v in tubes.values())
    how = args.method
    if args.method == 'threshold':
        from stadl_plugins.localization.temporal import (
            PAPER_MEDIAN_SECONDS,
            resolve_median_window,
        )
        if 'median_frames' in settings:
            how += f", median {settings['median_frames']} frames"
        else:
            wins = sorted({(f, resolve_median_window(f, settings['median_seconds']))
                           for f in fps.values()})
            sec = settings['median_seconds'] or PAPER_MEDIAN_SECONDS
            how += f', median {sec:g} s = ' + ', '.join(
                f'{w} frames at {f:g} fps' for f, w in wins)
    print(f'{len(videos)} videos, {num_tracks} tracks -> {total} tubes '
          f'({how}) in {len(tubes)} classes')
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
