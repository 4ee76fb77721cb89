"""Person boxes for STAD inference on raw videos, and a tracker that steadies them.

An STAD model (``FastRCNN`` + ``AVARoIHead``) classifies the actions of *given* person
boxes. On a raw video those boxes come from one of three sources:

* :class:`HOGPersonDetector` -- OpenCV's built-in HOG + linear-SVM pedestrian
  detector (Dalal & Triggs). Needs no download. It only finds upright, fully visible
  people whose height is at least its 128-pixel window, and its cost grows with the
  frame area, so every frame is first resized to a working size (longest side
  ``work_size=640`` px: 1080p is downscaled 3x, the 426x240 gym clip upscaled 1.5x)
  and the boxes are mapped back to the full frame. Scores are SVM margins, not
  probabilities.
* :class:`MMDetPersonDetector` -- any MMDetection detector config + checkpoint,
  keeping only the person class.
* :class:`ProposalFilePersonDetector` -- precomputed boxes from an AVA-format
  proposal pickle (``{'video_id,TTTT': ndarray (N, 5) [x1, y1, x2, y2, score]}``,
  normalised), e.g. the FAIR AVA proposals; boxes exist at keyframes only.

Each detector is called as ``detector(frame_bgr, frame_index, timestamp)`` and returns
an ``(N, 5)`` float32 array ``[x1, y1, x2, y2, score]`` in pixels of that frame.

:class:`IoUTracker` links the boxes across frames into tracks (greedy IoU matching)
and smooths each track's box exponentially, so that drawn boxes do not flicker and
each person keeps one id over the video.
"""
from __future__ import annotations

import os

import numpy as np

from ..safe_load import safe_pickle_load
from ..structures.bbox import nms, pairwise_iou
from ..structures.track import Track  # noqa: F401  (re-exported)
from ..tracking.online import IoUTracker  # noqa: F401  (re-exported)


class PersonDetectorError(RuntimeError):
    """A person detector that cannot be built or run (bad file, wrong format)."""


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 5), np.float32)


def nms_boxes(boxes: np.ndarray, iou_thr: float) -> np.ndarray:
    """Non-maximum suppression (:func:`stadl_plugins.structures.bbox.nms`).

    Args:
        boxes: ``(N, 5)`` ``[x1, y1, x2, y2, score]``.
        iou_thr: boxes overlapping a higher-scored kept box by more than this go.

    Returns:
        np.ndarray: the kept rows, ``(M, 5)``, highest score first.
    """
    if len(boxes) == 0:
        return _empty_boxes()
    boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
    return boxes[nms(boxes[:, :4], boxes[:, 4], iou_thr)]


#: default working size of the HOG detector: frames are resized so that their
#: longest side is this many pixels before detection (measured in docs/demo.md)
DEFAULT_DET_SIZE = 640


def detection_scale(frame_shape, work_size: int | None = None,
                    upscale: float | None = None) -> float:
    """The resize factor a detector applies to a frame before detecting.

    Args:
        frame_shape: ``(H, W, ...)`` of the full-resolution frame.
        work_size: target longest side in pixels (the frame is downscaled, or
            upscaled, to it); ``None`` or ``0``: no resize.
        upscale: a fixed factor instead (overrides ``work_size``).

    Returns:
        float: factor ``s``; the detector sees ``round(W * s) x round(H * s)``.
    """
    if upscale is not None:
        if upscale <= 0:
            raise ValueError(f'upscale must be > 0, got {upscale}')
        return float(upscale)
    if not work_size:
        return 1.0
    if work_size < 0:
        raise ValueError(f'work_size must be >= 0, got {work_size}')
    return float(work_size) / float(max(frame_shape[0], frame_shape[1]))


def resize_for_detection(frame: np.ndarray, scale: float):
    """``frame`` resized by ``scale`` (``INTER_AREA`` down, ``INTER_LINEAR`` up).

    Returns:
        (image, sx, sy): the resized image and the exact factors per axis (the
        integer output size makes them differ from ``scale`` by < 1 px).
    """
    import cv2
    h, w = frame.shape[:2]
    if scale == 1.0:
        return frame, 1.0, 1.0
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    img = cv2.resize(frame, (nw, nh), interpolation=interp)
    return img, nw / w, nh / h


def boxes_to_frame(boxes: np.ndarray, sx: float, sy: float,
                   frame_shape) -> np.ndarray:
    """Boxes ``(N, 5)`` found on a frame resized by ``(sx, sy)`` -> pixels of the
    full-resolution frame of ``frame_shape``, clipped to it (score kept)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 5).copy()
    boxes[:, [0, 2]] /= sx
    boxes[:, [1, 3]] /= sy
    h, w = frame_shape[:2]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w - 1)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h - 1)
    return boxes


class ResizedDetector:
    """Runs any person detector on a copy of the frame resized to a working size,
    and maps its boxes back to the full-resolution frame.

    Args:
        detector: ``detector(frame_bgr, frame_index, timestamp) -> (N, 5) | None``.
        work_size: longest side, in pixels, of the frame the detector sees
            (``None``/``0``: the frame as is).
        upscale: a fixed factor instead of ``work_size``.

    The wrapper keeps the detector's ``name``, ``keyframes_only`` and
    ``tracker_defaults``.
    """

    def __init__(self, detector, work_size: int | None = DEFAULT_DET_SIZE,
                 upscale: float | None = None):
        self.detector = detector
        self.work_size = work_size
        self.upscale = upscale
        detection_scale((1, 1), work_size, upscale)  # validate
        self.name = getattr(detector, 'name', 'custom')
        self.keyframes_only = bool(getattr(detector, 'keyframes_only', False))
        self.tracker_defaults = dict(getattr(detector, 'tracker_defaults', {}))

    def __call__(self, frame_bgr: np.ndarray, frame_index: int = 0,
                 timestamp: float = 0.0) -> np.ndarray | None:
        scale = detection_scale(frame_bgr.shape, self.work_size, self.upscale)
        img, sx, sy = resize_for_detection(frame_bgr, scale)
        boxes = self.detector(img, frame_index, timestamp)
        if boxes is None:
            return None
        return boxes_to_frame(boxes, sx, sy, frame_bgr.shape)


class HOGPersonDetector:
    """OpenCV's default HOG people detector, on a copy of the frame resized to a
    working size.

    Args:
        work_size: the frame is resized so that its longest side is this many
            pixels before detection (default 640: a 1080p frame is downscaled 3x,
            the 426x240 gym clip upscaled 1.5x); ``None``/``0``: native size.
            HOG's window is 64x128 pixels, so people shorter than about
            ``128 / scale`` pixels of the original frame are missed, and the cost
            grows with the working area. Boxes are returned in the original
            frame's pixels.
        upscale: a fixed resize factor instead of ``work_size`` (the former
            default was ``upscale=2``: 3840x2160 for a 1080p frame, ~3 s a frame).
        score_thr: minimum SVM margin (``detectMultiScale``'s weight) to keep a box.
        nms_iou: IoU above which overlapping boxes are merged (``mmcv.ops.nms``);
            OpenCV's own grouping leaves nested duplicates.
        win_stride, padding, scale: passed to ``cv2.HOGDescriptor.detectMultiScale``
            (window step in pixels, border padding, pyramid scale step).

    Measured on the two clips of ``../shared/data/videos`` (every 3rd frame,
    ``upscale=2``): on the gym clip at least one box with margin > 0.5 on 83 of
    100 frames, among them frames 0, 100 and 200; on the close-up arm-wrestling clip
    HOG also fires (on a bottle and on the legs of people in the background) on 48
    of 94 frames. At ``upscale=1`` it finds nobody with margin > 0.3 there, and
    misses the gym players on frame 0. Recall/precision on hand-labelled keyframes
    for each working size: docs/demo.md.
    """

    name = 'hog'
    keyframes_only = False
    tracker_defaults: dict = {}

    def __init__(self, work_size: int | None = DEFAULT_DET_SIZE,
                 upscale: float | None = None, score_thr: float = 0.5,
                 nms_iou: float = 0.4, win_stride: tuple[int, int] = (8, 8),
                 padding: tuple[int, int] = (8, 8), scale: float = 1.05):
        import cv2
        detection_scale((1, 1), work_size, upscale)  # validate
        self.work_size = work_size
        self.upscale = None if upscale is None else float(upscale)
        self.score_thr = float(score_thr)
        self.nms_iou = float(nms_iou)
        self.win_stride = tuple(win_stride)
        self.padding = tuple(padding)
        self.scale = float(scale)
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, frame_bgr: np.ndarray, frame_index: int = 0,
                 timestamp: float = 0.0) -> np.ndarray:
        """Detect people.

        Args:
            frame_bgr: ``(H, W, 3)`` uint8 BGR frame.

        Returns:
            np.ndarray: ``(N, 5)`` float32 ``[x1, y1, x2, y2, margin]`` in pixels
            of ``frame_bgr``.
        """
        factor = detection_scale(frame_bgr.shape, self.work_size, self.upscale)
        img, sx, sy = resize_for_detection(frame_bgr, factor)
        boxes = self.detect_native(img)
        if len(boxes) == 0:
            return boxes
        return nms_boxes(boxes_to_frame(boxes, sx, sy, frame_bgr.shape),
                         self.nms_iou)

    def detect_native(self, img: np.ndarray) -> np.ndarray:
        """HOG on ``img`` as given: ``(N, 5)`` boxes in its pixels, margin >=
        ``score_thr`` (not yet merged)."""
        win_w, win_h = self._hog.winSize
        if img.shape[0] < win_h or img.shape[1] < win_w:
            return _empty_boxes()  # no window fits (OpenCV crashes on such input)
        rects, weights = self._hog.detectMultiScale(
            img, winStride=self.win_stride, padding=self.padding, scale=self.scale)
        rects = np.asarray(rects, np.float32).reshape(-1, 4)
        weights = np.asarray(weights, np.float32).reshape(-1)
        if len(rects) == 0:
            return _empty_boxes()
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:4],
                                weights[:, None]], axis=1)  # (N, 5) xyxy + margin
        return boxes[boxes[:, 4] >= self.score_thr]


class MMDetPersonDetector:
    """Any MMDetection detector (config + checkpoint), person class only.

    Args:
        config: path of an mmdet config file (or an ``mmengine.Config``).
        checkpoint: its weights (loaded weights-only by mmengine, see
            :mod:`stadl_plugins.compat`).
        device: ``'cpu'``, ``'cuda:0'``...
        score_thr: minimum detection score.
        person_class: the class name to keep (looked up in the checkpoint's
            ``dataset_meta['classes']``, COCO's when the checkpoint has none), or its
            integer index.
    """

    name = 'mmdet'
    keyframes_only = False
    tracker_defaults: dict = {}

    def __init__(self, config, checkpoint: str | None, device: str = 'cpu',
                 score_thr: float = 0.5, person_class: str | int = 'person'):
        if isinstance(config, str) and not os.path.isfile(config):
            raise PersonDetectorError(f'mmdet detector config not found: {config}')
        if checkpoint is not None and not os.path.isfile(checkpoint):
            raise PersonDetectorError(
                f'mmdet detector checkpoint not found: {checkpoint}')
        from mmdet.apis import init_detector
        self.model = init_detector(config, checkpoint, device=device)
        self.scope = self.model.cfg.get('default_scope', 'mmdet') or 'mmdet'
        classes = list((self.model.dataset_meta or {}).get('classes', ()))
        if isinstance(person_class, int):
            self.person_label = person_class
        elif person_class in classes:
            self.person_label = classes.index(person_class)
        else:
            raise PersonDetectorError(
                f'class {person_class!r} is not among the detector classes '
                f'{classes[:10]}{"..." if len(classes) > 10 else ""}; pass its index')
        self.score_thr = float(score_thr)

    def __call__(self, frame_bgr: np.ndarray, frame_index: int = 0,
                 timestamp: float = 0.0) -> np.ndarray:
        from mmdet.apis import inference_detector
        from mmengine.registry import DefaultScope

        # mmdet builds its test pipeline at every call, in the current default
        # scope: make it mmdet's even when an mmaction model was set up since.
        with DefaultScope.overwrite_default_scope(self.scope):
            pred = inference_detector(self.model, frame_bgr).pred_instances
        bboxes = pred.bboxes.detach().cpu().numpy().reshape(-1, 4)
        scores = pred.scores.detach().cpu().numpy().reshape(-1)
        labels = pred.labels.detach().cpu().numpy().reshape(-1)
        keep = (labels == self.person_label) & (scores >= self.score_thr)
        return np.concatenate([bboxes[keep], scores[keep, None]],
                              axis=1).astype(np.float32)


class ProposalFilePersonDetector:
    """Boxes from an AVA-format proposal pickle, looked up by ``'video_id,TTTT'``.

    Args:
        path: the pickle, ``{'video_id,TTTT': ndarray (N, 4|5)}`` normalised to [0, 1].
        video_id: the video's id in the keys.
        score_thr: minimum proposal score (column 5; rows without one count as 1).

    Only frames whose timestamp is a whole second have keys; other frames get no
    boxes (``None``: "not run here", so the tracker keeps its state).
    """

    name = 'proposals'
    keyframes_only = True
    #: the proposals are used exactly as given; tracking only assigns ids
    tracker_defaults = dict(min_hits=1, smoothing=1.0, max_missed=0)

    def __init__(self, path: str, video_id: str, score_thr: float = 0.0):
        if not os.path.isfile(path):
            raise PersonDetectorError(f'proposal file not found: {path}')
        try:
            with open(path, 'rb') as f:
                table = safe_pickle_load(f)
        except Exception as exc:  # noqa: BLE001 - report what is wrong with the file
            raise PersonDetectorError(
                f'{path}: not a readable proposal pickle ({exc})') from None
        if not isinstance(table, dict):
            raise PersonDetectorError(
                f'{path}: expected a dict {{"video_id,TTTT": ndarray (N, 5)}}, '
                f'got {type(table).__name__}')
        self.video_id = video_id
        self.score_thr = float(score_thr)
        self.table = {}
        for key, val in table.items():
            vid, _, ts = str(key).rpartition(',')
            if vid == video_id:
                self.table[int(ts)] = np.asarray(val, np.float32).reshape(
                    len(val), -1)
        if not self.table:
            videos = sorted({str(k).rpartition(',')[0] for k in table})
            raise PersonDetectorError(
                f'{path} has no proposals for video id {video_id!r}; it has '
                f'{len(videos)} videos, e.g. {videos[:5]} (set the video id)')

    def timestamps(self) -> list[int]:
        return sorted(self.table)

    def __call__(self, frame_bgr: np.ndarray, frame_index: int = 0,
                 timestamp: float = 0.0) -> np.ndarray | None:
        if abs(timestamp - round(timestamp)) > 1e-6:
            return None
        props = self.table.get(int(round(timestamp)))
        if props is None:
            return _empty_boxes()
        h, w = frame_bgr.shape[:2]
        boxes = np.ones((len(props), 5), np.float32)
        boxes[:, :4] = props[:, :4] * np.array([w, h, w, h], np.float32)
        if props.shape[1] >= 5:
            boxes[:, 4] = props[:, 4]
        return boxes[boxes[:, 4] >= self.score_thr]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)`` (continuous)."""
    return pairwise_iou(np.asarray(a, np.float64), np.asarray(b, np.float64))


def build_person_detector(kind: str, **kwargs):
    """Build a detector by name: ``'hog'``, ``'mmdet'`` or ``'proposals'``.

    Keyword arguments go to :class:`HOGPersonDetector`,
    :class:`MMDetPersonDetector` or :class:`ProposalFilePersonDetector`.
    """
    table = dict(hog=HOGPersonDetector, mmdet=MMDetPersonDetector,
                 proposals=ProposalFilePersonDetector)
    if kind not in table:
        raise ValueError(f'unknown person detector {kind!r}; expected one of '
                         f'{sorted(table)}')
    return table[kind](**kwargs)
