"""AVA test-set inference: keyframes enumerated from a proposal file, no GT."""
from __future__ import annotations

import re
from typing import Optional

import numpy as np
from mmaction.datasets import AVADataset
from mmengine import load

from ..registry import DATASETS

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
        super().__init__(ann_file=ann_file or proposal_file, pipeline=pipeline,
                         proposal_file=proposal_file, **kwargs)

    def load_data_list(self) -> list[dict]:
        proposals = getattr(self, 'proposals', None) or \
            load(self.proposal_file)
        videos = None
        if self.video_list:
            with open(self.video_list) as f:
                videos = {ln.strip() for ln in f if ln.strip()}
        data_list = []
        bad = []
        for key in sorted(proposals):
            m = _KEY.match(key)
            if not m:
                bad.append(key)
                continue
            video_id, ts = m.group(1), int(m.group(2))
            if not self.timestamp_min <= ts <= self.timestamp_max:
                continue
            if videos is not None and video_id not in videos:
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
            raise ValueError(f'{self.proposal_file}: {len(bad)} keys are not '
                             f'"video_id,timestamp" (e.g. {bad[0]!r})')
        if not data_list:
            raise ValueError(f'{self.proposal_file}: no keyframe in '
                             f'{self.timestamp_min}-{self.timestamp_max}'
                             + (f' for the videos of {self.video_list}'
                                if self.video_list else ''))
        return data_list

    def filter_data(self) -> list[dict]:
        return self.data_list  # no exclusions and no GT to filter by
