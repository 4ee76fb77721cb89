"""STAD datasets in the ACT/MOC layout: UCF101-24, JHMDB-21 (and the synthetic
benchmark's ACT pickle).

Layout (as distributed with the ACT / MOC detectors)::

    <data_root>/rgb-images/<class>/<video>/00001.jpg     (UCF101-24)
    <data_root>/Frames/<class>/<video>/00001.png         (JHMDB-21)
    <data_root>/UCF101v2-GT.pkl | JHMDB-GT.pkl

The GT pickle holds ``labels`` (class names), ``gttubes``
(``{video: {label: [ndarray (n, 5) frame, x1, y1, x2, y2 in pixels]}}``, frames
1-based), ``nframes``, ``train_videos`` / ``test_videos`` (one list per split) and
``resolution`` (``{video: (h, w)}``). Video names are ``<class>/<video>``, so
``data_prefix.img`` + video name is the frame folder.

Each sample is one (video, frame) with the GT boxes of that frame (normalised,
multi-label: boxes shared by tubes of several classes are merged into one box
with several labels) and a clip sampled around it by the stock
``SampleAVAFrames`` (``fps=1``: "timestamp" is the frame number) within the
video's own frame count (MMAction2's fixed ``shot_info`` assumes equal lengths).

Checks (at start-up; errors are ``ACTFormatError`` naming the file, the video and
the label / tube / row or the proposal key):

* GT: a label that is not an index into ``labels`` (e.g. -1, which would become
  background), a tube that is not ``(n, 5)``, non-finite values, a non-integer
  frame number, an inverted box (``x2 < x1`` or ``y2 < y1``) and a box with no
  area inside the frame are errors; tube rows whose frame is outside the video's
  ``1..nframes`` are dropped and boxes reaching outside the frame are clipped,
  both counted;
* proposals: as ``CheckedAVADataset`` (a dict of numeric, finite, normalised
  ``(N, 4|5)`` arrays with ``x1 < x2``, ``y1 < y2``); a frame whose array is
  empty (nobody detected) is skipped and counted; a frame without an entry gets
  the whole frame as its only proposal (as ``AVADataset``), counted.

:meth:`ACTDetectionDataset.summary` lists every drop and change (logged at
start-up, and a warning when there are any).
"""
from __future__ import annotations

import os.path as osp
from typing import Optional

import numpy as np
from mmaction.datasets import BaseActionDataset
from mmengine import load
from mmengine.logging import MMLogger

from ..registry import DATASETS
from ..utils import count_with_examples, report_summary
from .ava_io import AVAFormatError, check_proposals

GT_ROWS_OUTSIDE = "GT tube rows outside the video's frames 1..nframes: dropped"
GT_BOXES_CLIPPED = 'GT boxes reaching outside the frame: clipped to it'
NO_PROPOSALS = 'frames without a proposal entry: the whole frame used as proposal'
EMPTY_PROPOSALS = 'empty proposal array'


class ACTFormatError(ValueError):
    """A malformed ACT-schema GT or proposal file; names the file and video/key."""


def act_key(video: str, frame: int) -> str:
    """Proposal-pickle key of a frame: ``'<video>,<frame:05d>'``."""
    return f'{video},{int(frame):05d}'


@DATASETS.register_module()
class ACTDetectionDataset(BaseActionDataset):
    """Frame-level STAD samples from an ACT-schema GT pickle.

    Args:
        ann_file: the GT pickle.
        pipeline: stock AVA-style pipeline (``SampleAVAFrames``, ``RawFrameDecode``,
            ..., ``PackActionInputs``).
        data_prefix: ``dict(img=<frames root>)``.
        filename_tmpl: frame file names (``'{:05}.jpg'`` UCF, ``'{:05}.png'``
            JHMDB, ``'img_{:05}.jpg'`` synthetic).
        split: 1-based split (JHMDB has 3, UCF101-24 1).
        subset: ``'train'`` or ``'test'``; default ``'test'`` in test mode.
        frame_stride: use every N-th frame (e.g. 8 for training keyframes; 1 for
            frame-mAP testing, which needs every frame).
        annotated_only: keep only frames with a GT box (default: True when
            training, False when testing - frame-mAP counts false positives on
            frames without GT).
        proposal_file: ``{'<video>,<frame:05d>': (N, 4|5) normalised boxes
            [x1, y1, x2, y2(, score)]}``. Frames without an entry get the whole
            frame as their only proposal (as ``AVADataset``); their number is
            logged.
        person_det_score_thr: keep proposals scoring at least this (the best one
            is always kept).
        gt_proposals: without a proposal file, use the GT boxes as proposals,
            jittered by ``gt_jitter`` (fraction of the box size) in training.
            Testing with GT proposals is an oracle setting and is logged as such;
            frames without GT are then skipped.
        num_classes: score columns including background (default:
            ``len(labels) + 1``).
    """

    def __init__(self, ann_file: str, pipeline, data_prefix: dict = dict(img=''),
                 filename_tmpl: str = '{:05}.jpg', split: int = 1,
                 subset: Optional[str] = None, frame_stride: int = 1,
                 annotated_only: Optional[bool] = None,
                 proposal_file: Optional[str] = None,
                 person_det_score_thr: float = 0.0, gt_proposals: bool = False,
                 gt_jitter: float = 0.05, num_classes: Optional[int] = None,
                 num_max_proposals: int = 1000, modality: str = 'RGB',
                 test_mode: bool = False, **kwargs):
        self.gt = load(ann_file)
        missing = {'labels', 'gttubes', 'nframes', 'train_videos', 'test_videos',
                   'resolution'} - set(self.gt)
        if missing:
            raise ValueError(f'{ann_file}: not an ACT-schema GT pickle, missing keys '
                             f'{sorted(missing)}')
        self.subset = subset or ('test' if test_mode else 'train')
        if self.subset not in ('train', 'test'):
            raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
        lists = self.gt[f'{self.subset}_videos']
        if not 1 <= split <= len(lists):
            raise ValueError(f'{ann_file}: split {split} does not exist '
                             f'({len(lists)} {self.subset} splits)')
        self.split = split
        self.videos = list(lists[split - 1])
        self.filename_tmpl = filename_tmpl
        self.frame_stride = int(frame_stride)
        self.annotated_only = (not test_mode) if annotated_only is None \
            else annotated_only
        self.proposal_file = proposal_file
        self.proposals = load(proposal_file) if proposal_file else None
        self.person_det_score_thr = person_det_score_thr
        self.gt_proposals = gt_proposals
        if self.proposals is None and not gt_proposals:
            raise ValueError('ACTDetectionDataset needs proposal_file=... or '
                             'gt_proposals=True (GT boxes as proposals)')
        if gt_proposals and test_mode:
            MMLogger.get_current_instance().warning(
                'ACTDetectionDataset: testing with GT boxes as proposals (oracle '
                'localisation); frames without GT are skipped')
            self.annotated_only = True
        self.gt_jitter = gt_jitter
        self.num_classes = num_classes or len(self.gt['labels']) + 1
        self.num_max_proposals = num_max_proposals
        self.missing_proposals = 0
        self.skipped: dict[str, list[str]] = {}
        self.changed: dict[str, list[str]] = {}
        if self.proposals is not None:
            try:
                check_proposals(proposal_file, self.proposals, keys=())  # a dict?
            except AVAFormatError as exc:
                raise ACTFormatError(str(exc)) from None
        super().__init__(ann_file, pipeline, data_prefix=data_prefix,
                         test_mode=test_mode, modality=modality, start_index=0,
                         num_classes=self.num_classes, **kwargs)
        report_summary(self.summary(), warn=bool(self.skipped or self.changed))

    def summary(self) -> str:
        """Every frame left out and every change to the GT/proposals, counted."""
        parts = [f'{len(self)} frames of {len(self.videos)} {self.subset} videos '
                 f'(split {self.split})']
        parts += [f'skipped {why}: {count_with_examples(keys)}' for why, keys in self.skipped.items()]
        parts += [f'{why}: {count_with_examples(where)}' for why, where in self.changed.items()]
        return f'{type(self).__name__}({self.ann_file}): ' + '; '.join(parts)

    # ------------------------------------------------------------------
    def frame_annotations(self, video: str, nframes: Optional[int] = None,
                          size: Optional[tuple] = None) -> dict:
        """``{frame: (boxes (n, 4) px, labels list[list[int]])}`` merged per box.

        With ``nframes`` and ``size`` (``(h, w)``) the rows are checked (module
        doc): rows outside ``1..nframes`` are dropped and counted in ``changed``.
        """
        num_labels = len(self.gt['labels'])
        per_frame: dict[int, list] = {}
        for label, tubes in self.gt['gttubes'].get(video, {}).items():
            where = f'{self.ann_file}: gttubes[{video!r}][{label!r}]'
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)) \
                    or not 0 <= label < num_labels:
                raise ACTFormatError(
                    f'{where}: label {label!r} is not an index into labels '
                    f'(0..{num_labels - 1}); a -1 would silently become background')
            for t, tube in enumerate(tubes):
                tube = np.asarray(tube, dtype=np.float64)
                if tube.ndim != 2 or tube.shape[1] != 5:
                    raise ACTFormatError(f'{where}[{t}]: shape {tube.shape}, expected '
                                         '(n, 5) rows frame, x1, y1, x2, y2')
                for r, row in enumerate(tube):
                    if nframes is not None:
                        row = self._check_row(f'{where}[{t}] row {r}', row,
                                              nframes, size)
                        if row is None:
                            continue
                    boxes = per_frame.setdefault(int(row[0]), [])
                    for entry in boxes:
                        if np.allclose(entry[0], row[1:5], atol=1e-3):
                            if label not in entry[1]:
                                entry[1].append(int(label))
                            break
                    else:
                        boxes.append((row[1:5], [int(label)]))
        return {f: (np.stack([b for b, _ in v]), [lab for _, lab in v])
                for f, v in per_frame.items()}

    def _check_row(self, where: str, row: np.ndarray, nframes: int, size):
        """The row, or None when its frame is outside the video (counted)."""
        if not np.isfinite(row).all():
            raise ACTFormatError(f'{where}: not finite ({row.tolist()})')
        if row[0] != int(row[0]):
            raise ACTFormatError(f'{where}: frame {row[0]} is not an integer')
        frame = int(row[0])
        if not 1 <= frame <= nframes:
            self.changed.setdefault(GT_ROWS_OUTSIDE, []).append(
                f'{where} (frame {frame}, nframes {nframes})')
            return None
        x1, y1, x2, y2 = row[1:5]
        if x2 < x1 or y2 < y1:
            raise ACTFormatError(f'{where}: inverted box {row[1:5].tolist()} '
                                 '(x2 < x1 or y2 < y1; expected x1, y1, x2, y2)')
        h, w = size
        cx1, cx2 = np.clip([x1, x2], 0, w)
        cy1, cy2 = np.clip([y1, y2], 0, h)
        if cx2 <= cx1 or cy2 <= cy1:
            raise ACTFormatError(f'{where}: box {row[1:5].tolist()} has no area '
                                 f'inside the {w}x{h} frame')
        if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
            self.changed.setdefault(GT_BOXES_CLIPPED, []).append(
                f'{where} {row[1:5].tolist()} ({w}x{h})')
        return row

    def load_data_list(self) -> list[dict]:
        data_list = []
        for video in self.videos:
            if video not in self.gt['nframes']:
                raise ValueError(f'{self.ann_file}: video {video!r} of the '
                                 f'{self.subset} split has no nframes entry')
            nframes = int(self.gt['nframes'][video])
            if video not in self.gt['resolution']:
                raise ACTFormatError(f'{self.ann_file}: video {video!r} of the '
                                     f'{self.subset} split has no resolution entry')
            h, w = self.gt['resolution'][video]
            ann = self.frame_annotations(video, nframes, (h, w))
            scale = np.array([w, h, w, h], dtype=np.float64)
            for frame in range(1, nframes + 1, self.frame_stride):
                if self.annotated_only and frame not in ann:
                    continue
                boxes, labels = ann.get(frame, (np.zeros((0, 4)), []))
                onehot = np.zeros((len(labels), self.num_classes), dtype=np.float32)
                for i, labs in enumerate(labels):
                    onehot[i, np.asarray(labs) + 1] = 1.0
                data_list.append(dict(
                    frame_dir=osp.join(self.data_prefix['img'], video),
                    video_id=video, timestamp=frame, img_key=act_key(video, frame),
                    fps=1, timestamp_start=1, timestamp_end=nframes + 1,
                    total_frames=nframes, offset=1, filename_tmpl=self.filename_tmpl,
                    gt_bboxes=np.clip(boxes / scale, 0, 1).astype(np.float32),
                    gt_labels=onehot,
                    entity_ids=np.arange(len(labels), dtype=np.int64)))
        if not data_list:
            raise ValueError(f'{self.ann_file}: no frames selected (split '
                             f'{self.split}, {self.subset}, {len(self.videos)} videos)')
        if self.proposals is not None:
            keys = [d['img_key'] for d in data_list]
            try:
                empty = set(check_proposals(self.proposal_file, self.proposals, keys))
            except AVAFormatError as exc:
                raise ACTFormatError(str(exc)) from None
            if empty:
                self.skipped[EMPTY_PROPOSALS] = [k for k in keys if k in empty]
                data_list = [d for d in data_list if d['img_key'] not in empty]
            missing = [d['img_key'] for d in data_list
                       if d['img_key'] not in self.proposals]
            if missing:
                self.changed[NO_PROPOSALS] = missing
                MMLogger.get_current_instance().warning(
                    f'{self.proposal_file}: {len(missing)} of {len(data_list)} frames '
                    'have no proposals; they use the whole frame as their only '
                    'proposal')
            self.missing_proposals = len(missing)
            if not data_list:
                raise ACTFormatError(f'{self.proposal_file}: every selected frame has '
                                     'an empty proposal array')
        return data_list

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self.proposals is not None:
            props = self.proposals.get(info['img_key'])
            if props is None:  # counted at start-up (changed[NO_PROPOSALS])
                info['proposals'] = np.array([[0, 0, 1, 1]], dtype=np.float32)
                info['scores'] = np.array([1.0], dtype=np.float32)
            else:
                props = np.asarray(props, dtype=np.float32)
                if props.shape[-1] == 5:
                    thr = min(self.person_det_score_thr, props[:, 4].max())
                    props = props[props[:, 4] >= thr]
                    info['scores'] = props[:self.num_max_proposals, 4]
                info['proposals'] = props[:self.num_max_proposals, :4]
        else:
            boxes = info['gt_bboxes'].astype(np.float64)
            if not self.test_mode and self.gt_jitter > 0 and len(boxes):
                wh = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
                # the global RNG: seeded by mmengine (randomness.seed, workers)
                boxes = boxes + np.random.uniform(-self.gt_jitter, self.gt_jitter,
                                            boxes.shape) * wh
                boxes = np.clip(boxes, 0, 1)
                bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
                boxes[bad] = info['gt_bboxes'][bad]
            info['proposals'] = boxes.astype(np.float32)
            info['scores'] = np.ones(len(boxes), dtype=np.float32)
        return info


@DATASETS.register_module()
class UCF24Dataset(ACTDetectionDataset):
    """UCF101-24 (corrected annotations, ``UCF101v2-GT.pkl``; 24 classes, split 1;
    frames ``rgb-images/<class>/<video>/00001.jpg``)."""

    def __init__(self, *args, filename_tmpl: str = '{:05}.jpg', **kwargs):
        super().__init__(*args, filename_tmpl=filename_tmpl, **kwargs)


@DATASETS.register_module()
class JHMDBDataset(ACTDetectionDataset):
    """JHMDB-21 (``JHMDB-GT.pkl``; 21 classes, 3 splits; frames
    ``Frames/<class>/<video>/00001.png``)."""

    def __init__(self, *args, filename_tmpl: str = '{:05}.png', **kwargs):
        super().__init__(*args, filename_tmpl=filename_tmpl, **kwargs)
