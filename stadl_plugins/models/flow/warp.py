"""Backward warping by optical flow with ``grid_sample`` and a validity mask.

``warped[b, :, y, x] = image[b, :, y + v(y, x), x + u(y, x)]`` (bilinear), where
``flow = (u, v)`` is in pixels of ``image``. Pixels whose sampling point falls
(partly) outside the image are zeroed: a ones image is warped the same way and
thresholded (PWC-Net: 0.999 in sniklaus' pytorch-pwc, 0.9999 in mmflow).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['flow_warp', 'pixel_grid', 'FlowWarp']


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(1, 2, H, W)`` pixel coordinates ``(x, y)``."""
    ys = torch.arange(height, device=device, dtype=dtype)
    xs = torch.arange(width, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack([gx, gy], 0)[None]


def flow_warp(image: torch.Tensor, flow: torch.Tensor, align_corners: bool = True,
              use_mask: bool = True, mask_threshold: float = 0.999,
              padding_mode: str = 'zeros', return_mask: bool = False):
    """Sample ``image`` at ``pixel + flow`` (backward warping).

    Args:
        image: ``(B, C, H, W)``.
        flow: ``(B, 2, H, W)`` displacement ``(u, v)`` in pixels of ``image``.
        align_corners: the ``grid_sample`` convention; with True pixel centres
            sit at ``-1 .. 1`` exactly (what PWC-Net implementations use). Both
            conventions map pixel ``x`` to the centre of pixel ``x``; they differ
            only in how the border is read.
        use_mask: zero the pixels whose sampling point leaves the image.
        mask_threshold: a pixel is valid when the warped ones image is at least this.
        padding_mode: ``grid_sample`` padding outside the image.
        return_mask: also return the ``(B, 1, H, W)`` float validity mask.

    Returns:
        torch.Tensor or tuple: warped ``(B, C, H, W)`` [, mask ``(B, 1, H, W)``].
    """
    if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError('flow_warp expects image (B, C, H, W) and flow (B, 2, H, W), '
                         f'got {tuple(image.shape)} and {tuple(flow.shape)}')
    if image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise ValueError('image and flow must share batch and spatial size, got '
                         f'{tuple(image.shape)} and {tuple(flow.shape)}')
    B, _, H, W = image.shape
    pos = pixel_grid(H, W, image.device, flow.dtype) + flow        # (B, 2, H, W)
    if align_corners:
        sx = 2.0 / max(W - 1, 1)
        sy = 2.0 / max(H - 1, 1)
        gx, gy = pos[:, 0] * sx - 1.0, pos[:, 1] * sy - 1.0
    else:
        gx, gy = (2.0 * pos[:, 0] + 1.0) / W - 1.0, (2.0 * pos[:, 1] + 1.0) / H - 1.0
    grid = torch.stack([gx, gy], -1).to(image.dtype)               # (B, H, W, 2)
    warped = F.grid_sample(image, grid, mode='bilinear', padding_mode=padding_mode,
                           align_corners=align_corners)
    mask = None
    if use_mask or return_mask:
        ones = image.new_ones(B, 1, H, W)
        mask = F.grid_sample(ones, grid, mode='bilinear', padding_mode='zeros',
                             align_corners=align_corners)
        mask = (mask >= mask_threshold).to(image.dtype)
        if use_mask:
            warped = warped * mask
    return (warped, mask) if return_mask else warped


class FlowWarp(nn.Module):
    """Module form of :func:`flow_warp` (arguments as there)."""

    def __init__(self, align_corners: bool = True, use_mask: bool = True,
                 mask_threshold: float = 0.999):
        super().__init__()
        self.align_corners = align_corners
        self.use_mask = use_mask
        self.mask_threshold = mask_threshold

    def forward(self, image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return flow_warp(image, flow, self.align_corners, self.use_mask,
                         self.mask_threshold)

    def extra_repr(self) -> str:
        return (f'align_corners={self.align_corners}, use_mask={self.use_mask}, '
                f'mask_threshold={self.mask_threshold}')
