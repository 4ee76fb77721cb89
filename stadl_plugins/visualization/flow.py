"""Optical flow as colour: the Middlebury colour wheel (Baker et al., IJCV 2011).

Hue encodes the direction of motion and saturation its magnitude relative to
``max_flow``: zero motion is white, motion of ``max_flow`` pixels or more is a fully
saturated colour (beyond it the colour is darkened). With image axes (x right, y
down): rightward motion is red, downward orange-yellow, leftward cyan, upward
blue-violet.

The wheel has 55 hues in six arcs whose lengths follow Baker et al.'s perceptual
spacing: red→yellow 15, yellow→green 6, green→cyan 4, cyan→blue 11,
blue→magenta 13, magenta→red 6.
"""
from __future__ import annotations

import numpy as np

#: Arc lengths of the colour wheel (red-yellow, yellow-green, green-cyan,
#: cyan-blue, blue-magenta, magenta-red).
WHEEL_ARCS = (15, 6, 4, 11, 13, 6)


def color_wheel() -> np.ndarray:
    """The wheel's hues, ``(55, 3)`` float RGB in [0, 1], starting at red."""
    # corners of the arcs in RGB, each arc ramps one channel up or down
    corners = [(1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1), (1, 0, 1)]
    rows = []
    for arc, n in enumerate(WHEEL_ARCS):
        start = np.array(corners[arc], np.float64)
        end = np.array(corners[(arc + 1) % 6], np.float64)
        t = np.arange(n, dtype=np.float64)[:, None] / n
        rows.append(start * (1 - t) + end * t)
    return np.concatenate(rows, axis=0)


def flow_to_color(flow: np.ndarray, max_flow: float | None = None) -> np.ndarray:
    """Colour-code a flow field.

    Args:
        flow: ``(H, W, 2)`` (or ``(2, H, W)``) displacement ``(u, v)`` in pixels,
            ``u`` to the right and ``v`` downwards. NaN/inf entries are drawn black.
        max_flow: magnitude that saturates; default: the field's largest finite
            magnitude (so the strongest motion is fully saturated).

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    flow = np.asarray(flow, np.float64)
    if flow.ndim == 3 and flow.shape[0] == 2 and flow.shape[-1] != 2:
        flow = flow.transpose(1, 2, 0)
    if flow.ndim != 3 or flow.shape[-1] != 2:
        raise ValueError(f'flow must be (H, W, 2) or (2, H, W), got {flow.shape}')
    u, v = flow[..., 0], flow[..., 1]
    bad = ~(np.isfinite(u) & np.isfinite(v))
    u = np.where(bad, 0, u)
    v = np.where(bad, 0, v)
    mag = np.hypot(u, v)
    if max_flow is None:
        max_flow = float(mag.max()) if mag.size else 0.0
    radius = mag / max(max_flow, 1e-9)
    wheel = color_wheel()
    n = len(wheel)
    # angle 0 at "right" (red), increasing clockwise on screen (y down)
    angle = np.mod(np.arctan2(v, u), 2 * np.pi) / (2 * np.pi)  # [0, 1)
    pos = angle * n
    i0 = np.floor(pos).astype(np.int64) % n
    i1 = (i0 + 1) % n
    frac = (pos - np.floor(pos))[..., None]
    hue = wheel[i0] * (1 - frac) + wheel[i1] * frac               # (H, W, 3)
    r = radius[..., None]
    inside = 1 - r * (1 - hue)                                    # white -> hue
    outside = hue * 0.75                                          # beyond max
    rgb = np.where(r <= 1, inside, outside)
    rgb[bad] = 0
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def flow_wheel_legend(size: int = 64) -> np.ndarray:
    """A ``(size, size, 3)`` uint8 RGB disc showing the colour of each direction."""
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = np.stack([x - c, y - c], axis=-1)
    img = flow_to_color(flow, max_flow=c)
    img[np.hypot(x - c, y - c) > c] = 255
    return img


def write_flow_png(path: str, flow: np.ndarray, max_flow: float | None = None,
                   legend: bool = True) -> str:
    """Write a flow field as a colour PNG of the field's size (``W x H``).

    Args:
        path: output ``.png``.
        flow: ``(H, W, 2)`` flow in pixels.
        max_flow: saturation magnitude (default: the field's maximum).
        legend: paste the direction wheel in the top-left corner (when the field
            is at least 64x64).

    Returns:
        str: ``path``.
    """
    import os

    import cv2
    img = flow_to_color(flow, max_flow)
    h, w = img.shape[:2]
    if legend and min(h, w) >= 64:
        size = max(24, min(h, w) // 5)
        img[:size, :size] = flow_wheel_legend(size)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise OSError(f'cannot write {path}')
    return path
