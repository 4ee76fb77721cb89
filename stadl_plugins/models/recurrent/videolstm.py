"""VideoLSTM core: a ConvLSTM / ConvALSTM over a clip, with appearance- or
motion-based attention (Li, Gavves, Jain, Snoek, "VideoLSTM Convolves, Attends
and Flows for Action Recognition", arXiv 2016 / CVIU 2018, Sec. 3).

One module, three variants of the paper's Table 1-2 ablation (``attention``):

* ``'none'``: a plain :class:`ConvLSTMCell` on the features ``X_t`` (ConvLSTM);
* ``'appearance'``: a :class:`ConvALSTMCell` whose attention is conditioned on
  its own ``H_{t-1}`` (Convolutional ALSTM, eqs. 1-9);
* ``'motion'``: VideoLSTM's motion-based attention (eqs. 10-15): a bottom
  ConvLSTM runs on motion features ``M_t`` and also receives the *top* layer's
  ``H_{t-1}``; the attention of the top ConvALSTM is conditioned on the bottom
  layer's **current** ``H^m_t`` and applied to the RGB features ``X_t``; the
  bottom layer only drives the attention (its states are not returned).

The bottom layer's three inputs ``W^m_x * M_t + W^m_h * H^m_{t-1} + W^m_e *
H_{t-1}`` are computed as one convolution of ``[M_t; H_{t-1}]`` plus the state
convolution (the same sum; one kernel size for ``W^m_x`` and ``W^m_e``).

Paper gaps / choices (the released Theano code fills some of them):

* Kernels: paper 3x3 for input-to-state and state-to-state, 1x1 attention
  convs; the released code uses 1x1 for all convs of the motion layer
  (``motion_kernel_size=1`` default, as the code).
* Initial states: the code initialises ``h, c = tanh(conv(mean_t X))`` (3x3
  for the main layer, 1x1 for the motion layer): ``init_state='mean_input'``;
  ``'zeros'`` gives zero states.
* ``X~ = A o X`` (eq. 9) scales the input by ``~1/(H*W)`` (1/300 on a 15x20
  map, 1/49 on the paper's 7x7 pool5); ``rescale_attention=True`` multiplies
  ``A`` by ``H*W`` (mean weight 1, see :class:`ConvALSTMCell`). The class default
  stays the paper's ``False``; every shipped config turns it on (a gap we
  filled: the paper trains on 7x7 maps from ImageNet-initialised features).
* Motion source (``for_motion_source``): the paper's ``M_t`` is a feature map of
  the optical flow (a VGG-16 flow network on TV-L1 flow). ``'flow'`` follows
  it with a PWC-Net flow of the clip encoded by a small conv (the necks' and
  heads' ``FlowMotionEncoder``); ``'input'`` takes a second backbone stream;
  ``'feature_difference'`` (``M_t = X_t - X_{t-1}``, no flow) is our substitute
  when no flow is available.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .conv_lstm_cells import ConvALSTMCell, ConvLSTMCell

ATTENTION_TYPES = ('none', 'appearance', 'motion')


class VideoLSTMCore(nn.Module):
    """Run a (motion-attended) ConvALSTM over ``(N, C, T, H, W)`` features.

    Args:
        in_channels: channels of the RGB features ``X``.
        hidden_channels: channels of the main (top) LSTM (paper: 512).
        attention: ``'none'``, ``'appearance'`` or ``'motion'``.
        motion_channels: channels of the motion features ``M`` (``'motion'``).
        motion_hidden_channels: channels of the bottom LSTM (default
            ``hidden_channels``).
        kernel_size: main LSTM input/state kernel (paper: 3).
        motion_kernel_size: bottom LSTM kernels (released code: 1).
        attention_channels: width of the attention ``tanh`` layer.
        attention_kernel_size: attention convs (paper: 1).
        init_state: ``'mean_input'`` or ``'zeros'``.
        rescale_attention: see :class:`ConvALSTMCell`.
    """

    def __init__(self, in_channels: int, hidden_channels: int, attention: str = 'motion',
                 motion_channels: int | None = None,
                 motion_hidden_channels: int | None = None, kernel_size: int = 3,
                 motion_kernel_size: int = 1, attention_channels: int | None = None,
                 attention_kernel_size: int = 1, init_state: str = 'mean_input',
                 rescale_attention: bool = False):
        super().__init__()
        if attention not in ATTENTION_TYPES:
            raise ValueError(f'attention must be one of {ATTENTION_TYPES}, got '
                             f'{attention!r}')
        if init_state not in ('mean_input', 'zeros'):
            raise ValueError("init_state must be 'mean_input' or 'zeros', got "
                             f'{init_state!r}')
        if attention == 'motion' and not motion_channels:
            raise ValueError("attention='motion' needs motion_channels")
        self.attention_type, self.init_state = attention, init_state
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        motion_hidden = motion_hidden_channels or hidden_channels
        self.motion_channels = motion_channels if attention == 'motion' else None
        if attention == 'none':
            self.cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size)
        else:
            self.cell = ConvALSTMCell(
                in_channels, hidden_channels, kernel_size,
                attention_channels=attention_channels,
                attention_kernel_size=attention_kernel_size,
                query_channels=motion_hidden if attention == 'motion' else None,
                rescale_attention=rescale_attention)
        if attention == 'motion':
            self.motion_cell = ConvLSTMCell(motion_channels + hidden_channels,
                                            motion_hidden, motion_kernel_size)
        if init_state == 'mean_input':
            self.init_conv = nn.Conv2d(in_channels, 2 * hidden_channels, kernel_size,
                                       padding=kernel_size // 2)
            if attention == 'motion':
                self.motion_init_conv = nn.Conv2d(motion_channels, 2 * motion_hidden,
                                                  motion_kernel_size,
                                                  padding=motion_kernel_size // 2)

    #: where the motion stream comes from (necks and heads that wrap the core)
    MOTION_SOURCES = ('feature_difference', 'input', 'flow')

    @classmethod
    def for_motion_source(cls, in_channels: int, hidden_channels: int, attention: str,
                          motion_source: str, motion_channels: int | None = None,
                          **kwargs) -> 'VideoLSTMCore':
        """The core as the ConvALSTM neck and the VideoLSTM head build it.

        ``motion_source='feature_difference'``: the motion stream is the temporal
        difference of the RGB features (``motion_channels = in_channels``);
        ``'input'``: a second backbone output of ``motion_channels`` (default
        ``in_channels``) channels; ``'flow'``: the optical flow encoded to
        ``motion_channels`` (default ``in_channels``) by the wrapper's
        ``FlowMotionEncoder`` (:mod:`stadl_plugins.models.necks.conv_alstm_neck`).
        """
        if motion_source not in cls.MOTION_SOURCES:
            raise ValueError(f'motion_source must be one of {cls.MOTION_SOURCES}, '
                             f'got {motion_source!r}')
        if motion_source == 'feature_difference':
            motion_channels = in_channels
        return cls(in_channels, hidden_channels, attention,
                   motion_channels=motion_channels or in_channels, **kwargs)

    def _initial(self, conv, mean_feat, cell, like):
        if self.init_state == 'zeros':
            return cell.zero_state(like)
        h, c = torch.tanh(conv(mean_feat)).chunk(2, dim=1)
        return h, c

    def forward(self, x: torch.Tensor, motion: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """
        Args:
            x: RGB features ``(N, in_channels, T, H, W)``.
            motion: motion features ``(N, motion_channels, T, H, W)`` (only for
                ``attention='motion'``).

        Returns:
            tuple: hidden states ``(N, hidden, T, H, W)`` and attention maps
            ``(N, 1, T, H, W)`` (None for ``attention='none'``); each map sums to
            1 over ``H, W``.
        """
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'expected RGB features (N, {self.in_channels}, T, H, W), '
                             f'got {tuple(x.shape)}')
        if self.attention_type == 'motion':
            expect = (x.shape[0], self.motion_channels) + tuple(x.shape[2:])
            if motion is None or tuple(motion.shape) != expect:
                raise ValueError(f'motion features must be {expect}, got '
                                 f'{None if motion is None else tuple(motion.shape)}')
        state = self._initial(getattr(self, 'init_conv', None), x.mean(2), self.cell,
                              x[:, :, 0])
        if self.attention_type == 'motion':
            m_state = self._initial(getattr(self, 'motion_init_conv', None),
                                    motion.mean(2), self.motion_cell, motion[:, :, 0])
        hs, atts = [], []
        for t in range(x.shape[2]):
            x_t = x[:, :, t]
            if self.attention_type == 'none':
                h, state = self.cell(x_t, state)
            elif self.attention_type == 'appearance':
                h, state, a = self.cell(x_t, state)
                atts.append(a)
            else:
                # bottom layer: M_t and the top layer's H_{t-1} -> H^m_t
                h_m, m_state = self.motion_cell(
                    torch.cat([motion[:, :, t], state[0]], dim=1), m_state)
                # top layer: attention from H^m_t, applied to X_t
                h, state, a = self.cell(x_t, state, attention_query=h_m)
                atts.append(a)
            hs.append(h)
        attention = torch.stack(atts, 2) if atts else None
        return torch.stack(hs, 2), attention


def feature_difference(x: torch.Tensor) -> torch.Tensor:
    """Temporal difference of features, ``M_t = X_t - X_{t-1}`` (``M_0 = 0``).

    Args:
        x: ``(N, C, T, H, W)``.

    Returns:
        torch.Tensor: same shape.
    """
    return torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, 1:] - x[:, :, :-1]], 2)


__all__ = ['VideoLSTMCore', 'feature_difference', 'ATTENTION_TYPES']
