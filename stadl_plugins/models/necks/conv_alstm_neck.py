"""ConvALSTM / VideoLSTM neck for the stock STAD detector (Li et al., "VideoLSTM
Convolves, Attends and Flows for Action Recognition", 2016).

Runs :class:`~stadl_plugins.models.recurrent.VideoLSTMCore` over the backbone's
clip feature ``(N, C, T, H, W)`` and hands the stock ``AVARoIHead`` the
hidden states (optionally concatenated with the backbone feature).
``attention`` selects plain ConvLSTM (``'none'``), the Convolutional ALSTM
(``'appearance'``) or VideoLSTM's motion-based attention (``'motion'``).

Motion input (pluggable, ``motion_source``):

* ``'feature_difference'``: ``M_t = X_t - X_{t-1}`` of the backbone feature
  (``M_0 = 0``), computed inside; no second stream needed;
* ``'input'``: the backbone returns a tuple and ``motion_index`` picks the motion
  (e.g. optical-flow stream) feature, ``rgb_index`` the RGB feature; both must
  have the same ``T, H, W``;
* ``'flow'`` (the paper's motion input: features of the optical flow): the
  backbone tuple carries the clip's optical flow ``(N, 2, T_f, H_f, W_f)`` in
  pixels at ``motion_index`` (default: the last element, where
  :class:`~stadl_plugins.models.backbones.clip_flow.ClipFlowBackbone` puts the
  PWC-Net flow of the clip; any module that appends a flow, e.g. of an input flow
  modality, works the same). :class:`FlowMotionEncoder` area-pools it to the
  feature map (``resize_flow``, ``u, v`` in feature pixels), matches the steps,
  and a zero-initialised bias-free ``(1, k, k)`` conv gives ``M_t``
  (``motion_channels``, default ``in_channels``). The flow element is dropped
  from a ``'project'`` output, so the RoI head sees the backbone's structure.
  Zero flow gives ``M_t = 0`` exactly: the attention of the motion-attended
  VideoLSTM on a static clip (what ``'feature_difference'`` gives a clip whose
  frames do not change); at initialisation every flow does (zero conv), so the
  neck starts as that model (and, with ``'project'``, the detector as the stock
  one).

The attention maps of the last forward are kept in :attr:`last_attention`
``(N, 1, T, H, W)`` (detached) for visualisation and
:mod:`stadl_plugins.localization.attention`.

Paper gaps (our choices): the paper's ``M_t`` is the pool5 map of a VGG-16 flow
network on TV-L1 flow; ``'flow'`` uses a PWC-Net flow and one small conv instead
(a second backbone stream on precomputed flow is ``'input'``), and
``'feature_difference'`` needs no flow at all. VideoLSTM is a recognition model; as a detector neck
the output is the top layer's hidden state at the last step
(``output_step='last'``, it has seen the whole clip) or at every step
(``'all'``, the RoI extractor then pools over time), concatenated with the
backbone feature averaged over the same steps (``output_features``) so the RoI
head keeps the appearance evidence.

Output for the stock RoI head: with the default ``output_mode='project'`` a
zero-initialised 1x1x1 projection of that concatenation is added to the RGB
backbone feature, so the output has the backbone's channels and steps (the stock
``bbox_head.in_channels`` unchanged; a SlowFast tuple keeps its other pathways)
and the neck starts as the identity. ``output_mode='concat'`` returns the
concatenation (set ``bbox_head.in_channels`` to :attr:`ConvALSTMNeck.out_channels`).
Any clip length ``T >= 1`` works.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ...registry import register_model
from ..recurrent.videolstm import VideoLSTMCore, feature_difference
from ._projection import ResidualProjection, check_output_mode, replace_in_tuple
from .pwc_flow_neck import resize_flow

FEATURES = ('backbone', 'hidden')


class FlowMotionEncoder(nn.Module):
    """Optical flow -> VideoLSTM motion features ``M_t`` (``motion_source='flow'``).

    The flow ``(N, 2, T_f, H_f, W_f)`` (pixels, ``(u, v)``) is area-pooled to the
    feature map ``h x w`` (``resize_flow(mode='area')``: ``u, v`` rescaled to
    feature pixels), resampled to the feature's ``T`` steps (nearest) when
    ``T_f != T``, then a ``(1, k, k)`` conv **without bias, initialised to zero**
    maps it to ``out_channels``: zero flow gives ``M_t = 0``, and so does every
    flow at initialisation.

    Args:
        out_channels: channels of ``M_t``.
        kernel_size: ``k`` (odd).
    """

    def __init__(self, out_channels: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be a positive odd integer, got {kernel_size}')
        self.conv = nn.Conv3d(2, out_channels, (1, kernel_size, kernel_size),
                              padding=(0, kernel_size // 2, kernel_size // 2), bias=False)
        nn.init.zeros_(self.conv.weight)

    @staticmethod
    def resample(flow: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The flow on ``like``'s ``(T, h, w)`` grid: ``(N, 2, T, h, w)``, feature pixels."""
        if flow.dim() != 5 or flow.shape[1] != 2 or flow.shape[0] != like.shape[0]:
            raise ValueError(f'expected a flow (N={like.shape[0]}, 2, T, H, W), got '
                             f'{tuple(flow.shape)}')
        N, _, T_f, H_f, W_f = flow.shape
        T, h, w = like.shape[2:]
        f = resize_flow(flow.transpose(1, 2).reshape(N * T_f, 2, H_f, W_f), (h, w), 'area')
        f = f.reshape(N, T_f, 2, h, w).transpose(1, 2)
        if T_f != T:
            f = F.interpolate(f, size=(T, h, w), mode='nearest')
        return f

    def forward(self, flow: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return self.conv(self.resample(flow, like))


def _flow_index(inputs, motion_index: int | None) -> int:
    return (len(inputs) - 1 if motion_index is None else motion_index) % len(inputs)


def split_rgb_motion(inputs, rgb_index: int, motion_index: int | None,
                     motion_source: str, attention: str,
                     flow_encoder: FlowMotionEncoder | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pick the RGB and motion features from a backbone output.

    ``motion_source='flow'``: the flow at ``motion_index`` (default: last) is
    encoded by ``flow_encoder``.

    Returns:
        tuple: RGB ``(N, C, T, H, W)`` and motion features (None unless
        ``attention == 'motion'``).
    """
    is_seq = isinstance(inputs, (tuple, list))
    rgb = inputs[rgb_index] if is_seq else inputs
    if attention != 'motion':
        return rgb, None
    if motion_source == 'feature_difference':
        return rgb, feature_difference(rgb)
    if motion_source == 'flow':
        if not is_seq or len(inputs) < 2:
            raise ValueError("motion_source='flow' needs the clip's flow next to the "
                             'features: wrap the backbone in ClipFlowBackbone; got '
                             f'{type(inputs).__name__}')
        return rgb, flow_encoder(inputs[_flow_index(inputs, motion_index)], rgb)
    if not is_seq or motion_index is None:
        raise ValueError("motion_source='input' needs a tuple backbone output and "
                         f'motion_index; got {type(inputs).__name__}')
    motion = inputs[motion_index]
    if motion.shape[0] != rgb.shape[0] or motion.shape[2:] != rgb.shape[2:]:
        raise ValueError(f'motion feature {tuple(motion.shape)} must match the RGB '
                         f'feature {tuple(rgb.shape)} in N, T, H, W')
    return rgb, motion


@register_model()
class ConvALSTMNeck(BaseModule):
    """ConvLSTM / ConvALSTM / VideoLSTM neck (see the module docstring).

    Args:
        in_channels: channels of the RGB backbone feature.
        hidden_channels: LSTM channels (paper: 512).
        attention: ``'none'``, ``'appearance'`` or ``'motion'``.
        motion_source: ``'feature_difference'``, ``'input'`` or ``'flow'``.
        motion_channels: channels of an ``'input'`` motion feature or of the
            ``'flow'`` encoder's ``M_t`` (default ``in_channels``, which is what
            ``'feature_difference'`` gives).
        rgb_index, motion_index: tuple elements of the backbone output
            (``'flow'``: ``motion_index=None`` = the last element).
        flow_kernel_size: kernel of :class:`FlowMotionEncoder` (``'flow'``).
        output_step: ``'last'`` or ``'all'``.
        output_features: subset of ``('backbone', 'hidden')`` (in that order).
        output_mode: ``'project'`` (default: RGB feature + zero-initialised
            projection, the backbone's shape; a tuple input is returned with
            ``rgb_index`` replaced) or ``'concat'`` (``out_channels`` channels).
        **core_kwargs: passed to :class:`VideoLSTMCore` (kernel sizes,
            ``motion_hidden_channels``, ``attention_channels``, ``init_state``,
            ``rescale_attention``).
    """

    def __init__(self, in_channels: int, hidden_channels: int = 512,
                 attention: str = 'motion', motion_source: str = 'feature_difference',
                 motion_channels: int | None = None, rgb_index: int = 0,
                 motion_index: int | None = None, output_step: str = 'last',
                 output_features: Sequence[str] = ('backbone', 'hidden'),
                 output_mode: str = 'project', flow_kernel_size: int = 3, init_cfg=None,
                 **core_kwargs):
        super().__init__(init_cfg=init_cfg)
        self.output_mode = check_output_mode(output_mode)
        if output_step not in ('last', 'all'):
            raise ValueError(f"output_step must be 'last' or 'all', got {output_step!r}")
        if not output_features or any(f not in FEATURES for f in output_features):
            raise ValueError(f'output_features must be a non-empty subset of {FEATURES}, '
                             f'got {tuple(output_features)}')
        self.core = VideoLSTMCore.for_motion_source(
            in_channels, hidden_channels, attention, motion_source, motion_channels,
            **core_kwargs)
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.attention, self.motion_source = attention, motion_source
        self.rgb_index, self.motion_index = rgb_index, motion_index
        self.output_step = output_step
        self.output_features = tuple(f for f in FEATURES if f in output_features)
        if motion_source == 'flow' and attention == 'motion':
            self.flow_encoder = FlowMotionEncoder(self.core.motion_channels,
                                                  flow_kernel_size)
        #: attention maps ``(N, 1, T, H, W)`` of the last forward (None: no attention)
        self.last_attention: torch.Tensor | None = None
        if self.output_mode == 'project':
            self.out_proj = ResidualProjection(self.concat_channels, in_channels)

    @property
    def concat_channels(self) -> int:
        """Channels of the concatenated ``output_features``."""
        return sum(dict(backbone=self.in_channels, hidden=self.hidden_channels)[f]
                   for f in self.output_features)

    @property
    def out_channels(self) -> int:
        """Channels of the output tensor: ``in_channels`` (``'project'``) or the
        concatenation (``'concat'``: set ``BBoxHeadAVA.in_channels`` to this)."""
        return self.in_channels if self.output_mode == 'project' else self.concat_channels

    def forward(self, inputs) -> torch.Tensor:
        """
        Args:
            inputs: backbone output, ``(N, C, T, H, W)`` or a tuple of them.

        Returns:
            torch.Tensor: ``(N, out_channels, T_out, H, W)``, ``T_out`` = 1
            (``'last'``) or ``T`` (``'all'``).
        """
        rgb, motion = split_rgb_motion(inputs, self.rgb_index, self.motion_index,
                                       self.motion_source, self.attention,
                                       getattr(self, 'flow_encoder', None))
        if rgb.dim() != 5 or rgb.shape[1] != self.in_channels:
            hint = (f': set model=dict(neck=dict(in_channels={rgb.shape[1]}))'
                    if rgb.dim() == 5 else '')
            raise ValueError(f'ConvALSTMNeck expects (N, {self.in_channels}, T, H, W), '
                             f'got {tuple(rgb.shape)}{hint}')
        hidden, attention = self.core(rgb, motion)
        self.last_attention = None if attention is None else attention.detach()
        outs = []
        for name in self.output_features:
            if name == 'backbone':
                outs.append(rgb.mean(2, keepdim=True) if self.output_step == 'last'
                            else rgb)
            else:
                outs.append(hidden[:, :, -1:] if self.output_step == 'last' else hidden)
        cat = torch.cat(outs, 1)
        if self.output_mode == 'concat':
            return cat
        out = self.out_proj(rgb, cat)
        if not isinstance(inputs, (tuple, list)):
            return out
        drop = (_flow_index(inputs, self.motion_index),) if self.motion_source == 'flow' else ()
        return replace_in_tuple(inputs, self.rgb_index, out, drop=drop)


__all__ = ['ConvALSTMNeck', 'FlowMotionEncoder', 'split_rgb_motion']
