"""Online person tracking for the demo: greedy IoU association with smoothing.

(Offline linking of whole videos is :mod:`stadl_plugins.tracking.linking`.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..structures.bbox import pairwise_iou

__all__ = ['Track', 'IoUTracker']


@dataclass
class Track:
    """One person over time. ``box`` is the smoothed ``[x1, y1, x2, y2]`` (pixels)."""

    key: int                      # internal id, never reused
    box: np.ndarray
    score: float
    hits: int = 1                 # detection rounds in which it was matched
    missed: int = 0               # consecutive detection rounds without a match
    track_id: int | None = None   # shown id, given when the track is confirmed
    history: list = field(default_factory=list)


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

    Args:
        iou_thr: minimum IoU to link a detection to a track.
        smoothing: weight of the new detection in the smoothed box, in (0, 1].
        min_hits: detection rounds needed before a track is shown.
        max_missed: detection rounds a track survives without a match.
    """

    def __init__(self, iou_thr: float = 0.3, smoothing: float = 0.5,
                 min_hits: int = 2, max_missed: int = 3):
        if not 0 < smoothing <= 1:
            raise ValueError(f'smoothing must be in (0, 1], got {smoothing}')
        if min_hits < 1:
            raise ValueError(f'min_hits must be >= 1, got {min_hits}')
        self.iou_thr = float(iou_thr)
        self.smoothing = float(smoothing)
        self.min_hits = int(min_hits)
        self.max_missed = int(max_missed)
        self.tracks: list[Track] = []
        self._next_key = 0
        self._next_id = 1

    @property
    def num_confirmed(self) -> int:
        """How many track ids were given so far."""
        return self._next_id - 1

    def update(self, detections: np.ndarray) -> list[Track]:
        """Link one frame's detections to the tracks.

        Args:
            detections: ``(N, 5)`` ``[x1, y1, x2, y2, score]`` (pixels).

        Returns:
            list[Track]: the confirmed tracks (see :meth:`active`).
        """
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
                    t.box = ((1 - self.smoothing) * t.box
                             + self.smoothing * dets[di, :4]).astype(np.float32)
                    t.score = float(dets[di, 4])
                    t.hits += 1
                    t.missed = 0
        for ti in unmatched_tracks:
            self.tracks[ti].missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for di in sorted(unmatched_dets):
            self.tracks.append(Track(key=self._next_key, box=dets[di, :4].copy(),
                                     score=float(dets[di, 4])))
            self._next_key += 1
        for t in self.tracks:
            if t.track_id is None and t.hits >= self.min_hits:
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
