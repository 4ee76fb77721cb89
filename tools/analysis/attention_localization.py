"""Weakly supervised action localization from a trained VideoLSTM recognizer.

    python tools/analysis/attention_localization.py CONFIG CHECKPOINT \
        --frames data/synthetic/rawframes --gt data/synthetic/annotations/synthetic_gt.pkl \
        --out work_dirs/attention_tubes.pkl

Runs the recognizer over every test video of the ACT-format GT pickle (or the
``--videos`` given), turns its attention maps into one tube per video (saliency
-> threshold -> 8-connected boxes -> greedy IoU linking -> LOWESS smoothing,
scored per class by frame-averaged probabilities; see
``stadl_plugins/apis/attention_localization.py``), writes the tubes as a pickle
``{label: [(video, score, (N, 5) tube)]}`` and, with ``--gt``, prints video-mAP.
"""
import argparse
import json
import os
import pickle
import sys

from stadl_plugins.safe_load import safe_pickle_load

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='VideoLSTM recognizer config (configs/videolstm/...)')
    p.add_argument('checkpoint', help='its trained weights (.pth)')
    p.add_argument('--frames', required=True, help='rawframes root (<video>/img_00001.jpg)')
    p.add_argument('--gt', help='ACT-format GT pickle: videos, frame counts, evaluation')
    p.add_argument('--videos', nargs='+', help='videos to localize (default: the GT '
                   "pickle's test_videos[0])")
    p.add_argument('--out', required=True, help='output tubes pickle')
    p.add_argument('--threshold', type=float, default=100.0,
                   help='saliency threshold on the 0-255 scale (paper: 100)')
    p.add_argument('--sigma', type=float, default=4.0, help='Gaussian smoothing, pixels')
    p.add_argument('--span', type=int, default=9, help='LOWESS window, frames')
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--batch-size', type=int, default=4, help='clips per forward')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from stadl_plugins.apis.attention_localization import AttentionLocalizer, localize_videos
    gt = None
    if args.gt:
        with open(args.gt, 'rb') as f:
            gt = safe_pickle_load(f)
    videos = args.videos or (gt['test_videos'][0] if gt else None)
    if not videos:
        sys.exit('give --videos or a --gt pickle with test_videos')
    loc = AttentionLocalizer(args.config, args.checkpoint, device=args.device,
                             batch_size=args.batch_size)
    num_classes = loc.model.cls_head.num_classes
    tubes = localize_videos(loc, args.frames, videos, num_classes,
                            nframes=gt.get('nframes') if gt else None,
                            threshold=args.threshold, sigma=args.sigma, span=args.span)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'wb') as f:
        pickle.dump(tubes, f)
    print(f'\ntubes of {len(videos)} videos written to {args.out}')
    if gt is not None:
        from stadl_plugins.evaluation.functional.video_ap import video_ap, video_map
        if len(gt['labels']) != num_classes:
            sys.exit(f"the GT has {len(gt['labels'])} labels, the model "
                     f'{num_classes} classes')
        res = video_map(gt, tubes, videos, thresholds=(0.1, 0.2, 0.3, 0.5), ranges=())
        per = video_ap(gt, tubes, videos, 0.2)['per_class']
        print(json.dumps(dict(res, per_class_at_0_2=per), indent=1))
        return res


if __name__ == '__main__':
    main()
