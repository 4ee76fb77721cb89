"""PWC-Net (Sun et al., CVPR 2018), the PWC-DC variant, in pure PyTorch.

Pyramid, Warping, Cost volume: a shared 6-level feature pyramid is computed for both
images; from the coarsest level down to level 2 (quarter resolution) the second
image's features are warped by the upsampled flow of the level above, a cost
volume (local correlation, ``max_displacement=4`` -> 81 channels, LeakyReLU 0.1) is
computed, and a DenseNet-style estimator predicts the flow of the level. A
context network of dilated convolutions refines the level-2 flow.

Facts carried over from the paper and the public implementations (see
``docs/flow.md``):

* pyramid: per level 3 conv3x3 (+LeakyReLU 0.1), the first with stride 2;
  channels 16, 32, 64, 96, 128, 196 (levels 1..6);
* estimator at level ``l``: input ``[cost(81), f1_l, up_flow(2), up_feat(2)]``
  (level 6: cost only), 5 densely connected conv3x3 with 128, 128, 96, 64, 32
  outputs, each output *prepended* to its input, then a conv3x3 to 2 channels;
* up-sampling of flow and features to the next level: ConvTranspose2d(4, stride 2,
  pad 1), both to 2 channels;
* context network on the level-2 estimator features: conv3x3 with dilations
  1, 2, 4, 8, 16, 1 and 128, 128, 128, 96, 64, 32 channels, then conv3x3 -> 2,
  added to the level-2 flow;
* flows are predicted divided by 20 (``flow_div``) in full-resolution pixels; the
  warp at level ``l`` therefore multiplies the up-sampled flow by
  ``20 / 2**l`` (0.625, 1.25, 2.5, 5.0 for l = 5..2); the output is
  ``20 * flow_2`` up-sampled bilinearly to the input;
* input: two images of the same size, sides a multiple of 64 (``2**num_levels``):
  other sizes are resized (``size_mode='resize'``, as the reference script, u/v
  rescaled back) or zero-padded (``size_mode='pad'``); pretrained weights expect
  BGR in [0, 1];
* loss: multi-level EPE, weights 0.32, 0.08, 0.02, 0.01, 0.005 for levels 6..2,
  against the ground truth divided by 20 and average-pooled to each level
  (no further per-level scaling), summed over pixels (:func:`multi_level_epe`).

Options beyond the paper (for tiny test models and ablations): ``channel_mult``
scales every width, ``num_levels``/``output_level`` shorten the pyramid,
``convs_per_level=2`` is the older NVlabs PyTorch variant, ``corr_normalize``
switches the cost volume between NVlabs/Caffe (``'mean'``) and mmflow
(``'sum'``) weights.

Paper gap: the paper's "|.|_2" in the loss is read as the per-pixel L2 norm of
the flow error (EPE), and gamma*|Theta|_2 as weight decay (set in the optimizer).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ...registry import register_model
from .correlation import Correlation
from .warp import flow_warp

__all__ = ['PWCNet', 'multi_level_epe', 'end_point_error', 'DEFAULT_LEVEL_WEIGHTS']

DEFAULT_LEVEL_WEIGHTS = {6: 0.32, 5: 0.08, 4: 0.02, 3: 0.01, 2: 0.005}


def _conv_lrelu(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> list:
    return [nn.Conv2d(in_ch, out_ch, 3, stride, padding=dilation, dilation=dilation),
            nn.LeakyReLU(0.1)]


class LevelEstimator(nn.Module):
    """Dense flow estimator of one pyramid level.

    Args:
        in_channels: channels of ``[cost, f1, up_flow, up_feat]``.
        dense_channels: outputs of the densely connected convs.
        upsample: build the 2x up-samplers of flow and features for the next level.

    Shapes: ``forward(x (B, in, h, w)) -> flow (B, 2, h, w), feat (B, out_channels, h, w)``.
    """

    def __init__(self, in_channels: int, dense_channels: Sequence[int], upsample: bool):
        super().__init__()
        self.dense = nn.ModuleList()
        ch = in_channels
        for out in dense_channels:
            self.dense.append(nn.Sequential(*_conv_lrelu(ch, out)))
            ch += out
        self.out_channels = ch
        self.predict_flow = nn.Conv2d(ch, 2, 3, 1, 1)
        if upsample:
            self.upsample_flow = nn.ConvTranspose2d(2, 2, 4, 2, 1)
            self.upsample_feat = nn.ConvTranspose2d(ch, 2, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.dense:
            x = torch.cat([layer(x), x], 1)     # new features first (PWC-DC order)
        return self.predict_flow(x), x


def end_point_error(flow: torch.Tensor, gt: torch.Tensor,
                    valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean end-point error ``||flow - gt||_2`` over (valid) pixels.

    Args:
        flow, gt: ``(B, 2, H, W)``.
        valid: optional ``(B, 1, H, W)`` or ``(B, H, W)`` mask.

    Returns:
        torch.Tensor: scalar.
    """
    if flow.shape != gt.shape:
        raise ValueError(f'flow {tuple(flow.shape)} and gt {tuple(gt.shape)} differ')
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f'end_point_error expects (B, 2, H, W) flows, got {tuple(flow.shape)}'
                         ' (the norm is taken over dim 1)')
    epe = (flow - gt).pow(2).sum(1).add(1e-12).sqrt()            # (B, H, W)
    if valid is None:
        return epe.mean()
    valid = valid.reshape(epe.shape).to(epe.dtype)
    return (epe * valid).sum() / valid.sum().clamp(min=1)


def multi_level_epe(preds: dict[int, torch.Tensor], gt_flow: torch.Tensor,
                    flow_div: float = 20.0,
                    weights: dict[int, float] | None = None,
                    valid: torch.Tensor | None = None,
                    reduction: str = 'sum') -> torch.Tensor:
    """PWC-Net's multi-level training loss.

    Args:
        preds: ``{level: (B, 2, H / 2**level, W / 2**level)}`` flows divided by
            ``flow_div`` (what :meth:`PWCNet.forward` returns with
            ``return_levels=True``).
        gt_flow: ``(B, 2, H, W)`` ground truth in pixels of the network input.
        weights: per-level weights; default 0.32/0.08/0.02/0.01/0.005 (levels 6..2).
        valid: optional ``(B, 1, H, W)`` mask of pixels with ground truth.
        reduction: ``'sum'`` over pixels (the paper; mean over the batch) or
            ``'mean'`` over pixels.

    Returns:
        torch.Tensor: scalar, ``sum_l w_l * sum_x ||pred_l(x) - gt_l(x)||_2``.
    """
    if reduction not in ('sum', 'mean'):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    weights = DEFAULT_LEVEL_WEIGHTS if weights is None else weights
    target = gt_flow / flow_div
    total = gt_flow.new_zeros(())
    for level, pred in preds.items():
        w = weights.get(level, 0.0)
        if w == 0:
            continue
        size = pred.shape[-2:]
        gt_l = F.adaptive_avg_pool2d(target, size)
        err = (pred - gt_l).pow(2).sum(1).add(1e-12).sqrt()      # (B, h, w)
        if valid is not None:
            v = F.adaptive_avg_pool2d(valid.reshape(gt_flow.shape[0], 1, *gt_flow.shape[-2:])
                                      .to(err.dtype), size)[:, 0]
            err = err * (v > 0.999)
        per_sample = err.flatten(1).sum(1) if reduction == 'sum' else err.flatten(1).mean(1)
        total = total + w * per_sample.mean()
    return total


@register_model()
class PWCNet(BaseModule):
    """PWC-Net optical flow estimator (PWC-DC).

    Args:
        pyramid_channels: channels of pyramid levels 1..6.
        dense_channels: dense estimator outputs (128, 128, 96, 64, 32).
        context_channels: context network widths (128, 128, 128, 96, 64, 32).
        context_dilations: (1, 2, 4, 8, 16, 1).
        max_displacement: cost volume range ``d`` (4 -> 81 channels).
        num_levels: number of pyramid levels (6); the coarsest level starts the
            estimation.
        output_level: finest estimated level (2: quarter resolution).
        convs_per_level: convs per pyramid level (3; 2 for the older NVlabs net).
        channel_mult: multiplies every width (tiny models for tests).
        flow_div: flows are predicted divided by this (20).
        corr_normalize: ``'mean'`` (NVlabs/sniklaus weights) or ``'sum'`` (mmflow).
        align_corners: grid_sample convention of the warp (True in PWC-Net code).
        size_mode: ``'resize'`` or ``'pad'`` inputs to a multiple of ``2**num_levels``.
        input_size: fixed ``(H, W)`` the inputs are resized to (the paper: 320x320);
            overrides ``size_mode``.
        init_cfg: mmengine init config; by default Kaiming (leaky ReLU, fan-in).

    Input: two ``(B, 3, H, W)`` images in the value range / channel order the
    weights were trained with (public weights: BGR in [0, 1]).
    """

    def __init__(self,
                 pyramid_channels: Sequence[int] = (16, 32, 64, 96, 128, 196),
                 dense_channels: Sequence[int] = (128, 128, 96, 64, 32),
                 context_channels: Sequence[int] = (128, 128, 128, 96, 64, 32),
                 context_dilations: Sequence[int] = (1, 2, 4, 8, 16, 1),
                 max_displacement: int = 4,
                 num_levels: int = 6,
                 output_level: int = 2,
                 convs_per_level: int = 3,
                 channel_mult: float = 1.0,
                 flow_div: float = 20.0,
                 corr_normalize: str = 'mean',
                 align_corners: bool = True,
                 size_mode: str = 'resize',
                 input_size: Sequence[int] | None = None,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        if not 1 <= output_level < num_levels <= len(pyramid_channels):
            raise ValueError('need 1 <= output_level < num_levels <= '
                             f'len(pyramid_channels)={len(pyramid_channels)}, got '
                             f'output_level={output_level}, num_levels={num_levels}')
        if size_mode not in ('resize', 'pad'):
            raise ValueError(f"size_mode must be 'resize' or 'pad', got {size_mode!r}")
        if len(context_channels) != len(context_dilations):
            raise ValueError('context_channels and context_dilations differ in length')

        def width(c):
            return max(2, int(round(c * channel_mult)))

        self.num_levels, self.output_level = num_levels, output_level
        self.flow_div, self.align_corners = float(flow_div), align_corners
        self.size_mode = size_mode
        self.input_size = tuple(input_size) if input_size is not None else None
        self.pyramid_channels = [width(c) for c in pyramid_channels[:num_levels]]
        dense = [width(c) for c in dense_channels]

        # feature pyramid: encoder.level{l}, l = 1..num_levels
        self.encoder = nn.ModuleDict()
        ch = 3
        for lvl, out in enumerate(self.pyramid_channels, start=1):
            layers = _conv_lrelu(ch, out, stride=2)
            for _ in range(convs_per_level - 1):
                layers += _conv_lrelu(out, out)
            self.encoder[f'level{lvl}'] = nn.Sequential(*layers)
            ch = out

        self.correlation = Correlation(max_displacement, corr_normalize)
        cost_ch = self.correlation.out_channels
        # estimators: decoders.level{l}, l = num_levels .. output_level
        self.decoders = nn.ModuleDict()
        for lvl in range(num_levels, output_level - 1, -1):
            in_ch = cost_ch if lvl == num_levels else (
                cost_ch + self.pyramid_channels[lvl - 1] + 4)
            self.decoders[f'level{lvl}'] = LevelEstimator(in_ch, dense,
                                                          upsample=lvl > output_level)
        ctx = []
        ch = self.decoders[f'level{output_level}'].out_channels
        for out, dil in zip(context_channels, context_dilations):
            ctx += _conv_lrelu(ch, width(out), dilation=dil)
            ch = width(out)
        ctx.append(nn.Conv2d(ch, 2, 3, 1, 1))
        self.context = nn.Sequential(*ctx)
        if init_cfg is None:
            self.reset_parameters()

    @property
    def size_multiple(self) -> int:
        return 2 ** self.num_levels

    def reset_parameters(self) -> None:
        """Kaiming (leaky ReLU 0.1, fan-in) weights, zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, a=0.1, mode='fan_in',
                                        nonlinearity='leaky_relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------ core
    def pyramid(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Features of levels 1..num_levels (index 0 = level 1)."""
        feats = []
        x = img
        for lvl in range(1, self.num_levels + 1):
            x = self.encoder[f'level{lvl}'](x)
            feats.append(x)
        return feats

    def estimate(self, img1: torch.Tensor, img2: torch.Tensor) -> dict[int, torch.Tensor]:
        """Flow pyramid of inputs whose sides are multiples of ``2**num_levels``.

        Returns:
            dict: ``{level: (B, 2, H / 2**level, W / 2**level)}`` flows divided by
            ``flow_div``; the output level includes the context refinement.
        """
        m = self.size_multiple
        if img1.shape != img2.shape or img1.dim() != 4 or img1.shape[1] != 3:
            raise ValueError('PWCNet expects two (B, 3, H, W) images of one shape, got '
                             f'{tuple(img1.shape)} and {tuple(img2.shape)}')
        if img1.shape[-2] % m or img1.shape[-1] % m:
            raise ValueError(f'estimate() needs H, W multiples of {m}, got '
                             f'{tuple(img1.shape[-2:])}; use forward() to resize/pad')
        B = img1.shape[0]
        feats = self.pyramid(torch.cat([img1, img2], 0))      # one pass for both
        preds: dict[int, torch.Tensor] = {}
        flow = feat = None
        for lvl in range(self.num_levels, self.output_level - 1, -1):
            f1, f2 = feats[lvl - 1][:B], feats[lvl - 1][B:]
            if flow is None:
                x = F.leaky_relu(self.correlation(f1, f2), 0.1)
            else:
                above = self.decoders[f'level{lvl + 1}']
                up_flow = above.upsample_flow(flow)
                up_feat = above.upsample_feat(feat)
                warped = flow_warp(f2, up_flow * (self.flow_div / 2 ** lvl),
                                   align_corners=self.align_corners)
                cost = F.leaky_relu(self.correlation(f1, warped), 0.1)
                x = torch.cat([cost, f1, up_flow, up_feat], 1)
            flow, feat = self.decoders[f'level{lvl}'](x)
            preds[lvl] = flow
        preds[self.output_level] = flow + self.context(feat)
        return preds

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(H', W')`` the network runs at for an ``H x W`` input."""
        if self.input_size is not None:
            return self.input_size
        m = self.size_multiple
        return -(-height // m) * m, -(-width // m) * m

    def forward(self, img1: torch.Tensor, img2: torch.Tensor, return_levels: bool = False):
        """Flow from ``img1`` to ``img2`` (``img1(x) ~ img2(x + flow(x))``).

        Args:
            img1, img2: ``(B, 3, H, W)``.
            return_levels: also return the level pyramid of :meth:`estimate`
                (at the network size ``network_size(H, W)``) for the loss.

        Returns:
            torch.Tensor ``(B, 2, H, W)`` flow ``(u, v)`` in input pixels
            [, dict of level flows].
        """
        if img1.shape != img2.shape or img1.dim() != 4:
            raise ValueError('PWCNet expects two (B, 3, H, W) images of one shape, got '
                             f'{tuple(img1.shape)} and {tuple(img2.shape)}')
        H, W = img1.shape[-2:]
        Hn, Wn = self.network_size(H, W)
        resize = (Hn, Wn) != (H, W) and (self.size_mode == 'resize'
                                         or self.input_size is not None)
        if resize:
            img1 = F.interpolate(img1, (Hn, Wn), mode='bilinear', align_corners=False)
            img2 = F.interpolate(img2, (Hn, Wn), mode='bilinear', align_corners=False)
        elif (Hn, Wn) != (H, W):
            img1 = F.pad(img1, (0, Wn - W, 0, Hn - H))
            img2 = F.pad(img2, (0, Wn - W, 0, Hn - H))
        preds = self.estimate(img1, img2)
        core = self.flow_div * preds[self.output_level]     # network-size pixels
        if resize:
            # ONE bilinear step from the output level straight to the input size,
            # then u, v rescaled (sniklaus' estimate()); going through (Hn, Wn)
            # first would be a different, coarser result
            flow = F.interpolate(core, (H, W), mode='bilinear', align_corners=False)
            flow = flow * flow.new_tensor([W / Wn, H / Hn]).view(1, 2, 1, 1)
        else:
            flow = F.interpolate(core, (Hn, Wn), mode='bilinear',
                                 align_corners=False)[:, :, :H, :W]
        return (flow, preds) if return_levels else flow

    def target_for_levels(self, gt_flow: torch.Tensor) -> torch.Tensor:
        """Ground truth ``(B, 2, H, W)`` (input pixels) brought to the network
        size the level predictions of :meth:`forward` refer to."""
        H, W = gt_flow.shape[-2:]
        Hn, Wn = self.network_size(H, W)
        if (Hn, Wn) == (H, W):
            return gt_flow
        if self.size_mode == 'resize' or self.input_size is not None:
            gt = F.interpolate(gt_flow, (Hn, Wn), mode='bilinear', align_corners=False)
            return gt * gt.new_tensor([Wn / W, Hn / H]).view(1, 2, 1, 1)
        return F.pad(gt_flow, (0, Wn - W, 0, Hn - H))

    def loss(self, preds: dict[int, torch.Tensor], gt_flow: torch.Tensor,
             valid: torch.Tensor | None = None, weights: dict[int, float] | None = None,
             reduction: str = 'sum') -> torch.Tensor:
        """Multi-level EPE of :meth:`forward`'s level flows against ``gt_flow``
        ``(B, 2, H, W)`` in input pixels (see :func:`multi_level_epe`)."""
        target = self.target_for_levels(gt_flow)
        if valid is not None:
            valid = valid.reshape(gt_flow.shape[0], 1, *gt_flow.shape[-2:]).float()
            if target.shape[-2:] != gt_flow.shape[-2:]:
                if self.size_mode == 'pad' and self.input_size is None:
                    valid = F.pad(valid, (0, target.shape[-1] - gt_flow.shape[-1],
                                          0, target.shape[-2] - gt_flow.shape[-2]))
                else:
                    valid = F.interpolate(valid, target.shape[-2:], mode='nearest')
        elif self.size_mode == 'pad' and self.input_size is None and \
                target.shape[-2:] != gt_flow.shape[-2:]:
            valid = F.pad(torch.ones_like(gt_flow[:, :1]),
                          (0, target.shape[-1] - gt_flow.shape[-1],
                           0, target.shape[-2] - gt_flow.shape[-2]))
        return multi_level_epe(preds, target, self.flow_div, weights, valid, reduction)
