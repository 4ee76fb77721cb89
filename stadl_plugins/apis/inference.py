"""Spatio-temporal action detection on a raw video file, streamed frame by frame.

The pieces, usable on their own:

* :func:`open_video` / :class:`VideoFrames` -- OpenCV reading with clear errors for
  missing files, unreadable containers and codecs OpenCV cannot decode.
* :class:`STADInferencer` -- any STAD model of this toolbox (``FastRCNN`` with an
  ``AVARoIHead``, stock or plugin) built from its config, weights loaded
  weights-only through mmengine's ``load_checkpoint``; classifies the actions of
  given person boxes on one clip. The clip is sampled the way the config's test
  pipeline samples it (``SampleAVAFrames``' ``clip_len`` and ``frame_interval``),
  and the rest of that pipeline (resize, ``FormatShape``, ``PackActionInputs``...)
  runs unchanged.
* :func:`detect_video` -- the streaming loop: reads the video once, runs a person
  detector every ``det_interval`` frames, links boxes into tracks
  (:class:`~stadl_plugins.apis.person_detectors.IoUTracker`), and at each keyframe
  (``rate`` keyframes per second) classifies the tracked boxes on the clip around
  it. Only a ring buffer of the frames still needed is kept (clip span plus half
  a keyframe step, independent of the video's length); every frame is handed, in
  order and with the prediction of its nearest keyframe, to a ``frame_sink``
  callback (the demo draws and writes it).

Sampling across frame rates: ``frame_interval`` in a config counts frames of the
training data (``fps`` of its dataset, 30 for AVA, 10 for the synthetic benchmark).
By default the interval is rescaled to the video's frame rate so that a clip
covers the same time span as in training (``frame_interval='auto'``); pass an int
to use it as is.

Timestamps: keyframe ``k`` is at ``k / rate`` seconds (plus ``timestamp_offset``)
and its centre frame is ``round(k * fps / rate)``. AVA files need integer
timestamps: when every keyframe falls on a whole second (``rate`` 1, 0.5...), the
CSV timestamp is that second; otherwise it is the centre frame index (the
convention MMAction2 uses for MultiSports), and :attr:`VideoDetections.timestamp_unit`
says which.
"""
from __future__ import annotations

import collections
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..safe_load import safe_pickle_load
from .person_detectors import IoUTracker

#: Transforms that sample or decode frames; the inferencer feeds decoded frames
#: itself and runs whatever follows them in the test pipeline.
SAMPLING_AND_DECODING = {
    'SampleAVAFrames', 'SampleFrames', 'RawFrameDecode', 'DecordInit',
    'DecordDecode', 'OpenCVInit', 'OpenCVDecode', 'PyAVInit', 'PyAVDecode',
    'PIMSInit', 'PIMSDecode', 'ArrayDecode', 'ImageDecode', 'LoadRGBFromFile'}


class VideoReadError(RuntimeError):
    """A video file that cannot be opened or decoded."""


@dataclass
class VideoInfo:
    """What the container says about a video (``num_frames`` may be approximate)."""

    path: str
    fps: float
    width: int
    height: int
    num_frames: int


def open_video(path: str):
    """Open a video with OpenCV and check that its first frame decodes.

    Args:
        path: a video file (any container/codec the installed OpenCV/FFmpeg reads).

    Returns:
        tuple: ``(cv2.VideoCapture, VideoInfo, first_frame_bgr)``.

    Raises:
        VideoReadError: missing file, a file OpenCV cannot open (not a video, or a
            container it does not know), or one whose first frame does not decode
            (usually a codec missing from this OpenCV build), or no frame rate.
    """
    import cv2
    if not os.path.exists(path):
        raise VideoReadError(f'{path}: no such file')
    if os.path.isdir(path):
        raise VideoReadError(f'{path}: is a directory, expected a video file')
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise VideoReadError(
            f'{path}: OpenCV cannot open it (not a video file, or a container this '
            f'OpenCV build cannot read; backends: FFmpeg '
            f'{"yes" if "FFMPEG" in cv2.getBuildInformation() else "no"}). '
            'Convert it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`.')
    ok, first = cap.read()
    if not ok or first is None:
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        codec = ''.join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip()
        cap.release()
        raise VideoReadError(
            f'{path}: opened, but no frame could be decoded (codec '
            f'{codec or "unknown"!r}; this OpenCV build may lack it, or the file is '
            'truncated). Convert it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`.')
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    if not math.isfinite(fps) or fps <= 0:
        cap.release()
        raise VideoReadError(f'{path}: the container reports no frame rate '
                             f'(got {fps}); re-encode it with a fixed frame rate')
    info = VideoInfo(path=path, fps=fps, width=int(first.shape[1]),
                     height=int(first.shape[0]),
                     num_frames=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))))
    return cap, info, first


def short_read_warning(info: VideoInfo, frames_read: int) -> str:
    """A message when fewer frames decoded than the container reports, else ''.

    Frame counts from container metadata can be off by a frame or two (rounded
    durations), so a shortfall up to ``max(1, 1%)`` of the reported count is
    accepted; a truncated or partly corrupt file (decoding stops early) is not.
    """
    reported = int(info.num_frames)
    if reported <= 0 or frames_read >= reported - max(1, reported // 100):
        return ''
    return (f'{info.path}: only {frames_read} of the {reported} frames the container '
            f'reports could be decoded ({frames_read / info.fps:.1f} s of '
            f'{reported / info.fps:.1f} s); the file is probably truncated or '
            'corrupt, and the results cover only the decoded part. Re-download or '
            're-encode it (e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`).')


class VideoFrames:
    """Iterate over a video's frames ``(index, frame_bgr)`` once, without seeking.

    Args:
        path: the video file (see :func:`open_video` for the errors raised).
    """

    def __init__(self, path: str):
        self._cap, self.info, self._first = open_video(path)

    def __iter__(self):
        try:
            frame, idx = self._first, 0
            self._first = None
            while frame is not None:
                yield idx, frame
                ok, frame = self._cap.read()
                frame = frame if ok else None
                idx += 1
        finally:
            self._cap.release()


def _find_pipeline(cfg) -> list:
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader is not None and loader.get('dataset') is not None:
            ds = loader.dataset
            while 'pipeline' not in ds and 'dataset' in ds:  # wrapped datasets
                ds = ds.dataset
            if 'pipeline' in ds:
                return list(ds.pipeline), ds
    raise KeyError('the config has no test_dataloader/val_dataloader dataset with '
                   'a pipeline; cannot tell how the model samples its clips')


def read_label_names(path: str) -> dict[int, str]:
    """Class names by model class id from a label file.

    * ``.pbtxt``: AVA label map ``item { name: "..." id: N }`` (ids as in the CSV);
    * ``.pkl``: an ACT-style GT pickle (UCF101-24, JHMDB, the synthetic ACT set):
      ``labels[i]`` is class ``i + 1`` (0 is background);
    * anything else: text lines ``id: name`` / ``id name``, or one name per line
      (class ``line number``, from 1).

    Raises:
        ValueError: the file has no usable class names.
    """
    from stadl_plugins.datasets.ava_io import read_label_map
    if path.endswith('.pbtxt'):
        return read_label_map(path)
    if path.endswith(('.pkl', '.pickle')):
        with open(path, 'rb') as f:
            data = safe_pickle_load(f)  # the dataset file the model was trained with
        labels = data.get('labels') if isinstance(data, dict) else None
        if not labels:
            raise ValueError(f'{path}: no "labels" list (an ACT-style GT pickle)')
        return {i + 1: str(n) for i, n in enumerate(labels)}
    out = {}
    with open(path) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    for n, line in enumerate(lines, 1):
        head, _, rest = line.replace(':', ' ', 1).partition(' ')
        if head.isdigit() and rest.strip():
            out[int(head)] = rest.strip()
        else:
            out[n] = line
    if not out:
        raise ValueError(f'{path}: no class names')
    return out


class STADInferencer:
    """An STAD model of this toolbox, ready to classify person boxes on clips.

    Args:
        config: config file path (or ``mmengine.Config``) of a ``FastRCNN``-style
            STAD model; ``custom_imports`` in it are honoured.
        checkpoint: weights to load (``None`` keeps the initialisation, for tests).
            Loaded by mmengine's ``load_checkpoint`` with torch's weights-only
            unpickler (the globals of a Runner checkpoint are allow-listed by
            :mod:`stadl_plugins.compat`; a pickle that would run code is refused).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
        label_map: class names (see :func:`read_label_names`: AVA ``.pbtxt``,
            ACT GT pickle, or text); default: the config's evaluator/dataset
            ``label_file``, else an ACT-style ``ann_file``. Without one, every model
            class ``1..num_classes-1`` is reported as ``class_<id>``.
        frame_interval: ``'auto'`` (default: the config's interval rescaled from the
            dataset's ``fps`` to the video's), or an int used as is.
        clip_len: override the config's clip length.

    Attributes:
        class_ids (np.ndarray): ``(C,)`` action ids reported (AVA ids).
        class_names (list[str]): their names.
    """

    def __init__(self, config, checkpoint: str | None = None, device: str = 'cpu',
                 label_map: str | None = None, frame_interval='auto',
                 clip_len: int | None = None):
        import torch
        from mmaction.registry import MODELS, TRANSFORMS
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmengine.runner import load_checkpoint

        if isinstance(config, str):
            if not os.path.isfile(config):
                raise FileNotFoundError(f'model config not found: {config}')
            cfg = Config.fromfile(config)
        else:
            cfg = config
        self.cfg = cfg
        init_default_scope(cfg.get('default_scope', 'mmaction'))
        model_cfg = cfg.model.copy()
        if model_cfg.get('init_cfg') is not None and checkpoint is not None:
            model_cfg['init_cfg'] = None  # the checkpoint replaces pretraining
        self.model = MODELS.build(model_cfg)
        self.checkpoint_meta = {}
        if checkpoint is not None:
            if not os.path.isfile(checkpoint):
                raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
            ckpt = load_checkpoint(self.model, checkpoint, map_location='cpu',
                                   logger='silent')
            self.checkpoint_meta = dict(ckpt.get('meta', {}) or {}) \
                if isinstance(ckpt, dict) else {}
        self.device = torch.device(device)
        self.model.to(self.device).eval()

        pipeline, dataset_cfg = _find_pipeline(cfg)
        sampler = next((t for t in pipeline if t['type'] in
                        ('SampleAVAFrames', 'mmaction.SampleAVAFrames')), None)
        if sampler is None:
            raise KeyError('the test pipeline has no SampleAVAFrames: is this an STAD '
                           f'config? pipeline: {[t["type"] for t in pipeline]}')
        self.clip_len = int(clip_len or sampler['clip_len'])
        self.config_frame_interval = int(sampler.get('frame_interval', 2))
        self.frame_interval = frame_interval
        self.train_fps = float(dataset_cfg.get('fps', 30))
        rest = [t for t in pipeline
                if t['type'].split('.')[-1] not in SAMPLING_AND_DECODING]
        self.transforms = [TRANSFORMS.build(dict(t)) for t in rest]

        bbox_head = cfg.model.roi_head.bbox_head
        self.num_model_classes = int(bbox_head.get('num_classes', 81))
        self.multilabel = bool(bbox_head.get('multilabel', True))
        custom = dataset_cfg.get('custom_classes')
        # model output index j -> action id
        index_to_id = ({j: int(c) for j, c in enumerate(custom, start=1)} if custom
                       else {j: j for j in range(1, self.num_model_classes)})
        names = self._read_labels(label_map, cfg, dataset_cfg)
        if names:
            keep = [(j, a) for j, a in index_to_id.items() if a in names]
            if not keep:
                raise ValueError(
                    f'none of the label map ids {sorted(names)[:10]} is a class of '
                    f'the model (output indices 1..{self.num_model_classes - 1})')
        else:
            keep = sorted(index_to_id.items())
        self.class_index = np.array([j for j, _ in keep], np.int64)
        self.class_ids = np.array([a for _, a in keep], np.int64)
        self.class_names = [names.get(a, f'class_{a}') if names else f'class_{a}'
                            for _, a in keep]

    @staticmethod
    def _read_labels(label_map, cfg, dataset_cfg) -> dict[int, str]:
        """``{model class id: name}`` from ``label_map`` or the config's files."""
        if label_map is not None:
            if not os.path.isfile(label_map):
                raise FileNotFoundError(f'label map not found: {label_map}')
            return read_label_names(label_map)
        candidates = []
        for key in ('test_evaluator', 'val_evaluator'):
            ev = cfg.get(key)
            for e in (ev if isinstance(ev, (list, tuple)) else [ev]):
                if isinstance(e, dict) and e.get('label_file'):
                    candidates.append(e['label_file'])
        if dataset_cfg.get('label_file'):
            candidates.append(dataset_cfg['label_file'])
        ann = dataset_cfg.get('ann_file')
        if isinstance(ann, str) and ann.endswith(('.pkl', '.pickle')):
            candidates.append(ann)  # ACT-style GT pickle: its 'labels' list
        for path in candidates:
            if os.path.isfile(path):
                try:
                    return read_label_names(path)
                except ValueError:
                    continue  # unreadable as a label source: try the next
        return {}

    def interval_for(self, video_fps: float) -> int:
        """Frame interval used on a video of ``video_fps`` frames per second."""
        if self.frame_interval != 'auto':
            return max(1, int(self.frame_interval))
        return max(1, int(round(self.config_frame_interval * video_fps
                                / self.train_fps)))

    def offsets(self, interval: int) -> np.ndarray:
        """Frame offsets of a clip around its centre, as ``SampleAVAFrames`` (test
        mode) takes them: ``(arange(clip_len) - clip_len // 2) * interval``."""
        return (np.arange(self.clip_len) - self.clip_len // 2) * int(interval)

    def clip_offsets(self, video_fps: float) -> np.ndarray:
        """:meth:`offsets` at the interval used on a video of ``video_fps``."""
        return self.offsets(self.interval_for(video_fps))

    def pack_clip(self, frames_rgb: list[np.ndarray], boxes: np.ndarray,
                  meta: dict | None = None, frame_interval: int | None = None) -> dict:
        """One clip + person boxes through the config's test transforms.

        The results dict is the one ``SampleAVAFrames`` + ``RawFrameDecode`` would
        hand to the rest of the test pipeline (all frames given, keyframe in the
        middle, the boxes as proposals with score 1, no GT).

        Args:
            frames_rgb: ``clip_len`` frames ``(H, W, 3)`` uint8 RGB.
            boxes: ``(N, 4)`` pixel boxes of the frames.
            meta: ``video_id``, ``timestamp``, ``img_key``, ``fps`` (optional).
            frame_interval: recorded in the results (default: the config's).

        Returns:
            the packed results (``inputs``, ``data_samples``).
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if len(frames_rgb) != self.clip_len:
            raise ValueError(f'expected {self.clip_len} frames, got {len(frames_rgb)}')
        h, w = frames_rgb[0].shape[:2]
        meta = dict(meta or {})
        results = dict(
            imgs=list(frames_rgb), img_shape=(h, w), original_shape=(h, w),
            modality='RGB', num_clips=1, clip_len=self.clip_len,
            frame_interval=self.config_frame_interval if frame_interval is None
            else frame_interval,
            frame_inds=np.arange(self.clip_len), start_index=0,
            crop_quadruple=np.array([0, 0, 1, 1], np.float32),
            gt_bboxes=np.zeros((0, 4), np.float32),
            gt_labels=np.zeros((0, self.num_model_classes), np.float32),
            proposals=boxes.copy(), scores=np.ones(len(boxes), np.float32),
            video_id=meta.get('video_id', 'video'),
            timestamp=meta.get('timestamp', 0),
            img_key=meta.get('img_key', 'video,0000'), fps=meta.get('fps', 30))
        for t in self.transforms:
            results = t(results)
            if results is None:
                raise RuntimeError(f'test transform {t!r} dropped the clip')
        return results

    def predict(self, frames_rgb: list[np.ndarray], boxes: np.ndarray,
                meta: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Classify the actions of person boxes on one clip.

        Args:
            frames_rgb: ``clip_len`` frames ``(H, W, 3)`` uint8 RGB, in time order,
                the keyframe in the middle (index ``clip_len // 2``).
            boxes: ``(N, 4)`` person boxes ``[x1, y1, x2, y2]`` in pixels of the
                frames, ``N >= 1``.
            meta: extra metainfo (``video_id``, ``timestamp``, ``img_key``).

        Returns:
            tuple: ``bboxes (N, 4)`` normalised to [0, 1] and ``scores (N, C)``
            over :attr:`class_ids` (sigmoid, or softmax for single-label heads).
        """
        import torch
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            raise ValueError('predict needs at least one person box')
        results = self.pack_clip(frames_rgb, boxes, meta)
        data = dict(inputs=[results['inputs']], data_samples=[results['data_samples']])
        with torch.no_grad():
            out = self.model.test_step(data)[0]
        pred = out.pred_instances
        bboxes = pred.bboxes.detach().float().cpu().numpy().reshape(-1, 4)
        scores = pred.scores.detach().float().cpu().numpy()
        scores = scores.reshape(len(bboxes), -1)[:, self.class_index]
        return bboxes.clip(0, 1), scores.clip(0, 1)


@dataclass
class KeyframeDetections:
    """The model's output at one keyframe.

    Attributes:
        index: keyframe number ``k``.
        frame_index: the keyframe (clip centre) frame.
        time: ``k / rate + timestamp_offset`` seconds.
        csv_timestamp: the integer written to the CSV (see module docstring).
        track_ids: ``(N,)`` ids of the tracked people classified.
        boxes: ``(N, 4)`` their boxes, normalised to [0, 1].
        scores: ``(N, C)`` action scores over the inferencer's ``class_ids``.
    """

    index: int
    frame_index: int
    time: float
    csv_timestamp: int
    track_ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def top_labels(self, row: int, class_names: list[str], k: int = 3,
                   score_thr: float = 0.0) -> list[tuple[str, float]]:
        """The ``k`` best ``(name, score)`` of box ``row`` with score >= thr."""
        order = np.argsort(-self.scores[row], kind='stable')[:k]
        return [(class_names[c], float(self.scores[row, c])) for c in order
                if self.scores[row, c] >= score_thr]


@dataclass
class VideoDetections:
    """Everything :func:`detect_video` found in one video."""

    info: VideoInfo
    video_id: str
    detector: str
    class_ids: np.ndarray
    class_names: list[str]
    keyframes: list[KeyframeDetections] = field(default_factory=list)
    frames_read: int = 0
    frames_with_person: int = 0
    num_tracks: int = 0
    max_buffered_frames: int = 0
    frame_interval: int = 1
    timestamp_unit: str = 'second'
    seconds: float = 0.0
    #: set when fewer frames decoded than the container reports (see
    #: :func:`short_read_warning`); also issued as a ``UserWarning``
    decode_warning: str = ''

    @property
    def found_person(self) -> bool:
        return self.frames_with_person > 0

    def csv_rows(self, score_thr: float = 0.0, max_per_keyframe: int = 50):
        """AVA detection rows: one per box and class with score >= ``score_thr``.

        At most ``max_per_keyframe`` rows (the best) per keyframe, as the AVA
        evaluator keeps only 50 per keyframe.
        """
        from stadl_plugins.datasets.ava_io import AVARow
        rows = []
        for kf in self.keyframes:
            kf_rows = []
            for i in range(len(kf.track_ids)):
                box = tuple(float(v) for v in kf.boxes[i])
                if not (box[0] < box[2] and box[1] < box[3]):
                    continue  # degenerate after clipping to the frame
                for c, action in enumerate(self.class_ids):
                    s = float(kf.scores[i, c])
                    if s >= score_thr:
                        kf_rows.append(AVARow(self.video_id, kf.csv_timestamp, box,
                                              int(action), s))
            kf_rows.sort(key=lambda r: -r.last)
            rows += kf_rows[:max_per_keyframe]
        return rows

    def summary(self) -> str:
        """A one-paragraph human summary (says clearly when nobody was found)."""
        n_kf = len(self.keyframes)
        n_kf_person = sum(1 for k in self.keyframes if len(k.track_ids))
        head = (f'{self.info.path}: {self.frames_read} frames at {self.info.fps:.2f} '
                f'fps, {n_kf} keyframes, clip interval {self.frame_interval} frames, '
                f'{self.seconds:.1f} s')
        if self.decode_warning:
            head += f'\nWARNING: {self.decode_warning}'
        if not self.found_person:
            return (head + f'\nNO PERSON FOUND: the person detector ({self.detector}) '
                    f'found nobody in any of the {self.frames_read} frames, so no '
                    'action was detected; the outputs are written without boxes '
                    '(the CSV has no rows).')
        return (head + f'\n{self.num_tracks} person track(s) on '
                f'{self.frames_with_person}/{self.frames_read} frames; actions '
                f'classified on {n_kf_person}/{n_kf} keyframes (detector: '
                f'{self.detector}).')


FrameSink = Callable[[int, np.ndarray, np.ndarray, np.ndarray,
                      'KeyframeDetections | None'], None]


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from mmengine.utils import ProgressBar
    return ProgressBar(task_num=max(total, 0), file=sys.stderr)


def _clip_short_side(inferencer, clip_size) -> int:
    """The short side the STAD model's frames are downscaled to (0: none), see
    :func:`detect_video`'s ``clip_size``."""
    if clip_size == 'auto':
        resizes = any('resize' in type(t).__name__.lower()
                      for t in getattr(inferencer, 'transforms', ()))
        return 0 if resizes else 256
    if clip_size is None:
        return 0
    if isinstance(clip_size, str) or int(clip_size) < 0:
        raise ValueError(f"clip_size must be 'auto', None or an int >= 0, got "
                         f'{clip_size!r}')
    return int(clip_size)


def detect_video(video: str, inferencer: STADInferencer, detector, *,
                 rate: float = 1.0, det_interval: int = 3,
                 tracker: IoUTracker | None = None, video_id: str | None = None,
                 timestamp_offset: float = 0.0,
                 frame_sink: FrameSink | None = None,
                 progress: bool = True,
                 clip_size: int | str | None = 'auto') -> VideoDetections:
    """Detect actions in a video file, streaming it once with bounded memory.

    Args:
        video: video file path.
        inferencer: the STAD model.
        detector: a person detector from :mod:`stadl_plugins.apis.person_detectors`
            (``detector(frame_bgr, frame_index, timestamp) -> (N, 5) | None``).
            One with ``keyframes_only = True`` (proposal files) runs on keyframes
            only.
        rate: keyframes per second (at most the video's frame rate).
        det_interval: run the detector on every ``det_interval``-th frame (and on
            every keyframe); the tracker holds boxes in between.
        tracker: default: ``IoUTracker(**detector.tracker_defaults)``.
        video_id: the CSV's video id (default: the file name without extension).
        timestamp_offset: seconds added to every timestamp (e.g. 900 for AVA's
            15-minute cuts).
        frame_sink: called once per frame, in order, as
            ``sink(frame_index, frame_bgr, track_ids (M,), boxes (M, 4) px,
            keyframe)`` where ``keyframe`` is the :class:`KeyframeDetections` of
            the nearest keyframe (``None`` if none was classified).
        progress: show a progress bar with ETA on stderr.
        clip_size: short side, in pixels, of the frames the STAD model gets
            (larger frames are downscaled, with their boxes; the output boxes are
            normalised, so nothing else changes). ``'auto'``: 256 (AVA's test
            scale) when the config's test transforms resize nothing (the synthetic
            configs: a 1080p clip would otherwise go through the 3D CNN at full
            resolution, ~8 s a keyframe on 2 cores), else the frames as they are;
            ``None``/``0``: the frames as they are.

    Returns:
        VideoDetections
    """
    import cv2
    if rate <= 0:
        raise ValueError(f'rate must be > 0 keyframes per second, got {rate}')
    if det_interval < 1:
        raise ValueError(f'det_interval must be >= 1, got {det_interval}')
    t0 = time.time()
    frames = VideoFrames(video)
    info = frames.info
    fps = info.fps
    if rate > fps:
        raise ValueError(f'rate {rate}/s is above the video frame rate {fps:.2f}')
    if tracker is None:
        tracker = IoUTracker(**getattr(detector, 'tracker_defaults', {}))
    model_short_side = _clip_short_side(inferencer, clip_size)
    keyframes_only = bool(getattr(detector, 'keyframes_only', False))
    video_id = video_id or os.path.splitext(os.path.basename(video))[0]
    offsets = inferencer.clip_offsets(fps)
    before, after = int(-offsets.min()), int(offsets.max())
    frames_per_kf = fps / rate
    whole_seconds = abs(1 / rate - round(1 / rate)) < 1e-9 and \
        abs(timestamp_offset - round(timestamp_offset)) < 1e-9
    result = VideoDetections(
        info=info, video_id=video_id, detector=getattr(detector, 'name', 'custom'),
        class_ids=inferencer.class_ids, class_names=inferencer.class_names,
        frame_interval=inferencer.interval_for(fps),
        timestamp_unit='second' if whole_seconds else 'frame')

    def kf_frame(k: int) -> int:
        return int(round(k * frames_per_kf))

    def nearest_kf(f: int) -> int:
        return int(round(f / frames_per_kf))

    # ring buffer: frame index -> (frame_bgr, track ids, track boxes)
    buffer: collections.OrderedDict[int, tuple] = collections.OrderedDict()
    done: dict[int, KeyframeDetections] = {}
    state = dict(next_kf=0, next_write=0, last=-1)
    bar = _progress(info.num_frames, progress)

    def classify(k: int, last_frame: int) -> None:
        c = kf_frame(k)
        ids, boxes = buffer[c][1], buffer[c][2]
        t_kf = k / rate + timestamp_offset
        csv_ts = int(round(t_kf)) if whole_seconds else c
        if len(ids) == 0:
            done[k] = KeyframeDetections(k, c, t_kf, csv_ts, ids,
                                         np.zeros((0, 4), np.float32),
                                         np.zeros((0, len(inferencer.class_ids)),
                                                  np.float32))
            return
        inds = np.clip(c + offsets, 0, last_frame)
        clip = [cv2.cvtColor(buffer[int(i)][0], cv2.COLOR_BGR2RGB) for i in inds]
        h, w = clip[0].shape[:2]
        if model_short_side and min(h, w) > model_short_side:
            f = model_short_side / min(h, w)
            size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
            clip = [cv2.resize(im, size, interpolation=cv2.INTER_AREA)
                    for im in clip]
            boxes = boxes * np.array([size[0] / w, size[1] / h] * 2, np.float32)
        norm_boxes, scores = inferencer.predict(
            clip, boxes, dict(video_id=video_id, timestamp=csv_ts,
                              img_key=f'{video_id},{csv_ts:04d}', fps=fps))
        done[k] = KeyframeDetections(k, c, t_kf, csv_ts, ids.copy(), norm_boxes,
                                     scores)

    def flush(upto: int, final: bool) -> None:
        """Write frames whose keyframe is classified; drop frames not needed."""
        last_kf = max(done) if done else -1
        while state['next_write'] <= upto:
            f = state['next_write']
            k = nearest_kf(f)
            if final:
                k = min(k, last_kf)
            elif k >= state['next_kf']:
                break
            frame, ids, boxes = buffer[f]
            if frame_sink is not None:
                frame_sink(f, frame, ids, boxes, done.get(k))
            state['next_write'] += 1
        keep_from = min(state['next_write'],
                        kf_frame(state['next_kf']) - before)
        while buffer and next(iter(buffer)) < keep_from:
            buffer.popitem(last=False)

    for idx, frame in frames:
        t = idx / fps + timestamp_offset
        k_here = nearest_kf(idx)
        is_kf = kf_frame(k_here) == idx
        if is_kf:
            t = k_here / rate + timestamp_offset
        if (is_kf or not keyframes_only) and (is_kf or idx % det_interval == 0):
            dets = detector(frame, idx, t)
            if dets is not None:
                tracker.update(dets, frame=idx)
        ids, boxes = tracker.state()
        if len(ids):
            result.frames_with_person += 1
        buffer[idx] = (frame, ids, boxes)
        result.max_buffered_frames = max(result.max_buffered_frames, len(buffer))
        state['last'] = idx
        while kf_frame(state['next_kf']) + after <= idx:
            classify(state['next_kf'], idx)
            state['next_kf'] += 1
        flush(idx, final=False)
        if bar is not None:
            bar.update()
    last = state['last']
    while kf_frame(state['next_kf']) <= last:  # keyframes near the end
        classify(state['next_kf'], last)
        state['next_kf'] += 1
    flush(last, final=True)
    if bar is not None:
        sys.stderr.write('\n')
    result.frames_read = last + 1
    result.decode_warning = short_read_warning(info, result.frames_read)
    if result.decode_warning:
        import warnings
        warnings.warn(result.decode_warning)
    result.keyframes = [done[k] for k in sorted(done)]
    result.num_tracks = tracker.num_confirmed
    result.seconds = time.time() - t0
    return result
