"""AVA / ActivityNet submission CSVs: build them from predictions and validate them.

The leaderboard format: no header, one row per (box, action),
``video_id, middle_frame_timestamp, x1, y1, x2, y2, action_id, score`` with integer
timestamps, boxes normalised to [0, 1], ``action_id`` from the challenge label map
(60 classes) and at most 50 rows per keyframe (the evaluator keeps the 50 best).
"""
from __future__ import annotations

import csv
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..datasets.ava_io import read_label_map


class SubmissionError(ValueError):
    """A submission CSV that the leaderboard would reject or misread."""


@dataclass
class SubmissionReport:
    path: str
    num_rows: int = 0
    num_keyframes: int = 0
    num_videos: int = 0
    actions: Counter = field(default_factory=Counter)
    warnings: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def summary(self) -> str:
        lines = [f'{self.path}: {self.num_rows} rows, {self.num_keyframes} keyframes, '
                 f'{self.num_videos} videos, {len(self.actions)} action ids']
        lines += [f'warning: {w}' for w in self.warnings]
        return '\n'.join(lines)


def detection_rows(samples, num_classes: int = 81, action_thr: float = 0.002,
                   custom_classes=None, label_ids=None, max_per_keyframe: int | None = 50):
    """Turn STAD prediction dicts into submission rows.

    Args:
        samples: dicts with ``video_id``, ``timestamp`` and ``pred_instances``
            (``bboxes (n, 4)`` normalised, ``scores (n, num_classes)`` with column 0
            the background), as ``tools/test.py --dump`` writes.
        action_thr: keep (box, action) pairs scoring above this.
        custom_classes: the config's ``custom_classes`` (column i -> id
            ``custom_classes[i-1]``); default: column i is action id i.
        label_ids: if given, drop action ids outside this set (e.g. the 60-class
            challenge label map).
        max_per_keyframe: keep the best rows per keyframe (50 = the evaluator's cap);
            None keeps all.

    Returns:
        list of ``(video_id, timestamp, x1, y1, x2, y2, action_id, score)``.
    """
    from .offline import as_numpy
    by_key = defaultdict(list)
    for s in samples:
        p = s['pred_instances']
        boxes = as_numpy(p['bboxes']).reshape(-1, 4)
        scores = as_numpy(p['scores']).reshape(len(boxes), -1)
        if scores.shape[1] != num_classes:
            raise SubmissionError(f'{s["video_id"]},{s["timestamp"]}: scores have '
                                  f'{scores.shape[1]} columns, num_classes={num_classes}')
        key = (s['video_id'], int(s['timestamp']))
        for col in range(1, num_classes):
            aid = int(custom_classes[col - 1]) if custom_classes else col
            if label_ids is not None and aid not in label_ids:
                continue
            for i in np.flatnonzero(scores[:, col] > action_thr):
                b = np.clip(boxes[i], 0.0, 1.0)
                # the values the CSV will hold (4 decimals), so that the cap below
                # and any evaluation of the file see the same numbers
                by_key[key].append((*key, *(float(f'{v:.4f}') for v in b), aid,
                                    float(f'{scores[i, col]:.4f}')))
    rows = []
    for key, rs in by_key.items():
        if max_per_keyframe is not None and len(rs) > max_per_keyframe:
            # best first; ties: larger action id, then smaller box (the canonical
            # order of ava_frame_ap_flat's 'activitynet' protocol)
            rs = sorted(rs, key=lambda r: (-r[7], -r[6], r[2:6]))[:max_per_keyframe]
        rows += rs
    return rows


def write_submission(rows, path: str, zip_file: bool = False) -> str:
    """Write rows as the leaderboard CSV: sorted by video, timestamp, action, score
    (descending), 4-decimal boxes and scores, no header. With ``zip_file`` also
    write ``<path>.zip`` holding it. Returns the path written last."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or '.', exist_ok=True)
    rows = sorted(rows, key=lambda r: (r[0], int(r[1]), int(r[6]), -r[7], r[2:6]))
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        for vid, ts, x1, y1, x2, y2, aid, score in rows:
            w.writerow([vid, f'{int(ts):04d}', f'{x1:.4f}', f'{y1:.4f}', f'{x2:.4f}',
                        f'{y2:.4f}', int(aid), f'{score:.4f}'])
    if zip_file:
        import zipfile
        with zipfile.ZipFile(path + '.zip', 'w', zipfile.ZIP_DEFLATED) as z:
            z.write(path, os.path.basename(path))
        return path + '.zip'
    return path


def read_submission(path: str):
    """A submission CSV as flat arrays for :func:`ava_frame_ap_flat`:
    ``(keys, key_of_row, boxes, action ids, scores)``."""
    from ..datasets.ava_io import img_key
    keys, index, kr, br, lr, sr = [], {}, [], [], [], []
    with open(path, newline='') as f:
        for rec in csv.reader(f):
            if not rec:
                continue
            k = img_key(rec[0], int(rec[1]))
            if k not in index:
                index[k] = len(keys)
                keys.append(k)
            kr.append(index[k])
            br.append([float(v) for v in rec[2:6]])
            lr.append(int(rec[6]))
            sr.append(float(rec[7]))
    kr = np.asarray(kr, dtype=np.int64)
    order = np.argsort(kr, kind='stable')
    return (keys, kr[order], np.asarray(br, np.float64).reshape(-1, 4)[order],
            np.asarray(lr, np.int64)[order], np.asarray(sr, np.float64)[order])


def evaluate_submission(path: str, ann_file: str, label_file: str,
                        exclude_file: str | None = None,
                        protocol: str = 'activitynet') -> dict:
    """Frame-mAP of a submission CSV against AVA GT (default: ActivityNet rules)."""
    from .functional.ava_frame_ap import ava_frame_ap_flat
    from .metrics.ava_frame_ap_metric import AVAFrameAPMetric, _read_excluded
    gt = AVAFrameAPMetric._read_gt(ann_file)
    return ava_frame_ap_flat(gt, *read_submission(path),
                             sorted(read_label_map(label_file)),
                             excluded=_read_excluded(exclude_file), protocol=protocol)


def validate_ava_submission(path: str, label_map: str | None = None,
                            timestamp_range: tuple[int, int] | None = None,
                            videos=None, max_per_keyframe: int = 50,
                            expected_keys=None, max_errors: int = 200,
                            raise_on_error: bool = True) -> SubmissionReport:
    """Check a detection CSV the way the leaderboard reads it; report every problem.

    Errors, each ``"path:line: ..."``: a header or wrong column count, non-numeric
    fields, a non-integer timestamp, a box outside [0, 1] or with x1 >= x2 /
    y1 >= y2, a score that is not finite, an action id outside ``label_map``, a
    timestamp outside ``timestamp_range`` (the AVA test set: 902-1798), a video not
    in ``videos``, a keyframe not in ``expected_keys``, a duplicate row, more than
    ``max_per_keyframe`` rows for a keyframe (the evaluator would silently drop the
    lowest), an empty file. Keyframes of ``expected_keys`` without any row are
    warnings (a model may find nobody), as are scores outside [0, 1].

    Args:
        expected_keys: iterable of ``(video_id, timestamp)`` that may appear.
        max_errors: stop collecting after this many errors.
        raise_on_error: raise :class:`SubmissionError` listing all errors (else
            they are in ``report.errors``).
    """
    allowed = set(read_label_map(label_map)) if label_map else None
    videos = set(videos) if videos is not None else None
    expected = {(str(v), int(t)) for v, t in expected_keys} \
        if expected_keys is not None else None
    rep = SubmissionReport(path)
    per_key = Counter()
    first_line = {}
    seen = {}
    out_of_unit = 0
    if not os.path.isfile(path):
        raise SubmissionError(f'{path}: no such file')

    def err(msg):
        if len(rep.errors) < max_errors:
            rep.errors.append(msg)

    with open(path, newline='') as f:
        for lineno, rec in enumerate(csv.reader(f), start=1):
            where = f'{path}:{lineno}'
            if not rec or all(not c.strip() for c in rec):
                err(f'{where}: empty line')
                continue
            if len(rec) != 8:
                err(f'{where}: expected 8 columns video_id,timestamp,x1,y1,x2,y2,'
                    f'action_id,score, got {len(rec)}: {",".join(rec)!r}')
                continue
            if lineno == 1 and not rec[1].strip().lstrip('-').isdigit() and \
                    not rec[7].replace('.', '', 1).strip().isdigit():
                err(f'{where}: looks like a header line ({",".join(rec)!r}); the '
                    'leaderboard CSV has no header')
                continue
            try:
                ts = int(rec[1])
            except ValueError:
                err(f'{where}: timestamp {rec[1]!r} is not an integer second')
                continue
            try:
                box = [float(v) for v in rec[2:6]]
                aid = int(rec[6])
                score = float(rec[7])
            except ValueError as exc:
                err(f'{where}: non-numeric field ({exc})')
                continue
            if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in box):
                err(f'{where}: box {box} is not normalised to [0, 1]')
            elif box[0] >= box[2] or box[1] >= box[3]:
                err(f'{where}: box {box} has x1 >= x2 or y1 >= y2')
            if not math.isfinite(score):
                err(f'{where}: score {rec[7]!r} is not finite')
            elif not 0.0 <= score <= 1.0:
                out_of_unit += 1
            if allowed is not None and aid not in allowed:
                err(f'{where}: action id {aid} is not in the label map {label_map} '
                    f'({len(allowed)} ids)')
            if timestamp_range and not timestamp_range[0] <= ts <= timestamp_range[1]:
                err(f'{where}: timestamp {ts} outside '
                    f'{timestamp_range[0]}-{timestamp_range[1]}')
            if videos is not None and rec[0] not in videos:
                err(f'{where}: video {rec[0]!r} is not in the evaluated set')
            key = (rec[0], ts)
            if expected is not None and key not in expected:
                err(f'{where}: keyframe {rec[0]},{ts} is not an expected keyframe')
            row = (key, tuple(box), aid)
            if row in seen:
                err(f'{where}: duplicate of line {seen[row]} (same keyframe, box and '
                    'action)')
            else:
                seen[row] = lineno
            per_key[key] += 1
            first_line.setdefault(key, lineno)
            rep.actions[aid] += 1
            rep.num_rows += 1
    if rep.num_rows == 0 and not rep.errors:
        err(f'{path}: the file has no detections')
    for key, n in per_key.items():
        if n > max_per_keyframe:
            err(f'{path}:{first_line[key]}: keyframe {key[0]},{key[1]} has {n} rows; '
                f'the evaluator keeps only the {max_per_keyframe} best')
    rep.num_keyframes = len(per_key)
    rep.num_videos = len({k[0] for k in per_key})
    if out_of_unit:
        rep.warnings.append(f'{out_of_unit} scores outside [0, 1]')
    if expected is not None:
        missing = sorted(expected - set(per_key))
        if missing:
            rep.warnings.append(f'{len(missing)} expected keyframes have no detection '
                                f'(e.g. {missing[0][0]},{missing[0][1]})')
    if rep.errors and raise_on_error:
        more = '' if len(rep.errors) < max_errors else f'\n(first {max_errors} shown)'
        raise SubmissionError(f'{len(rep.errors)} problem(s):\n' +
                              '\n'.join(rep.errors) + more)
    return rep
