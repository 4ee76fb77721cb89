"""Video classification view of the synthetic STAD benchmark (for recognition
models trained on video labels alone, e.g. VideoLSTM).

Each video of the benchmark (``rawframes/<video_id>/img_00001.jpg ...`` and an
AVA-style annotation CSV) becomes one item whose label is the video's **most
frequent action**: the action id with the most annotation rows (one row per
actor, keyframe and action; ties go to the smaller id), mapped to its index in
the label map (0-based, in the label map's order). Items are read by MMAction2's
stock rawframe pipeline (``SampleFrames`` -> ``RawFrameDecode`` -> ...), scored
by the stock ``AccMetric``.
"""
from __future__ import annotations

import csv
import os
import os.path as osp
import re
from collections import Counter

from mmaction.datasets.base import BaseActionDataset

from ..registry import DATASETS


def read_label_map(path: str) -> list[tuple[int, str]]:
    """``(id, name)`` pairs of an AVA ``.pbtxt`` label map, in file order."""
    with open(path) as f:
        text = f.read()
    items = re.findall(r'name:\s*"([^"]*)"\s*(?:label_)?id:\s*(\d+)', text)
    if not items:
        raise ValueError(f'no "name: ... id: ..." items in the label map {path}')
    return [(int(i), n) for n, i in items]


def most_frequent_actions(ann_file: str) -> dict[str, int]:
    """``video_id -> action id`` with the most annotation rows in ``ann_file``."""
    counts: dict[str, Counter] = {}
    with open(ann_file) as f:
        for row in csv.reader(f):
            if len(row) < 7:
                continue
            counts.setdefault(row[0], Counter())[int(row[6])] += 1
    return {vid: min(c, key=lambda a: (-c[a], a)) for vid, c in counts.items()}


@DATASETS.register_module()
class SyntheticRecognitionDataset(BaseActionDataset):
    """One item per synthetic video, labelled with its most frequent action.

    Args:
        ann_file: the benchmark's ``annotations/{train,val}.csv``.
        label_file: ``annotations/label_map.pbtxt`` (defines class indices).
        pipeline: MMAction2 transforms (rawframes).
        data_prefix: ``dict(img=<rawframes folder>)``.
        filename_tmpl: frame file names.
        **kwargs: see MMAction2's ``BaseActionDataset`` (``start_index`` is 1).
    """

    def __init__(self, ann_file: str, label_file: str, pipeline,
                 data_prefix: dict = dict(img=''), filename_tmpl: str = 'img_{:05}.jpg',
                 start_index: int = 1, **kwargs):
        self.label_file = label_file
        self.filename_tmpl = filename_tmpl
        self.label_map = read_label_map(label_file)
        super().__init__(ann_file, pipeline, data_prefix=data_prefix,
                         start_index=start_index, **kwargs)

    @property
    def class_names(self) -> list[str]:
        return [n for _, n in self.label_map]

    def load_data_list(self) -> list[dict]:
        index_of = {aid: i for i, (aid, _) in enumerate(self.label_map)}
        data = []
        for vid, action in sorted(most_frequent_actions(self.ann_file).items()):
            if action not in index_of:
                raise ValueError(f'{vid}: action id {action} is not in the label map '
                                 f'{self.label_file}')
            frame_dir = osp.join(self.data_prefix['img'], vid)
            if not osp.isdir(frame_dir):
                raise FileNotFoundError(f'no frames for {vid}: {frame_dir} is missing')
            total = sum(1 for n in os.listdir(frame_dir) if n.endswith('.jpg'))
            data.append(dict(frame_dir=frame_dir, total_frames=total,
                             label=index_of[action], video_id=vid,
                             filename_tmpl=self.filename_tmpl))
        return data


__all__ = ['SyntheticRecognitionDataset', 'most_frequent_actions', 'read_label_map']
