"""Track-feature files and windows of person tracks for training RecLNet.

Feature file format (one ``<feature_dir>/<video>.npz`` per video, N tracks
padded to T frames)::

    feat_<stream>  float16/32 (N, T, D_stream)   per-frame features, one key per
                                                 stream ('feat_rgb', 'feat_flow')
    boxes          float32 (N, T, 4)             x1, y1, x2, y2 pixels
    frames         int64   (N, T)                frame numbers (1-based), -1 on padding
    lengths        int64   (N,)                  valid frames of each track
    labels         int64   (N, T)                0 background, 1 + c action c,
                                                 -1 padding / unknown

Tracks are gap-free (``frames[i, :lengths[i]]`` consecutive), as written by
:func:`write_track_features` from :mod:`stadl_plugins.tracking.linking` tracks.

:class:`TrackWindowDataset` cuts every track into windows of ``window`` frames
(paper: 20; BPTT over 20 steps) every ``stride`` frames; the last window of a
track is padded with label -1. One sample: ``inputs = {stream: (window, D)}``
float32, ``labels`` ``(window,)`` int64 -- batch it with ``default_collate``.

:func:`make_synthetic_track_features` builds such files for the synthetic
benchmark without any detector: person boxes from the GT pickle, jittered and
linked into tracks, labelled by IoU with the GT, and features that are noisy
class prototypes of the true per-frame label (per stream), so a model has to
learn the mapping and gains from temporal context (used by tests/benchmarks).

Paper gap: a box overlapping GT boxes of several classes at IoU > 0.3 (the
synthetic benchmark's ``walk`` + ``carry``, ``stand`` + ``talk_to``) gets the class
of the highest IoU; ties go to the class whose GT tube is shorter (the more
specific action), as a single softmax label is needed.
"""
from __future__ import annotations

import glob
import os

import numpy as np
import torch
from mmengine.dataset import BaseDataset

from ..registry import DATASETS
from ..safe_load import safe_pickle_load
from ..structures.bbox import pairwise_iou
from .track_feature_io import (  # noqa: F401
    check_track_arrays,
    pack_track_features,
    read_track_features,
    write_track_file,
)

__all__ = ['frame_labels_from_gt', 'write_track_features', 'read_track_features',
           'check_track_arrays',
           'make_synthetic_track_features', 'TrackWindowDataset']


def frame_labels_from_gt(boxes: np.ndarray, frames: np.ndarray, gttubes: dict,
                         iou_thr: float = 0.3) -> np.ndarray:
    """Per-frame RecLNet targets of one track.

    Args:
        boxes: ``(L, 4)``; frames: ``(L,)`` frame numbers.
        gttubes: ``{label index: [(n, 5) frame, x1, y1, x2, y2]}`` of the video.
        iou_thr: a box is labelled ``c`` if IoU > this with a GT box of class c.

    Returns:
        ``(L,)`` int64: 0 background, ``1 + c`` action ``c``.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    frames = np.asarray(frames, dtype=np.int64)
    best = np.full((len(frames), 2), [-1.0, 0.0])  # (iou, -tube length) of the winner
    labels = np.zeros(len(frames), np.int64)
    for c, tubes in gttubes.items():
        for tube in tubes:
            tube = np.asarray(tube)
            common, it, ig = np.intersect1d(frames, tube[:, 0].astype(np.int64),
                                            return_indices=True)
            if not len(common):
                continue
            iou = pairwise_iou(boxes[it], tube[ig, 1:5]).diagonal()
            key_better = (iou > best[it, 0]) | ((iou == best[it, 0])
                                                & (-len(tube) > best[it, 1]))
            win = (iou > iou_thr) & key_better
            best[it[win]] = np.c_[iou[win], np.full(win.sum(), -len(tube))]
            labels[it[win]] = 1 + int(c)
    return labels


def write_track_features(path: str, tracks: list, features: dict, labels: list,
                         fps: float | None = None) -> None:
    """Write one video's feature file (:mod:`.track_feature_io`, atomically).

    Args:
        tracks: list of track dicts (``frames (L,)``, ``boxes (L, 4)``).
        features: ``{stream: [ (L_i, D) per track ]}``.
        labels: list of ``(L_i,)`` per track.
        fps: the video's frame rate, stored as the ``fps`` key (None: no key).
    """
    write_track_file(path, pack_track_features(
        [tr['frames'] for tr in tracks], [tr['boxes'] for tr in tracks], features,
        labels, fps=fps))


def make_synthetic_track_features(gt: dict, out_dir: str, dim: int = 32,
                                  streams=('rgb', 'flow'), noise=(1.0, 1.5),
                                  box_jitter: float = 0.04, seed: int = 0,
                                  fps: float | None = None) -> dict:
    """Synthetic track features for every video of an ACT-schema GT dict.

    Person boxes = the distinct GT boxes of each frame (an actor carrying two
    labels has one box), jittered by ``box_jitter`` x size and linked with
    :func:`~stadl_plugins.tracking.linking.link_person_boxes`; labels from
    :func:`frame_labels_from_gt`; features of stream ``k`` at a frame of label
    ``y`` = ``prototype_k[y] + noise[k] * N(0, 1)`` plus a per-track offset
    (``0.5 * N(0, 1)``), with unit-norm random prototypes scaled to ``sqrt(dim)/2``.
    ``fps`` (the synthetic videos' frame rate, ``meta.json``'s
    ``config.video.fps``, 10 by default) is written into every file, where
    RecLNet's localization reads it.

    Returns:
        ``{video: tracks}`` (the linked tracks, also used as boxes for scoring).
    """
    from ..tracking.linking import link_person_boxes
    rng = np.random.default_rng(seed)
    c1 = len(gt['labels']) + 1
    protos = {}
    for s in streams:
        p = rng.normal(size=(c1, dim))
        protos[s] = p / np.linalg.norm(p, axis=1, keepdims=True) * np.sqrt(dim) / 2
    os.makedirs(out_dir, exist_ok=True)
    all_tracks = {}
    for vid in sorted(gt['nframes']):
        per_frame = {}
        for tubes in gt['gttubes'].get(vid, {}).values():
            for tube in tubes:
                for row in np.asarray(tube):
                    per_frame.setdefault(int(row[0]), set()).add(tuple(np.round(row[1:5], 3)))
        dets = {}
        for f, bs in per_frame.items():
            b = np.array(sorted(bs), np.float32)
            wh = np.tile(b[:, 2:] - b[:, :2], 2)
            dets[f] = np.c_[b + rng.normal(0, box_jitter, b.shape) * wh, np.ones(len(b))]
        tracks = link_person_boxes(dets, iou_thr=0.3, max_gap=3, min_length=5)
        labels = [frame_labels_from_gt(t['boxes'], t['frames'], gt['gttubes'].get(vid, {}))
                  for t in tracks]
        feats = {s: [protos[s][y] + noise[k] * rng.normal(size=(len(y), dim))
                     + 0.5 * rng.normal(size=(1, dim)) for y in labels]
                 for k, s in enumerate(streams)}
        write_track_features(os.path.join(out_dir, f'{vid}.npz'), tracks, feats, labels,
                             fps=fps)
        all_tracks[vid] = tracks
    return all_tracks


@DATASETS.register_module()
class TrackWindowDataset(BaseDataset):
    """Windows of person tracks with per-frame features and RecLNet labels.

    Args:
        feature_dir: folder of ``<video>.npz`` feature files (module docstring).
        streams: stream names to load (``feat_<stream>`` keys).
        window: frames per sample (paper: 20).
        stride: window step (default ``window``: non-overlapping).
        gt_file: optional ACT-schema GT pickle whose ``split`` videos are used
            (``'train'`` -> ``train_videos[0]``, ``'test'`` -> ``test_videos[0]``);
            without it every ``.npz`` in ``feature_dir`` is used.
        videos: explicit video list (overrides ``gt_file``).
    """

    def __init__(self, feature_dir: str, streams=('rgb',), window: int = 20,
                 stride: int | None = None, gt_file: str | None = None,
                 split: str = 'train', videos=None, test_mode: bool = False, **kwargs):
        if window < 1 or (stride is not None and stride < 1):
            raise ValueError(f'window and stride must be >= 1, got {window}, {stride}')
        self.feature_dir, self.streams = feature_dir, tuple(streams)
        self.window, self.stride = window, stride or window
        self.gt_file, self.split, self.videos = gt_file, split, videos
        self._cache: dict = {}
        super().__init__(ann_file='', data_root='', test_mode=test_mode, pipeline=[],
                         serialize_data=False, lazy_init=False, **kwargs)

    def _video_list(self):
        if self.videos is not None:
            return list(self.videos)
        if self.gt_file:
            with open(self.gt_file, 'rb') as f:
                gt = safe_pickle_load(f)
            key = dict(train='train_videos', test='test_videos', val='test_videos')
            if self.split not in key:
                raise ValueError(f"split must be 'train', 'val' or 'test', got {self.split!r}")
            return list(gt[key[self.split]][0])
        return sorted(os.path.basename(p)[:-4]
                      for p in glob.glob(os.path.join(self.feature_dir, '*.npz')))

    def _load(self, vid):
        if vid not in self._cache:
            path = os.path.join(self.feature_dir, f'{vid}.npz')
            if not os.path.exists(path):
                raise FileNotFoundError(f'no feature file {path} for video {vid!r}')
            self._cache[vid] = read_track_features(path, self.streams)
        return self._cache[vid]

    def load_data_list(self) -> list:
        items = []
        for vid in self._video_list():
            data = self._load(vid)
            for i, ln in enumerate(data['lengths']):
                for start in range(0, max(int(ln) - self.window, 0) + self.stride,
                                   self.stride):
                    if start < ln:
                        items.append(dict(video=vid, track=i, start=start))
        if not items:
            raise ValueError(f'no track windows in {self.feature_dir} for '
                             f'videos {self._video_list()}')
        return items

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        data = self._load(info['video'])
        i, s, w = info['track'], info['start'], self.window
        ln = int(data['lengths'][i])
        e = min(s + w, ln)
        labels = np.full(w, -1, np.int64)
        labels[:e - s] = data['labels'][i, s:e]
        inputs = {}
        for st in self.streams:
            f = data[f'feat_{st}']
            x = np.zeros((w, f.shape[2]), np.float32)
            x[:e - s] = f[i, s:e]
            inputs[st] = torch.from_numpy(x)  # (window, D)
        return dict(inputs=inputs, labels=torch.from_numpy(labels))
