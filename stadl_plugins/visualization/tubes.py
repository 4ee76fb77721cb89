"""Action tubes (one box per frame per track) drawn across a strip of frames."""
from __future__ import annotations

import numpy as np

from .boxes import draw_person_boxes
from .image_grid import as_uint8_frames, put_caption, tile, write_png


def draw_tubes(frames, tubes, frame_indices=None) -> np.ndarray:
    """Draw tubes on frames.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        tubes: list of dicts, one per tube: ``id`` (int), ``frame_inds`` ``(L,)``
            frame numbers, ``boxes`` ``(L, 4)`` ``[x1, y1, x2, y2]`` pixels, and
            optional ``label`` (str) and ``score`` (float) written next to the id.
        frame_indices: the frame number of each of the ``T`` frames (default
            ``0..T-1``); a tube box is drawn on the frame with its number.

    Returns:
        np.ndarray: ``(T, H, W, 3)`` uint8 RGB, annotated copies.
    """
    import cv2
    frames = as_uint8_frames(frames)
    numbers = list(range(len(frames))) if frame_indices is None else \
        [int(i) for i in frame_indices]
    if len(numbers) != len(frames):
        raise ValueError(f'{len(frames)} frames but {len(numbers)} frame indices')
    out = []
    for number, frame in zip(numbers, frames):
        ids, boxes, labels = [], [], {}
        for tube in tubes:
            inds = np.asarray(tube['frame_inds']).reshape(-1)
            hit = np.flatnonzero(inds == number)
            if len(hit) == 0:
                continue
            tid = int(tube['id'])
            ids.append(tid)
            boxes.append(np.asarray(tube['boxes'], np.float32).reshape(-1, 4)[hit[0]])
            if tube.get('label') is not None:
                labels[tid] = [(str(tube['label']), float(tube.get('score', 1.0)))]
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        drawn = draw_person_boxes(bgr, np.array(ids, np.int64),
                                  np.array(boxes, np.float32).reshape(-1, 4), labels)
        out.append(cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB))
    return np.stack(out) if out else frames[:0]


def save_tube_strip(path: str, frames, tubes, frame_indices=None,
                    ncols: int | None = None, gap: int = 2,
                    max_width: int | None = None) -> np.ndarray:
    """Write the frames of :func:`draw_tubes` as one PNG grid (frame numbers as
    captions); size ``rows*H + (rows-1)*gap`` by ``cols*W + (cols-1)*gap``.
    ``max_width``: shrink the frames (after drawing, before captions) so the grid
    is at most this wide (``visualize.py tubes`` uses 2048: eight 1080p frames
    would be 7686 px wide)."""
    drawn = draw_tubes(frames, tubes, frame_indices)
    cols = ncols or min(len(drawn), 8)
    w = drawn.shape[2] if len(drawn) else 0
    if max_width and len(drawn) and cols * w + (cols - 1) * gap > max_width:
        import cv2
        scale = (max_width - (cols - 1) * gap) / (cols * w)
        size = (max(1, int(w * scale)), max(1, int(drawn.shape[1] * scale)))
        drawn = np.stack([cv2.resize(np.ascontiguousarray(f), size,
                                     interpolation=cv2.INTER_AREA) for f in drawn])
    numbers = range(len(drawn)) if frame_indices is None else frame_indices
    for img, n in zip(drawn, numbers):
        put_caption(img, f'frame {int(n)}')
    grid = tile(drawn, ncols, gap)
    write_png(path, grid)
    return grid
