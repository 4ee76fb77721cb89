"""Person tracks: greedy online IoU linking of per-frame person boxes (RecLNet input).

RecLNet (Chéron et al. 2018) scores *person tracks* spanning the video; the paper
takes precomputed tracks (Saha et al.'s DP-linked detections on UCF101-24,
Weinzaepfel et al.'s tracking-by-detection on DALY, ACT's online linker for the
"stack" tracks). Here a simple online linker in the ACT / ROAD spirit builds them
from any per-frame person detections (proposal pickles, a detector's outputs):

frames are visited in increasing order; every live track is compared (IoU) with
the frame's detections through its last box; pairs are accepted greedily, highest
IoU first, while both are free and IoU >= ``iou_thr``; unmatched detections
start new tracks; a track that found no detection for more than ``max_gap``
consecutive frames is finished. Missed frames inside a track are filled by
linear interpolation of the boxes (``detected`` False, score 0), so every track
is gap-free (one row per frame) as :mod:`stadl_plugins.localization.temporal`
expects. Tracks spanning fewer than ``min_length`` frames are dropped.

Tracks are :class:`~stadl_plugins.structures.track.Track` objects (the package's
one track type) with gap-free rows::

    frames   int64 (L,) consecutive frame numbers,
    boxes    float32 (L, 4) x1, y1, x2, y2 (pixels),
    scores   float32 (L,) detection score (0 on interpolated frames),
    detected bool (L,) False on interpolated frames

A track also reads like the track dict ``{'frames', 'boxes', 'scores',
'detected'}`` these functions returned before (``track['boxes']``), and every
function here that takes tracks takes such dicts too.

Pickle format written by :func:`save_tracks` / read by :func:`load_tracks`
(tracks stored as dicts, :meth:`Track.to_dict <stadl_plugins.structures.track.Track.to_dict>`)::

    {'format': 'stadl_person_tracks', 'version': 1,
     'params': {...linking parameters...},
     'tracks': {video: [track dict, ...]}}

Paper gap: the paper does not link tracks itself; the linker, its parameters
(defaults ``iou_thr=0.3, max_gap=5, min_length=10``) and the gap interpolation
are ours.
"""
from __future__ import annotations

import pickle

import numpy as np

from ..safe_load import safe_pickle_load
from ..structures.bbox import pairwise_iou
from ..structures.track import Track

__all__ = ['link_person_boxes', 'link_videos', 'save_tracks', 'load_tracks',
           'tracks_to_arrays', 'keyframe_proposals_to_frames']

TRACKS_FORMAT = 'stadl_person_tracks'
TRACKS_VERSION = 1


def _as_dets(d, frame):
    d = np.asarray(d, dtype=np.float32)
    if d.size == 0:
        return np.zeros((0, 5), np.float32)
    if d.ndim != 2 or d.shape[1] not in (4, 5):
        raise ValueError(f'detections of frame {frame} must be (n, 4) or (n, 5) '
                         f'x1, y1, x2, y2[, score], got shape {d.shape}')
    if d.shape[1] == 4:
        d = np.concatenate([d, np.ones((len(d), 1), np.float32)], 1)
    return d


def link_person_boxes(frame_dets: dict, iou_thr: float = 0.3, max_gap: int = 5,
                      min_length: int = 10, min_score: float = 0.0) -> list:
    """Link one video's per-frame person boxes into gap-free tracks.

    Args:
        frame_dets: ``{frame number: (n, 4|5) x1, y1, x2, y2[, score]}`` (frames
            need not be consecutive; missing frames count as frames without
            detections).
        iou_thr: least IoU between a track's last box and a detection to extend it.
        max_gap: most consecutive frames a track may miss and still be extended.
        min_length: tracks spanning fewer frames are dropped.
        min_score: detections scoring below are ignored.

    Returns:
        list of gap-free :class:`Track` (module docstring), ordered by first frame.
    """
    if iou_thr < 0 or max_gap < 0 or min_length < 1:
        raise ValueError(f'need iou_thr >= 0, max_gap >= 0, min_length >= 1; got '
                         f'{iou_thr}, {max_gap}, {min_length}')
    live, done = [], []
    for frame in sorted(frame_dets):
        d = _as_dets(frame_dets[frame], frame)
        d = d[d[:, 4] >= min_score]
        still = []
        for t in live:  # finish tracks whose gap got too long
            (still if frame - t.end - 1 <= max_gap else done).append(t)
        live = still
        free_det = np.ones(len(d), dtype=bool)
        if live and len(d):
            iou = pairwise_iou(np.array([t.last_box for t in live]), d[:, :4])  # (n_live, n)
            ti, di = np.nonzero(iou >= iou_thr)
            order = np.lexsort((-d[di, 4], -iou[ti, di]))  # best IoU, then score
            free_trk = np.ones(len(live), dtype=bool)
            for k in order:
                a, b = ti[k], di[k]
                if free_trk[a] and free_det[b]:
                    free_trk[a] = free_det[b] = False
                    live[a].append(frame, d[b, :4], d[b, 4])
        for b in np.flatnonzero(free_det):
            t = Track()
            t.append(frame, d[b, :4], d[b, 4])
            live.append(t)
    done += live
    out = [t.interpolated() for t in done if t.span >= min_length]
    return sorted(out, key=lambda t: t.start)


def link_videos(dets_by_video: dict, **kwargs) -> dict:
    """:func:`link_person_boxes` for ``{video: frame_dets}`` -> ``{video: [track]}``."""
    return {v: link_person_boxes(fd, **kwargs) for v, fd in dets_by_video.items()}


def save_tracks(path: str, tracks: dict, params: dict | None = None) -> None:
    """Write ``{video: [track]}`` (:class:`Track` or track dicts) in the documented
    pickle format (tracks as dicts)."""
    for v, ts in tracks.items():
        for t in ts:
            missing = {'frames', 'boxes', 'scores', 'detected'} - set(t.keys())
            if missing:
                raise ValueError(f'track of video {v!r} lacks {sorted(missing)}')
    tracks = {v: [t.to_dict() if isinstance(t, Track) else t for t in ts]
              for v, ts in tracks.items()}
    with open(path, 'wb') as f:
        pickle.dump(dict(format=TRACKS_FORMAT, version=TRACKS_VERSION,
                         params=dict(params or {}), tracks=tracks), f)


def load_tracks(path: str) -> dict:
    """Read a :func:`save_tracks` file; returns ``{video: [Track]}``."""
    with open(path, 'rb') as f:
        data = safe_pickle_load(f)
    if not isinstance(data, dict) or data.get('format') != TRACKS_FORMAT:
        raise ValueError(f'{path}: not a person-track file (expected a dict with '
                         f"format={TRACKS_FORMAT!r}, got "
                         f"{type(data).__name__} {data.get('format') if isinstance(data, dict) else ''})")
    if data.get('version') != TRACKS_VERSION:
        raise ValueError(f"{path}: track file version {data.get('version')}, this code "
                         f'reads version {TRACKS_VERSION}')
    tracks = data.get('tracks')
    if not isinstance(tracks, dict):
        raise ValueError(f"{path}: 'tracks' must be a dict {{video: [track]}}, got "
                         f'{type(tracks).__name__}')
    for video, ts in tracks.items():
        if not isinstance(ts, (list, tuple)):
            raise ValueError(f'{path}: tracks[{video!r}] must be a list of tracks, '
                             f'got {type(ts).__name__}')
        for k, tr in enumerate(ts):
            _check_track(f'{path}: tracks[{video!r}][{k}]', tr)
    return {video: [Track.from_dict(tr) for tr in ts] for video, ts in tracks.items()}


def _check_track(where: str, tr) -> None:
    """A track dict as :func:`link_person_boxes` writes it (module docstring)."""
    if not isinstance(tr, dict) or {'frames', 'boxes'} - set(tr):
        raise ValueError(f'{where}: expected a dict with frames, boxes[, scores, '
                         'detected]')
    frames, boxes = np.asarray(tr['frames']), np.asarray(tr['boxes'])
    n = len(frames)
    if frames.ndim != 1 or n == 0 or frames.dtype.kind not in 'iu':
        raise ValueError(f'{where}: frames must be a non-empty 1-D integer array, got '
                         f'{frames.dtype} {frames.shape}')
    if (np.diff(frames) != 1).any():
        raise ValueError(f'{where}: frames are not consecutive (tracks are gap-free), '
                         f'first gap after frame {frames[np.flatnonzero(np.diff(frames) != 1)[0]]}')
    if boxes.shape != (n, 4) or not np.isfinite(boxes).all():
        raise ValueError(f'{where}: boxes must be finite ({n}, 4) for its {n} frames, '
                         f'got shape {boxes.shape}')
    if ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
        i = int(np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))[0])
        raise ValueError(f'{where}: inverted box {boxes[i].tolist()} at frame '
                         f'{frames[i]} (x2 < x1 or y2 < y1)')
    for key in ('scores', 'detected'):
        if key in tr and np.asarray(tr[key]).shape != (n,):
            raise ValueError(f'{where}: {key} has shape {np.asarray(tr[key]).shape}, '
                             f'expected ({n},) like frames')


def tracks_to_arrays(tracks: dict):
    """Pad ``{video: [track]}`` (:class:`Track` or track dicts) into the arrays of
    :func:`stadl_plugins.localization.temporal.localize_tracks`.

    Returns:
        ``boxes (N, T, 4)``, ``lengths (N,)``, ``start_frames (N,)``,
        ``videos`` (list of N names), ``index`` (list of ``(video, k)``).
    """
    index = [(v, k) for v in tracks for k in range(len(tracks[v]))]
    trs = [Track.coerce(tracks[v][k]) for v, k in index]
    t_max = max((len(tr) for tr in trs), default=0)
    boxes = np.zeros((len(index), t_max, 4), np.float32)
    lengths = np.zeros(len(index), np.int64)
    starts = np.zeros(len(index), np.int64)
    for i, tr in enumerate(trs):
        ln = len(tr)
        boxes[i, :ln] = tr.boxes
        boxes[i, ln:] = tr.last_box
        lengths[i], starts[i] = ln, tr.start
    return boxes, lengths, starts, [v for v, _ in index], index


def keyframe_proposals_to_frames(proposals: dict, fps: int, timestamp_start: int,
                                 width: int, height: int,
                                 path: str = '<proposals>') -> dict:
    """AVA-style proposal pickles (``{'vid,0903': (n, 4|5) normalised boxes}``) ->
    ``{video: {frame (1-based): (n, 5) pixel boxes}}`` at the keyframes
    (frame ``fps * (timestamp - timestamp_start) + 1``).

    The arrays are validated first (numeric, finite, normalised, ``x1 < x2``;
    ``AVAFormatError`` naming ``path`` and the bad keys): pixel coordinates would
    otherwise be scaled a second time."""
    from stadl_plugins.datasets.ava_io import check_proposals
    check_proposals(path, proposals)
    out: dict = {}
    for key, arr in proposals.items():
        try:
            vid, ts = key.rsplit(',', 1)
            ts = int(ts)
        except ValueError:
            raise ValueError(f"proposal key must be 'video,timestamp', got {key!r}") from None
        d = _as_dets(arr, key).copy()
        d[:, [0, 2]] *= width
        d[:, [1, 3]] *= height
        out.setdefault(vid, {})[fps * (ts - timestamp_start) + 1] = d
    return out
