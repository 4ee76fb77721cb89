"""One person (or one action tube) over time: the package's one track type.

Used by the offline linker (:mod:`stadl_plugins.tracking.linking`, whose tracks
feed RecLNet and the track-feature files), the online tracker of the demo
(:class:`stadl_plugins.tracking.online.IoUTracker`) and the demo's tube recorder
(``tools/demo/stad_demo.py --out-tubes``).

A :class:`Track` holds one row per frame it covers, frames strictly increasing:

* ``frames`` int64 ``(L,)`` frame numbers (the caller's numbering: 1-based video
  frames for linking, 0-based decoded frames in the demo),
* ``boxes`` float32 ``(L, 4)`` ``x1, y1, x2, y2``,
* ``scores`` float32 ``(L,)`` per-frame detection score (1 when not given),
* ``detected`` bool ``(L,)`` False on rows filled in rather than detected
  (:meth:`Track.interpolated`),
* ``class_scores`` float32 ``(L, C)`` per-frame class scores, or None,

plus ``track_id`` (int or None) and ``label`` (any, or None).

Rows are added with :meth:`Track.append` (cheap: the arrays are assembled when
first read). The arrays returned are the track's own storage; writing into them
changes the track.

The dict format (:meth:`Track.to_dict` / :meth:`Track.from_dict`) is the person
track of the track pickles (``save_tracks`` / ``load_tracks``)::

    {'frames': (L,) int64, 'boxes': (L, 4) float32, 'scores': (L,) float32,
     'detected': (L,) bool[, 'class_scores': (L, C) float32]
     [, 'track_id': int][, 'label': ...]}

A track also reads like that dict (``track['boxes']``, ``'scores' in track``,
``track.keys()``, ``dict(track)``), so code written for track dicts takes
tracks unchanged; ``len(track)`` is its number of rows, not of keys.
"""
from __future__ import annotations

import numpy as np

__all__ = ['Track', 'TRACK_KEYS']

#: the columns of a track, in dict order
TRACK_KEYS = ('frames', 'boxes', 'scores', 'detected', 'class_scores')


def _column(value, dtype, shape, name: str, n: int) -> np.ndarray:
    arr = np.array(value, dtype=dtype)  # a copy: the track owns its storage
    if arr.size == 0 and n == 0:
        return arr.reshape((0,) + shape)
    if arr.shape != (n,) + shape:
        want = ', '.join(str(s) for s in (n,) + shape)
        raise ValueError(f'track {name} must have shape ({want}) for its {n} '
                         f'frames, got {arr.shape}')
    return arr


class Track:
    """One person (or action tube) over time: a box per frame (module docstring).

    Args:
        frames: ``(L,)`` frame numbers, strictly increasing.
        boxes: ``(L, 4)`` ``x1, y1, x2, y2``.
        scores: ``(L,)`` detection scores (default 1).
        detected: ``(L,)`` bool (default True).
        class_scores: ``(L, C)`` per-frame class scores, or None.
        track_id: the track's id, or None.
        label: its label (class index or name), or None.
    """

    __slots__ = ('track_id', 'label', '_frames', '_boxes', '_scores', '_detected',
                 '_class_scores', '_num_classes', '_pending')

    def __init__(self, frames=(), boxes=None, scores=None, detected=None,
                 class_scores=None, *, track_id=None, label=None):
        frames = np.array(frames, dtype=np.int64)  # a copy: the track owns it
        if frames.ndim != 1:
            raise ValueError(f'track frames must be 1-D, got shape {frames.shape}')
        n = len(frames)
        if n > 1 and (np.diff(frames) <= 0).any():
            raise ValueError('track frames must be strictly increasing, got '
                             f'{frames.tolist()[:10]}{"..." if n > 10 else ""}')
        self._frames = frames
        self._boxes = _column(np.zeros((0, 4)) if boxes is None else boxes,
                              np.float32, (4,), 'boxes', n)
        self._scores = (np.ones(n, np.float32) if scores is None else
                        _column(scores, np.float32, (), 'scores', n))
        self._detected = (np.ones(n, bool) if detected is None else
                          _column(detected, bool, (), 'detected', n))
        self._num_classes = None
        self._class_scores = None
        if class_scores is not None:
            cs = np.array(class_scores, dtype=np.float32)
            if cs.ndim != 2 or len(cs) != n:
                raise ValueError(f'track class_scores must have shape ({n}, C) for '
                                 f'its {n} frames, got {cs.shape}')
            self._class_scores, self._num_classes = cs, cs.shape[1]
        self._pending: list = []  # rows appended since the arrays were assembled
        self.track_id = None if track_id is None else int(track_id)
        self.label = label

    # ------------------------------------------------------------ building
    def append(self, frame: int, box, score: float = 1.0, detected: bool = True,
               class_scores=None) -> None:
        """Add the row of ``frame`` (after every frame the track has).

        Args:
            frame: the frame number, larger than :attr:`end`.
            box: ``(4,)`` ``x1, y1, x2, y2`` (kept as float32).
            score: the detection score of the row.
            detected: False for a row filled in, not detected.
            class_scores: ``(C,)`` class scores; given for every row or for none.
        """
        frame = int(frame)
        if len(self) and frame <= self.end:
            raise ValueError(f'track frames must increase: frame {frame} after '
                             f'{self.end}')
        box = np.asarray(box, dtype=np.float32).reshape(4)
        if class_scores is not None:
            class_scores = np.asarray(class_scores, dtype=np.float32).reshape(-1)
        if len(self) == 0 and self._num_classes is None and class_scores is not None:
            self._num_classes = len(class_scores)
            self._class_scores = np.zeros((0, self._num_classes), np.float32)
        if (class_scores is None) != (self._num_classes is None) or (
                class_scores is not None and len(class_scores) != self._num_classes):
            raise ValueError(
                f'track rows need class_scores of length {self._num_classes}, got '
                f'{None if class_scores is None else len(class_scores)}'
                if self._num_classes is not None else
                'this track has no class_scores; give them for every row or none')
        self._pending.append((frame, box, score, bool(detected), class_scores))

    def _assemble(self) -> None:
        if not self._pending:
            return
        rows = self._pending
        self._pending = []
        self._frames = np.concatenate(
            [self._frames, np.asarray([r[0] for r in rows], dtype=np.int64)])
        self._boxes = np.concatenate(
            [self._boxes, np.asarray([r[1] for r in rows], dtype=np.float32)])
        self._scores = np.concatenate(
            [self._scores, np.asarray([r[2] for r in rows], dtype=np.float32)])
        self._detected = np.concatenate(
            [self._detected, np.asarray([r[3] for r in rows], dtype=bool)])
        if self._num_classes is not None:
            self._class_scores = np.concatenate(
                [self._class_scores, np.asarray([r[4] for r in rows], np.float32)])

    def keep_last(self, n: int) -> None:
        """Drop all but the last ``n`` rows (bounds a long-lived track's memory)."""
        if n < 1:
            raise ValueError(f'keep_last needs n >= 1, got {n}')
        if len(self) <= n:
            return
        self._assemble()
        self._frames, self._boxes = self._frames[-n:].copy(), self._boxes[-n:].copy()
        self._scores, self._detected = self._scores[-n:].copy(), self._detected[-n:].copy()
        if self._class_scores is not None:
            self._class_scores = self._class_scores[-n:].copy()

    # ------------------------------------------------------------ columns
    @property
    def frames(self) -> np.ndarray:
        """``(L,)`` int64 frame numbers."""
        self._assemble()
        return self._frames

    @property
    def boxes(self) -> np.ndarray:
        """``(L, 4)`` float32 ``x1, y1, x2, y2``."""
        self._assemble()
        return self._boxes

    @property
    def scores(self) -> np.ndarray:
        """``(L,)`` float32 per-frame detection scores."""
        self._assemble()
        return self._scores

    @property
    def detected(self) -> np.ndarray:
        """``(L,)`` bool, False on rows filled in."""
        self._assemble()
        return self._detected

    @property
    def class_scores(self) -> np.ndarray | None:
        """``(L, C)`` float32 per-frame class scores, or None."""
        self._assemble()
        return self._class_scores

    # ------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self._frames) + len(self._pending)

    def _check_nonempty(self) -> None:
        if not len(self):
            raise ValueError('the track is empty')

    @property
    def start(self) -> int:
        """First frame."""
        self._check_nonempty()
        return int(self._frames[0]) if len(self._frames) else self._pending[0][0]

    @property
    def end(self) -> int:
        """Last frame."""
        self._check_nonempty()
        return self._pending[-1][0] if self._pending else int(self._frames[-1])

    @property
    def span(self) -> int:
        """Frames from :attr:`start` to :attr:`end`, both included (gaps count)."""
        return self.end - self.start + 1

    @property
    def is_gap_free(self) -> bool:
        """One row for every frame from :attr:`start` to :attr:`end`."""
        return len(self) > 0 and self.span == len(self)

    @property
    def last_box(self) -> np.ndarray:
        """``(4,)`` float32 box of the last row."""
        self._check_nonempty()
        return self._pending[-1][1] if self._pending else self._boxes[-1]

    @property
    def last_score(self) -> float:
        """Detection score of the last row."""
        self._check_nonempty()
        return float(self._pending[-1][2] if self._pending else self._scores[-1])

    #: the current box and score (the online tracker's smoothed box and the score
    #: of the detection it was last matched to)
    box = last_box
    score = last_score

    def index_of(self, frame: int) -> int | None:
        """Row of ``frame``, or None when the track has no row there."""
        frames = self.frames
        i = int(np.searchsorted(frames, frame))
        return i if i < len(frames) and frames[i] == frame else None

    def box_at(self, frame: int) -> np.ndarray | None:
        """``(4,)`` box at ``frame``, or None when the track has no row there."""
        i = self.index_of(frame)
        return None if i is None else self.boxes[i]

    def interpolated(self) -> Track:
        """A gap-free copy: one row per frame from :attr:`start` to :attr:`end`.

        Boxes of missing frames are interpolated linearly (per coordinate, in
        float64, stored as float32), their ``scores`` are 0, ``detected`` False and
        ``class_scores`` (if any) 0; the rows the track has are kept as they are
        (``detected`` included).
        """
        self._check_nonempty()
        frames, boxes = self.frames, self.boxes
        full = np.arange(frames[0], frames[-1] + 1)
        at = frames - frames[0]
        out_boxes = np.stack([np.interp(full, frames, boxes[:, k]) for k in range(4)], 1)
        detected = np.zeros(len(full), bool)
        detected[at] = self.detected
        out_scores = np.zeros(len(full), np.float32)
        out_scores[at] = self.scores
        cs = None
        if self.class_scores is not None:
            cs = np.zeros((len(full), self._num_classes), np.float32)
            cs[at] = self.class_scores
        return Track(full, out_boxes.astype(np.float32), out_scores, detected, cs,
                     track_id=self.track_id, label=self.label)

    # ------------------------------------------------------------ dict format
    def to_dict(self) -> dict:
        """The dict format (module docstring); arrays are the track's own."""
        out = dict(frames=self.frames, boxes=self.boxes, scores=self.scores,
                   detected=self.detected)
        if self.class_scores is not None:
            out['class_scores'] = self.class_scores
        if self.track_id is not None:
            out['track_id'] = self.track_id
        if self.label is not None:
            out['label'] = self.label
        return out

    @classmethod
    def from_dict(cls, d) -> Track:
        """A track from the dict format (``scores``, ``detected`` and the rest
        optional; other keys ignored)."""
        missing = {'frames', 'boxes'} - set(d.keys())
        if missing:
            raise ValueError(f'a track dict needs frames and boxes, missing '
                             f'{sorted(missing)}')
        return cls(d['frames'], d['boxes'], d.get('scores'), d.get('detected'),
                   d.get('class_scores'), track_id=d.get('track_id'),
                   label=d.get('label'))

    @classmethod
    def coerce(cls, track) -> Track:
        """``track`` itself if it is a :class:`Track`, else :meth:`from_dict`."""
        return track if isinstance(track, cls) else cls.from_dict(track)

    def keys(self) -> list:
        return list(self.to_dict())

    def __iter__(self):
        """The dict keys, as iterating a track dict gives."""
        return iter(self.keys())

    def __getitem__(self, key: str):
        if not isinstance(key, str):
            raise TypeError(f'a track is indexed by its dict keys '
                            f'({", ".join(self.keys())}), got {key!r}; rows: '
                            'track.boxes[i]')
        d = self.to_dict()
        if key not in d:
            raise KeyError(key)
        return d[key]

    def get(self, key: str, default=None):
        return self.to_dict().get(key, default)

    def __contains__(self, key) -> bool:
        return key in self.to_dict()

    def __repr__(self) -> str:
        span = f'frames {self.start}..{self.end}' if len(self) else 'empty'
        extra = ''.join(f', {k}={getattr(self, k)!r}' for k in ('track_id', 'label')
                        if getattr(self, k) is not None)
        cs = f', {self._num_classes} classes' if self._num_classes is not None else ''
        return f'Track({len(self)} rows, {span}{extra}{cs})'
