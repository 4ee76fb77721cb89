"""Write the pictures people want to look at, as PNGs.

    python tools/analysis/visualize.py flow FLOW.npz [--key flow] [--max-flow M] --out F.png
    python tools/analysis/visualize.py flow --images A.png B.png --config PWC_CFG \
        [--checkpoint CKPT] --out F.png
    python tools/analysis/visualize.py attention MAPS.npz [--alpha 0.5] --out A.png
    python tools/analysis/visualize.py tubes TUBES.pkl [--video V] [--num-frames 8] --out T.png
    python tools/analysis/visualize.py scores SCORES.npz [--threshold 0.5] --out S.png
    python tools/analysis/visualize.py scores TUBES.pkl --track ID --out S.png
    python tools/analysis/visualize.py ap SUMMARY.json --out AP.png [--pr-out PR.png]
    python tools/analysis/visualize.py curves WORK_DIR [--all-runs] --out C.png

Inputs:

* ``flow``: an ``.npz`` with ``flow`` ``(H, W, 2)`` or ``(N, H, W, 2)`` (``(2, H, W)``
  too) in pixels -- one tile per field; or two images and a config whose ``model``
  is a ``PWCNet`` (weights: mmengine checkpoints or the layouts
  ``stadl_plugins.models.flow.load_pwcnet_weights`` converts).
* ``attention``: ``.npz`` with ``frames`` ``(T, H, W, 3)`` uint8 RGB and ``maps``
  ``(T, h, w)`` (any resolution; e.g. VideoLSTM attention or HST-LSTM pooling
  weights), optional ``captions``.
* ``tubes``: a pickle ``{'tubes': [{'id', 'frame_inds' (L,), 'boxes' (L, 4) px,
  'label'?, 'score'?}], 'frames' (T, H, W, 3) RGB + 'frame_inds' (T,)}``, or with
  ``'video'`` (a path) instead of frames: ``--num-frames`` frames evenly over the
  tubes' span are read from it. ``tools/demo/stad_demo.py --out-tubes`` writes
  this format (with per-keyframe scores, usable by ``scores --track``).
* ``scores``: ``.npz`` with ``scores`` ``(T, C)``, optional ``class_names``,
  ``times``, ``threshold``; or a tubes pickle and ``--track``.
* ``ap``: a JSON with ``per_class_AP`` ``{name: AP}`` (``tools/quickstart.py``'s
  ``summary.json``) or ``per_class``; if it has ``pr_curves`` ``{name:
  {"precision": [...], "recall": [...]}}``, ``--pr-out`` plots them.
* ``curves``: an mmengine work dir (its ``*/vis_data/scalars.json``; the latest
  run, or all with ``--all-runs``) or one ``scalars.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from stadl_plugins.safe_load import safe_pickle_load


def _load_npz(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such file')
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _need(data: dict, key: str, path: str):
    if key not in data:
        raise KeyError(f'{path} has no {key!r} (keys: {sorted(data)})')
    return data[key]


def cmd_flow(args) -> str:
    from stadl_plugins.visualization import flow_to_color, tile, write_png
    if args.images:
        flow = flow_from_images(args.images, args.config, args.checkpoint,
                                args.device)
        fields = flow[None]
    else:
        if not args.input:
            raise ValueError('flow needs FLOW.npz or --images A B --config CFG')
        fields = np.asarray(_need(_load_npz(args.input), args.key, args.input),
                            np.float32)
        if fields.ndim == 3:
            fields = fields[None]
        if fields.ndim == 4 and fields.shape[1] == 2 and fields.shape[-1] != 2:
            fields = fields.transpose(0, 2, 3, 1)
    if args.frames:
        bad = [i for i in args.frames if not -len(fields) <= i < len(fields)]
        if bad:
            raise ValueError(f'--frames {bad}: the input has {len(fields)} flow '
                             f'field(s) (0..{len(fields) - 1})')
        fields = fields[list(args.frames)]
    max_flow = args.max_flow
    if max_flow is None:  # one scale for all tiles, so they compare
        mags = np.hypot(fields[..., 0], fields[..., 1])
        max_flow = float(np.nanmax(np.where(np.isfinite(mags), mags, 0)))
    if len(fields) == 1:
        from stadl_plugins.visualization import write_flow_png
        return write_flow_png(args.out, fields[0], max_flow)
    tiles = np.stack([flow_to_color(f, max_flow) for f in fields])
    return write_png(args.out, tile(tiles, args.ncols))


def flow_from_images(images, config: str | None, checkpoint: str | None,
                     device: str = 'cpu') -> np.ndarray:
    """Flow ``(H, W, 2)`` from image A to image B with a PWC-Net config."""
    import cv2
    import torch
    from mmaction.registry import MODELS
    from mmengine.config import Config

    import stadl_plugins  # noqa: F401
    if not config:
        raise ValueError('--images needs --config (a config whose model is a PWCNet)')
    imgs = []
    for p in images:
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f'{p}: cannot read the image')
        imgs.append(img)
    if imgs[0].shape != imgs[1].shape:
        raise ValueError(f'the images differ in size: {imgs[0].shape} vs '
                         f'{imgs[1].shape}')
    cfg = Config.fromfile(config)
    model_cfg = cfg.get('flow_model', cfg.get('model'))
    if model_cfg is None or 'PWCNet' not in str(model_cfg.get('type')):
        raise ValueError(f'{config}: expected model (or flow_model) of type PWCNet, '
                         f'got {model_cfg and model_cfg.get("type")}')
    model = MODELS.build(model_cfg)
    if checkpoint:
        from stadl_plugins.models.flow.weight_converters import load_pwcnet_weights
        load_pwcnet_weights(model, checkpoint)
    model.to(device).eval()

    def to_tensor(img):  # public PWC-Net weights: BGR in [0, 1]
        return torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]

    with torch.no_grad():
        flow = model(to_tensor(imgs[0]).to(device), to_tensor(imgs[1]).to(device))
    return flow[0].permute(1, 2, 0).cpu().numpy()


def cmd_attention(args) -> str:
    from stadl_plugins.visualization import save_attention_grid
    data = _load_npz(args.input)
    frames = _need(data, 'frames', args.input)
    maps = _need(data, 'maps', args.input)
    captions = data.get('captions')
    if captions is None:
        captions = [f't={t}' for t in range(len(frames))]
    save_attention_grid(args.out, frames, maps, ncols=args.ncols, alpha=args.alpha,
                        colormap=args.colormap, normalize=args.normalize,
                        captions=[str(c) for c in captions])
    return args.out


def _load_tubes(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such file')
    with open(path, 'rb') as f:
        data = safe_pickle_load(f)
    if not isinstance(data, dict) or 'tubes' not in data:
        raise ValueError(f'{path}: expected a dict with "tubes" (see --help)')
    return data


def read_video_frames(path: str, numbers) -> np.ndarray:
    """The frames with the given numbers from a video, RGB ``(T, H, W, 3)``."""
    import cv2

    from stadl_plugins.apis import VideoFrames
    wanted = sorted(set(int(n) for n in numbers))
    got = {}
    for idx, frame in VideoFrames(path):
        if idx in wanted:
            got[idx] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if idx >= wanted[-1]:
            break
    missing = [n for n in wanted if n not in got]
    if missing:
        raise ValueError(f'{path} has no frames {missing[:5]} (it ended earlier)')
    return np.stack([got[int(n)] for n in numbers])


def cmd_tubes(args) -> str:
    from stadl_plugins.visualization import save_tube_strip
    data = _load_tubes(args.input)
    tubes = data['tubes']
    if args.track is not None:
        tubes = [t for t in tubes if int(t['id']) in args.track]
        if not tubes:
            raise ValueError(f'no tube with id in {args.track}')
    if 'frames' in data:
        frames = np.asarray(data['frames'])
        numbers = data.get('frame_inds', np.arange(len(frames)))
    else:
        video = args.video or data.get('video')
        if not video:
            raise ValueError(f'{args.input} has no frames: pass --video')
        spans = [np.asarray(t['frame_inds']) for t in tubes if len(t['frame_inds'])]
        if not spans:
            raise ValueError('the tubes are empty: nothing to draw')
        lo = min(int(s.min()) for s in spans)
        hi = max(int(s.max()) for s in spans)
        numbers = np.unique(np.linspace(lo, hi, args.num_frames).round().astype(int))
        frames = read_video_frames(video, numbers)
    save_tube_strip(args.out, frames, tubes, numbers, ncols=args.ncols,
                    max_width=args.max_width or None)
    return args.out


def cmd_scores(args) -> str:
    from stadl_plugins.visualization import plot_score_curves
    if args.input.endswith(('.pkl', '.pickle')):
        data = _load_tubes(args.input)
        if args.track is None or len(args.track) != 1:
            raise ValueError('a tubes pickle needs --track ID (one id)')
        tube = next((t for t in data['tubes'] if int(t['id']) == args.track[0]), None)
        if tube is None or 'keyframe_scores' not in tube:
            raise ValueError(f'no tube {args.track[0]} with keyframe_scores in '
                             f'{args.input}')
        scores = np.asarray(tube['keyframe_scores'])
        names = data.get('class_names')
        times = np.asarray(tube['keyframe_times'])
        title = f'track {args.track[0]}'
    else:
        data = _load_npz(args.input)
        scores = _need(data, 'scores', args.input)
        names = data.get('class_names')
        times = data.get('times')
        title = ''
        if args.threshold is None and 'threshold' in data:
            args.threshold = float(data['threshold'])
    names = None if names is None else [str(n) for n in names]
    return plot_score_curves(args.out, scores, names, threshold=args.threshold,
                             times=times, title=title)


def cmd_ap(args) -> str:
    from stadl_plugins.visualization import plot_ap_bars, plot_pr_curves
    if not os.path.isfile(args.input):
        raise FileNotFoundError(f'{args.input}: no such file')
    with open(args.input) as f:
        summary = json.load(f)
    ap = summary.get('per_class_AP', summary.get('per_class'))
    if not ap:
        raise KeyError(f'{args.input} has no per_class_AP / per_class table')
    title = f"per-class AP ({summary.get('config', os.path.basename(args.input))})"
    plot_ap_bars(args.out, ap, title=title)
    if args.pr_out:
        curves = summary.get('pr_curves')
        if not curves:
            raise KeyError(f'{args.input} has no pr_curves for --pr-out')
        plot_pr_curves(args.pr_out, {k: (v['precision'], v['recall'])
                                     for k, v in curves.items()}, ap)
    return args.out


def cmd_curves(args) -> str:
    from stadl_plugins.visualization import find_scalar_logs, load_scalars, plot_training_curves
    logs = find_scalar_logs(args.input)
    if not args.all_runs:
        logs = logs[-1:]
    records = [r for log in logs for r in load_scalars(log)]
    return plot_training_curves(args.out, records, keys=args.keys,
                                title=os.path.relpath(logs[-1]))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='command', required=True)

    f = sub.add_parser('flow', help='flow field(s) as colour-wheel PNG')
    f.add_argument('input', nargs='?', help='.npz with "flow"')
    f.add_argument('--key', default='flow', help='array name in the .npz')
    f.add_argument('--frames', type=int, nargs='+', metavar='I',
                   help='only these flow fields of a (T, H, W, 2) input (0-based)')
    f.add_argument('--images', nargs=2, metavar=('A', 'B'),
                   help='estimate the flow A -> B with a PWCNet (--config)')
    f.add_argument('--config', help='config whose model is a PWCNet')
    f.add_argument('--checkpoint', help='PWCNet weights for --images')
    f.add_argument('--device', default='cpu', help='cpu or cuda')
    f.add_argument('--max-flow', type=float, help='saturation magnitude (pixels)')
    f.add_argument('--ncols', type=int, help='tiles per row')
    f.set_defaults(func=cmd_flow)

    a = sub.add_parser('attention', help='attention maps over frames')
    a.add_argument('input', help='.npz with "frames" and "maps"')
    a.add_argument('--alpha', type=float, default=0.5, help='map opacity')
    a.add_argument('--colormap', default='jet', help='matplotlib colormap name')
    a.add_argument('--normalize', choices=['global', 'frame'], default='global',
                   help='one scale for all frames, or per frame')
    a.add_argument('--ncols', type=int, help='tiles per row')
    a.set_defaults(func=cmd_attention)

    t = sub.add_parser('tubes', help='tubes drawn across frames')
    t.add_argument('input', help='tubes pickle')
    t.add_argument('--video', help='read frames from this video')
    t.add_argument('--num-frames', type=int, default=8,
                   help='frames sampled evenly over the tubes')
    t.add_argument('--track', type=int, nargs='+', help='only these tube ids')
    t.add_argument('--ncols', type=int, help='frames per row')
    t.add_argument('--max-width', type=int, default=2048,
                   help='shrink frames so the PNG is at most this wide (0: no limit)')
    t.set_defaults(func=cmd_tubes)

    s = sub.add_parser('scores', help='per-track score curves')
    s.add_argument('input', help='.npz with "scores" (T, C), or a tubes pickle')
    s.add_argument('--threshold', type=float,
                   help='draw this line and shade where a score is above it')
    s.add_argument('--track', type=int, nargs='+',
                   help='tube id (needed with a tubes pickle)')
    s.set_defaults(func=cmd_scores)

    b = sub.add_parser('ap', help='per-class AP bars (and PR curves)')
    b.add_argument('input', help='summary JSON with per_class_AP')
    b.add_argument('--pr-out', help='also plot its pr_curves here')
    b.set_defaults(func=cmd_ap)

    c = sub.add_parser('curves', help='training curves from mmengine logs')
    c.add_argument('input', help='work dir or scalars.json')
    c.add_argument('--all-runs', action='store_true',
                   help='plot every run under the work dir (default: the latest)')
    c.add_argument('--keys', nargs='+', help='scalars to plot (default: losses, '
                   'lr, mAP/acc metrics)')
    c.set_defaults(func=cmd_curves)

    for sp in (f, a, t, s, b, c):
        sp.add_argument('--out', required=True, help='output PNG')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = args.func(args)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
