"""Turn dumped STAD predictions into an AVA/ActivityNet leaderboard CSV.

    python tools/test.py CONFIG CKPT --dump preds.pkl
    python tools/submission/make_ava_submission.py preds.pkl detections.csv \
        --label-map data/ava/annotations/ava_action_list_v2.2_for_activitynet_2019.pbtxt

Keeps (box, action) pairs scoring above --action-thr, action ids of the label map
only, the 50 best rows per keyframe (what the evaluator keeps), then validates the
file it wrote.
"""
import argparse
import sys

import stadl_plugins  # noqa: F401
from stadl_plugins.datasets.ava_io import read_label_map
from stadl_plugins.evaluation import (
    SubmissionError,
    detection_rows,
    load_dump,
    validate_ava_submission,
    write_submission,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('dump', help='pickle written by tools/test.py --dump')
    p.add_argument('out', help='CSV to write')
    p.add_argument('--label-map', required=True, help='challenge label map (.pbtxt)')
    p.add_argument('--num-classes', type=int, default=81,
                   help='score columns of the model incl. background (default 81)')
    p.add_argument('--custom-classes', type=int, nargs='+', default=None,
                   help="the dataset's custom_classes, if the model used them")
    p.add_argument('--action-thr', type=float, default=0.002,
                   help='keep (box, action) rows scoring above this')
    p.add_argument('--max-per-keyframe', type=int, default=50,
                   help="best rows kept per keyframe (50: the evaluator's cap)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rows = detection_rows(load_dump(args.dump), num_classes=args.num_classes,
                          action_thr=args.action_thr,
                          custom_classes=args.custom_classes,
                          label_ids=set(read_label_map(args.label_map)),
                          max_per_keyframe=args.max_per_keyframe)
    write_submission(rows, args.out)
    try:
        rep = validate_ava_submission(args.out, args.label_map,
                                      max_per_keyframe=args.max_per_keyframe)
    except SubmissionError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(rep.summary())
    return 0


if __name__ == '__main__':
    sys.exit(main())
