"""Readers and writers for the AVA file formats, with errors that name file and row.

Formats (as used by AVA v2.x, MMAction2 and the ActivityNet evaluator):

* annotation CSV, no header: ``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``
  with boxes normalised to [0, 1] and the timestamp written with 4 digits;
* detection/submission CSV: the same with ``score`` in place of ``person_id``;
* excluded timestamps CSV: ``video_id,timestamp``;
* label map ``.pbtxt``: ``item { name: "..." id: N }`` (``label_id:`` also read);
* proposal pickle: ``{'video_id,TTTT': ndarray (N, 5) [x1, y1, x2, y2, score]}``
  normalised.
"""
from __future__ import annotations

import csv
import os
import pickle
import re
from dataclasses import dataclass

import numpy as np


class AVAFormatError(ValueError):
    """A malformed AVA-format file; the message names the file and the row."""


@dataclass
class AVARow:
    video_id: str
    timestamp: int
    box: tuple[float, float, float, float]
    action_id: int
    last: float  # person_id for annotations, score for detections
    lineno: int = 0  # line in the file it was read from (0: not read from a file)
    columns: int = 8  # 7: an annotation row without person_id


def img_key(video_id: str, timestamp: int) -> str:
    """The key MMAction2 and the proposal pickles use: ``'vid,0902'``."""
    return f'{video_id},{int(timestamp):04d}'


def write_annotation_csv(path: str, rows: list[AVARow]) -> None:
    """Write GT rows (``last`` = person id)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for r in rows:
            w.writerow([r.video_id, f'{r.timestamp:04d}',
                        *(f'{v:.3f}' for v in r.box), r.action_id, int(r.last)])


def write_detection_csv(path: str, rows: list[AVARow]) -> None:
    """Write detection rows (``last`` = score) in the leaderboard format."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for r in rows:
            w.writerow([r.video_id, f'{r.timestamp:04d}',
                        *(f'{v:.4f}' for v in r.box), r.action_id, f'{r.last:.4f}'])


def read_ava_csv(path: str, with_score: bool = False) -> list[AVARow]:
    """Read an annotation (or, with ``with_score``, detection) CSV, validating each row.

    Raises:
        AVAFormatError: on a wrong column count, a non-numeric field, a box outside
            [0, 1] or with ``x1 >= x2`` / ``y1 >= y2``; the message is
            ``"<path>:<line>: <what was expected>"``.
    """
    rows = []
    with open(path, newline='') as f:
        for lineno, rec in enumerate(csv.reader(f), start=1):
            if not rec or all(not c.strip() for c in rec):
                continue
            where = f'{path}:{lineno}'
            want = (8,) if with_score else (7, 8)
            if len(rec) not in want:
                raise AVAFormatError(
                    f'{where}: expected {" or ".join(map(str, want))} columns '
                    '(video_id,timestamp,x1,y1,x2,y2,action_id'
                    f'{",score" if with_score else "[,person_id]"}), got {len(rec)}: '
                    f'{",".join(rec)!r}')
            try:
                ts = int(rec[1])
                box = tuple(float(v) for v in rec[2:6])
                action = int(rec[6])
                last = float(rec[7]) if len(rec) == 8 else -1.0
            except ValueError as exc:
                raise AVAFormatError(f'{where}: non-numeric field ({exc}): '
                                     f'{",".join(rec)!r}') from None
            if not all(0.0 <= v <= 1.0 for v in box) or not all(np.isfinite(box)):
                raise AVAFormatError(f'{where}: box {box} is not normalised to [0, 1]')
            if box[0] >= box[2] or box[1] >= box[3]:
                raise AVAFormatError(f'{where}: box {box} has x1 >= x2 or y1 >= y2')
            rows.append(AVARow(rec[0], ts, box, action, last, lineno, len(rec)))
    return rows


def write_excluded_csv(path: str, keys: list[tuple[str, int]]) -> None:
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for vid, ts in keys:
            w.writerow([vid, f'{ts:04d}'])


def write_label_map(path: str, classes: list[tuple[int, str]]) -> None:
    """Write ``item { name: "..." id: N }`` entries (the AVA ``.pbtxt`` layout)."""
    with open(path, 'w') as f:
        for cid, name in classes:
            f.write(f'item {{\n  name: "{name}"\n  id: {cid}\n}}\n')


_ITEM = re.compile(r'item\s*\{(.*?)\}', re.S)


def read_label_map(path: str) -> dict[int, str]:
    """Read a ``.pbtxt`` label map into ``{id: name}``.

    Raises:
        AVAFormatError: when an item lacks a name or an integer id, or ids repeat.
    """
    with open(path) as f:
        text = f.read()
    out: dict[int, str] = {}
    for m in _ITEM.finditer(text):
        body = m.group(1)
        line = text.count('\n', 0, m.start()) + 1
        name = re.search(r'name:\s*"([^"]*)"', body)
        cid = re.search(r'(?:label_)?id:\s*(-?\d+)', body)
        if not name or not cid:
            raise AVAFormatError(f'{path}:{line}: item needs name: "..." and id: N')
        k = int(cid.group(1))
        if k in out:
            raise AVAFormatError(f'{path}:{line}: id {k} appears twice')
        out[k] = name.group(1)
    if not out:
        raise AVAFormatError(f'{path}: no "item {{ name: ... id: ... }}" entries')
    return out


def write_proposals(path: str, proposals: dict[str, np.ndarray]) -> None:
    with open(path, 'wb') as f:
        pickle.dump({k: np.asarray(v, np.float32) for k, v in proposals.items()}, f,
                    protocol=4)


def read_excluded_csv(path: str) -> set[str]:
    """Read an excluded-timestamps CSV (``video_id,timestamp`` per line) into keys.

    Blank lines are ignored.

    Raises:
        AVAFormatError: ``"<path>:<line>: ..."`` for a line without exactly two
            fields or with a non-integer timestamp.
    """
    keys = set()
    with open(path, newline='') as f:
        for lineno, rec in enumerate(csv.reader(f), start=1):
            if not rec or all(not c.strip() for c in rec):
                continue
            if len(rec) != 2:
                raise AVAFormatError(
                    f'{path}:{lineno}: expected 2 columns (video_id,timestamp), got '
                    f'{len(rec)}: {",".join(rec)!r}')
            try:
                ts = int(rec[1])
            except ValueError:
                raise AVAFormatError(f'{path}:{lineno}: timestamp {rec[1]!r} is not '
                                     'an integer') from None
            keys.add(img_key(rec[0].strip(), ts))
    return keys


def check_proposals(path: str, proposals, keys=None, max_shown: int = 3) -> list[str]:
    """Validate a proposal pickle's content; return the keys with an empty array.

    ``proposals`` must be a dict ``{key: array (N, 4|5)}``; every array checked
    (those of ``keys`` if given) must be numeric, finite, with coordinates
    normalised to [0, 1] and ``x1 < x2``, ``y1 < y2``. Empty arrays (``N == 0``,
    nobody detected) are not errors: their keys are returned for the caller to
    skip and count.

    Raises:
        AVAFormatError: naming ``path``, the number of bad keys and the first
            ``max_shown`` of them with what is wrong.
    """
    if not isinstance(proposals, dict):
        raise AVAFormatError(
            f'{path}: expected a dict {{"video_id,TTTT": array (N, 4|5) [x1, y1, '
            f'x2, y2(, score)] normalised}}, got a {type(proposals).__name__}')
    empty, bad = [], []
    for key in (proposals if keys is None else keys):
        if key not in proposals:
            continue
        problem = _proposal_problem(proposals[key])
        if problem == 'empty':
            empty.append(key)
        elif problem:
            bad.append(f'{key!r}: {problem}')
    if bad:
        raise AVAFormatError(
            f'{path}: {len(bad)} key(s) with invalid proposals, e.g. '
            + '; '.join(bad[:max_shown])
            + ' (expected arrays (N, 4|5) [x1, y1, x2, y2(, score)], finite, '
            'normalised to [0, 1], x1 < x2 and y1 < y2)')
    return empty


def _proposal_problem(value) -> str | None:
    """``None`` if valid, ``'empty'`` for an empty array, else what is wrong."""
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except Exception:  # ragged lists and the like
            return f'not an array ({type(value).__name__})'
    if value.size == 0:
        return 'empty'
    if value.dtype.kind not in 'fiu':
        return f'dtype {value.dtype} is not numeric'
    if value.ndim != 2 or value.shape[1] not in (4, 5):
        return f'shape {value.shape}, expected (N, 4) or (N, 5)'
    v = value.astype(np.float64)
    rows = np.flatnonzero(~np.isfinite(v).all(1))
    if len(rows):
        return f'row {rows[0]} is not finite ({v[rows[0]].tolist()})'
    box = v[:, :4]
    rows = np.flatnonzero(((box < 0) | (box > 1)).any(1))
    if len(rows):
        return (f'row {rows[0]} box {box[rows[0]].tolist()} is not normalised to '
                '[0, 1] (pixel coordinates? divide by width/height)')
    rows = np.flatnonzero((box[:, 0] >= box[:, 2]) | (box[:, 1] >= box[:, 3]))
    if len(rows):
        return f'row {rows[0]} box {box[rows[0]].tolist()} has x1 >= x2 or y1 >= y2'
    return None
