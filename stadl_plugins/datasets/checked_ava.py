"""``CheckedAVADataset``: MMAction2's ``AVADataset`` that validates its inputs first.

Drop-in for ``AVADataset`` (same arguments; change ``type=``). Every input is
checked once, at start-up, and every problem is an ``AVAFormatError`` naming the
file and the row or key:

* annotation CSV: empty file; per row the column count, non-numeric fields,
  boxes outside [0, 1], ``x1 >= x2`` / ``y1 >= y2`` (``"file:line: ..."``);
  timestamps outside ``[timestamp_start, timestamp_end]``;
* action ids that the label map does not contain, or that do not fit
  ``num_classes`` (MMAction2 otherwise evaluates silently with the wrong number
  of classes, their issue #1086), and ``custom_classes`` not in the label map;
* exclude file: lines that are not ``video_id,timestamp`` (``file:line``);
* proposal pickle: not a dict; keyframes without an entry (stock: silently
  replaced by one whole-frame box); arrays that are not numeric ``(N, 4|5)``,
  not finite, not normalised to [0, 1] or with ``x1 >= x2`` / ``y1 >= y2``
  (the number of bad keys and the first few, each with its problem);
* frames: every frame file a clip can read -- derived from the pipeline's
  ``SampleAVAFrames`` (``clip_len``, ``frame_interval``, the temporal jitter of
  training, clipping to ``shot_info``) -- must exist and be decodable
  (``check_frames``, see :mod:`stadl_plugins.datasets.frame_check`; checked once
  with a progress bar, the good files cached); videos (``use_frames=False``) must
  exist and decode their first frame.

7-column annotation rows (``...,action_id`` without ``person_id``), which the
stock parser crashes on, are read with ``entity_id = -1`` and counted.

Nothing is dropped or changed silently: :meth:`summary` (logged at start-up, and
a warning when anything was skipped or changed) lists the keyframes excluded by
the exclude file, those skipped (``skipped``: ``{reason: [img_key, ...]}``, e.g.
an empty proposal array -- nobody detected, the stock dataset crashes on it), the
changes (``changed``: ``{reason: [where, ...]}``), the proposals the score
threshold removes and the frame check's counts.
"""
from __future__ import annotations

import glob
import os.path as osp
from collections import defaultdict

import numpy as np
from mmaction.datasets import AVADataset
from mmengine.logging import MMLogger

from stadl_plugins.registry import DATASETS
from stadl_plugins.utils import count_with_examples, report_summary

from ..safe_load import safe_pickle_load
from .ava_io import (
    AVAFormatError,
    check_proposals,
    img_key,
    read_ava_csv,
    read_excluded_csv,
    read_label_map,
)
from .frame_check import (
    ava_clip_frame_indices,
    check_frame_files,
    default_cache_file,
    sample_ava_frames_spec,
)

SEVEN_COLUMNS = '7-column rows (no person_id): entity_id set to -1'
NOT_IN_CUSTOM = 'rows whose action is not in custom_classes: dropped'
NO_CUSTOM_ACTION = 'keyframes without any custom_classes action'
EMPTY_PROPOSALS = 'empty proposal array'


@DATASETS.register_module()
class CheckedAVADataset(AVADataset):
    """``AVADataset`` with input validation and counted skips (see module doc).

    Args:
        check_frames: ``'quick'`` (default), ``'full'`` (also decode every frame
            with OpenCV), ``'exists'`` or ``False`` (no frame check; reported).
        frame_check_cache: JSON file caching the frames found good; None: a
            default under ``~/.cache/stadl_plugins/frame_checks``; False: none.
        frame_check_progress: show a progress bar while checking frames.
        frame_check_workers: threads reading frame files.
        Others: as ``mmaction.datasets.AVADataset``.

    Raises:
        AVAFormatError: a malformed or inconsistent input, naming file and row/key.
    """

    def __init__(self, ann_file, pipeline, exclude_file=None, label_file=None,
                 proposal_file=None, num_classes=81, custom_classes=None,
                 timestamp_start=900, timestamp_end=1800, check_frames='quick',
                 frame_check_cache=None, frame_check_progress=True,
                 frame_check_workers=8, **kwargs):
        self.skipped: dict[str, list[str]] = {}
        self.changed: dict[str, list[str]] = {}
        self.excluded: list[str] = []
        self.frame_check: dict = {}
        self.proposal_filter: dict = {}
        self.check_frames = check_frames
        self.frame_check_cache = frame_check_cache
        self.frame_check_progress = frame_check_progress
        self.frame_check_workers = frame_check_workers
        self._clip_spec = sample_ava_frames_spec(pipeline)
        rows = read_ava_csv(ann_file)
        if not rows:
            raise AVAFormatError(
                f'{ann_file}: no annotation rows (the file is empty); expected lines '
                'video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]')
        for row in rows:
            if not timestamp_start <= row.timestamp <= timestamp_end:
                raise AVAFormatError(
                    f'{ann_file}: row {row.lineno} ({img_key(row.video_id, row.timestamp)}'
                    f'): timestamp {row.timestamp} is outside the video '
                    f'[timestamp_start={timestamp_start}, '
                    f'timestamp_end={timestamp_end}]')
        self._check_classes(ann_file, rows, label_file, num_classes, custom_classes)
        self._rows = rows
        self._excluded_keys = read_excluded_csv(exclude_file) if exclude_file else set()
        proposals = None
        if proposal_file is not None:
            with open(proposal_file, 'rb') as f:
                proposals = safe_pickle_load(f)
            check_proposals(proposal_file, proposals, keys=())  # a dict?
            missing = sorted({img_key(r.video_id, r.timestamp) for r in rows}
                             - set(proposals) - self._excluded_keys)
            if missing:
                raise AVAFormatError(
                    f'{proposal_file}: no proposals for {len(missing)} annotated '
                    f'keyframe(s) of {ann_file}, e.g. {missing[:3]} (expected a '
                    "key 'video_id,TTTT' with an (N, 4|5) array for each)")
        self._proposals_checked = proposals
        self._proposal_file_arg = proposal_file
        # the stock __init__ would load the proposal pickle a second time
        super().__init__(ann_file, pipeline, exclude_file=exclude_file,
                         label_file=label_file, proposal_file=None,
                         num_classes=num_classes, custom_classes=custom_classes,
                         timestamp_start=timestamp_start,
                         timestamp_end=timestamp_end, **kwargs)
        self.proposal_file = proposal_file
        self.proposals = proposals
        report_summary(self.summary(), warn=bool(self.skipped or self.changed))

    # ------------------------------------------------------------------
    def summary(self) -> str:
        """Every keyframe left out and every change, with counts and examples."""
        parts = [f'{len(self)} keyframes']
        if self.excluded:
            parts.append(f'excluded by {self.exclude_file}: {count_with_examples(self.excluded)}')
        if self.skipped:
            parts.append('skipped keyframes: ' + '; '.join(
                f'{reason}: {count_with_examples(keys)}' for reason, keys in self.skipped.items()))
        if self.changed:
            parts.append('changed: ' + '; '.join(
                f'{reason}: {count_with_examples(where)}' for reason, where in self.changed.items()))
        pf = self.proposal_filter
        if pf.get('boxes'):
            parts.append(f'proposals: {pf["boxes"]} boxes, {pf["below_thr"]} below '
                         f'person_det_score_thr={self.person_det_score_thr} and '
                         f'{pf["over_max"]} over num_max_proposals='
                         f'{self.num_max_proposals} are not used')
        fc = self.frame_check
        if fc.get('mode') is False:
            parts.append('frames NOT checked (check_frames=False)')
        elif fc:
            parts.append(f'frames checked ({fc["mode"]}): {fc["files"]} files, '
                         f'{fc["checked"]} now, {fc["cached"]} unchanged since a '
                         f'cached check (cache: {fc["cache"]})')
        return f'CheckedAVADataset({self.ann_file}): ' + '; '.join(parts)

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
            if 0 in custom_classes:
                raise AVAFormatError('custom_classes must not contain 0 (background)')
        for row in rows:
            if known is not None and row.action_id not in known:
                raise AVAFormatError(
                    f'{ann_file}: row {row.lineno}: action id {row.action_id} is not '
                    f'in the label map {label_file}')
            if custom_classes is None and not 0 < row.action_id < num_classes:
                raise AVAFormatError(
                    f'{ann_file}: row {row.lineno}: action id {row.action_id} does '
                    f'not fit num_classes={num_classes}')

    # ------------------------------------------------------------------
    def load_data_list(self) -> list[dict]:
        """The stock parser's records, built from the validated rows (7-column
        rows included)."""
        records = defaultdict(list)
        shot_info = (0, (self.timestamp_end - self.timestamp_start) * self._FPS) \
            if self.use_frames else None
        all_keys = []
        for row in self._rows:
            key = img_key(row.video_id, row.timestamp)
            if key not in records and key not in all_keys:
                all_keys.append(key)
            label = row.action_id
            if self.custom_classes is not None:
                if label not in self.custom_classes:
                    self.changed.setdefault(NOT_IN_CUSTOM, []).append(
                        f'{self.ann_file}:{row.lineno}')
                    continue
                label = self.custom_classes.index(label)
            if row.columns == 7:
                self.changed.setdefault(SEVEN_COLUMNS, []).append(
                    f'{self.ann_file}:{row.lineno}')
                entity_id = -1
            else:
                entity_id = int(row.last)
            records[key].append(dict(
                video_id=row.video_id, timestamp=row.timestamp,
                entity_box=np.array(row.box, dtype=np.float64), label=label,
                entity_id=entity_id, shot_info=shot_info))
        for key in all_keys:
            if key not in records:
                self.skipped.setdefault(NO_CUSTOM_ACTION, []).append(key)
        data_list = []
        for key, recs in records.items():
            video_id, timestamp = key.split(',')
            bboxes, labels, entity_ids = self.parse_img_record(recs)
            frame_dir = video_id
            if self.data_prefix['img'] is not None:
                frame_dir = osp.join(self.data_prefix['img'], frame_dir)
            info = dict(frame_dir=frame_dir, video_id=video_id,
                        timestamp=int(timestamp), img_key=key, shot_info=shot_info,
                        fps=self._FPS, ann=dict(gt_bboxes=bboxes, gt_labels=labels,
                                                entity_ids=entity_ids))
            if not self.use_frames:
                info['filename'] = info.pop('frame_dir')
            data_list.append(info)
        return data_list

    def filter_data(self) -> list[dict]:
        """Exclusions and empty proposal arrays (counted), then the proposal and
        frame checks of what is left."""
        kept = []
        for info in self.data_list:
            if info['img_key'] in self._excluded_keys:
                self.excluded.append(info['img_key'])
            else:
                kept.append(info)
        if self._proposals_checked is not None:
            props = self._proposals_checked
            empty = set(check_proposals(self._proposal_file_arg, props,
                                        keys=[d['img_key'] for d in kept]))
            if empty:
                self.skipped[EMPTY_PROPOSALS] = [d['img_key'] for d in kept
                                                 if d['img_key'] in empty]
                kept = [d for d in kept if d['img_key'] not in empty]
            self._count_proposal_filter(kept, props)
        if not kept:
            raise AVAFormatError(
                f'{self.ann_file}: no keyframe left ({len(self.data_list)} annotated, '
                f'{len(self.excluded)} excluded, '
                f'{sum(map(len, self.skipped.values()))} skipped: '
                f'{ {k: v[:3] for k, v in self.skipped.items()} })')
        if self.use_frames:
            self._check_frame_files(kept)
        else:
            checked = {}
            for info in kept:
                self._check_video(info['filename'], info['img_key'], checked)
        return kept

    def _count_proposal_filter(self, kept, props) -> None:
        boxes = below = over = 0
        for info in kept:
            p = np.asarray(props[info['img_key']])
            boxes += len(p)
            if p.shape[1] == 5:
                thr = min(self.person_det_score_thr, p[:, 4].max())
                n = int((p[:, 4] >= thr).sum())
                below += len(p) - n
            else:
                n = len(p)
            over += max(0, n - self.num_max_proposals)
        self.proposal_filter = dict(boxes=boxes, below_thr=below, over_max=over)

    # ------------------------------------------------------------------
    def _frame_indices(self, info) -> np.ndarray:
        spec = self._clip_spec
        if spec is None:  # no SampleAVAFrames in the pipeline: the keyframe only
            return np.array([self._FPS * (info['timestamp'] - self.timestamp_start)
                             + self.start_index])
        return ava_clip_frame_indices(
            info['timestamp'], self._FPS, self.timestamp_start, self.start_index,
            info['shot_info'], spec['clip_len'], spec['frame_interval'],
            spec['test_mode'])

    def _frame_paths(self, frame_dir, indices) -> list[str]:
        if self.modality == 'Flow':
            return [osp.join(frame_dir, self.filename_tmpl.format(d, int(i)))
                    for i in indices for d in ('x', 'y')]
        return [osp.join(frame_dir, self.filename_tmpl.format(int(i)))
                for i in indices]

    def _check_frame_files(self, kept) -> None:
        mode = self.check_frames
        if mode is False or mode is None:
            self.frame_check = dict(mode=False)
            return
        per_dir = defaultdict(list)
        for info in kept:
            per_dir[info['frame_dir']].append(self._frame_indices(info))
        paths = []
        for frame_dir, inds in per_dir.items():
            paths += self._frame_paths(frame_dir, np.unique(np.concatenate(inds)))
        cache = self.frame_check_cache
        if cache is None:
            cache = default_cache_file(
                f'{osp.abspath(str(self.data_prefix["img"]))}|{self.filename_tmpl}')
        logger = MMLogger.get_current_instance()
        logger.info(f'CheckedAVADataset({self.ann_file}): checking {len(paths)} frame '
                    f'files the clips can read (check_frames={mode!r})')
        problems, stats = check_frame_files(
            paths, mode, cache_file=cache or None,
            progress=self.frame_check_progress, workers=self.frame_check_workers)
        self.frame_check = dict(mode=mode, files=len(paths), **stats)
        if problems:
            shown = []
            for info in kept:  # the keyframes that read the first bad files
                bad = [p for p in self._frame_paths(info['frame_dir'],
                                                    self._frame_indices(info))
                       if p in problems]
                if bad:
                    shown.append(f'keyframe {info["img_key"]}: frame file {bad[0]} '
                                 f'{problems[bad[0]]}')
                if len(shown) == 3:
                    break
            raise AVAFormatError(
                f'{self.ann_file}: {len(problems)} frame file(s) that clips read are '
                'missing or unreadable: ' + '; '.join(shown)
                + (' ...' if len(problems) > len(shown) else '')
                + ' (re-extract these frames, or fix data_prefix/filename_tmpl/fps)')

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
