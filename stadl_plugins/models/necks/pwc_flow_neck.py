"""PWC flow neck: motion between adjacent temporal slices of a 3D backbone's
features, estimated PWC-Net style (warping + cost volume, coarse to fine), fused
with the appearance features by the fusion blocks of Zhang et al. (Pattern
Recognition 2020): M-Concat, M-Sum, M-Average or STFP.

It sits in the ``neck=`` slot of a stock MMDetection ``FastRCNN`` (MMAction2's AVA
detectors) between a stock backbone and the stock ``AVARoIHead``: its output has
exactly the backbone's shapes, so ``SingleRoIExtractor3D`` and ``BBoxHeadAVA`` are
unchanged.

What it does, per pathway (a ``ResNet3dSlowOnly`` gives one 5D map, a
``ResNet3dSlowFast`` the tuple ``(slow, fast)``; each is handled on its own):

1. **Pyramid.** The backbone plays PWC-Net's feature pyramid. With one map per
   pathway (``feature_mode='pathways'``, the stock configs) the coarser levels are
   built by 2x2 spatial average pooling of that map (``num_levels`` levels in
   all). With ``feature_mode='levels'`` the backbone returns several stages
   (``out_indices``), which are the levels (plus pooled ones up to
   ``num_levels``); the output level ``out_level`` must be the finest given.
2. **Motion, coarse to fine.** Every level is reduced by a 1x1x1 conv to
   ``corr_channels``. For each pair of adjacent time slices ``(t, t+1)``: at the
   coarsest level the cost volume of the two slices (``max_displacement`` d,
   ``(2d+1)^2`` channels, LeakyReLU 0.1) feeds a DenseNet-style estimator that
   predicts a flow and a motion feature (a 1x1 projection of the estimator's
   features and the flow); at each finer level the flow from above
   is resized (u, v scaled with the size), slice ``t+1`` is warped back by it, and
   the cost volume, slice ``t``, the up-sampled flow and the up-sampled motion
   feature feed that level's estimator.
3. **Time.** Pairs give ``T-1`` motion maps; slice ``t`` gets the mean of the
   motion of its two pairs (one at the ends), so the motion has the appearance's
   ``T``.
4. **Fusion** (:mod:`stadl_plugins.models.flow.fusion`): ``'concat'``, ``'sum'``,
   ``'average'`` (element-wise + 1x1 conv, at the output level), or ``'stfp'``
   (``a_i + m_i + U(fused_{i+1})`` top-down over all levels, output = the finest).

Paper gaps filled (the paper has no neck form; it fuses the features of a
separate flow stream):

* motion comes from the detector's own features, not from a PWC-Net on pixels (the
  integrated model of the paper is :class:`~stadl_plugins.models.backbones.
  flow_two_stream.FlowTwoStreamBackbone`); no flow supervision reaches the neck,
  so its "flow" is whatever motion cue helps detection; the flow is in pixels of
  each level and is not divided by 20;
* each estimator predicts the full flow of its level from ``[cost, f1, up_flow,
  up_motion]`` (as PWC-Net), but it is lighter (``estimator_channels``, default
  (64, 32)) and passes up its ``motion_channels`` motion feature instead of
  PWC-Net's 2-channel transposed-conv feature;
* with element-wise fusion only the output level is fused (the stock RoI head
  reads one map; the paper gives each scale its own SSD head), the coarser levels
  act through the coarse-to-fine motion; STFP uses every level;
* ``identity_init=True`` (default) starts the fusion as the identity on the
  appearance features, so the neck can be added to a trained detector; coarser
  appearance levels for STFP are pooled from the output map.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ...registry import register_model
from ..flow.correlation import Correlation
from ..flow.fusion import FUSION_MODES, PyramidFusion
from ..flow.warp import flow_warp

__all__ = ['PWCFlowNeck', 'CoarseToFineMotion', 'pairs_to_slices', 'resize_flow']


def resize_flow(flow: torch.Tensor, size: Sequence[int], mode: str = 'bilinear'
                ) -> torch.Tensor:
    """Resize a ``(B, 2, h, w)`` flow in pixels to ``size`` (u, v rescaled).

    ``mode='bilinear'`` (default) or ``'area'`` (average over each output cell: the
    pooling to use when shrinking by a large factor, e.g. image -> feature map).
    """
    if mode not in ('bilinear', 'area'):
        raise ValueError(f"mode must be 'bilinear' or 'area', got {mode!r}")
    h, w = flow.shape[-2:]
    H, W = int(size[0]), int(size[1])
    if (h, w) == (H, W):
        return flow
    if mode == 'area':
        out = F.adaptive_avg_pool2d(flow, (H, W))
    else:
        out = F.interpolate(flow, (H, W), mode='bilinear', align_corners=False)
    return out * out.new_tensor([W / w, H / h]).view(1, 2, 1, 1)


def pairs_to_slices(motion: torch.Tensor) -> torch.Tensor:
    """``(N, C, T-1, H, W)`` per-pair maps -> ``(N, C, T, H, W)``: slice ``t`` is
    the mean of pairs ``(t-1, t)`` and ``(t, t+1)`` (one pair at either end)."""
    padded = torch.cat([motion[:, :, :1], motion, motion[:, :, -1:]], 2)
    return 0.5 * (padded[:, :, :-1] + padded[:, :, 1:])


class _LevelEstimator(nn.Module):
    def __init__(self, in_channels: int, dense_channels: Sequence[int], motion_channels: int):
        super().__init__()
        self.dense = nn.ModuleList()
        ch = in_channels
        for out in dense_channels:
            self.dense.append(nn.Sequential(nn.Conv2d(ch, out, 3, 1, 1), nn.LeakyReLU(0.1)))
            ch += out
        self.predict_flow = nn.Conv2d(ch, 2, 3, 1, 1)
        self.project = nn.Conv2d(ch + 2, motion_channels, 1)

    def forward(self, x):
        for layer in self.dense:
            x = torch.cat([layer(x), x], 1)
        flow = self.predict_flow(x)
        # the motion feature sees the flow itself, so the flow head of the finest
        # level is trained by the detection loss too
        return flow, F.leaky_relu(self.project(torch.cat([x, flow], 1)), 0.1)


class CoarseToFineMotion(nn.Module):
    """PWC-style motion between adjacent slices over levels (fine -> coarse input).

    Args:
        level_channels: channels of each level, fine -> coarse.
        corr_channels: 1x1x1 reduction before the cost volume (None: none).
        motion_channels: channels of the motion feature of every level.
        estimator_channels: dense estimator widths.
        max_displacement: cost volume range.
        corr_normalize: ``'mean'`` or ``'sum'``.
        align_corners: warp convention.

    Returns (forward): motion features per level ``(N, motion_channels, T, H_i, W_i)``
    and flows per level ``(N, T-1, 2, H_i, W_i)`` (pixels of the level), fine -> coarse.
    """

    def __init__(self, level_channels: Sequence[int], corr_channels: int | None = 64,
                 motion_channels: int = 64, estimator_channels: Sequence[int] = (64, 32),
                 max_displacement: int = 4, corr_normalize: str = 'mean',
                 align_corners: bool = True):
        super().__init__()
        self.num_levels = len(level_channels)
        self.align_corners = align_corners
        self.reduce = nn.ModuleList(
            nn.Conv3d(c, corr_channels, 1) if corr_channels else nn.Identity()
            for c in level_channels)
        red = [corr_channels or c for c in level_channels]
        self.correlation = Correlation(max_displacement, corr_normalize)
        cost = self.correlation.out_channels
        self.estimators = nn.ModuleList()
        for i, r in enumerate(red):
            coarsest = i == self.num_levels - 1
            in_ch = cost if coarsest else cost + r + 2 + motion_channels
            self.estimators.append(_LevelEstimator(in_ch, estimator_channels, motion_channels))

    def forward(self, levels: Sequence[torch.Tensor]):
        N, _, T = levels[0].shape[:3]
        if T < 2:
            raise ValueError(f'motion needs at least 2 time slices, got T={T} '
                             f'(feature {tuple(levels[0].shape)})')
        motions, flows = [None] * self.num_levels, [None] * self.num_levels
        flow = feat = None
        for i in reversed(range(self.num_levels)):
            x = self.reduce[i](levels[i])                     # (N, Cr, T, H, W)
            if x.shape[2] != T:
                raise ValueError(f'level {i} has T={x.shape[2]}, level 0 has T={T}')
            C, H, W = x.shape[1], x.shape[3], x.shape[4]
            f1 = x[:, :, :-1].transpose(1, 2).reshape(N * (T - 1), C, H, W)
            f2 = x[:, :, 1:].transpose(1, 2).reshape(N * (T - 1), C, H, W)
            if flow is None:
                inp = F.leaky_relu(self.correlation(f1, f2), 0.1)
            else:
                up_flow = resize_flow(flow, (H, W))
                up_feat = F.interpolate(feat, (H, W), mode='bilinear', align_corners=False)
                warped = flow_warp(f2, up_flow, align_corners=self.align_corners)
                cost = F.leaky_relu(self.correlation(f1, warped), 0.1)
                inp = torch.cat([cost, f1, up_flow, up_feat], 1)
            flow, feat = self.estimators[i](inp)             # (N*(T-1), 2 | Cm, H, W)
            m = feat.reshape(N, T - 1, -1, H, W).transpose(1, 2)
            motions[i] = pairs_to_slices(m)
            flows[i] = flow.reshape(N, T - 1, 2, H, W)
        return motions, flows


@register_model()
class PWCFlowNeck(BaseModule):
    """Motion (PWC-style, coarse to fine) + fusion neck for stock 3D backbones.

    Args:
        in_channels: channels of the backbone output: an int (one map; given a
            tuple, e.g. SlowFast's, the first pathway gets motion and the others
            pass through), or one per tuple entry (SlowFast: ``[slow, fast]``,
            both get motion; ``'levels'``: per stage).
        feature_mode: ``'pathways'`` (tensor or tuple of pathways, each fused on
            its own, output has the input's structure) or ``'levels'`` (tuple of
            stages of one pathway; output is the fused ``out_level`` map).
        fusion: ``'concat'`` | ``'sum'`` | ``'average'`` | ``'stfp'``.
        num_levels: pyramid levels per pathway, including pooled ones.
        pathways: indices of the pathways that get motion (None: all); the others
            pass through unchanged (``'pathways'`` mode).
        out_level: index of the output stage in ``'levels'`` mode.
        corr_channels, motion_channels, estimator_channels, max_displacement,
        corr_normalize, align_corners: see :class:`CoarseToFineMotion`.
        identity_init: fusion starts as the identity on the appearance features.
        init_cfg: mmengine init config.

    Input/Output (``'pathways'``): ``(N, C, T, H, W)`` -> same shape; a tuple of
    such maps -> a tuple of the same shapes. ``'levels'``: tuple of
    ``(N, C_i, T, H_i, W_i)`` -> ``(N, C_out, T, H_out, W_out)``.
    After a forward, ``last_flows`` holds the per-pathway flow pyramids.
    """

    def __init__(self, in_channels: int | Sequence[int], feature_mode: str = 'pathways',
                 fusion: str = 'concat', num_levels: int = 3,
                 pathways: Sequence[int] | None = None, out_level: int = -1,
                 corr_channels: int | None = 64, motion_channels: int = 64,
                 estimator_channels: Sequence[int] = (64, 32), max_displacement: int = 4,
                 corr_normalize: str = 'mean', align_corners: bool = True,
                 identity_init: bool = True, init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        if feature_mode not in ('pathways', 'levels'):
            raise ValueError(f"feature_mode must be 'pathways' or 'levels', got {feature_mode!r}")
        if fusion not in FUSION_MODES:
            raise ValueError(f'fusion must be one of {FUSION_MODES}, got {fusion!r}')
        if num_levels < 1:
            raise ValueError(f'num_levels must be >= 1, got {num_levels}')
        chans = [in_channels] if isinstance(in_channels, int) else list(in_channels)
        # an int in_channels given a tuple (SlowFast): motion on the first pathway,
        # the others passed through, so one line fits SlowOnly and SlowFast
        self._first_pathway_only = isinstance(in_channels, int)
        self.in_channels, self.feature_mode, self.fusion = chans, feature_mode, fusion
        self.num_levels = num_levels
        motion_kw = dict(corr_channels=corr_channels, motion_channels=motion_channels,
                         estimator_channels=estimator_channels,
                         max_displacement=max_displacement, corr_normalize=corr_normalize,
                         align_corners=align_corners)
        self.motion = nn.ModuleDict()
        self.fuse = nn.ModuleDict()
        if feature_mode == 'pathways':
            self.pathways = list(range(len(chans))) if pathways is None else list(pathways)
            for p in self.pathways:
                if not 0 <= p < len(chans):
                    raise ValueError(f'pathway index {p} out of range for {len(chans)} inputs')
                level_ch = [chans[p]] * num_levels
                self.motion[str(p)] = CoarseToFineMotion(level_ch, **motion_kw)
                fuse_levels = level_ch if fusion == 'stfp' else level_ch[:1]
                self.fuse[str(p)] = PyramidFusion(fuse_levels, [motion_channels] * len(fuse_levels),
                                                  fusion, identity_init)
        else:
            self.out_level = out_level % len(chans)
            n = max(num_levels, len(chans) - self.out_level)
            # levels used: the output stage and the coarser stages after it, + pooled
            level_ch = chans[self.out_level:] + [chans[-1]] * (n - (len(chans) - self.out_level))
            self.level_channels = level_ch
            self.motion['0'] = CoarseToFineMotion(level_ch, **motion_kw)
            fuse_levels = level_ch if fusion == 'stfp' else level_ch[:1]
            self.fuse['0'] = PyramidFusion(fuse_levels, [motion_channels] * len(fuse_levels),
                                           fusion, identity_init)
        self.last_flows: list | None = None

    @staticmethod
    def _pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool3d(x, (1, 2, 2), (1, 2, 2), ceil_mode=True)

    def _pyramid(self, levels: list[torch.Tensor], total: int) -> list[torch.Tensor]:
        while len(levels) < total:
            levels.append(self._pool(levels[-1]))
        return levels

    def _fuse_pathway(self, key: str, levels: list[torch.Tensor]):
        motions, flows = self.motion[key](levels)
        fuse = self.fuse[key]
        n = len(fuse.blocks)
        return fuse(levels[:n], motions[:n])[0], flows

    def forward(self, x):
        """See the class docstring for shapes."""
        if self.feature_mode == 'levels':
            if not isinstance(x, (tuple, list)) or len(x) != len(self.in_channels):
                raise ValueError(f"feature_mode='levels' expects a tuple of {len(self.in_channels)}"
                                 f' stage outputs, got {type(x).__name__}')
            self._check_channels(x)
            given = list(x[self.out_level:])
            h, w = given[0].shape[-2:]
            if any(g.shape[-2] * g.shape[-1] > h * w for g in given[1:]):
                raise ValueError('the output level must be the finest of the levels after it; '
                                 f'got sizes {[tuple(g.shape[-2:]) for g in given]}')
            levels = self._pyramid(given, len(self.level_channels))
            out, flows = self._fuse_pathway('0', levels)
            self.last_flows = [flows]
            return out
        single = torch.is_tensor(x)
        feats = [x] if single else list(x)
        if self._first_pathway_only and len(feats) > 1:
            self._check_channels(feats[:1])
            levels = self._pyramid([feats[0]], self.num_levels)
            out, flows = self._fuse_pathway('0', levels)
            self.last_flows = [flows]
            return (out, *feats[1:])
        if len(feats) != len(self.in_channels):
            raise ValueError(f'PWCFlowNeck was built for {len(self.in_channels)} pathway(s) '
                             f'(in_channels={self.in_channels}), got {len(feats)}')
        self._check_channels(feats)
        outs, self.last_flows = list(feats), []
        for p in self.pathways:
            levels = self._pyramid([feats[p]], self.num_levels)
            outs[p], flows = self._fuse_pathway(str(p), levels)
            self.last_flows.append(flows)
        return outs[0] if single else tuple(outs)

    def _check_channels(self, feats):
        for i, (f, c) in enumerate(zip(feats, self.in_channels)):
            if f.dim() != 5 or f.shape[1] != c:
                hint = ''
                if f.dim() == 5:
                    given = [g.shape[1] for g in feats] if len(feats) > 1 else f.shape[1]
                    hint = f': set model=dict(neck=dict(in_channels={given}))'
                raise ValueError(f'input {i}: expected (N, {c}, T, H, W), got '
                                 f'{tuple(f.shape)}{hint}')
