"""Attention / saliency maps over video frames (e.g. VideoLSTM's attention, the
HST-LSTM pooling weights, or any per-frame map a model produces)."""
from __future__ import annotations

import numpy as np

from .image_grid import as_uint8_frames, put_caption, tile, write_png


def overlay_maps(frames, maps, alpha: float = 0.5, colormap: str = 'jet',
                 normalize: str = 'global') -> np.ndarray:
    """Blend heat maps over frames.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB (or floats in [0, 1]).
        maps: ``(T, h, w)`` non-negative maps at any resolution (resized
            bilinearly to ``H x W``); ``(h, w)`` is used for every frame.
        alpha: weight of the heat colour (0: frames only, 1: maps only).
        colormap: an OpenCV colormap name (``jet``, ``inferno``, ``viridis``...).
        normalize: ``'global'`` scales all maps by one min/max (compare frames),
            ``'frame'`` each map by its own.

    Returns:
        np.ndarray: ``(T, H, W, 3)`` uint8 RGB.
    """
    import cv2
    frames = as_uint8_frames(frames)
    maps = np.asarray(maps, np.float64)
    if maps.ndim == 2:
        maps = np.broadcast_to(maps, (len(frames),) + maps.shape)
    if maps.ndim != 3 or len(maps) != len(frames):
        raise ValueError(f'maps must be (T, h, w) with T={len(frames)} like the '
                         f'frames, got {maps.shape}')
    if normalize not in ('global', 'frame'):
        raise ValueError(f"normalize must be 'global' or 'frame', got {normalize!r}")
    cmap = getattr(cv2, f'COLORMAP_{colormap.upper()}', None)
    if cmap is None:
        raise ValueError(f'unknown OpenCV colormap {colormap!r}')
    h, w = frames.shape[1:3]
    out = np.empty_like(frames)
    lo, hi = np.nanmin(maps), np.nanmax(maps)
    for t, (frame, m) in enumerate(zip(frames, maps)):
        if normalize == 'frame':
            lo, hi = np.nanmin(m), np.nanmax(m)
        m = (np.nan_to_num(m, nan=lo) - lo) / max(hi - lo, 1e-12)
        m = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        heat = cv2.applyColorMap(np.uint8(np.clip(m, 0, 1) * 255), cmap)
        heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
        out[t] = np.uint8(np.round((1 - alpha) * frame + alpha * heat))
    return out


def save_attention_grid(path: str, frames, maps, ncols: int | None = None,
                        alpha: float = 0.5, colormap: str = 'jet',
                        normalize: str = 'global', captions=None,
                        gap: int = 2) -> np.ndarray:
    """Write the overlays of :func:`overlay_maps` as one PNG grid.

    The PNG is ``rows*H + (rows-1)*gap`` by ``cols*W + (cols-1)*gap`` pixels
    (``cols = ncols or min(T, 8)``).

    Args:
        captions: optional ``T`` strings written on the tiles (e.g. ``t=3``).

    Returns:
        np.ndarray: the grid, uint8 RGB.
    """
    over = overlay_maps(frames, maps, alpha, colormap, normalize)
    if captions is not None:
        for img, text in zip(over, captions):
            put_caption(img, str(text))
    grid = tile(over, ncols, gap)
    write_png(path, grid)
    return grid
