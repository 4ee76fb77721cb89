"""Person tracks of a synthetic v2 dataset from its per-frame person boxes.

RecLNet (Chéron et al. 2018) scores person tracks that span the video. On v2,
tracks linked from the 1-Hz keyframe proposals fall apart: measured on data seed
1's ``syn2_val_002`` (4 actors, 42 keyframes), IoU linking gave 41 tracks of
11-161 frames at ``iou_thr=0.3`` and 32 tracks of 1-16 s at 0.1 (docs/reclnet.md,
"Benchmark v2: first probe"). At 1 Hz an actor, walking under the camera pan,
moves farther than its box overlaps. The generator also writes every person's box
on every frame of the keyframe range with its person id
(``annotations/movement_frames_<split>.csv``: ``video_id, frame (0-based), x1,
y1, x2, y2 (normalised), movement, person_id, same_before, same_after``). This
module turns those rows into gap-free :class:`~stadl_plugins.structures.track.Track`
objects: 1-based frames and pixel boxes, the format ``save_tracks`` writes and
``tools/reclnet/extract_track_features.py --tracks`` reads.

Gap we filled: the tracks are ground-truth person tracks, not a detector plus a
tracker as in the paper (which takes precomputed tracks). The actions are still
localised by RecLNet; only *who is where* is given. A person who leaves the
frame has no rows there, so the track is split at every missing frame. Runs
shorter than ``min_length`` frames are counted and dropped, and the count is
reported.
"""
from __future__ import annotations

import os

import numpy as np

from ...structures.track import Track
from .movement_rows import read_movement_rows

__all__ = ['person_tracks_from_movement_frames']


def person_tracks_from_movement_frames(path: str, width: int, height: int,
                                       min_length: int = 1,
                                       videos=None) -> tuple[dict, dict]:
    """Read ``movement_frames_<split>.csv`` into person tracks.

    Args:
        path: the csv file.
        width, height: frame size in pixels (v2: ``meta.json`` ``config.video``).
        min_length: drop runs with fewer frames than this.
        videos: keep only these video ids (None: all).

    Returns:
        ``({video: [Track]}, report)``. Each track has ``track_id`` = person id,
        1-based ``frames`` and pixel boxes, with scores 1. It is split where the
        person's frames are not consecutive. ``report``: ``rows``, ``tracks``,
        ``dropped_short`` (runs under ``min_length``), ``splits`` (extra tracks
        from gaps).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed row (file and line named) or a repeated
            (video, person, frame).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such movement_frames csv (a v2 dataset '
                                'writes annotations/movement_frames_<split>.csv; '
                                'backfill with generator_v2.write_movement_frames)')
    keep = None if videos is None else set(videos)
    scale = np.array([width, height, width, height], np.float64)
    rows: dict = {}  # (video, pid) -> {frame: box}
    n_rows = 0
    for r in read_movement_rows(path, columns=(10,)):
        if keep is not None and r.video not in keep:
            continue
        per = rows.setdefault((r.video, r.person_id), {})
        if r.key in per:
            raise ValueError(f'{path}:{r.line}: person {r.person_id} of {r.video!r} '
                             f'appears twice at frame {r.key}')
        per[r.key] = np.array(r.box, np.float64) * scale
        n_rows += 1
    tracks: dict = {}
    dropped = splits = 0
    for (vid, pid) in sorted(rows):
        per = rows[(vid, pid)]
        frames = np.array(sorted(per), np.int64)
        cuts = np.flatnonzero(np.diff(frames) != 1) + 1
        runs = np.split(frames, cuts)
        splits += len(runs) - 1
        for run in runs:
            if len(run) < min_length:
                dropped += 1
                continue
            boxes = np.stack([per[int(t)] for t in run]).astype(np.float32)
            tracks.setdefault(vid, []).append(
                Track(run + 1, boxes, np.ones(len(run), np.float32),
                      np.ones(len(run), bool), track_id=pid))
    report = dict(rows=n_rows, tracks=sum(len(t) for t in tracks.values()),
                  dropped_short=dropped, splits=splits)
    return tracks, report
