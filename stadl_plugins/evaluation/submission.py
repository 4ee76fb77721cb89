"""AVA / ActivityNet submission CSVs: build them from predictions and validate them.

The leaderboard format: no header, one row per (box, action),
``video_id, middle_frame_timestamp, x1, y1, x2, y2, action_id, score`` with integer
timestamps, boxes normalised to [0, 1], ``action_id`` from the challenge label map
(60 classes) and at most 50 rows per keyframe (the evaluator keeps the 50 best).
"""
from __future__ import annotations

import csv
import heapq
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
                by_key[key].append((*key, *map(float, b), aid, float(scores[i, col])))
    rows = []
    for key, rs in by_key.items():
        if max_per_keyframe is not None and len(rs) > max_per_keyframe:
            rs = heapq.nlargest(max_per_keyframe, rs, key=lambda r: r[7])
        rows += rs
    return rows


def write_submission(rows, path: str) -> None:
    """Write rows as the leaderboard CSV (4-decimal boxes and scores)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or '.', exist_ok=True)
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for vid, ts, x1, y1, x2, y2, aid, score in rows:
            w.writerow([vid, f'{int(ts):04d}', f'{x1:.4f}', f'{y1:.4f}', f'{x2:.4f}',
                        f'{y2:.4f}', int(aid), f'{score:.6f}'])


def validate_ava_submission(path: str, label_map: str | None = None,
                            timestamp_range: tuple[int, int] | None = None,
                            videos=None, max_per_keyframe: int = 50,
                            expected_keys=None) -> SubmissionReport:
    """Check a detection CSV the way the leaderboard reads it.

    Errors (raise :class:`SubmissionError` "path:line: ..."): a header or wrong
    column count, non-numeric fields, a non-integer timestamp, a box outside
    [0, 1] or with x1 >= x2 / y1 >= y2, a score that is not finite, an action id
    outside ``label_map``, a timestamp outside ``timestamp_range`` (the AVA test
    set: 902-1798), a video not in ``videos``, an empty file.

    Warnings (in the report): keyframes with more than ``max_per_keyframe`` rows
    (the evaluator silently drops the lowest), scores outside [0, 1], keyframes
    of ``expected_keys`` without any row.
    """
    allowed = set(read_label_map(label_map)) if label_map else None
    videos = set(videos) if videos is not None else None
    rep = SubmissionReport(path)
    per_key = Counter()
    out_of_unit = 0
    if not os.path.isfile(path):
        raise SubmissionError(f'{path}: no such file')
    with open(path, newline='') as f:
        for lineno, rec in enumerate(csv.reader(f), start=1):
            where = f'{path}:{lineno}'
            if not rec or all(not c.strip() for c in rec):
                raise SubmissionError(f'{where}: empty line')
            if len(rec) != 8:
                hint = ' (a header line? the leaderboard CSV has none)' if lineno == 1 \
                    else ''
                raise SubmissionError(
                    f'{where}: expected 8 columns video_id,timestamp,x1,y1,x2,y2,'
                    f'action_id,score, got {len(rec)}{hint}: {",".join(rec)!r}')
            if lineno == 1 and not rec[1].strip().lstrip('-').isdigit() and \
                    not rec[7].replace('.', '', 1).strip().isdigit():
                raise SubmissionError(f'{where}: looks like a header line '
                                      f'({",".join(rec)!r}); the leaderboard CSV has '
                                      'no header')
            try:
                ts = int(rec[1])
            except ValueError:
                raise SubmissionError(f'{where}: timestamp {rec[1]!r} is not an integer '
                                      'second') from None
            try:
                box = [float(v) for v in rec[2:6]]
                aid = int(rec[6])
                score = float(rec[7])
            except ValueError as exc:
                raise SubmissionError(f'{where}: non-numeric field ({exc})') from None
            if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in box):
                raise SubmissionError(f'{where}: box {box} is not normalised to [0, 1]')
            if box[0] >= box[2] or box[1] >= box[3]:
                raise SubmissionError(f'{where}: box {box} has x1 >= x2 or y1 >= y2')
            if not math.isfinite(score):
                raise SubmissionError(f'{where}: score {rec[7]!r} is not finite')
            if not 0.0 <= score <= 1.0:
                out_of_unit += 1
            if allowed is not None and aid not in allowed:
                raise SubmissionError(f'{where}: action id {aid} is not in the label map '
                                      f'{label_map} ({len(allowed)} ids)')
            if timestamp_range and not timestamp_range[0] <= ts <= timestamp_range[1]:
                raise SubmissionError(f'{where}: timestamp {ts} outside '
                                      f'{timestamp_range[0]}-{timestamp_range[1]}')
            if videos is not None and rec[0] not in videos:
                raise SubmissionError(f'{where}: video {rec[0]!r} is not in the '
                                      'evaluated set')
            per_key[(rec[0], ts)] += 1
            rep.actions[aid] += 1
            rep.num_rows += 1
    if rep.num_rows == 0:
        raise SubmissionError(f'{path}: the file has no detections')
    rep.num_keyframes = len(per_key)
    rep.num_videos = len({k[0] for k in per_key})
    over = [k for k, n in per_key.items() if n > max_per_keyframe]
    if over:
        rep.warnings.append(
            f'{len(over)} keyframes have more than {max_per_keyframe} rows (e.g. '
            f'{over[0][0]},{over[0][1]}: {per_key[over[0]]}); the evaluator keeps only '
            f'the {max_per_keyframe} best of each')
    if out_of_unit:
        rep.warnings.append(f'{out_of_unit} scores outside [0, 1]')
    if expected_keys is not None:
        missing = [k for k in expected_keys if (k[0], int(k[1])) not in per_key]
        if missing:
            rep.warnings.append(f'{len(missing)} expected keyframes have no detection '
                                f'(e.g. {missing[0][0]},{missing[0][1]})')
    return rep
