"""Weakly supervised localization with a trained VideoLSTM recognizer (Li et al.
2016, Sec. 4): run the recognizer over whole videos, turn its attention maps
into one tube per video (:func:`stadl_plugins.localization.attention.attention_tube`)
and hand the tubes to the video-mAP evaluator.

The recognizer (a stock ``Recognizer3D`` with ``VideoLSTMHead``, trained on video
labels alone) reads windows of ``clip_len`` frames taken every ``frame_interval``
frames; consecutive windows tile the video without overlap, so every sampled
frame gets one attention map ``(h, w)`` and one row of class probabilities.
Frames between two samples take the map and scores of the nearest sampled frame
(our choice; the paper does not say how its 25 test segments cover a video).

Output format (what :func:`stadl_plugins.evaluation.functional.video_map` reads):
``{label index: [(video, score, tube (L, 5) [frame, x1, y1, x2, y2]), ...]}`` with
1-based frames and one tube per video per class, scored by that class's
frame-averaged probability (the same boxes for every class: the paper's single
tube per video).
"""
from __future__ import annotations

import os
import os.path as osp

import numpy as np
import torch

from ..localization.attention import attention_tube


class AttentionLocalizer:
    """A VideoLSTM recognizer of this toolbox, ready to localize on rawframes.

    Args:
        config: config path or ``mmengine.Config`` of a ``Recognizer3D`` whose
            head is ``VideoLSTMHead`` with attention (``'appearance'`` or
            ``'motion'``).
        checkpoint: weights (``None`` keeps the initialisation, for tests).
        device: torch device string.
        clip_len, frame_interval: window sampling; default: the config's test
            pipeline ``SampleFrames``.
        batch_size: windows per forward pass.
    """

    def __init__(self, config, checkpoint: str | None = None, device: str = 'cpu',
                 clip_len: int | None = None, frame_interval: int | None = None,
                 batch_size: int = 4):
        from mmaction.registry import MODELS
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmengine.runner import load_checkpoint
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        init_default_scope(cfg.get('default_scope', 'mmaction'))
        head = cfg.model.get('cls_head', {})
        if head.get('type') != 'VideoLSTMHead' or head.get('attention') == 'none':
            raise ValueError('attention localization needs a Recognizer3D with a '
                             "VideoLSTMHead whose attention is 'appearance' or 'motion'; "
                             f"the config has cls_head {head.get('type')!r} with "
                             f"attention {head.get('attention')!r}")
        sample = next((t for t in cfg.test_dataloader.dataset.pipeline
                       if t['type'] == 'SampleFrames'), {})
        self.clip_len = int(clip_len or sample.get('clip_len', 8))
        self.frame_interval = int(frame_interval or sample.get('frame_interval', 1))
        self.model = MODELS.build(cfg.model)
        if checkpoint is not None:
            load_checkpoint(self.model, checkpoint, map_location='cpu')
        self.model.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    def frame_outputs(self, frames: np.ndarray):
        """Attention maps and class probabilities for every frame of a video.

        Args:
            frames: ``(N, H, W, 3)`` uint8 RGB frames of one video.

        Returns:
            tuple: ``attention`` ``(N, h, w)`` and ``scores`` ``(N, K)`` (float32
            arrays; each frame takes its nearest sampled frame's values).
        """
        from mmaction.structures import ActionDataSample
        N = len(frames)
        span = self.clip_len * self.frame_interval
        starts = list(range(0, max(N - span, 0) + 1, span))
        if starts and starts[-1] + span < N:
            starts.append(N - span)               # last window ends at the last frame
        if N < span:                              # short video: repeat the last frame
            starts = [0]
        idx = [np.minimum(s + np.arange(self.clip_len) * self.frame_interval, N - 1)
               for s in starts]
        atts, probs = [], []
        for i in range(0, len(idx), self.batch_size):
            chunk = idx[i:i + self.batch_size]
            # (1 clip, C, T, H, W) per window, as FormatShape('NCTHW') packs it
            inputs = [torch.from_numpy(np.ascontiguousarray(
                frames[j].transpose(3, 0, 1, 2)))[None] for j in chunk]
            samples = [ActionDataSample() for _ in chunk]
            with torch.no_grad():
                out = self.model.test_step(dict(inputs=inputs, data_samples=samples))
            atts += [np.asarray(o.attention_maps.cpu(), np.float32) for o in out]
            probs += [np.asarray(o.frame_scores.cpu(), np.float32) for o in out]
        sampled = np.concatenate(idx)                               # (S,)
        att, sc = np.concatenate(atts), np.concatenate(probs)       # (S, h, w), (S, K)
        # every frame takes the nearest sampled frame (ties: the earlier sample)
        order = np.argsort(sampled, kind='stable')
        sampled, att, sc = sampled[order], att[order], sc[order]
        pos = np.clip(np.searchsorted(sampled, np.arange(N)), 0, len(sampled) - 1)
        prev = np.clip(pos - 1, 0, len(sampled) - 1)
        take_prev = np.abs(sampled[prev] - np.arange(N)) <= np.abs(
            sampled[pos] - np.arange(N))
        near = np.where(take_prev, prev, pos)
        return att[near], sc[near]

    def localize(self, frames: np.ndarray, **tube_kwargs) -> dict:
        """One tube for a video: ``boxes (N, 4)`` and ``scores (K,)``."""
        att, scores = self.frame_outputs(frames)
        return attention_tube(att, frames.shape[1:3], scores, **tube_kwargs)


def read_rawframes(folder: str, filename_tmpl: str = 'img_{:05}.jpg',
                   num_frames: int | None = None) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 RGB frames ``img_00001.jpg ...`` of one video."""
    import cv2
    if not osp.isdir(folder):
        raise FileNotFoundError(f'frames folder not found: {folder}')
    n = num_frames or len([f for f in os.listdir(folder) if f.endswith('.jpg')])
    frames = []
    for i in range(1, n + 1):
        path = osp.join(folder, filename_tmpl.format(i))
        img = cv2.imread(path)
        if img is None:
            raise FileNotFoundError(f'frame {i} of {folder} is missing or unreadable: '
                                    f'{path}')
        frames.append(img[:, :, ::-1])
    return np.stack(frames)


def localize_videos(localizer: AttentionLocalizer, frames_root: str, videos,
                    num_classes: int, nframes: dict | None = None,
                    progress: bool = True, **tube_kwargs) -> dict:
    """Tubes of ``videos`` for :func:`~stadl_plugins.evaluation.functional.video_map`.

    Returns:
        dict: ``{label: [(video, score, (N, 5) tube), ...]}``, one tube per video and
        class (frames 1-based; boxes in pixels).
    """
    from mmengine.utils import ProgressBar
    tubes = {c: [] for c in range(num_classes)}
    bar = ProgressBar(len(videos)) if progress else None
    for v in videos:
        frames = read_rawframes(osp.join(frames_root, v),
                                num_frames=(nframes or {}).get(v))
        tube = localizer.localize(frames, **tube_kwargs)
        arr = np.concatenate([np.arange(1, len(frames) + 1)[:, None],
                              tube['boxes']], 1).astype(np.float32)
        for c in range(num_classes):
            tubes[c].append((v, float(tube['scores'][c]), arr))
        if bar:
            bar.update()
    return tubes


__all__ = ['AttentionLocalizer', 'read_rawframes', 'localize_videos']
