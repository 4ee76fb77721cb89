"""The track-feature file format (RecLNet input): the one place that packs,
writes, reads and checks it.

One ``<video>.npz`` per video (``class/video`` names make sub-folders):

=================  ============  ==================================================
key                shape, dtype  meaning
=================  ============  ==================================================
``feat_<stream>``  (N, T, D) f4   per-step feature of each track (``float16`` allowed)
``boxes``          (N, T, 4) f4   the track box at that step (pixels, x1 y1 x2 y2)
``frames``         (N, T) i8      1-based frame number; -1 = padding
``lengths``        (N,) i8        valid steps of each track (``0..T``)
``labels``         (N, T) i8      0 = background, 1 + c = action c, -1 = unknown/pad
``track_index``    (N,) i8        optional: the track's index in the input list
``frame_step``     () i8          optional: frames between steps (``every``)
``fps``            () f8          optional: frame rate of the video (frames per
                                  second), which turns RecLNet's median window from
                                  seconds into frames (:func:`track_fps`)
=================  ============  ==================================================

Writers: :func:`~stadl_plugins.datasets.track_windows.make_synthetic_track_features`
and the extractor :mod:`stadl_plugins.apis.track_features`; reader:
:class:`~stadl_plugins.datasets.track_windows.TrackWindowDataset`. Files are written
atomically (``.<name>.npz.partial``, fsync, ``os.replace``), so a killed writer
never leaves a truncated ``<name>.npz``.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ['REQUIRED_KEYS', 'pack_track_features', 'write_track_file',
           'read_track_features', 'check_track_arrays', 'feature_file_is_complete',
           'partial_path', 'track_fps']

#: keys every track-feature file has (besides ``feat_<stream>``)
REQUIRED_KEYS = frozenset({'boxes', 'frames', 'lengths', 'labels'})


def pack_track_features(frames: list, boxes: list, features: dict, labels: list | None,
                        track_index=None, frame_step: int | None = None,
                        fps: float | None = None) -> dict:
    """Pad per-track arrays into the file's ``(N, T, ...)`` arrays.

    Args:
        frames: per track, ``(L_i,)`` frame numbers.
        boxes: per track, ``(L_i, 4)``.
        features: ``{stream: [(L_i, D) or None per track]}`` (None: zeros).
        labels: per track ``(L_i,)`` or None (all -1).
        track_index: optional ``(N,)``; frame_step: optional int.
        fps: optional frame rate of the video (the ``fps`` key).
    """
    n = len(frames)
    t = max((len(f) for f in frames), default=0)
    out = dict(boxes=np.zeros((n, t, 4), np.float32),
               frames=np.full((n, t), -1, np.int64),
               lengths=np.array([len(f) for f in frames], np.int64),
               labels=np.full((n, t), -1, np.int64))
    if track_index is not None:
        out['track_index'] = np.asarray(track_index, np.int64)
    if frame_step is not None:
        out['frame_step'] = np.array(frame_step, np.int64)
    if fps is not None:
        out['fps'] = np.array(fps, np.float64)
    for s, per_track in features.items():
        d = next((f.shape[1] for f in per_track if f is not None), 0)
        arr = np.zeros((n, t, d), np.float32)
        for i, f in enumerate(per_track):
            if f is not None:
                arr[i, :len(f)] = f
        out[f'feat_{s}'] = arr
    for i in range(n):
        ln = len(frames[i])
        out['frames'][i, :ln] = frames[i]
        out['boxes'][i, :ln] = boxes[i]
        if labels is not None and labels[i] is not None:
            out['labels'][i, :ln] = labels[i]
    return out


def partial_path(path: str) -> str:
    """Where :func:`write_track_file` writes before the atomic rename."""
    return os.path.join(os.path.dirname(path) or '.',
                        '.' + os.path.basename(path) + '.partial')


def write_track_file(path: str, arrays: dict) -> None:
    """Write one video's arrays atomically (checked first: a bad pack raises)."""
    check_track_arrays(path, arrays)
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    tmp = partial_path(path)
    with open(tmp, 'wb') as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_track_features(path: str, streams=None) -> dict:
    """Read a feature file, checking its keys and shapes (clear errors)."""
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    if REQUIRED_KEYS - set(data):
        raise KeyError(f'{path}: missing keys {sorted(REQUIRED_KEYS - set(data))}; has '
                       f'{sorted(data)}')
    for s in streams or ():
        if f'feat_{s}' not in data:
            raise KeyError(f"{path}: no 'feat_{s}' features for stream {s!r}; has "
                           f'{sorted(k for k in data if k.startswith("feat_"))}')
        if data[f'feat_{s}'].shape[:2] != data['labels'].shape:
            raise ValueError(f"{path}: feat_{s} is {data[f'feat_{s}'].shape}, labels "
                             f"{data['labels'].shape}: (N, T) must agree")
    check_track_arrays(path, data)
    return data


def check_track_arrays(path: str, data: dict) -> None:
    """``lengths`` must give one length in ``0..T`` per track of ``labels``
    ``(N, T)``, and ``frames``/``boxes`` must be ``(N, T)``/``(N, T, 4)`` with real
    frame numbers (>= 0) on every valid step; otherwise tracks would be lost or
    padding read as data. Raises ``ValueError`` naming the file, key and track."""
    labels, lengths = np.asarray(data['labels']), np.asarray(data['lengths'])
    if labels.ndim != 2:
        raise ValueError(f'{path}: labels has shape {labels.shape}, expected (N, T)')
    n, t = labels.shape
    if lengths.shape != (n,):
        raise ValueError(f'{path}: lengths has shape {lengths.shape} but the file '
                         f'holds {n} tracks (labels {labels.shape}); every track '
                         'needs one length')
    if lengths.dtype.kind not in 'iu':
        raise ValueError(f'{path}: lengths has dtype {lengths.dtype}, expected integers')
    bad = np.flatnonzero((lengths < 0) | (lengths > t))
    if len(bad):
        raise ValueError(f'{path}: lengths[{bad[0]}] = {lengths[bad[0]]} is outside '
                         f'0..{t} (T of labels {labels.shape}); {len(bad)} such tracks')
    for key, shape in (('frames', (n, t)), ('boxes', (n, t, 4))):
        if np.asarray(data[key]).shape != shape:
            raise ValueError(f'{path}: {key} has shape {np.asarray(data[key]).shape}, '
                             f'expected {shape} for {n} tracks of up to {t} frames')
    valid = np.arange(t)[None, :] < lengths[:, None]
    bad = np.flatnonzero((valid & (np.asarray(data['frames']) < 0)).any(1))
    if len(bad):
        raise ValueError(f'{path}: track {bad[0]} has padding (frame -1) within its '
                         f'lengths[{bad[0]}] = {lengths[bad[0]]} valid frames; '
                         f'{len(bad)} such tracks')
    if 'fps' in data:
        fps = np.asarray(data['fps'])
        if fps.shape != () or fps.dtype.kind not in 'iuf' or not np.isfinite(fps) \
                or fps <= 0:
            raise ValueError(f'{path}: fps must be one positive number (frames per '
                             f'second), got {fps!r}')


def track_fps(data: dict) -> float | None:
    """The ``fps`` of a read feature file (float), or None when it has none."""
    return float(data['fps']) if 'fps' in data else None


def feature_file_is_complete(path: str, streams, every: int | None = None,
                             fps: float | None = None) -> bool:
    """True when ``path`` loads as a feature file with all ``feat_<stream>`` keys
    (and, if given, ``frame_step == every`` and no other ``fps`` than ``fps``);
    False for a truncated file, a bad zip CRC or missing keys."""
    if not os.path.isfile(path):
        return False
    try:
        with np.load(path) as z:
            keys = set(z.files)
            if REQUIRED_KEYS - keys:
                return False
            if any(f'feat_{s}' not in keys for s in streams):
                return False
            if every is not None and 'frame_step' in keys and int(z['frame_step']) != every:
                return False
            if fps is not None and 'fps' in keys and float(z['fps']) != float(fps):
                return False
            for s in streams:  # reading the arrays checks the zip members' CRCs
                z[f'feat_{s}']
    except Exception:  # truncated / not a zip / bad CRC
        return False
    return True
