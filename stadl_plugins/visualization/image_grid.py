"""Tiling frames into one image and writing PNGs (exact pixel sizes, no matplotlib)."""
from __future__ import annotations

import os

import numpy as np


def as_uint8_frames(frames) -> np.ndarray:
    """``(T, H, W, 3)`` (or ``(T, H, W)`` grey) uint8 or float in [0, 1] -> uint8 RGB."""
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f'frames must be (T, H, W, 3) or (T, H, W), got {arr.shape}')
    if arr.dtype != np.uint8:
        arr = np.clip(np.round(arr.astype(np.float64) * 255
                               if arr.max(initial=0) <= 1.0 else arr), 0, 255)
        arr = arr.astype(np.uint8)
    return arr


def tile(images, ncols: int | None = None, gap: int = 2,
         background: int = 255) -> np.ndarray:
    """Tile ``N`` equal-size ``(H, W, 3)`` images row by row.

    Returns:
        np.ndarray: ``(rows*H + (rows-1)*gap, cols*W + (cols-1)*gap, 3)`` uint8.
    """
    images = as_uint8_frames(images)
    n, h, w = images.shape[:3]
    ncols = ncols or min(n, 8)
    nrows = -(-n // ncols)
    out = np.full((nrows * h + (nrows - 1) * gap, ncols * w + (ncols - 1) * gap, 3),
                  background, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = img
    return out


def put_caption(img_rgb: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` on a dark strip at the top of an RGB image (in place)."""
    import cv2
    h = img_rgb.shape[0]
    scale = max(0.3, h / 500)
    strip = min(h, int(round(20 * scale)) + 4)
    img_rgb[:strip] = (img_rgb[:strip] * 0.4).astype(np.uint8)
    cv2.putText(img_rgb, text, (3, strip - 5), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return img_rgb


def write_png(path: str, img_rgb: np.ndarray) -> str:
    """Write an RGB uint8 image as PNG; returns ``path``."""
    import cv2
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(np.ascontiguousarray(img_rgb),
                                          cv2.COLOR_RGB2BGR)):
        raise OSError(f'cannot write {path}')
    return path
