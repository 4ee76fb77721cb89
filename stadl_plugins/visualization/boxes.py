"""Drawing person boxes, track ids and action labels on frames (OpenCV)."""
from __future__ import annotations

import colorsys

import numpy as np


def track_color(track_id: int) -> tuple[int, int, int]:
    """A distinct, stable BGR colour per track id (golden-ratio hue steps)."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_person_boxes(frame_bgr: np.ndarray, track_ids, boxes,
                      labels: dict | None = None, thickness: int | None = None,
                      font_scale: float | None = None) -> np.ndarray:
    """Draw boxes with ``#id`` and up to a few ``label score`` lines each.

    Args:
        frame_bgr: ``(H, W, 3)`` uint8 frame (not modified).
        track_ids: ``(N,)`` ints (the id picks the colour).
        boxes: ``(N, 4)`` ``[x1, y1, x2, y2]`` in pixels.
        labels: ``{track_id: [(name, score), ...]}`` drawn under the id.
        thickness, font_scale: default to values scaled with the frame height.

    Returns:
        np.ndarray: an annotated copy ``(H, W, 3)`` uint8.
    """
    import cv2
    out = np.ascontiguousarray(frame_bgr).copy()
    h = out.shape[0]
    thickness = thickness or max(1, int(round(h / 240)))
    font_scale = font_scale or max(0.35, h / 700)
    labels = labels or {}
    line_h = int(round(22 * font_scale)) + 2
    for tid, box in zip(np.asarray(track_ids).reshape(-1),
                        np.asarray(boxes, np.float32).reshape(-1, 4)):
        color = track_color(int(tid))
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        lines = [f'#{int(tid)}'] + [f'{name} {score:.2f}'
                                     for name, score in labels.get(int(tid), [])]
        y = max(y1, line_h * len(lines)) - line_h * len(lines)
        for text in lines:
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX,
                                          font_scale, 1)
            cv2.rectangle(out, (x1, y), (x1 + tw + 4, y + line_h), color, -1)
            cv2.putText(out, text, (x1 + 2, y + line_h - 4),
                        cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1,
                        cv2.LINE_AA)
            y += line_h
    return out


def draw_banner(frame_bgr: np.ndarray, text: str) -> np.ndarray:
    """Write a line of text on a dark strip at the top of the frame (in place)."""
    import cv2
    h = frame_bgr.shape[0]
    scale = max(0.35, h / 700)
    strip = int(round(22 * scale)) + 4
    frame_bgr[:strip] = (frame_bgr[:strip] * 0.35).astype(frame_bgr.dtype)
    cv2.putText(frame_bgr, text, (4, strip - 6), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return frame_bgr
