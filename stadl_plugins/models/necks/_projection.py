"""The output of the recurrent necks in a stock STAD config.

MMAction2's stock ``bbox_head`` expects the backbone's channels (SlowOnly-R50:
2048; SlowFast-R50: 2048 + 256 after the RoI extractor concatenates the
pathways). :class:`ResidualProjection` gives a neck that output: the backbone
feature plus a 1x1x1 projection of the neck's own features, the projection
initialised to zero, so at initialisation the neck is exactly the identity
(whatever RoI temporal pooling follows) and a trained stock detector is
unchanged until the neck learns.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

OUTPUT_MODES = ('project', 'concat')


def check_output_mode(mode: str) -> str:
    if mode not in OUTPUT_MODES:
        raise ValueError(f'output_mode must be one of {OUTPUT_MODES}, got {mode!r} '
                         "('project': the backbone's channels, as the stock bbox_head "
                         "expects; 'concat': the concatenated features, set "
                         'bbox_head.in_channels = neck.out_channels)')
    return mode


class ResidualProjection(nn.Module):
    """``base + up_T(conv1x1x1(extra))`` with the conv initialised to zero.

    Args:
        extra_channels: channels of the neck features.
        out_channels: channels of ``base`` (the output).

    Shapes: ``base (N, C, T, H, W)``, ``extra (N, E, M, H, W)`` with ``M`` = 1
    (broadcast over ``T``) or any number of steps (nearest resampling to ``T``)
    -> ``(N, C, T, H, W)``.
    """

    def __init__(self, extra_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv3d(extra_channels, out_channels, 1)
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, base: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        delta = self.conv(extra)
        t = base.shape[2]
        if delta.shape[2] not in (1, t):
            delta = F.interpolate(delta, size=(t,) + tuple(delta.shape[3:]), mode='nearest')
        if delta.shape[3:] != base.shape[3:]:
            raise ValueError(f'neck features {tuple(extra.shape)} and backbone feature '
                             f'{tuple(base.shape)} differ in H, W')
        return base + delta


def replace_in_tuple(inputs: Sequence[torch.Tensor], index: int, value: torch.Tensor,
                     drop: Sequence[int] = ()) -> torch.Tensor | tuple:
    """``inputs`` with element ``index`` replaced and ``drop`` removed (a tensor if
    one element is left)."""
    outs = [value if i == index else x for i, x in enumerate(inputs)
            if i == index or i not in drop]
    return outs[0] if len(outs) == 1 else tuple(outs)


__all__ = ['ResidualProjection', 'OUTPUT_MODES', 'check_output_mode', 'replace_in_tuple']
