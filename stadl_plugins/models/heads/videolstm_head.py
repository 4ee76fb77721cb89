"""VideoLSTM recognition head for a stock MMAction2 ``Recognizer3D`` (Li et al.,
"VideoLSTM Convolves, Attends and Flows for Action Recognition", 2016).

``Recognizer3D(backbone=<any 3D backbone keeping time>, cls_head=VideoLSTMHead(...))``
trains on video labels alone:

* the backbone feature ``(N, C, T, H, W)`` runs through
  :class:`~stadl_plugins.models.recurrent.VideoLSTMCore` (ConvLSTM, ConvALSTM or
  motion-attended VideoLSTM, ``attention``);
* every step's hidden state goes through the paper's output layers: a
  1024-unit fully connected layer (``tanh``, as the released code), dropout
  0.7, and a linear classifier -> per-frame logits ``(N, T, num_classes)``;
* training: cross-entropy of every frame's logits against the video label,
  averaged over frames (the released code's per-frame loss);
* testing: "we first sum the LSTM frame-level class predictions over time and
  then average the scores across the sampled segments": per-frame softmax
  probabilities averaged over time (the sum divided by ``T``, same ranking),
  then over clips/crops. ``pred_score`` is that distribution.

At prediction, every data sample also gets ``attention_maps`` ``(T, H, W)``
(each map sums to 1; absent for ``attention='none'``) and ``frame_scores``
``(T, num_classes)`` (per-frame probabilities of the first clip), which is what
the weakly supervised localisation of paper Sec. 4
(:mod:`stadl_plugins.localization.attention`) consumes.

Paper gaps (our choices): ``spatial_pool='flatten'`` is the paper's FC on the
flattened ``N x N x D`` hidden state (needs ``spatial_size``); ``'avg'``
(default) averages over space first, so any input size works.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from mmaction.models.heads.base import BaseHead

from ...registry import register_model
from ..necks.conv_alstm_neck import FlowMotionEncoder, split_rgb_motion
from ..recurrent.videolstm import VideoLSTMCore


@register_model()
class VideoLSTMHead(BaseHead):
    """Per-frame VideoLSTM classifier summed over time (see the module docstring).

    Args:
        num_classes: classes.
        in_channels: channels of the backbone feature.
        hidden_channels: LSTM channels (paper: 512).
        attention: ``'none'``, ``'appearance'`` or ``'motion'``.
        motion_source, motion_channels, rgb_index, motion_index,
            flow_kernel_size: see :class:`~stadl_plugins.models.necks.ConvALSTMNeck`
            (``'flow'``: a ``ClipFlowBackbone`` backbone).
        fc_channels: width of the hidden FC layer (paper: 1024).
        dropout_ratio: dropout before the classifier (paper: 0.7).
        spatial_pool: ``'avg'`` or ``'flatten'``.
        spatial_size: ``(H, W)`` of the feature for ``'flatten'``.
        core_cfg: extra arguments of :class:`VideoLSTMCore`.
        loss_cls, topk, average_clips, init_cfg: see MMAction2's ``BaseHead``.
    """

    def __init__(self, num_classes: int, in_channels: int, hidden_channels: int = 512,
                 attention: str = 'motion', motion_source: str = 'feature_difference',
                 motion_channels: int | None = None, rgb_index: int = 0,
                 motion_index: int | None = None, fc_channels: int = 1024,
                 dropout_ratio: float = 0.7, spatial_pool: str = 'avg',
                 spatial_size: Sequence[int] | None = None, core_cfg: dict | None = None,
                 flow_kernel_size: int = 3,
                 loss_cls: dict = dict(type='CrossEntropyLoss'),
                 topk: int | tuple = (1,), average_clips: str | None = 'prob',
                 init_cfg=None):
        super().__init__(num_classes, in_channels, loss_cls=loss_cls, topk=topk,
                         average_clips=average_clips, init_cfg=init_cfg)
        if spatial_pool not in ('avg', 'flatten'):
            raise ValueError(f"spatial_pool must be 'avg' or 'flatten', got {spatial_pool!r}")
        if spatial_pool == 'flatten' and spatial_size is None:
            raise ValueError("spatial_pool='flatten' needs spatial_size=(H, W)")
        self.core = VideoLSTMCore.for_motion_source(
            in_channels, hidden_channels, attention, motion_source, motion_channels,
            **(core_cfg or {}))
        self.attention, self.motion_source = attention, motion_source
        self.rgb_index, self.motion_index = rgb_index, motion_index
        if motion_source == 'flow' and attention == 'motion':
            self.flow_encoder = FlowMotionEncoder(self.core.motion_channels,
                                                  flow_kernel_size)
        self.spatial_pool = spatial_pool
        self.spatial_size = None if spatial_size is None else tuple(spatial_size)
        fc_in = hidden_channels * (1 if spatial_pool == 'avg' else
                                   self.spatial_size[0] * self.spatial_size[1])
        self.fc_hidden = nn.Linear(fc_in, fc_channels)
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.fc_cls = nn.Linear(fc_channels, num_classes)
        self.last_attention: torch.Tensor | None = None

    def forward(self, x, **kwargs) -> torch.Tensor:
        """
        Args:
            x: backbone output ``(N, C, T, H, W)`` (or a tuple, see
                ``rgb_index``/``motion_index``).

        Returns:
            torch.Tensor: per-frame logits ``(N, T, num_classes)``.
        """
        rgb, motion = split_rgb_motion(x, self.rgb_index, self.motion_index,
                                       self.motion_source, self.attention,
                                       getattr(self, 'flow_encoder', None))
        hidden, attention = self.core(rgb, motion)            # (N, hid, T, H, W)
        self.last_attention = None if attention is None else attention.detach()
        n, hid, t, hgt, wid = hidden.shape
        steps = hidden.permute(0, 2, 1, 3, 4)                  # (N, T, hid, H, W)
        if self.spatial_pool == 'avg':
            steps = steps.mean((3, 4))
        else:
            if (hgt, wid) != self.spatial_size:
                raise ValueError(f'spatial_pool=flatten was set up for '
                                 f'{self.spatial_size}, got features {hgt}x{wid}')
            steps = steps.reshape(n, t, -1)
        return self.fc_cls(self.dropout(torch.tanh(self.fc_hidden(steps))))

    def loss_by_feat(self, cls_scores: torch.Tensor, data_samples) -> dict:
        """Per-frame cross-entropy against the video label, averaged over frames.

        Args:
            cls_scores: per-frame logits ``(N, T, num_classes)``.
        """
        n, t, k = cls_scores.shape
        labels = torch.stack([ds.gt_label for ds in data_samples]).reshape(n)
        labels = labels.to(cls_scores.device).long()
        losses = super().loss_by_feat(cls_scores.reshape(n * t, k),
                                      _repeat_labels(data_samples, t))
        # report accuracy of the video-level (time-averaged) prediction
        video = cls_scores.softmax(-1).mean(1)
        losses['top1_acc'] = (video.argmax(-1) == labels).float().mean().detach()
        return losses

    def predict_by_feat(self, cls_scores: torch.Tensor, data_samples):
        """Average per-frame probabilities over time, then over clips.

        Args:
            cls_scores: per-frame logits ``(N * num_clips, T, num_classes)``.
        """
        frame_probs = cls_scores.softmax(-1)                   # (B, T, K)
        video = frame_probs.mean(1)                            # (B, K)
        num_segs = video.shape[0] // len(data_samples)
        video = video.reshape(len(data_samples), num_segs, -1).mean(1)
        att = self.last_attention
        for i, (ds, score) in enumerate(zip(data_samples, video)):
            ds.set_pred_score(score)
            ds.set_pred_label(score.argmax(-1, keepdim=True))
            ds.frame_scores = frame_probs[i * num_segs].detach()
            if att is not None:
                ds.attention_maps = att[i * num_segs, 0]       # (T, H, W)
        return data_samples


class _LabelOnly:
    def __init__(self, label):
        self.gt_label = label


def _repeat_labels(data_samples, times: int):
    """Each video label repeated for its ``times`` frames (for BaseHead's loss)."""
    return [_LabelOnly(ds.gt_label) for ds in data_samples for _ in range(times)]


__all__ = ['VideoLSTMHead']
