"""RoI features along person tracks from a trained STAD model (RecLNet input).

    python tools/reclnet/extract_track_features.py CONFIG CHECKPOINT OUT_DIR \
        [--tracks TRACKS.pkl | --proposals P1.pkl [P2.pkl ...]] [--save-tracks T.pkl] \
        [--frames-root data/synthetic/rawframes] [--gt GT.pkl] [--videos V ...] \
        [--every 1] [--streams rgb [flow fused]] [--batch-size 8] [--device cpu] \
        [--float16] [--fps FPS] \
        [--overwrite | --no-resume] [--link-iou 0.3] [--max-gap N] [--min-length N] \
        [--min-score S] [--cfg-options K=V ...]

Person tracks come from ``--tracks`` (a ``save_tracks`` pickle), or are linked here
with :func:`~stadl_plugins.tracking.linking.link_person_boxes` from proposal
pickles ``{'video,T': (n, 4|5) normalised boxes}`` (``--proposals``; default: the
``proposal_file`` of the config's train/val/test datasets). ``T`` is an AVA
timestamp (AVA, synthetic benchmark: keyframe every ``fps`` frames, so the default
``--max-gap`` is ``2 * fps - 1`` -- one missed keyframe -- and ``--min-length``
``fps``) or a frame number (UCF101-24: defaults 5 and 10). ``--min-score``
defaults to the dataset's ``person_det_score_thr``. Videos named
``class/video`` (UCF101-24) get ``OUT_DIR/class/video.npz``.

For every video, writes ``OUT_DIR/<video>.npz`` (format in
:mod:`stadl_plugins.apis.track_features`, read by ``TrackWindowDataset``),
atomically; a rerun skips finished videos (``--overwrite`` redoes them). Labels
come from ``--gt`` (an ACT-schema pickle such as ``synthetic_gt.pkl``), else -1.
Each file records the videos' frame rate as its ``fps`` key: ``--fps``, else the
``fps`` the config's dataset sets (the synthetic benchmark: 10); RecLNet's
localization (``tools/reclnet/localize.py``) converts its 1-s median window to
frames with it. Without either the files carry no ``fps`` (a note says so) and
``localize.py`` then needs ``--fps`` or an ``fps`` in the RecLNet config.
Exit status 0 on success, 2 on bad input (missing files, bad tracks).
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
import time

from stadl_plugins.safe_load import safe_pickle_load


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='STAD model config (FastRCNN-style)')
    p.add_argument('checkpoint', help='trained weights')
    p.add_argument('out_dir', help='folder for <video>.npz feature files')
    src = p.add_mutually_exclusive_group()
    src.add_argument('--tracks', help='person tracks pickle (save_tracks format)')
    src.add_argument('--proposals', nargs='+',
                     help='AVA-style keyframe proposal pickles to link into tracks '
                          "(default: the config datasets' proposal_file)")
    p.add_argument('--proposal-keys', choices=('auto', 'timestamp', 'frame'),
                   default='auto',
                   help="proposal keys 'video,T': T an AVA timestamp (AVA, synthetic) "
                        "or a 1-based frame number (UCF101-24); auto: timestamp when "
                        'the dataset config has timestamp_start')
    p.add_argument('--save-tracks', help='write the linked tracks to this pickle')
    p.add_argument('--filename-tmpl', help="frame file names (default: the config "
                                           "dataset's, e.g. 'img_{:05}.jpg')")
    p.add_argument('--frames-root', help="rawframes folder (default: the config "
                                         "dataset's data_prefix.img)")
    p.add_argument('--gt', help='ACT-schema GT pickle for per-frame labels')
    p.add_argument('--videos', nargs='+', help='only these videos')
    p.add_argument('--every', type=int, default=1, help='sample every N frames')
    p.add_argument('--streams', nargs='+', help="'rgb' [+ 'flow', 'fused' for a "
                                                'model with a flow stream]')
    p.add_argument('--batch-size', type=int, default=8, help='frames per forward')
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--float16', action='store_true',
                   help='store features as float16 (half the disk / memory)')
    p.add_argument('--fps', type=float,
                   help="frame rate of the videos, written as each file's fps (default: "
                        "the config dataset's fps, if it sets one)")
    p.add_argument('--overwrite', action='store_true', help='redo finished videos')
    p.add_argument('--no-resume', dest='resume', action='store_false',
                   help='do not skip finished videos (same as --overwrite)')
    p.add_argument('--link-iou', type=float, default=0.3,
                   help='IoU to link detections of consecutive frames into tracks')
    p.add_argument('--max-gap', type=int, help='default 2 * fps - 1')
    p.add_argument('--min-length', type=int, help='default fps')
    p.add_argument('--min-score', type=float,
                   help="default the dataset's person_det_score_thr")
    p.add_argument('--no-progress', dest='progress', action='store_false',
                   help='no progress bar')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='override config keys, KEY=VALUE')
    return p.parse_args(argv)


def _datasets(cfg):
    out = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = (cfg.get(key) or {}).get('dataset')
        while ds is not None and 'dataset' in ds and 'proposal_file' not in ds:
            ds = ds['dataset']
        if ds is not None:
            out.append(ds)
    return out


def build_tracks(args, cfg, log) -> dict:
    """``{video: [track]}`` from --tracks, or linked from keyframe proposals."""
    import mmcv

    from stadl_plugins.apis.track_features import _dataset_filename_tmpl
    from stadl_plugins.tracking.linking import (
        keyframe_proposals_to_frames,
        link_videos,
        load_tracks,
        save_tracks,
    )
    if args.tracks:
        if not osp.isfile(args.tracks):
            raise FileNotFoundError(f'tracks file not found: {args.tracks}')
        tracks = load_tracks(args.tracks)
    else:
        datasets = _datasets(cfg)
        ds = datasets[0] if datasets else {}
        files = args.proposals or list(dict.fromkeys(
            d['proposal_file'] for d in datasets if d.get('proposal_file')))
        if not files:
            raise ValueError(f'{args.config}: no --tracks, no --proposals and no '
                             'proposal_file in its datasets')
        keys = args.proposal_keys
        if keys == 'auto':
            keys = 'timestamp' if 'timestamp_start' in ds else 'frame'
        if keys == 'timestamp':
            fps, start = int(ds.get('fps', 30)), int(ds.get('timestamp_start', 900))
            gap, length = 2 * fps - 1, fps  # detections only every fps frames
        else:  # frame = fps * (T - start) + 1 = T
            fps, start, gap, length = 1, 1, 5, 10
        tmpl = args.filename_tmpl or _dataset_filename_tmpl(cfg)
        dets = {}
        for path in files:
            if not osp.isfile(path):
                raise FileNotFoundError(f'proposal file not found: {path}')
            with open(path, 'rb') as f:
                props = safe_pickle_load(f)
            from stadl_plugins.datasets.ava_io import check_proposals
            check_proposals(path, props, keys=())  # a dict (arrays: below)
            by_video = {}
            for key, arr in props.items():
                by_video.setdefault(key.rsplit(',', 1)[0], {})[key] = arr
            for vid, sub in by_video.items():
                if args.videos and vid not in args.videos:
                    continue
                frame_dir = osp.join(args.frames_root, vid)
                first = osp.join(frame_dir, tmpl.format(1))
                if not osp.isfile(first):
                    raise FileNotFoundError(f'{path}: video {vid!r} has no frames '
                                            f'folder / first frame {first}')
                h, w = mmcv.imread(first).shape[:2]
                dets.update(keyframe_proposals_to_frames(sub, fps, start, w, h,
                                                         path=path))
        params = dict(iou_thr=args.link_iou,
                      max_gap=args.max_gap if args.max_gap is not None else gap,
                      min_length=args.min_length if args.min_length is not None else length,
                      min_score=args.min_score if args.min_score is not None
                      else float(ds.get('person_det_score_thr', 0.0)))
        tracks = link_videos(dets, **params)
        log(f'linked {sum(map(len, tracks.values()))} tracks in {len(tracks)} videos '
            f'from {files} with {params}')
        if args.save_tracks:
            save_tracks(args.save_tracks, tracks, params)
    if args.videos:
        missing = [v for v in args.videos if v not in tracks]
        if missing:
            raise KeyError(f'no tracks for videos {missing}')
        tracks = {v: tracks[v] for v in args.videos}
    return tracks


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmengine.config import Config, DictAction

    import stadl_plugins  # noqa: F401
    from stadl_plugins.apis.track_features import TrackFeatureExtractor, extract_track_features

    def log(msg):
        print(msg, file=sys.stderr)

    try:
        if not osp.isfile(args.config):
            raise FileNotFoundError(f'model config not found: {args.config}')
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            opts = argparse.Namespace()
            DictAction(option_strings=[], dest='o')(None, opts, args.cfg_options)
            cfg.merge_from_dict(opts.o)
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
        extractor = TrackFeatureExtractor(cfg, args.checkpoint, device=args.device,
                                          streams=args.streams,
                                          batch_size=args.batch_size,
                                          filename_tmpl=args.filename_tmpl)
        if args.frames_root is None:
            ds = _datasets(cfg)
            prefix = (ds[0].get('data_prefix') or {}).get('img') if ds else None
            if not prefix:
                raise ValueError(f'{args.config}: no data_prefix.img; pass --frames-root')
            args.frames_root = prefix
        if not osp.isdir(args.frames_root):
            raise FileNotFoundError(f'frames root not found: {args.frames_root}')
        gt = None
        if args.gt:
            if not osp.isfile(args.gt):
                raise FileNotFoundError(f'GT file not found: {args.gt}')
            with open(args.gt, 'rb') as f:
                gt = safe_pickle_load(f)
            if not isinstance(gt, dict) or 'gttubes' not in gt:
                raise ValueError(f'{args.gt}: not an ACT-schema GT pickle (no gttubes)')
        tracks = build_tracks(args, cfg, log)
        fps = args.fps if args.fps is not None else next(
            (d['fps'] for d in _datasets(cfg) if d.get('fps') is not None), None)
        if fps is not None and not float(fps) > 0:
            raise ValueError(f'--fps must be positive, got {fps}')
    except (FileNotFoundError, ValueError, KeyError) as e:
        log(f'error: {e}')
        return 2
    if fps is None:
        log('note: no --fps and no dataset fps in the config: the files carry no fps, so '
            'tools/reclnet/localize.py will need --fps (or an fps in the RecLNet config)')
    t0 = time.perf_counter()
    try:
        summary = extract_track_features(
            extractor, tracks, args.frames_root, args.out_dir, every=args.every, gt=gt,
            resume=args.resume, overwrite=args.overwrite or not args.resume,
            progress=args.progress, log=log,
            feature_dtype='float16' if args.float16 else 'float32', fps=fps)
    except (FileNotFoundError, ValueError) as e:
        log(f'error: {e}')
        return 2
    written = [v for v, s in summary.items() if s['status'] == 'written']
    secs = sum(summary[v]['seconds'] for v in written)
    log(f'{len(written)} video(s) written, {len(summary) - len(written)} skipped, '
        f'{time.perf_counter() - t0:.1f} s; '
        f'{secs / max(len(written), 1):.2f} s per written video; streams '
        f'{extractor.streams}; every {args.every}')
    path = osp.join(args.out_dir, 'extraction_summary.json')
    previous = {}
    if osp.isfile(path):  # keep the records of videos this run skipped
        try:
            with open(path) as f:
                previous = json.load(f).get('videos', {})
        except (ValueError, AttributeError):
            previous = {}
    videos = {v: (previous[v] if s['status'] == 'skipped' and v in previous else s)
              for v, s in summary.items()}
    with open(path, 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint, every=args.every,
                       fps=fps, streams=list(extractor.streams), videos=videos), f,
                  indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
