"""Actor–target relation (ATR) head: non-local attention from each RoI to the
context *outside* its box (Jiang et al., "Human Centric Spatio-Temporal Action
Localization", ActivityNet AVA challenge 2018, Sec. II-C).

The paper says only that ATR is "a non-local operation between the ROI feature and
features outside the bounding boxes" that relates actors to their targets "through
space and time". Everything else here is our choice, made explicit:

* **Form.** Embedded-Gaussian non-local block (Wang et al. 2018), as in
  MMAction2's ``FBOHead`` non-local layer: ``theta`` on the RoI feature gives the
  queries, ``phi``/``g`` on the clip feature map give keys/values (1x1x1 convs into
  ``latent_channels``), ``softmax(theta^T phi / sqrt(latent))`` over context
  positions, then an output 1x1x1 conv back to ``in_channels`` added to the RoI
  feature (residual).
* **"Outside the box".** A context position is a cell of the feature map that the
  RoI extractor saw (the clip feature ``feat`` handed to shared heads), at every
  time step. A cell whose centre, in input pixels, lies inside the RoI box grown
  by ``mask_margin`` (a fraction of the box size) gets logit ``-inf`` before the
  softmax, so its attention weight is exactly zero. The paper relates the RoI to
  "its surrounding regions": ``context_radius`` (in box sizes) also masks cells
  farther than that, because the non-local operation has no positional encoding
  and could otherwise not tell a target next to the actor from one across the
  frame (None attends to the whole frame). The keyframe box is used at every
  time step. A RoI with nothing left to attend to adds zero.
* **Queries.** ``query='cell'``: every cell of the RoI feature ``(T, S, S)`` is a
  query and gets its own context summary; ``query='pooled'``: the RoI feature is
  averaged into one query whose summary is added to every cell (cheaper).
* **Identity at init.** The output conv is zero-initialised (weights and bias),
  so a freshly added head returns its input and a trained stock model can be
  fine-tuned with ATR without a drop. ``theta``/``phi``/``g`` receive gradients as
  soon as the output conv has moved away from zero (after the first step).
* **Normalisation.** Optional ``norm='LN'`` (LayerNorm over latent channels) or
  ``'BN'`` applied to the attended values before the output conv, as FBO's layer
  norm; ``None`` for none.
* **Stacking.** ``num_layers`` blocks update the RoI feature in turn; the context
  is the same (the clip feature) for each.
* **Speed.** ``context_stride`` average-pools the context spatially (and
  ``context_temporal_stride`` temporally) before ``phi``/``g``.

Works with single-pathway features (SlowOnly, I3D, ResNet3d+NL) and the SlowFast
tuple, because it consumes what ``SingleRoIExtractor3D`` returns: the RoI feature
``(K, C_roi, T, S, S)`` and the clip feature ``(N, C, T, H, W)`` (pathways already
resized to one ``T`` and concatenated, temporally pooled or not). With
``with_global=True`` the RoI feature has twice the context's channels: set
``in_channels`` and ``context_channels`` separately.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ....registry import register_model


def context_centers(height: int, width: int, stride: float,
                    device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres ``(x, y)`` in input pixels of an ``height x width`` feature grid.

    Returns:
        tuple: two ``(height * width,)`` tensors, row-major.
    """
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) * stride
    gy, gx = torch.meshgrid(ys, xs, indexing='ij')
    return gx.reshape(-1), gy.reshape(-1)


def inside_box_mask(rois: torch.Tensor, height: int, width: int, stride: float,
                    margin: float = 0.0) -> torch.Tensor:
    """Which feature cells lie inside each RoI (grown by ``margin`` of its size).

    Args:
        rois: ``(K, 5)`` ``[batch_idx, x1, y1, x2, y2]`` in input pixels.
        height, width: the feature grid.
        stride: input pixels per feature cell.
        margin: fraction of the box width/height added on each side.

    Returns:
        torch.Tensor: bool ``(K, height * width)``, True inside the box.
    """
    return box_distance(rois, height, width, stride) <= margin


def box_distance(rois: torch.Tensor, height: int, width: int,
                 stride: float) -> torch.Tensor:
    """Distance of every cell centre to each box, in units of the box size.

    ``max(dx / box_width, dy / box_height)`` where ``dx``/``dy`` are the distances
    from the cell centre to the box along x/y (0 inside the box); negative values
    are never returned.

    Returns:
        torch.Tensor: ``(K, height * width)`` float.
    """
    cx, cy = context_centers(height, width, stride, rois.device)
    x1, y1, x2, y2 = rois[:, 1:2], rois[:, 2:3], rois[:, 3:4], rois[:, 4:5]
    w, h = (x2 - x1).clamp(min=1e-6), (y2 - y1).clamp(min=1e-6)
    dx = torch.maximum(x1 - cx, cx - x2).clamp(min=0) / w
    dy = torch.maximum(y1 - cy, cy - y2).clamp(min=0) / h
    # a centre exactly on the edge counts as inside: distance 0
    return torch.maximum(dx, dy)


class ATRNonLocalLayer(nn.Module):
    """One actor→context non-local step.

    Args:
        in_channels: channels of the RoI feature (queries, output).
        context_channels: channels of the clip feature (keys, values).
        latent_channels: embedding width of theta/phi/g.
        query: ``'cell'`` or ``'pooled'``.
        use_scale: divide the logits by ``sqrt(latent_channels)``.
        norm: ``'LN'``, ``'BN'`` or None, on the attended values.
        dropout: dropout on the attended values.
    """

    def __init__(self, in_channels: int, context_channels: int, latent_channels: int,
                 query: str = 'cell', use_scale: bool = True, norm: str | None = 'LN',
                 dropout: float = 0.0):
        super().__init__()
        if query not in ('cell', 'pooled'):
            raise ValueError(f"query must be 'cell' or 'pooled', got {query!r}")
        if norm not in ('LN', 'BN', None):
            raise ValueError(f"norm must be 'LN', 'BN' or None, got {norm!r}")
        self.query, self.use_scale, self.latent = query, use_scale, latent_channels
        self.theta = nn.Conv3d(in_channels, latent_channels, 1)
        self.phi = nn.Conv3d(context_channels, latent_channels, 1)
        self.g = nn.Conv3d(context_channels, latent_channels, 1)
        self.norm_type = norm
        if norm == 'LN':
            self.norm = nn.LayerNorm(latent_channels)
        elif norm == 'BN':
            self.norm = nn.BatchNorm1d(latent_channels)
        else:
            self.norm = nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Conv3d(latent_channels, in_channels, 1)
        self.zero_init_output()
        #: last attention ``(K, Q, M)`` when ``record_attention`` is set (tests, plots)
        self.record_attention = False
        self.last_attention: torch.Tensor | None = None

    def zero_init_output(self) -> None:
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, batch_idx: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: RoI features ``(K, C_roi, T, S, S)``.
            context: clip features ``(N, C_ctx, Tc, H, W)``.
            batch_idx: ``(K,)`` long, the clip of each RoI.
            mask: ``(K, H * W)`` bool, True for cells not to attend (inside the
                box, or beyond ``context_radius``).

        Returns:
            torch.Tensor: ``x`` plus the projected context summary, same shape.
        """
        K, _, T, S1, S2 = x.shape
        q_in = x.mean(dim=(2, 3, 4), keepdim=True) if self.query == 'pooled' else x
        q = self.theta(q_in).flatten(2)                        # (K, L, Q)
        keys = self.phi(context).flatten(2)[batch_idx]          # (K, L, M)
        vals = self.g(context).flatten(2)[batch_idx]            # (K, L, M)
        logits = torch.einsum('klq,klm->kqm', q, keys)          # (K, Q, M)
        if self.use_scale:
            logits = logits / math.sqrt(self.latent)
        Tc = context.shape[2]
        # the same spatial box at every time step of the context: (K, Tc*H*W)
        m = mask.repeat(1, Tc)
        logits = logits.masked_fill(m[:, None, :], float('-inf'))
        attn = torch.softmax(logits, dim=-1)
        attn = torch.nan_to_num(attn, nan=0.0)  # every cell inside: attend to nothing
        if self.record_attention:
            self.last_attention = attn.detach()
        y = torch.einsum('kqm,klm->klq', attn, vals)            # (K, L, Q)
        if self.norm_type == 'LN':
            y = self.norm(y.transpose(1, 2)).transpose(1, 2)
        elif self.norm_type == 'BN':
            y = self.norm(y)
        y = self.dropout(y)
        if self.query == 'pooled':
            y = y.reshape(K, self.latent, 1, 1, 1)
        else:
            y = y.reshape(K, self.latent, T, S1, S2)
        return x + self.out(y)                                  # broadcast if pooled


@register_model()
class ATRHead(BaseModule):
    """Actor–target relation shared head for MMAction2's ``AVARoIHead``.

    Use it as ``roi_head=dict(type='AVARoIHead', shared_head=dict(type='ATRHead',
    in_channels=C, featmap_stride=16), ...)``: it keeps the RoI feature's shape, so
    ``BBoxHeadAVA`` is unchanged.

    Args:
        in_channels: channels of the RoI features (e.g. 2048 SlowOnly-R50, 2304
            SlowFast-R50; twice that with ``with_global=True``).
        context_channels: channels of the clip feature (default ``in_channels``).
        latent_channels: theta/phi/g width (default ``in_channels // 4``).
        featmap_stride: input pixels per cell of the clip feature (the RoI
            extractor's ``featmap_stride``).
        num_layers: stacked non-local layers.
        query: ``'cell'`` (per RoI cell) or ``'pooled'``.
        mask_margin: grow each box by this fraction of its size before masking.
        context_radius: if set, also mask cells farther than this many box sizes
            from the box, so each actor relates to its *surroundings* (the
            paper's wording) rather than to the whole frame; None = whole frame.
            The non-local operation has no positional encoding, so this is the
            only way it can tell a nearby target from a distant one.
        context_stride: spatial average-pooling of the context before attention.
        context_temporal_stride: temporal average-pooling of the context.
        use_scale, norm, dropout: see :class:`ATRNonLocalLayer`.
        init_cfg: mmengine init config (the output convs stay zero regardless).
    """

    def __init__(self, in_channels: int, context_channels: int | None = None,
                 latent_channels: int | None = None, featmap_stride: float = 16,
                 num_layers: int = 1, query: str = 'cell', mask_margin: float = 0.0,
                 context_radius: float | None = None, context_stride: int = 1, context_temporal_stride: int = 1,
                 use_scale: bool = True, norm: str | None = 'LN', dropout: float = 0.0,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        context_channels = context_channels or in_channels
        latent_channels = latent_channels or max(1, in_channels // 4)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.in_channels, self.context_channels = in_channels, context_channels
        self.featmap_stride = float(featmap_stride)
        self.mask_margin = mask_margin
        if context_radius is not None and context_radius <= mask_margin:
            raise ValueError(f'context_radius ({context_radius}) must exceed '
                             f'mask_margin ({mask_margin}): nothing would be attended')
        self.context_radius = context_radius
        self.context_stride = int(context_stride)
        self.context_temporal_stride = int(context_temporal_stride)
        self.layers = nn.ModuleList(
            ATRNonLocalLayer(in_channels, context_channels, latent_channels, query,
                             use_scale, norm, dropout) for _ in range(num_layers))

    def init_weights(self) -> None:
        super().init_weights()
        for layer in self.layers:  # keep "identity at init" whatever init_cfg did
            layer.zero_init_output()

    def prepare_context(self, feat: torch.Tensor) -> torch.Tensor:
        """Pool the clip feature ``(N, C, T, H, W)`` by the context strides."""
        st, ss = self.context_temporal_stride, self.context_stride
        if st > 1 or ss > 1:
            feat = F.avg_pool3d(feat, (min(st, feat.shape[2]), ss, ss),
                                stride=(min(st, feat.shape[2]), ss, ss), ceil_mode=True)
        return feat

    def forward(self, x: torch.Tensor, feat: torch.Tensor | tuple, rois: torch.Tensor,
                img_metas=None, **kwargs) -> torch.Tensor:
        """
        Args:
            x: RoI features ``(K, in_channels, T, S, S)`` from the RoI extractor.
            feat: the clip feature the extractor pooled from, ``(N, C, T', H, W)``.
            rois: ``(K, 5)`` ``[batch_idx, x1, y1, x2, y2]`` in input pixels.
            img_metas: unused (the shared-head call signature of ``AVARoIHead``).

        Returns:
            torch.Tensor: ``(K, in_channels, T, S, S)``.
        """
        if isinstance(feat, (tuple, list)):
            raise TypeError('ATRHead expects the single clip feature returned by '
                            'SingleRoIExtractor3D (pathways already concatenated), '
                            f'got a {type(feat).__name__}')
        if feat.shape[1] != self.context_channels:
            raise ValueError(f'ATRHead(context_channels={self.context_channels}) got a '
                             f'clip feature with {feat.shape[1]} channels')
        if x.shape[1] != self.in_channels:
            raise ValueError(f'ATRHead(in_channels={self.in_channels}) got RoI '
                             f'features with {x.shape[1]} channels')
        context = self.prepare_context(feat)
        H, W = context.shape[-2:]
        stride = self.featmap_stride * feat.shape[-1] / W
        dist = box_distance(rois, H, W, stride)
        mask = dist <= self.mask_margin
        if self.context_radius is not None:
            mask = mask | (dist > self.context_radius)
        batch_idx = rois[:, 0].long()
        for layer in self.layers:
            x = layer(x, context, batch_idx, mask)
        return x
