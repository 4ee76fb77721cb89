"""AVA test-set inference: keyframes enumerated from a proposal file, no GT."""
from __future__ import annotations

import re
import warnings
from typing import Optional

import numpy as np
from mmaction.datasets import AVADataset
from mmengine import load
from mmengine.logging import MMLogger

from ..registry import DATASETS
from .ava_io import AVAFormatError, check_proposals

_KEY = re.compile(r'^(.+),(\d+)$')


@DATASETS.register_module()
class AVATestDataset(AVADataset):
    """``AVADataset`` for the AVA test set (or any unlabeled video set).

    The stock dataset builds its keyframes from the GT CSV, so it cannot run on
    the test set. This one enumerates the keyframes of ``proposal_file``
    (``{'<video_id>,<timestamp:04d>': (N, 4|5) boxes}``, e.g.
    ``ava_dense_proposals_test.FAIR.recall_93.9.pkl``), keeps timestamps in
    ``[timestamp_min, timestamp_max]`` (AVA evaluates 902-1798) and, if given,
    the videos listed in ``video_list`` (one id per line), and gives every sample
    empty GT. Pair it with ``AVAFrameAPMetric(ann_file=None, format_only=True,
    outfile=...)`` to write the leaderboard CSV.

    The proposals are validated like ``CheckedAVADataset``'s (``AVAFormatError``
    naming the file and the bad keys); keyframes whose proposal array is empty
    (nobody detected: nothing to classify) are skipped and counted, as are those
    outside the timestamp range or the video list: :meth:`summary`, logged at
    start-up (and a warning for the empty arrays).

    Args:
        ann_file: unused, kept so stock configs can switch ``type`` only; may be
            None.
        proposal_file: required.
        video_list: optional file restricting the videos.
        timestamp_min, timestamp_max: inclusive range of keyframe timestamps.
        Other args: as ``AVADataset``.
    """

    def __init__(self, pipeline, proposal_file: str, ann_file: Optional[str] = None,
                 video_list: Optional[str] = None, timestamp_min: int = 902,
                 timestamp_max: int = 1798, **kwargs):
        if not proposal_file:
            raise ValueError('AVATestDataset needs proposal_file: its keyframes are '
                             'the keys of the proposal pickle')
        self.video_list = video_list
        self.timestamp_min = timestamp_min
        self.timestamp_max = timestamp_max
        kwargs.setdefault('test_mode', True)
        self.skipped: dict[str, list[str]] = {}
        self.not_selected: dict[str, int] = {}
        super().__init__(ann_file=ann_file or proposal_file, pipeline=pipeline,
                         proposal_file=proposal_file, **kwargs)
        MMLogger.get_current_instance().info(self.summary())
        if self.skipped:
            warnings.warn(self.summary())

    def summary(self) -> str:
        """Keyframes used, and every key of the proposal file left out (why)."""
        parts = [f'{len(self)} keyframes']
        parts += [f'{n} keys {why}' for why, n in self.not_selected.items() if n]
        parts += [f'skipped {why}: {len(keys)} ({keys[:5]})'
                  for why, keys in self.skipped.items()]
        return f'AVATestDataset({self.proposal_file}): ' + '; '.join(parts)

    def load_data_list(self) -> list[dict]:
        proposals = getattr(self, 'proposals', None) or \
            load(self.proposal_file)
        videos = None
        if self.video_list:
            with open(self.video_list) as f:
                videos = {ln.strip() for ln in f if ln.strip()}
        check_proposals(self.proposal_file, proposals, keys=())  # a dict?
        data_list = []
        bad = []
        outside = not_listed = 0
        for key in sorted(proposals):
            m = _KEY.match(key)
            if not m:
                bad.append(key)
                continue
            video_id, ts = m.group(1), int(m.group(2))
            if not self.timestamp_min <= ts <= self.timestamp_max:
                outside += 1
                continue
            if videos is not None and video_id not in videos:
                not_listed += 1
                continue
            shot_info = (0, (self.timestamp_end - self.timestamp_start) * self._FPS) \
                if self.use_frames else None
            info = dict(frame_dir=video_id, video_id=video_id, timestamp=ts,
                        img_key=key, shot_info=shot_info, fps=self._FPS,
                        ann=dict(gt_bboxes=np.zeros((0, 4), np.float32),
                                 gt_labels=np.zeros((0, self.num_classes), np.float32),
                                 entity_ids=np.zeros((0,), np.int64)))
            if self.data_prefix['img'] is not None:
                import os.path as osp
                info['frame_dir'] = osp.join(self.data_prefix['img'], video_id)
            if not self.use_frames:
                info['filename'] = info.pop('frame_dir')
            data_list.append(info)
        if bad:
            raise AVAFormatError(f'{self.proposal_file}: {len(bad)} keys are not '
                                 f'"video_id,timestamp" (e.g. {bad[0]!r})')
        self.not_selected = {
            f'outside timestamps {self.timestamp_min}-{self.timestamp_max}': outside,
            f'of videos not in {self.video_list}': not_listed}
        empty = set(check_proposals(self.proposal_file, proposals,
                                    keys=[d['img_key'] for d in data_list]))
        if empty:
            self.skipped['empty proposal array'] = sorted(empty)
            data_list = [d for d in data_list if d['img_key'] not in empty]
        if not data_list:
            raise ValueError(f'{self.proposal_file}: no keyframe in '
                             f'{self.timestamp_min}-{self.timestamp_max}'
                             + (f' for the videos of {self.video_list}'
                                if self.video_list else ''))
        return data_list

    def filter_data(self) -> list[dict]:
        return self.data_list  # no exclusions and no GT to filter by
