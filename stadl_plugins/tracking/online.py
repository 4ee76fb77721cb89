"""Online person tracking for the demo: greedy IoU association with smoothing.

The tracks are :class:`~stadl_plugins.structures.track.Track` objects, one row per
detection round in which the track was matched (the smoothed box, the matched
detection's score). (Offline linking of whole videos is
:mod:`stadl_plugins.tracking.linking`.)
"""
from __future__ import annotations

import numpy as np

from ..structures.bbox import pairwise_iou
from ..structures.track import Track

__all__ = ['Track', 'IoUTracker']


class IoUTracker:
    """Greedy IoU tracker with exponential box smoothing.

    Call :meth:`update` with the detections of a frame on which the detector ran
    (between such frames the tracks simply keep their boxes).

    Matching: all (track, detection) pairs with ``IoU >= iou_thr`` are taken in
    order of decreasing IoU, each track and detection at most once. A matched track
    moves to ``(1 - smoothing) * old_box + smoothing * detected_box`` (so
    ``smoothing=1`` follows the detector exactly, smaller values damp jitter at the
    cost of lag). An unmatched detection starts a tentative track; a track is
    *confirmed*, shown and given the next free id once it has been matched in
    ``min_hits`` detection rounds (one-off false positives never show). A track
    unmatched for more than ``max_missed`` consecutive rounds is dropped.

    Each track (:class:`~stadl_plugins.structures.track.Track`) gets a row per
    round it was matched in (and its first): the frame given to :meth:`update`,
    the smoothed box, the detection's score; ``track.box`` is its current box.
    Only the last ``max_history`` rows are kept, so memory does not grow with the
    video's length.

    Args:
        iou_thr: minimum IoU to link a detection to a track.
        smoothing: weight of the new detection in the smoothed box, in (0, 1].
        min_hits: detection rounds needed before a track is shown.
        max_missed: detection rounds a track survives without a match.
        max_history: rows kept per track (None: all).
    """

    def __init__(self, iou_thr: float = 0.3, smoothing: float = 0.5,
                 min_hits: int = 2, max_missed: int = 3,
                 max_history: int | None = 64):
        if not 0 < smoothing <= 1:
            raise ValueError(f'smoothing must be in (0, 1], got {smoothing}')
        if min_hits < 1:
            raise ValueError(f'min_hits must be >= 1, got {min_hits}')
        if max_history is not None and max_history < 1:
            raise ValueError(f'max_history must be >= 1 or None, got {max_history}')
        self.iou_thr = float(iou_thr)
        self.smoothing = float(smoothing)
        self.min_hits = int(min_hits)
        self.max_missed = int(max_missed)
        self.max_history = max_history
        self.tracks: list[Track] = []
        self._hits: list[int] = []     # detection rounds in which each was matched
        self._missed: list[int] = []   # consecutive rounds without a match
        self._round = 0
        self._next_id = 1

    @property
    def num_confirmed(self) -> int:
        """How many track ids were given so far."""
        return self._next_id - 1

    def update(self, detections: np.ndarray, frame: int | None = None) -> list[Track]:
        """Link one frame's detections to the tracks.

        Args:
            detections: ``(N, 5)`` ``[x1, y1, x2, y2, score]`` (pixels).
            frame: the frame number of the rows added (increasing from call to
                call); None: the number of the detection round (0, 1, ...).

        Returns:
            list[Track]: the confirmed tracks (see :meth:`active`).
        """
        frame = self._round if frame is None else int(frame)
        self._round += 1
        dets = np.asarray(detections, np.float32).reshape(-1, 5)
        unmatched_tracks = set(range(len(self.tracks)))
        unmatched_dets = set(range(len(dets)))
        if self.tracks and len(dets):
            iou = pairwise_iou(np.stack([t.box for t in self.tracks]).astype(np.float64),
                              dets[:, :4].astype(np.float64))
            pairs = np.argwhere(iou >= self.iou_thr)
            order = np.argsort(-iou[pairs[:, 0], pairs[:, 1]], kind='stable')
            for ti, di in pairs[order]:
                if ti in unmatched_tracks and di in unmatched_dets:
                    unmatched_tracks.discard(ti)
                    unmatched_dets.discard(di)
                    t = self.tracks[ti]
                    t.append(frame, ((1 - self.smoothing) * t.box
                                     + self.smoothing * dets[di, :4]).astype(np.float32),
                             float(dets[di, 4]))
                    if self.max_history is not None:
                        t.keep_last(self.max_history)
                    self._hits[ti] += 1
                    self._missed[ti] = 0
        for ti in unmatched_tracks:
            self._missed[ti] += 1
        keep = [i for i, m in enumerate(self._missed) if m <= self.max_missed]
        self.tracks = [self.tracks[i] for i in keep]
        self._hits = [self._hits[i] for i in keep]
        self._missed = [self._missed[i] for i in keep]
        for di in sorted(unmatched_dets):
            t = Track()
            t.append(frame, dets[di, :4].copy(), float(dets[di, 4]))
            self.tracks.append(t)
            self._hits.append(1)
            self._missed.append(0)
        for t, hits in zip(self.tracks, self._hits):
            if t.track_id is None and hits >= self.min_hits:
                t.track_id = self._next_id
                self._next_id += 1
        return self.active()

    def active(self) -> list[Track]:
        """Confirmed tracks still alive (a track missed in up to ``max_missed``
        rounds keeps its last box, so a single missed detection does not flicker)."""
        return [t for t in self.tracks if t.track_id is not None]

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """The active tracks as arrays: ids ``(N,)`` int64, boxes ``(N, 4)`` float32."""
        act = self.active()
        ids = np.array([t.track_id for t in act], np.int64)
        boxes = (np.stack([t.box for t in act]).astype(np.float32) if act
                 else np.zeros((0, 4), np.float32))
        return ids, boxes
