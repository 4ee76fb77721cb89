"""Motion/appearance fusion blocks of Zhang et al. (PR 2020, Sec. 3.3.3, Fig. 4).

Element-wise fusion: a combination function C (concatenate, sum or average) of the
appearance feature ``a_i`` and the motion feature ``m_i`` of one scale, then a 1x1
("point-wise") convolution S that mixes the channels (and, for concat, reduces
them back): ``fused_i = S(C(a_i, m_i))`` -- M-Concat, M-Sum, M-Average.

Spatio-temporal feature pyramid (STFP): FPN-like, top-down over the scales,
``fused_i = a_i + m_i + U(fused_{i+1})`` with ``U`` = up-sampling to the finer size
plus a 1x1 convolution matching the channels (paper Eq. 7).

All blocks work on ``(N, C, T, H, W)`` tensors (1x1x1 Conv3d), so they serve the
3D backbones of MMAction2 (for a 2D feature use ``T = 1``).

Paper gaps filled here:

* when the motion feature has other channels than the appearance feature (the
  flow neck), sum/average/STFP first project it with a 1x1 conv to the appearance
  channels (the paper's two streams share a backbone, so channels always match);
* ``identity_init=True`` initialises the blocks so that the fused output equals the
  appearance input (concat: mixing weights ``[I, 0]``; sum/average: zero motion
  projection and mixing ``I`` / ``2I``; STFP: zero projection and zero ``U``): a neck
  added to a trained detector then starts from the detector's own features. The
  paper trains from scratch (``identity_init=False``: default conv init);
* STFP has no mixing conv after the addition (Eq. 7 has none).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['MotionAppearanceFusion', 'PyramidFusion', 'FUSION_MODES']

FUSION_MODES = ('concat', 'sum', 'average', 'stfp')


class MotionAppearanceFusion(nn.Module):
    """Fusion of one scale.

    Args:
        app_channels: appearance channels (= output channels).
        motion_channels: motion channels.
        mode: ``'concat'``, ``'sum'``, ``'average'`` or ``'stfp'``.
        identity_init: start as the identity on the appearance input.

    Shapes: ``forward(app (N, Ca, T, H, W), motion (N, Cm, T, H, W), top=None)``
    -> ``(N, Ca, T, H, W)``; ``top`` (already up-sampled, ``Ca`` channels) is added
    in ``'stfp'`` mode.
    """

    def __init__(self, app_channels: int, motion_channels: int, mode: str = 'concat',
                 identity_init: bool = False):
        super().__init__()
        if mode not in FUSION_MODES:
            raise ValueError(f'fusion mode must be one of {FUSION_MODES}, got {mode!r}')
        self.mode = mode
        needs_proj = mode != 'concat' and (motion_channels != app_channels or identity_init)
        self.proj = nn.Conv3d(motion_channels, app_channels, 1) if needs_proj else nn.Identity()
        if mode == 'concat':
            self.mix = nn.Conv3d(app_channels + motion_channels, app_channels, 1)
        elif mode in ('sum', 'average'):
            self.mix = nn.Conv3d(app_channels, app_channels, 1)
        else:
            self.mix = None
        self.app_channels = app_channels
        self.identity_init = identity_init
        if identity_init:
            self.reset_to_identity()

    def reset_to_identity(self) -> None:
        ca = self.app_channels
        if isinstance(self.proj, nn.Conv3d):
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)
        if self.mix is not None:
            nn.init.zeros_(self.mix.weight)
            nn.init.zeros_(self.mix.bias)
            gain = 2.0 if self.mode == 'average' else 1.0
            with torch.no_grad():
                self.mix.weight[:, :ca, 0, 0, 0].copy_(gain * torch.eye(ca))

    def forward(self, app: torch.Tensor, motion: torch.Tensor,
                top: torch.Tensor | None = None) -> torch.Tensor:
        if app.shape[0] != motion.shape[0] or app.shape[2:] != motion.shape[2:]:
            raise ValueError('appearance and motion features must share N, T, H, W; got '
                             f'{tuple(app.shape)} and {tuple(motion.shape)}')
        if self.mode == 'concat':
            return self.mix(torch.cat([app, motion], 1))
        if self.mode == 'sum':
            return self.mix(app + self.proj(motion))
        if self.mode == 'average':
            return self.mix(0.5 * (app + self.proj(motion)))
        out = app + self.proj(motion)
        return out if top is None else out + top


class PyramidFusion(nn.Module):
    """Fusion over scales ordered fine -> coarse.

    Element-wise modes fuse each scale on its own; ``'stfp'`` runs the top-down
    pathway from the coarsest scale (``U`` = resize to the finer scale's
    ``(T, H, W)`` + 1x1 conv).

    Args:
        app_channels: per scale, fine -> coarse.
        motion_channels: per scale.
        mode: see :class:`MotionAppearanceFusion`.
        identity_init: see :class:`MotionAppearanceFusion` (also zero ``U``).

    Returns (forward): list of fused ``(N, Ca_i, T_i, H_i, W_i)``, fine -> coarse.
    """

    def __init__(self, app_channels: Sequence[int], motion_channels: Sequence[int],
                 mode: str = 'concat', identity_init: bool = False):
        super().__init__()
        if len(app_channels) != len(motion_channels):
            raise ValueError('one motion channel count per scale is needed, got '
                             f'{len(app_channels)} and {len(motion_channels)}')
        self.mode = mode
        self.blocks = nn.ModuleList(
            MotionAppearanceFusion(a, m, mode, identity_init)
            for a, m in zip(app_channels, motion_channels))
        self.top_down = nn.ModuleList()
        if mode == 'stfp':
            for fine, coarse in zip(app_channels[:-1], app_channels[1:]):
                conv = nn.Conv3d(coarse, fine, 1)
                if identity_init:
                    nn.init.zeros_(conv.weight)
                    nn.init.zeros_(conv.bias)
                self.top_down.append(conv)

    def forward(self, apps: Sequence[torch.Tensor],
                motions: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(apps) != len(self.blocks) or len(motions) != len(self.blocks):
            raise ValueError(f'expected {len(self.blocks)} scales, got {len(apps)} '
                             f'appearance and {len(motions)} motion features')
        if self.mode != 'stfp':
            return [blk(a, m) for blk, a, m in zip(self.blocks, apps, motions)]
        out = [None] * len(apps)
        prev = None
        for i in reversed(range(len(apps))):
            top = None
            if prev is not None:
                top = self.top_down[i](F.interpolate(prev, size=apps[i].shape[2:],
                                                     mode='trilinear', align_corners=False))
            prev = out[i] = self.blocks[i](apps[i], motions[i], top)
        return out
