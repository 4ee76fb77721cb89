"""One reader for the per-person movement files of a synthetic v2 dataset.

Two formats, told apart by the number of columns:

* ``annotations/movements_<split>.csv`` (8 columns, one row per keyframe and
  person): ``video_id, timestamp, x1, y1, x2, y2, movement, person_id``;
* ``annotations/movement_frames_<split>.csv`` (10 columns, one row per frame and
  person): ``video_id, frame (0-based), x1, y1, x2, y2, movement, person_id,
  same_before, same_after`` (the run of the same movement before / after it).

Boxes are normalised to [0, 1]. Used by the pretraining dataset
(:class:`~stadl_plugins.datasets.synthetic_recognition.SyntheticActorClipDataset`)
and by the person tracks of the RecLNet block
(:func:`~stadl_plugins.datasets.synthetic.person_tracks.person_tracks_from_movement_frames`).
Blank lines are skipped; every other malformed row raises ``ValueError`` naming
``file:line`` and what was expected.
"""
from __future__ import annotations

import csv
import math
from typing import Iterator, NamedTuple

__all__ = ['MovementRow', 'read_movement_rows']

_HEADER_8 = 'video_id, timestamp, x1, y1, x2, y2, movement, person_id'
_HEADER_10 = ('video_id, frame, x1, y1, x2, y2, movement, person_id, same_before, '
              'same_after')


class MovementRow(NamedTuple):
    line: int            # 1-based line in the file
    video: str
    key: int             # keyframe timestamp (8 columns) or 0-based frame (10)
    box: tuple           # (x1, y1, x2, y2), normalised
    movement: str
    person_id: int
    same_before: int | None  # None in the 8-column format
    same_after: int | None


def read_movement_rows(path: str, columns=(8, 10)) -> Iterator[MovementRow]:
    """Yield the rows of a movement file, checked.

    Args:
        path: the csv file.
        columns: the accepted formats (``(10,)``: only ``movement_frames``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a row with another number of columns, a non-integer key,
            person id or run length, a box that is not four finite numbers with
            ``x1 <= x2, y1 <= y2``, or a negative frame -- with ``file:line``.
    """
    columns = tuple(columns)
    expected = ' or '.join(f'{n} columns ({_HEADER_8 if n == 8 else _HEADER_10})'
                           for n in columns)
    with open(path, newline='') as f:
        for line, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) not in columns:
                raise ValueError(f'{path}:{line}: expected {expected}, got '
                                 f'{len(row)}: {row}')
            try:
                key, pid = int(row[1]), int(row[7])
                box = tuple(float(v) for v in row[2:6])
                runs = (int(row[8]), int(row[9])) if len(row) == 10 else (None, None)
            except ValueError as e:
                raise ValueError(f'{path}:{line}: the timestamp / frame, person_id and '
                                 f'run lengths must be integers and x1..y2 numbers: '
                                 f'{row} ({e})') from None
            if not all(math.isfinite(v) for v in box) or box[2] < box[0] \
                    or box[3] < box[1]:
                raise ValueError(f'{path}:{line}: expected a normalised box with '
                                 f'x1 <= x2, y1 <= y2: {row}')
            if len(row) == 10 and key < 0:
                raise ValueError(f'{path}:{line}: expected a 0-based frame, got {key}')
            yield MovementRow(line, row[0], key, box, row[6], pid, *runs)
