"""``CheckedAVADataset``: MMAction2's ``AVADataset`` that validates its inputs first.

Drop-in for ``AVADataset`` (same arguments; change ``type=``). Before the stock
parser runs, every input is checked with :mod:`stadl_plugins.datasets.ava_io`,
and every problem is an error naming the file and the row or key:

* annotation CSV rows: column count, non-numeric fields, boxes outside [0, 1],
  ``x1 >= x2`` / ``y1 >= y2`` (``AVAFormatError "file:line: ..."``);
* timestamps outside ``[timestamp_start, timestamp_end]`` (``file:line``);
* action ids that the label map does not contain, or that do not fit
  ``num_classes`` (MMAction2 otherwise evaluates silently with the wrong number
  of classes, their issue #1086), and ``custom_classes`` not in the label map;
* keyframes without an entry in the proposal file (stock: silently replaced by
  one whole-frame box), and missing keyframe image files.

Legitimate skips are counted and reported (a warning listing the keys), never
silent: a keyframe whose proposal array is empty (no person detected; the stock
dataset crashes on it later in the pipeline) is left out. ``skipped`` holds
``{reason: [img_key, ...]}``.
"""
from __future__ import annotations

import glob
import os.path as osp
import pickle
import warnings

import numpy as np
from mmaction.datasets import AVADataset

from stadl_plugins.registry import DATASETS

from .ava_io import AVAFormatError, img_key, read_ava_csv, read_label_map


@DATASETS.register_module()
class CheckedAVADataset(AVADataset):
    """``AVADataset`` with input validation and counted skips (see module doc).

    Args: as ``mmaction.datasets.AVADataset``.

    Raises:
        AVAFormatError: a malformed or inconsistent input, naming file and row/key.
    """

    def __init__(self, ann_file, pipeline, exclude_file=None, label_file=None,
                 proposal_file=None, num_classes=81, custom_classes=None,
                 timestamp_start=900, timestamp_end=1800, **kwargs):
        self.skipped: dict[str, list[str]] = {}
        rows = read_ava_csv(ann_file)
        for lineno, row in enumerate(rows, start=1):
            if not timestamp_start <= row.timestamp <= timestamp_end:
                raise AVAFormatError(
                    f'{ann_file}: row {lineno} ({img_key(row.video_id, row.timestamp)}'
                    f'): timestamp {row.timestamp} is outside the video '
                    f'[timestamp_start={timestamp_start}, '
                    f'timestamp_end={timestamp_end}]')
        self._check_classes(ann_file, rows, label_file, num_classes, custom_classes)
        self._proposals_checked = None
        if proposal_file is not None:
            with open(proposal_file, 'rb') as f:
                proposals = pickle.load(f)
            excluded = set()
            if exclude_file is not None:
                excluded = {img_key(v, t) for v, t in
                            (ln.strip().split(',')[:2] for ln in open(exclude_file)
                             if ln.strip())}
            missing = sorted({img_key(r.video_id, r.timestamp) for r in rows}
                             - set(proposals) - excluded)
            if missing:
                raise AVAFormatError(
                    f'{proposal_file}: no proposals for {len(missing)} annotated '
                    f'keyframe(s) of {ann_file}, e.g. {missing[:3]} (expected a '
                    "key 'video_id,TTTT' with an (N, 4|5) array for each)")
            self._proposals_checked = proposals
        super().__init__(ann_file, pipeline, exclude_file=exclude_file,
                         label_file=label_file, proposal_file=proposal_file,
                         num_classes=num_classes, custom_classes=custom_classes,
                         timestamp_start=timestamp_start,
                         timestamp_end=timestamp_end, **kwargs)
        if self.skipped:
            summary = '; '.join(f'{reason}: {len(keys)} ({keys[:5]})'
                                for reason, keys in self.skipped.items())
            warnings.warn(f'CheckedAVADataset({ann_file}) skipped keyframes: '
                          f'{summary}')

    @staticmethod
    def _check_classes(ann_file, rows, label_file, num_classes, custom_classes):
        known = read_label_map(label_file) if label_file else None
        if known is not None and max(known) >= num_classes and not custom_classes:
            raise AVAFormatError(
                f'{label_file}: label id {max(known)} does not fit num_classes='
                f'{num_classes} (ids must be < num_classes; class 0 is background)')
        if custom_classes is not None:
            if known is not None:
                bad = [c for c in custom_classes if c not in known]
                if bad:
                    raise AVAFormatError(
                        f'{label_file}: custom_classes {bad} are not in the label '
                        f'map (its ids: {sorted(known)})')
            if num_classes != len(custom_classes) + 1:
                raise AVAFormatError(
                    f'num_classes={num_classes} but custom_classes has '
                    f'{len(custom_classes)} classes (+1 background = '
                    f'{len(custom_classes) + 1})')
        for lineno, row in enumerate(rows, start=1):
            if known is not None and row.action_id not in known:
                raise AVAFormatError(
                    f'{ann_file}: row {lineno}: action id {row.action_id} is not in '
                    f'the label map {label_file}')
            if custom_classes is None and not 0 < row.action_id < num_classes:
                raise AVAFormatError(
                    f'{ann_file}: row {lineno}: action id {row.action_id} does not '
                    f'fit num_classes={num_classes}')

    def load_data_list(self) -> list[dict]:
        data_list = super().load_data_list()
        kept, checked_videos = [], {}
        for info in data_list:
            key = info['img_key']
            props = (self._proposals_checked or {}).get(key)
            if props is not None and np.asarray(props).shape[0] == 0:
                self.skipped.setdefault('empty proposal array', []).append(key)
                continue
            if 'frame_dir' in info:
                path = osp.join(info['frame_dir'], self._keyframe_name(info))
                if not osp.isfile(path):
                    raise AVAFormatError(f'{self.ann_file}: keyframe {key}: frame '
                                         f'file {path} is missing')
            else:  # use_frames=False: one video file per video id
                self._check_video(info['filename'], key, checked_videos)
            kept.append(info)
        return kept

    def _check_video(self, path: str, key: str, checked: dict) -> None:
        """The video exists (``path`` or ``path.<ext>``) and its frames decode."""
        if path in checked:
            return
        found = path if osp.isfile(path) else next(
            iter(sorted(glob.glob(glob.escape(path) + '.*'))), None)
        if found is None:
            raise AVAFormatError(f'{self.ann_file}: keyframe {key}: video file '
                                 f'{path}[.ext] is missing')
        import cv2
        cap = cv2.VideoCapture(found)
        ok = cap.isOpened() and cap.read()[0]
        cap.release()
        if not ok:
            raise AVAFormatError(f'{self.ann_file}: keyframe {key}: video file '
                                 f'{found} cannot be decoded (corrupt or an '
                                 'unsupported codec)')
        checked[path] = found

    def _keyframe_name(self, info: dict) -> str:
        # SampleAVAFrames: center_index = fps * (timestamp - timestamp_start) + 1
        center = self._FPS * (info['timestamp'] - self.timestamp_start) + 1
        return self.filename_tmpl.format(center)
