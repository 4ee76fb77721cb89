"""Cost volume (local correlation) of PWC-Net in pure PyTorch, CPU and GPU.

For two feature maps ``f1, f2`` of shape ``(B, C, H, W)`` and a maximum
displacement ``d`` the cost volume has ``(2d+1)^2`` channels::

    cost[b, (dy + d) * (2d+1) + (dx + d), y, x] = <f1[b, :, y, x], f2[b, :, y+dy, x+dx]> / norm

with ``dy, dx`` in ``[-d, d]`` (channel order dy-major / dx-minor, the order of the
NVlabs/flownet2 CUDA kernel, of sniklaus' pytorch-pwc and of mmcv's ``Correlation``
after mmflow's reshape), ``f2`` read as zero outside the image, stride 1, kernel 1,
and ``norm = C`` for ``normalize='mean'`` (Caffe / NVlabs / sniklaus weights) or
``norm = 1`` for ``normalize='sum'`` (mmflow weights: mmcv ``Correlation`` with
``scaled=False``).

How it is computed (:class:`BandedCorrelation`). The obvious pad-shift-multiply
loop (:func:`correlation_shift_loop`, kept as the reference) is memory-bound: each of
the ``(2d+1)^2`` displacements writes and reads a ``B*C*H*W`` product. Here the image
is cut into square tiles of ``tile`` pixels (default ``2d``); for each tile one
matrix product ``(tile^2, C) @ (C, (tile+2d)^2)`` gives every pair of a pixel of the
``f1`` tile and a pixel of the ``f2`` window around it, and the costs of all
``(dy, dx)`` are a strided view (the "band") of that block. The products off the
band are wasted work (``(tile+2d)^2 / (2d+1)^2`` times the needed multiply-adds,
3.2x for tile 8, d 4) but run at matrix-multiply speed instead of memory speed.
Everything is channels last, so each copy moves contiguous runs of ``C`` or
``(2d+1)^2`` values, and the output is a channels-last view. The backward pass is
written out the same way (two block products per step), so autograd saves only the
two inputs.

Memory and cache: with ``K = 2d+1`` the block of one tile is ``(tile+2d)^2/K^2``
(3.2x) the part of the output it gives, and a block written to DRAM and read back
would make the whole thing memory-bound again; so one step takes one image and as
many rows of tiles as keep the block within ``BandedCorrelation.BLOCK_BYTES``
(1 MiB, a core's L2), the band copied out while it is still in cache. Transients
per call: the ``f2`` windows (``(tile+2d)^2/tile^2`` = 4x ``f2``), the channels-last
output, one block. Nothing of size ``B*C*(2d+1)^2*H*W`` is ever allocated.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['correlation', 'correlation_shift_loop', 'Correlation', 'BandedCorrelation']


def _check_inputs(feat1: torch.Tensor, feat2: torch.Tensor, max_displacement: int,
                  normalize: str) -> None:
    if feat1.dim() != 4 or feat2.dim() != 4:
        raise ValueError('correlation expects two (B, C, H, W) tensors, got shapes '
                         f'{tuple(feat1.shape)} and {tuple(feat2.shape)}')
    if feat1.shape != feat2.shape:
        raise ValueError('correlation expects feature maps of equal shape, got '
                         f'{tuple(feat1.shape)} and {tuple(feat2.shape)}')
    if not isinstance(max_displacement, int) or max_displacement < 0:
        raise ValueError(f'max_displacement must be an int >= 0, got {max_displacement!r}')
    if normalize not in ('mean', 'sum'):
        raise ValueError(f"normalize must be 'mean' or 'sum', got {normalize!r}")


class BandedCorrelation(torch.autograd.Function):
    """Autograd function behind :func:`correlation` (tiled block products).

    ``forward(feat1, feat2, max_displacement, tile, scale)`` returns
    ``(B, (2d+1)^2, H, W)`` costs multiplied by ``scale`` (a channels-last view:
    strides of ``(B, H, W, (2d+1)^2)``; ``.contiguous()`` if a caller needs NCHW).
    Differentiable once: the backward runs without building a graph, and
    differentiating its result again (``create_graph=True`` then a second backward:
    gradient penalties, Hessian-vector products) raises a ``RuntimeError`` that says
    so; use :func:`correlation_shift_loop` for higher-order gradients.

    Layout (all channels last, so every copy moves runs of ``C`` or ``(2d+1)^2``
    contiguous values): ``f1`` as ``(B, nY, nX, tile^2, C)`` tiles, ``f2`` zero-padded
    by ``d`` as ``(B, nY, nX, (tile+2d)^2, C)`` windows, the block products
    ``(B, rows, nX, tile^2, (tile+2d)^2)`` and the output ``(B, H, W, (2d+1)^2)``.
    The backward writes the band of ``grad_out`` into a zero block and does two
    block products: ``block @ windows`` (``grad f1`` per tile) and
    ``block^T @ f1`` (``grad f2`` per window, ``(tile+2d)^2 x C``), the windows'
    overlaps summed by four strided adds (tile, right halo, lower halo, corner).
    """

    @staticmethod
    def _geometry(shape, d, tile):
        B, C, H, W = shape
        n_y, n_x = math.ceil(H / tile), math.ceil(W / tile)
        return B, C, H, W, n_y, n_x, tile + 2 * d

    @staticmethod
    def _tiles(feat1, tile, n_y, n_x):
        """``f1`` cut into ``tile x tile`` squares, channels last: (B, nY, nX, t*t, C)."""
        B, C, H, W = feat1.shape
        Hp, Wp = n_y * tile, n_x * tile
        return F.pad(feat1, (0, Wp - W, 0, Hp - H)).reshape(
            B, C, n_y, tile, n_x, tile).permute(0, 2, 4, 3, 5, 1).reshape(
            B, n_y, n_x, tile * tile, C)

    @staticmethod
    def _windows(feat2, d, tile, n_y, n_x):
        """Overlapping ``(tile+2d)^2`` windows of the zero-padded ``f2`` (a strided
        view, channels last): (B, nY, nX, win, win, C)."""
        B, C, H, W = feat2.shape
        Hp, Wp, win = n_y * tile, n_x * tile, tile + 2 * d
        f2_pad = F.pad(feat2, (d, d + Wp - W, d, d + Hp - H)).permute(0, 2, 3, 1).contiguous()
        sb, sh, sw, _ = f2_pad.stride()
        return f2_pad.as_strided((B, n_y, n_x, win, win, C),
                                 (sb, tile * sh, tile * sw, sh, sw, 1))

    @staticmethod
    def _band(block, tile, d):
        """The ``(ty, tx, dy, dx)`` entries of blocks ``(..., tile^2, win^2)``
        (contiguous), a view ``(..., tile, tile, K, K)``."""
        K, win = 2 * d + 1, tile + 2 * d
        S = win * win
        lead = block.shape[:-2]
        lead_strides = block.stride()[:-2]
        return block.as_strided(tuple(lead) + (tile, tile, K, K),
                                tuple(lead_strides) + (tile * S + win, S + 1, win, 1),
                                block.storage_offset())

    #: bytes of one block product (the transient per step); small enough to stay
    #: in a core's L2 cache between the product and the band copy (the block is
    #: ~3x the part of the output it gives: written to DRAM and read back it would
    #: make the cost volume memory-bound again)
    BLOCK_BYTES = 1 << 20

    @staticmethod
    def _steps(B, tile, d, n_y, n_x, itemsize):
        """``[(b, r0, r1)]``: one image, rows ``r0:r1`` of tiles per block product,
        as many rows as keep the block within :attr:`BLOCK_BYTES` (at least one)."""
        win2 = (tile + 2 * d) ** 2
        per_row = n_x * tile * tile * win2 * itemsize
        rows = max(1, min(n_y, BandedCorrelation.BLOCK_BYTES // per_row))
        return [(b, r0, min(r0 + rows, n_y)) for b in range(B)
                for r0 in range(0, n_y, rows)], rows

    @staticmethod
    def forward(ctx, feat1, feat2, max_displacement: int, tile: int, scale: float):
        d = max_displacement
        K = 2 * d + 1
        tile = max(tile, 2 * d, 1)
        B, C, H, W, n_y, n_x, win = BandedCorrelation._geometry(feat1.shape, d, tile)
        f1_tiles = BandedCorrelation._tiles(feat1, tile, n_y, n_x)
        if scale != 1.0:
            f1_tiles = f1_tiles * scale      # C*H*W multiplies instead of K*K*H*W
        windows = BandedCorrelation._windows(feat2, d, tile, n_y, n_x)
        S = win * win
        # output channels last; the tile padding is cropped by a view at the end
        out = feat1.new_empty(B, n_y, tile, n_x, tile, K, K)
        steps, _ = BandedCorrelation._steps(B, tile, d, n_y, n_x, feat1.element_size())
        for b, r0, r1 in steps:
            win_r = windows[b, r0:r1].reshape(r1 - r0, n_x, S, C)      # one copy
            # every (f1 pixel of a tile, f2 pixel of its window) pair
            block = torch.matmul(f1_tiles[b, r0:r1], win_r.transpose(-1, -2))
            band = BandedCorrelation._band(block, tile, d)      # (r, nX, ty, tx, K, K)
            out[b, r0:r1].permute(0, 2, 1, 3, 4, 5).copy_(band)
        out = out.view(B, n_y * tile, n_x * tile, K * K)[:, :H, :W].permute(0, 3, 1, 2)
        ctx.save_for_backward(feat1, feat2)
        ctx.config = (d, tile, scale)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        feat1, feat2 = ctx.saved_tensors
        need1, need2 = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():      # create_graph=True: keep the graph connected
            gf1, gf2 = _BandedCorrelationGrad.apply(grad_out, feat1, feat2, ctx.config,
                                                    need1, need2)
        else:
            gf1, gf2 = BandedCorrelation.gradients(grad_out, feat1, feat2, ctx.config,
                                                   need1, need2)
        return gf1, gf2, None, None, None

    @staticmethod
    def gradients(grad_out, feat1, feat2, config, need1=True, need2=True):
        """``(grad_feat1, grad_feat2)`` of the costs for ``grad_out`` (None where not
        needed); plain tensor code with in-place block writes, not differentiable."""
        d, tile, scale = config
        K = 2 * d + 1
        B, C, H, W, n_y, n_x, win = BandedCorrelation._geometry(feat1.shape, d, tile)
        S = win * win
        Hp, Wp = n_y * tile, n_x * tile
        dtype = feat1.dtype
        # grad_out channels last, tile padding zero: (B, nY, ty, nX, tx, K, K)
        g = (grad_out.new_zeros if (Hp, Wp) != (H, W) else grad_out.new_empty)(
            B, Hp, Wp, K * K, dtype=dtype)
        g[:, :H, :W].copy_(grad_out.permute(0, 2, 3, 1))
        g = g.view(B, n_y, tile, n_x, tile, K, K)
        f1_tiles = BandedCorrelation._tiles(feat1, tile, n_y, n_x) if need2 else None
        if need2 and scale != 1.0:
            f1_tiles = f1_tiles * scale
        windows = BandedCorrelation._windows(feat2, d, tile, n_y, n_x) if need1 else None
        grad_f1 = feat1.new_empty(B, n_y, n_x, tile * tile, C) if need1 else None
        # one extra tile each way holds the lower/right halos of the last windows
        grad_f2 = (feat1.new_zeros(B, n_y + 1, tile, n_x + 1, tile, C)
                   if need2 else None)
        steps, rows = BandedCorrelation._steps(B, tile, d, n_y, n_x, feat1.element_size())
        block = feat1.new_zeros(rows, n_x, tile * tile, S)   # off-band entries stay 0
        t, h = tile, 2 * d                                   # window = tile + halo 2d
        dst = grad_f2.permute(0, 1, 3, 2, 4, 5) if need2 else None  # (B, nY+1, nX+1, t, t, C)
        for b, r0, r1 in steps:
            n = r1 - r0
            blk = block[:n]
            BandedCorrelation._band(blk, tile, d).copy_(g[b, r0:r1].permute(0, 2, 1, 3, 4, 5))
            if need1:
                win_r = windows[b, r0:r1].reshape(n, n_x, S, C)
                grad_f1[b, r0:r1] = torch.matmul(blk, win_r)
            if need2:
                # (n, nX, win^2, t^2) @ (n, nX, t^2, C): the gradient of each window
                g_win = torch.matmul(blk.transpose(-1, -2), f1_tiles[b, r0:r1]).view(
                    n, n_x, win, win, C)
                db = dst[b]
                db[r0:r1, :n_x].add_(g_win[:, :, :t, :t])
                db[r0:r1, 1:n_x + 1, :, :h].add_(g_win[:, :, :t, t:])
                db[r0 + 1:r1 + 1, :n_x, :h].add_(g_win[:, :, t:, :t])
                db[r0 + 1:r1 + 1, 1:n_x + 1, :h, :h].add_(g_win[:, :, t:, t:])
        gf1 = gf2 = None
        if need1:
            if scale != 1.0:
                grad_f1.mul_(scale)
            gf1 = grad_f1.view(B, n_y, n_x, tile, tile, C).permute(
                0, 5, 1, 3, 2, 4).reshape(B, C, Hp, Wp)[:, :, :H, :W]
        if need2:
            gf2 = grad_f2.view(B, (n_y + 1) * tile, (n_x + 1) * tile, C)[
                :, d:d + H, d:d + W].permute(0, 3, 1, 2)
        return gf1, gf2


class _BandedCorrelationGrad(torch.autograd.Function):
    """The backward of :class:`BandedCorrelation` as a graph node (used under
    ``create_graph=True``) whose own backward refuses with a clear message, so
    that a second derivative never silently comes out as zero or ``None``."""

    @staticmethod
    def forward(ctx, grad_out, feat1, feat2, config, need1, need2):
        return BandedCorrelation.gradients(grad_out, feat1, feat2, config, need1, need2)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(
            'correlation(): double backward is not supported -- the cost volume\'s '
            'backward is hand-written and differentiable only once '
            '(once_differentiable); use correlation_shift_loop() where second '
            'derivatives are needed (gradient penalties, Hessian-vector products)')


def correlation(feat1: torch.Tensor, feat2: torch.Tensor, max_displacement: int = 4,
                normalize: str = 'mean', tile_width: int | None = None) -> torch.Tensor:
    """Local correlation (PWC-Net cost volume) of two feature maps.

    Args:
        feat1: ``(B, C, H, W)`` features of the first image.
        feat2: ``(B, C, H, W)`` features of the second (usually warped) image.
        max_displacement: ``d``; displacements ``-d..d`` in x and y.
        normalize: ``'mean'`` divides by ``C`` (NVlabs/Caffe/sniklaus weights),
            ``'sum'`` does not (mmflow weights).
        tile_width: side of the square pixel tiles of the block products
            (speed/memory knob; raised to ``2d`` if smaller; default ``2d``, the
            least wasted work: ``(tile+2d)^2 / (2d+1)^2`` times the needed
            multiply-adds, 3.2x for d=4, 2.6x for d=2). The result does not
            depend on it.

    Returns:
        torch.Tensor: ``(B, (2d+1)^2, H, W)``, channel ``(dy+d)*(2d+1) + (dx+d)``.
    """
    _check_inputs(feat1, feat2, max_displacement, normalize)
    if feat1.dtype != feat2.dtype:     # e.g. autocast: conv output vs grid_sample output
        dtype = torch.promote_types(feat1.dtype, feat2.dtype)
        feat1, feat2 = feat1.to(dtype), feat2.to(dtype)
    scale = 1.0 / feat1.shape[1] if normalize == 'mean' else 1.0
    tile = 2 * max_displacement if tile_width is None else int(tile_width)
    return BandedCorrelation.apply(feat1, feat2, max_displacement, tile, scale)


def correlation_shift_loop(feat1: torch.Tensor, feat2: torch.Tensor,
                           max_displacement: int = 4,
                           normalize: str = 'mean') -> torch.Tensor:
    """The obvious pad-shift-multiply loop (a reference; same result as
    :func:`correlation`, differentiable by plain autograd).

    Returns:
        torch.Tensor: ``(B, (2d+1)^2, H, W)``.
    """
    _check_inputs(feat1, feat2, max_displacement, normalize)
    d = max_displacement
    B, C, H, W = feat1.shape
    f2 = F.pad(feat2, (d, d, d, d))
    costs = [(feat1 * f2[:, :, dy:dy + H, dx:dx + W]).sum(1)
             for dy in range(2 * d + 1) for dx in range(2 * d + 1)]
    out = torch.stack(costs, 1)
    return out / C if normalize == 'mean' else out


class Correlation(nn.Module):
    """Module form of :func:`correlation` (no activation; PWC-Net applies
    LeakyReLU(0.1) after it).

    Args:
        max_displacement: ``d`` (4 in PWC-Net: 81 channels).
        normalize: ``'mean'`` or ``'sum'``.
        tile_width: see :func:`correlation`.
    """

    def __init__(self, max_displacement: int = 4, normalize: str = 'mean',
                 tile_width: int | None = None):
        super().__init__()
        if normalize not in ('mean', 'sum'):
            raise ValueError(f"normalize must be 'mean' or 'sum', got {normalize!r}")
        self.max_displacement = max_displacement
        self.normalize = normalize
        self.tile_width = tile_width

    @property
    def out_channels(self) -> int:
        return (2 * self.max_displacement + 1) ** 2

    def forward(self, feat1: torch.Tensor, feat2: torch.Tensor) -> torch.Tensor:
        return correlation(feat1, feat2, self.max_displacement, self.normalize,
                           self.tile_width)

    def extra_repr(self) -> str:
        return (f'max_displacement={self.max_displacement}, '
                f'normalize={self.normalize!r}, tile_width={self.tile_width}')
