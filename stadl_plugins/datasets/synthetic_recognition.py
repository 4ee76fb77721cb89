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
from collections import Counter

from mmaction.datasets.base import BaseActionDataset

from ..registry import DATASETS
from .ava_io import read_label_map


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
        self.label_map = list(read_label_map(label_file).items())  # [(id, name)], file order
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


class _ItemStartIndex:
    """Keep each item's own ``start_index`` (the base class overwrites it)."""

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['start_index'] = info['item_start_index']
        return info


@DATASETS.register_module()
class SyntheticClipRecognitionDataset(_ItemStartIndex, BaseActionDataset):
    """Benchmark v2's video-level recognition set: one item per clip of
    ``annotations/recognition_{train,val}.csv`` (``video_id,start_frame,
    num_frames,label``), labelled with the short action of the video's one active
    actor while the distractors only stand or walk. Labels index ``classes``
    (default: :data:`~stadl_plugins.datasets.synthetic.SHORT_ACTIONS`). Items are
    read by the stock rawframe pipeline (``SampleFrames`` samples inside the clip).
    """

    def __init__(self, ann_file: str, pipeline, data_prefix: dict = dict(img=''),
                 classes=None, filename_tmpl: str = 'img_{:05}.jpg', **kwargs):
        from .synthetic.v2 import SHORT_ACTIONS
        self.classes = list(classes or SHORT_ACTIONS)
        self.filename_tmpl = filename_tmpl
        super().__init__(ann_file, pipeline, data_prefix=data_prefix, start_index=1,
                         **kwargs)

    @property
    def class_names(self) -> list[str]:
        return self.classes

    def load_data_list(self) -> list[dict]:
        data = []
        with open(self.ann_file) as f:
            for row in csv.reader(f):
                if not row:
                    continue
                vid, start, n, label = row[0], int(row[1]), int(row[2]), row[3]
                if label not in self.classes:
                    raise ValueError(f'{self.ann_file}: label {label!r} not in '
                                     f'{self.classes}')
                data.append(dict(frame_dir=osp.join(self.data_prefix['img'], vid),
                                 item_start_index=1 + start, total_frames=n,
                                 label=self.classes.index(label), video_id=vid,
                                 filename_tmpl=self.filename_tmpl))
        return data


@DATASETS.register_module()
class SyntheticActorClipDataset(_ItemStartIndex, BaseActionDataset):
    """Actor-centred clips for pretraining (benchmark v2): one item per row of
    ``annotations/movements_<split>.csv`` (one per keyframe and person) or of
    ``annotations/movement_frames_<split>.csv`` (every frame and person,
    ten times as many clips at 10 fps), labelled with that person's movement at the row's frame
    (index in ``movements``, default
    :data:`~stadl_plugins.datasets.synthetic.MOVEMENTS`). A clip spans
    ``clip_len * frame_interval`` frames centred on that frame; the box goes in
    ``results['actor_box']`` for :class:`ActorCentredCrop`.

    Args:
        ann_file: ``movements_train.csv`` or ``movement_frames_train.csv``
            (pretraining uses the train split only); the format is told by the
            number of columns (8: keyframe ``timestamp``; 10: 0-based ``frame``
            and the run of the same movement before / after it).
        fps, timestamp_start: the benchmark's (keyframe ``ts`` is frame
            ``fps * (ts - timestamp_start)``, 0-based).
        pure: keep only clips in which the person does one movement throughout
            (needs the 10-column file). Without it a clip that starts in one
            movement and ends in another carries the centre frame's label.
    """

    def __init__(self, ann_file: str, pipeline, data_prefix: dict = dict(img=''),
                 clip_len: int = 8, frame_interval: int = 1, fps: int = 10,
                 timestamp_start: int = 900, movements=None, pure: bool = False,
                 filename_tmpl: str = 'img_{:05}.jpg', **kwargs):
        from .synthetic.v2 import MOVEMENTS
        self.movements = list(movements or MOVEMENTS)
        self.span = clip_len * frame_interval
        self.fps, self.timestamp_start = fps, timestamp_start
        self.pure = bool(pure)
        self.filename_tmpl = filename_tmpl
        #: rows left out by ``pure`` (counted, reported by :meth:`load_data_list`)
        self.num_impure = 0
        super().__init__(ann_file, pipeline, data_prefix=data_prefix, start_index=1,
                         **kwargs)
        # class names for samplers that balance classes (mmdet's ClassAwareSampler)
        self._metainfo['classes'] = tuple(self.movements)

    def get_cat_ids(self, idx: int) -> list[int]:
        """The movement index of item ``idx`` (what ``ClassAwareSampler`` reads)."""
        return [int(self.get_data_info(idx)['label'])]

    def load_data_list(self) -> list[dict]:
        data = []
        need_before = self.span // 2               # frames before the centre
        need_after = self.span - self.span // 2 - 1
        self.num_impure = 0
        from .synthetic.movement_rows import read_movement_rows
        for r in read_movement_rows(self.ann_file):
            if self.pure and r.same_before is None:
                raise ValueError(
                    f'{self.ann_file}:{r.line}: pure=True needs the run lengths '
                    'of movement_frames_<split>.csv (10 columns); write them for '
                    'an existing dataset with stadl_plugins.datasets.synthetic.'
                    'generator_v2.write_movement_frames(data_root)')
            if r.movement not in self.movements:
                raise ValueError(f'{self.ann_file}:{r.line}: movement {r.movement!r} '
                                 f'not in {self.movements}')
            if r.same_before is None:  # 8 columns: the key is a keyframe timestamp
                ts = r.key
                key = self.fps * (ts - self.timestamp_start)
            else:
                key = r.key
                ts = self.timestamp_start + key / self.fps
                if self.pure and (r.same_before < need_before
                                  or r.same_after < need_after):
                    self.num_impure += 1
                    continue
            first = key - self.span // 2
            # crop_seed: the 0-based row index, as before the shared reader
            data.append(dict(frame_dir=osp.join(self.data_prefix['img'], r.video),
                             item_start_index=1 + first, total_frames=self.span,
                             label=self.movements.index(r.movement),
                             actor_box=list(r.box), video_id=r.video, timestamp=ts,
                             person_id=r.person_id, crop_seed=r.line - 1,
                             filename_tmpl=self.filename_tmpl))
        if self.pure:
            from mmengine.logging import print_log
            print_log(f'{self.ann_file}: {len(data)} single-movement clips kept, '
                      f'{self.num_impure} that change movement left out (pure=True)',
                      logger='current')
        return data


__all__ = ['SyntheticRecognitionDataset', 'SyntheticClipRecognitionDataset',
           'SyntheticActorClipDataset', 'most_frequent_actions', 'read_label_map']
