"""Check an AVA/ActivityNet detection CSV before uploading it.

    python tools/submission/validate_ava_submission.py detections.csv \
        --label-map ava_action_list_v2.2_for_activitynet_2019.pbtxt \
        --timestamps 902 1798 [--videos ava_test_v2.2.txt]

Exit status 0 and a summary when the file is valid (warnings listed), 1 with
"file:line: what is wrong" for the first --max-errors problems and, last, a count
of all problems by kind otherwise. Bytes that are not UTF-8 and over-long fields are
reported as such (no traceback); a UTF-8 BOM is removed with a warning; more than
--max-per-keyframe (50) rows for a keyframe is an error (the official evaluator
would silently drop the extra rows).
"""
import argparse
import sys

import stadl_plugins  # noqa: F401
from stadl_plugins.evaluation import SubmissionError, validate_ava_submission


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('csv', help='detection CSV to check')
    p.add_argument('--label-map', help='allowed action ids (.pbtxt)')
    p.add_argument('--timestamps', type=int, nargs=2, metavar=('MIN', 'MAX'),
                   help='allowed keyframe range, e.g. 902 1798 for AVA')
    p.add_argument('--videos', help='file with the allowed video ids, one per line')
    p.add_argument('--max-per-keyframe', type=int, default=50,
                   help="more rows for a keyframe is an error (the evaluator's cap)")
    p.add_argument('--max-errors', type=int, default=50,
                   help='problem lines to print (all are counted in the summary)')
    args = p.parse_args(argv)
    videos = None
    if args.videos:
        with open(args.videos, encoding='utf-8-sig', errors='replace') as f:
            videos = [ln.strip() for ln in f if ln.strip()]
    try:
        rep = validate_ava_submission(args.csv, args.label_map,
                                      timestamp_range=args.timestamps, videos=videos,
                                      max_per_keyframe=args.max_per_keyframe,
                                      max_errors=args.max_errors)
    except (SubmissionError, OSError, ValueError) as exc:
        print(f'invalid: {exc}', file=sys.stderr)
        return 1
    print('valid: ' + rep.summary())
    return 0


if __name__ == '__main__':
    sys.exit(main())
