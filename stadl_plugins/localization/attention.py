"""Weakly supervised action localisation from attention maps (Li et al.,
"VideoLSTM Convolves, Attends and Flows for Action Recognition", Sec. 4).

A model trained on video labels alone (``VideoLSTMHead`` puts ``attention_maps``
``(T, h, w)`` and ``frame_scores`` ``(T, K)`` into its data samples) gives a
single action tube per video:

1. :func:`attention_to_saliency`: each map upsampled to the frame size
   (bilinear, "affine interpolation") and Gaussian-smoothed into a saliency map,
   rescaled to ``[0, 255]`` by its maximum (so the paper's threshold 100 has a
   fixed meaning);
2. :func:`saliency_to_boxes`: ``S_t >= threshold`` -> 8-connected components
   (``scipy.ndimage.label``) -> one box per component (eq. 16);
3. :func:`link_boxes`: one box per frame, greedily the one with the largest
   IoU with the previous frame's box (the first frame takes the component with
   the largest saliency mass; a frame without boxes keeps the previous box);
4. :func:`smooth_boxes`: locally weighted linear regression (degree 1,
   tricube weights) of each coordinate over time;
5. :func:`attention_tube`: all of the above, scored per class by the
   frame-averaged class scores.

Boxes are ``[x1, y1, x2, y2]`` in pixels with exclusive right/bottom edges (a
component covering columns 3..7 gives ``x1 = 3, x2 = 8``).
Paper gaps (our choices): the saliency scale (max-normalised to 255), the
first-frame choice, the regression bandwidth (``span`` frames, default 9).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..structures.bbox import pairwise_iou

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def attention_to_saliency(attention, frame_size: tuple[int, int],
                          sigma: float = 4.0) -> np.ndarray:
    """Attention maps -> saliency maps at frame resolution.

    Args:
        attention: ``(T, h, w)`` (tensor or array), non-negative.
        frame_size: ``(H, W)`` of the frames.
        sigma: Gaussian smoothing in frame pixels (0 = none).

    Returns:
        np.ndarray: ``(T, H, W)`` float32 in ``[0, 255]`` (255 at each map's max).
    """
    att = torch.as_tensor(np.asarray(attention), dtype=torch.float32)
    if att.dim() != 3:
        raise ValueError(f'attention must be (T, h, w), got {tuple(att.shape)}')
    up = F.interpolate(att[:, None], size=tuple(frame_size), mode='bilinear',
                       align_corners=False)[:, 0].numpy()
    out = np.empty_like(up)
    for t, s in enumerate(up):
        if sigma > 0:
            s = ndimage.gaussian_filter(s, sigma)
        peak = s.max()
        out[t] = s * (255.0 / peak) if peak > 0 else 0.0
    return out


def saliency_to_boxes(saliency: np.ndarray, threshold: float = 100.0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the 8-connected components of ``saliency >= threshold``.

    Args:
        saliency: ``(H, W)``.
        threshold: the paper's ``theta_t`` (100 on the 0-255 scale).

    Returns:
        tuple: boxes ``(B, 4)`` float ``[x1, y1, x2, y2]`` and each component's
        saliency mass ``(B,)``.
    """
    sal = np.asarray(saliency, dtype=np.float64)
    if sal.ndim != 2:
        raise ValueError(f'saliency must be (H, W), got {sal.shape}')
    labels, n = ndimage.label(sal >= threshold, structure=EIGHT_CONNECTED)
    boxes, mass = [], []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        ys, xs = sl
        boxes.append([xs.start, ys.start, xs.stop, ys.stop])
        mass.append(float(sal[labels == i].sum()))
    return (np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            np.asarray(mass, dtype=np.float64))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``(4,)`` vs ``(B, 4)`` (continuous edges)."""
    return pairwise_iou(np.asarray(a, np.float64)[None], b)[0]


def link_boxes(boxes_per_frame, masses_per_frame=None) -> np.ndarray:
    """One box per frame, greedily by IoU with the previous frame's box.

    Args:
        boxes_per_frame: list of ``(B_t, 4)`` arrays.
        masses_per_frame: list of ``(B_t,)`` (first-frame choice; default area).

    Returns:
        np.ndarray: ``(T, 4)``; frames before the first detection take the first
        box, frames without boxes repeat the previous one.

    Raises:
        ValueError: no frame has a box.
    """
    T = len(boxes_per_frame)
    first = next((t for t, b in enumerate(boxes_per_frame) if len(b)), None)
    if first is None:
        raise ValueError('no frame has a box above the threshold')
    out = np.zeros((T, 4))
    b0 = np.asarray(boxes_per_frame[first], dtype=np.float64)
    if masses_per_frame is not None:
        score = np.asarray(masses_per_frame[first])
    else:
        score = (b0[:, 2] - b0[:, 0]) * (b0[:, 3] - b0[:, 1])
    prev = b0[int(np.argmax(score))]
    out[:first + 1] = prev
    for t in range(first + 1, T):
        b = np.asarray(boxes_per_frame[t], dtype=np.float64).reshape(-1, 4)
        if len(b):
            prev = b[int(np.argmax(box_iou(prev, b)))]
        out[t] = prev
    return out


def smooth_boxes(boxes: np.ndarray, span: int = 9) -> np.ndarray:
    """Locally weighted linear regression of each coordinate over time.

    Args:
        boxes: ``(T, 4)``.
        span: frames in each local fit (tricube weights over that window).

    Returns:
        np.ndarray: ``(T, 4)`` smoothed boxes (a linear track is unchanged).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    T = len(boxes)
    if T < 3 or span < 3:
        return boxes.copy()
    t = np.arange(T, dtype=np.float64)
    half = max(1.0, (min(span, T) - 1) / 2.0)
    out = np.empty_like(boxes)
    for i in range(T):
        d = np.abs(t - i) / (half + 1.0)
        w = np.where(d < 1, (1 - d ** 3) ** 3, 0.0)
        X = np.stack([np.ones(T), t - i], 1)
        XtW = X.T * w
        coef = np.linalg.lstsq(XtW @ X, XtW @ boxes, rcond=None)[0]
        out[i] = coef[0]  # the local line evaluated at t = i
    return out


def attention_tube(attention, frame_size: tuple[int, int], frame_scores=None,
                   threshold: float = 100.0, sigma: float = 4.0, span: int = 9
                   ) -> dict:
    """The single action tube of a video from its attention maps.

    Args:
        attention: ``(T, h, w)`` attention maps.
        frame_size: ``(H, W)`` of the frames the maps cover.
        frame_scores: optional ``(T, K)`` per-frame class scores.
        threshold, sigma, span: see the functions above.

    Returns:
        dict: ``boxes`` ``(T, 4)`` float pixels and, with ``frame_scores``,
        ``scores`` ``(K,)`` (frame-averaged class scores of the tube).
    """
    sal = attention_to_saliency(attention, frame_size, sigma)
    found = [saliency_to_boxes(s, threshold) for s in sal]
    linked = link_boxes([b for b, _ in found], [m for _, m in found])
    tube = dict(boxes=smooth_boxes(linked, span))
    if frame_scores is not None:
        tube['scores'] = np.asarray(torch.as_tensor(np.asarray(frame_scores)).mean(0))
    return tube


__all__ = ['attention_to_saliency', 'saliency_to_boxes', 'link_boxes', 'smooth_boxes',
           'attention_tube', 'box_iou']
