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
  have the same ``T, H, W``.

The attention maps of the last forward are kept in :attr:`last_attention`
``(N, 1, T, H, W)`` (detached) for visualisation and
:mod:`stadl_plugins.localization.attention`.

Paper gaps (our choices): VideoLSTM is a recognition model; as a detector neck
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
from mmengine.model import BaseModule

from ...registry import register_model
from ..recurrent.videolstm import VideoLSTMCore, feature_difference
from ._projection import ResidualProjection, check_output_mode, replace_in_tuple

FEATURES = ('backbone', 'hidden')


def split_rgb_motion(inputs, rgb_index: int, motion_index: int | None,
                     motion_source: str, attention: str
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pick the RGB and motion features from a backbone output.

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
        motion_source: ``'feature_difference'`` or ``'input'``.
        motion_channels: channels of an ``'input'`` motion feature (default
            ``in_channels``, which is what ``'feature_difference'`` gives).
        rgb_index, motion_index: tuple elements of the backbone output.
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
                 output_mode: str = 'project', init_cfg=None, **core_kwargs):
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
                                       self.motion_source, self.attention)
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
        return replace_in_tuple(inputs, self.rgb_index, out)


__all__ = ['ConvALSTMNeck', 'split_rgb_motion']
