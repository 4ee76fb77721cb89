"""The ground-truth flow file of one synthetic video: ``flow/<video_id>.npz``.

Two layouts of the same content, float16 forward flows ``t -> t+1`` in pixels,
``flow[t, y, x] = (dx, dy)``: where the content of pixel ``(x, y)`` of 0-based
frame ``t`` is in frame ``t+1``:

- ``'stacked'`` (v1): one array ``flow`` of shape ``(T-1, H, W, 2)``;
- ``'frames'`` (v2): one array ``flow_00000``, ``flow_00001``, ... ``(H, W, 2)``
  per frame. A v2 video has 300-600 frames; reading the stacked array
  decompresses all of them (~44 MB) for the two or three flows a training clip
  needs, the per-frame layout only those (``np.load`` of an ``.npz`` reads a
  member when it is asked for).

:func:`save_flows` writes either; :class:`FlowFile` reads both and behaves as the
``(T-1, H, W, 2)`` array (``shape``, ``len``, ``flows[t]``), which is what
``compose_flows`` indexes. Files are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ['FLOW_LAYOUTS', 'FlowFile', 'save_flows']

FLOW_LAYOUTS = ('stacked', 'frames')
_FRAME_KEY = 'flow_{:05d}'


def save_flows(path: str, flows, layout: str = 'stacked') -> int:
    """Write the forward flows ``flows`` (a sequence of ``(H, W, 2)`` arrays, or one
    ``(T-1, H, W, 2)`` array) to ``path`` as float16, compressed, in ``layout``.
    Returns the number of flows written."""
    if layout not in FLOW_LAYOUTS:
        raise ValueError(f'layout must be one of {FLOW_LAYOUTS}, got {layout!r}')
    flows = [np.asarray(f, np.float16) for f in flows]
    for t, f in enumerate(flows):
        if f.ndim != 3 or f.shape[-1] != 2 or f.shape != flows[0].shape:
            raise ValueError(f'flow {t} of {path}: expected (H, W, 2) like flow 0 '
                             f'{flows[0].shape}, got {f.shape}')
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if layout == 'stacked':
        np.savez_compressed(path, flow=np.stack(flows))
    else:
        np.savez_compressed(path, **{_FRAME_KEY.format(t): f for t, f in enumerate(flows)})
    return len(flows)


class FlowFile:
    """Read-only view of a flow file in either layout, as a ``(T-1, H, W, 2)`` array.

    Use as a context manager (``with FlowFile(path) as flows: flows[t]``); indexing
    with an int returns that frame's float16 ``(H, W, 2)`` flow.
    """

    def __init__(self, path: str):
        self.path = path
        self._npz = np.load(path, allow_pickle=False)
        try:
            self._open()
        except Exception:
            self._npz.close()
            raise

    def _open(self) -> None:
        path = self.path
        files = set(self._npz.files)
        if 'flow' in files:
            self.layout = 'stacked'
            self._stacked = self._npz['flow']
            self.shape = tuple(self._stacked.shape)
        else:
            n = len(files)
            if n == 0 or any(_FRAME_KEY.format(t) not in files for t in range(n)):
                raise ValueError(f"{path}: not a flow file (expected key 'flow' or keys "
                                 f"flow_00000 .. flow_{{T-2:05d}}, got {sorted(files)[:4]})")
            self.layout = 'frames'
            self._stacked = None
            first = self._npz[_FRAME_KEY.format(0)]
            self.shape = (n, *first.shape)
        if len(self.shape) != 4 or self.shape[-1] != 2:
            raise ValueError(f'{path}: flows must be (T-1, H, W, 2), got {self.shape}')

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t: int) -> np.ndarray:
        t = int(t)
        if not 0 <= t < self.shape[0]:
            raise IndexError(f'{self.path}: flow {t} out of range 0..{self.shape[0] - 1}')
        if self._stacked is not None:
            return self._stacked[t]
        return self._npz[_FRAME_KEY.format(t)]

    def close(self) -> None:
        self._npz.close()

    def __enter__(self) -> 'FlowFile':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
