"""Optical flow computed in the data pipeline, for a two-stream model fed flows
from outside (``FlowTwoStreamBackbone(flow_source='input')``, the issue-20 flow
block: the same detector with flows of rising quality).

:class:`ComputeFlow` takes the ``K`` frames around the clip centre, in the
backbone's pairs (:func:`~stadl_plugins.structures.flow_pairs.pair_indices`),
from ``results['imgs']`` as they are at that point of the pipeline. Place it
after every geometric transform (resize, flip, crop) and before ``FormatShape``:
the flow is then computed on the very pixels the model sees, and no transform has
to be followed. Methods are OpenCV's, on 8-bit grey images:

* ``'farneback'``: ``cv2.calcOpticalFlowFarneback`` (pyr_scale 0.5, 3 levels,
  window 15, 3 iterations, poly_n 5, sigma 1.2);
* ``'dis'``: ``cv2.DISOpticalFlow`` (``preset``: ``'ultrafast'``, ``'fast'``,
  ``'medium'``);
* ``'tvl1'``: ``cv2.optflow.DualTVL1OpticalFlow`` (opencv-contrib-python), about
  440 ms per 160 x 120 pair on one CPU thread, against 2.6 ms for DIS (measured in
  docs/flow.md, "Benchmark v2: flow quality"). Precompute it for a real run, or
  loosen its stopping criterion ``tvl1_epsilon`` (OpenCV's default 0.01; 0.05 is
  about 6x faster and less exact: both measured in docs/flow.md).

Added key (``key``, default ``input_flow``): float32 tensor ``(P, 2, H, W)``, pixels,
``flow[:, :, y, x] = (dx, dy)`` from the first to the second frame of each pair.
Pack it with ``PackActionInputs(algorithm_keys=('input_flow',))``.
"""
from __future__ import annotations

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures.flow_pairs import pair_indices

__all__ = ['ComputeFlow', 'FLOW_METHODS', 'make_flow_fn']

FLOW_METHODS = ('farneback', 'dis', 'tvl1')
_DIS_PRESETS = ('ultrafast', 'fast', 'medium')


def _grey(img) -> np.ndarray:
    import cv2
    a = np.asarray(img)
    if a.ndim == 2:
        g = a
    elif a.ndim == 3 and a.shape[2] == 3:
        g = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY) \
            if a.dtype == np.uint8 else a.mean(2)
    else:
        raise ValueError(f'ComputeFlow: expected (H, W, 3) or (H, W) frames, got {a.shape}')
    if g.dtype != np.uint8:
        g = np.clip(g, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(g)


def make_flow_fn(method: str, preset: str = 'medium', tvl1_epsilon: float = 0.01):
    """``fn(a, b) -> (H, W, 2)`` float32 flow from grey uint8 frame ``a`` to ``b``
    with the settings of the module docstring: the estimator :class:`ComputeFlow`
    runs, for measuring it elsewhere (``benchmarks/v2_flow_quality.py``)."""
    import cv2
    if method not in FLOW_METHODS:
        raise ValueError(f'method must be one of {FLOW_METHODS}, got {method!r}')
    if method == 'farneback':
        def fn(a, b):
            return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    elif method == 'dis':
        if preset not in _DIS_PRESETS:
            raise ValueError(f'preset must be one of {_DIS_PRESETS}, got {preset!r}')
        dis = cv2.DISOpticalFlow_create(getattr(cv2, f'DISOPTICAL_FLOW_PRESET_{preset.upper()}'))

        def fn(a, b):
            return dis.calc(a, b, None)
    else:
        if not hasattr(cv2, 'optflow'):
            raise ImportError("method='tvl1' needs cv2.optflow: pip install "
                              'opencv-contrib-python (and not opencv-python beside it)')
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(epsilon=float(tvl1_epsilon))

        def fn(a, b):
            return tvl1.calc(a, b, None)
    return fn


@TRANSFORMS.register_module()
class ComputeFlow(BaseTransform):
    """Optical flow of the backbone's frame pairs (module docstring).

    Args:
        method: ``'farneback'`` | ``'dis'`` | ``'tvl1'``.
        num_frames, frame_stride, pairs: as in ``FlowTwoStreamBackbone``.
        preset: DIS preset (``'medium'``).
        key: results key written (``'input_flow'``).
        tvl1_epsilon: TV-L1's stopping criterion (OpenCV's default 0.01); the
            other TV-L1 parameters are OpenCV's defaults.
    """

    def __init__(self, method: str = 'dis', num_frames: int = 3, frame_stride: int = 1,
                 pairs: str = 'adjacent', preset: str = 'medium', key: str = 'input_flow',
                 tvl1_epsilon: float = 0.01):
        if method not in FLOW_METHODS:
            raise ValueError(f'method must be one of {FLOW_METHODS}, got {method!r}')
        if preset not in _DIS_PRESETS:
            raise ValueError(f'preset must be one of {_DIS_PRESETS}, got {preset!r}')
        if not tvl1_epsilon > 0:
            raise ValueError(f'tvl1_epsilon must be > 0, got {tvl1_epsilon}')
        self.tvl1_epsilon = float(tvl1_epsilon)
        pair_indices(2 * num_frames * frame_stride + 1, num_frames, frame_stride, pairs)
        self.method, self.preset, self.key = method, preset, key
        self.num_frames, self.frame_stride, self.pairs = num_frames, frame_stride, pairs
        self._fn = None

    def _flow_fn(self):
        if self._fn is None:  # built lazily: OpenCV objects do not pickle to workers
            self._fn = make_flow_fn(self.method, self.preset, self.tvl1_epsilon)
        return self._fn

    def transform(self, results: dict) -> dict:
        imgs = results.get('imgs')
        if imgs is None or isinstance(imgs, np.ndarray) and imgs.ndim == 5:
            raise ValueError('ComputeFlow needs results["imgs"] as a list of frames: place '
                             'it after RawFrameDecode / Resize / Flip and before FormatShape')
        fn = self._flow_fn()
        flows = []
        for a, b in pair_indices(len(imgs), self.num_frames, self.frame_stride, self.pairs):
            ga, gb = _grey(imgs[a]), _grey(imgs[b])
            if ga.shape != gb.shape:
                raise ValueError(f'ComputeFlow: frames {a} and {b} differ in size: '
                                 f'{ga.shape} vs {gb.shape}')
            flows.append(fn(ga, gb))
        out = torch.from_numpy(np.stack(flows).astype(np.float32)).permute(0, 3, 1, 2)
        results[self.key] = out.contiguous()                           # (P, 2, H, W)
        return results

    def __getstate__(self):
        d = dict(self.__dict__)
        d['_fn'] = None
        return d

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(method={self.method!r}, num_frames='
                f'{self.num_frames}, frame_stride={self.frame_stride}, pairs={self.pairs!r}, '
                f'preset={self.preset!r}, key={self.key!r}, tvl1_epsilon={self.tvl1_epsilon})')
