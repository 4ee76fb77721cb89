"""Ground-truth optical flow for the frame pairs a flow subnet sees.

The synthetic benchmark writes ``flow/<video_id>.npz`` (float16 forward flows
``t -> t+1``, ``flow[t, y, x] = (dx, dy)``: where the content of pixel ``(x, y)``
of 0-based frame ``t`` is in frame ``t+1``; v1 stacks them in one array, v2
stores one array per frame so that a clip reads only its own flows:
:mod:`~stadl_plugins.structures.flow_file`). :class:`LoadFlowGT` picks
the ``K`` frames around the clip centre (as
:class:`~stadl_plugins.models.backbones.flow_two_stream.FlowTwoStreamBackbone`
does), composes the per-frame flows between the two frames of every pair (the
frames of a sampled clip are usually more than one frame apart), follows the
geometric transforms applied so far (resize, horizontal flip) and stores
``results['gt_flow']``: float32 tensor ``(P, 2, H, W)``, pairs in the backbone's
order. Pack it with ``PackActionInputs(algorithm_keys=('gt_flow',))``.
"""
from __future__ import annotations

import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures.flow_file import FlowFile
from ...structures.flow_pairs import pair_indices

__all__ = ['LoadFlowGT', 'compose_flows', 'pair_indices']


def compose_flows(flows: np.ndarray, start: int, end: int) -> np.ndarray:
    """Flow from 0-based frame ``start`` to ``end`` by chaining the per-frame flows.

    Args:
        flows: ``(T-1, H, W, 2)`` forward flows of consecutive frames (an array or
            a :class:`~stadl_plugins.structures.flow_file.FlowFile`).

    Returns:
        np.ndarray: float32 ``(H, W, 2)``; zero when ``start == end``; for
        ``end < start`` the chain is not defined and an error is raised.
    """
    H, W = flows.shape[1:3]
    if end < start:
        raise ValueError(f'need start <= end, got {start} > {end}')
    total = torch.zeros(1, 2, H, W)
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32),
                            torch.arange(W, dtype=torch.float32), indexing='ij')
    for t in range(start, end):
        step = torch.from_numpy(np.ascontiguousarray(flows[t], dtype=np.float32))
        step = step.permute(2, 0, 1)[None]                          # (1, 2, H, W)
        if t == start:
            total = step
            continue
        # sample the next step's flow where the content has arrived
        gx = (xs + total[0, 0]) * 2 / max(W - 1, 1) - 1
        gy = (ys + total[0, 1]) * 2 / max(H - 1, 1) - 1
        grid = torch.stack([gx, gy], -1)[None]
        total = total + F.grid_sample(step, grid, mode='bilinear', padding_mode='border',
                                      align_corners=True)
    return total[0].permute(1, 2, 0).numpy()


@TRANSFORMS.register_module()
class LoadFlowGT(BaseTransform):
    """Load and compose the ground-truth flow of the subnet's frame pairs.

    Required keys: ``video_id``, ``frame_inds``, ``start_index`` (optional, 0),
    ``img_shape``; optional ``flip`` / ``flip_direction`` (horizontal only).
    Added key: ``gt_flow`` float32 tensor ``(P, 2, H, W)`` in pixels of the
    (resized) image.

    Args:
        flow_prefix: folder of ``<video_id>.npz`` files.
        num_frames, frame_stride, pairs: as in the backbone (``pair_indices``).
        key: results key written: ``'gt_flow'`` (the flow loss and ``flow_epe``) or
            ``'input_flow'`` (the GT flow as the model's input,
            ``FlowTwoStreamBackbone(flow_source='input')``).
        place after every geometric transform (resize, flip); crops are refused.
    """

    def __init__(self, flow_prefix: str, num_frames: int = 3, frame_stride: int = 1,
                 pairs: str = 'adjacent', key: str = 'gt_flow'):
        if key not in ('gt_flow', 'input_flow'):
            raise ValueError(f"key must be 'gt_flow' or 'input_flow', got {key!r}")
        self.key = key
        self.flow_prefix = flow_prefix
        self.num_frames, self.frame_stride, self.pairs = num_frames, frame_stride, pairs
        pair_indices(2 * num_frames * frame_stride + 1, num_frames, frame_stride, pairs)

    def transform(self, results: dict) -> dict:
        path = osp.join(self.flow_prefix, f"{results['video_id']}.npz")
        if not osp.exists(path):
            raise FileNotFoundError(f'no ground-truth flow for {results["video_id"]}: {path}')
        crop = results.get('crop_quadruple')
        if crop is not None and not np.allclose(np.asarray(crop, np.float32), [0, 0, 1, 1]):
            raise ValueError('LoadFlowGT does not follow crops; put it before the crop or '
                             f'drop the crop (crop_quadruple={crop})')
        inds = np.asarray(results['frame_inds']).reshape(-1) - results.get('start_index', 0)
        out = []
        with FlowFile(path) as flows:                               # (T-1, H0, W0, 2)
            inds = np.clip(inds, 0, flows.shape[0])
            for a, b in pair_indices(len(inds), self.num_frames, self.frame_stride,
                                     self.pairs):
                fa, fb = int(inds[a]), int(inds[b])
                out.append(compose_flows(flows, fa, fb) if fb >= fa
                           else -compose_flows(flows, fb, fa))  # reversed frames: approximate
        gt = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()  # (P, 2, H0, W0)
        H0, W0 = gt.shape[-2:]
        H, W = results['img_shape'][:2]
        if (H, W) != (H0, W0):
            gt = F.interpolate(gt, (H, W), mode='bilinear', align_corners=False)
            gt = gt * torch.tensor([W / W0, H / H0]).view(1, 2, 1, 1)
        if results.get('flip', False):
            if results.get('flip_direction', 'horizontal') != 'horizontal':
                raise ValueError('LoadFlowGT follows horizontal flips only')
            gt = gt.flip(-1)
            gt[:, 0] = -gt[:, 0]
        results[self.key] = gt.float()
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(flow_prefix={self.flow_prefix!r}, '
                f'num_frames={self.num_frames}, frame_stride={self.frame_stride}, '
                f'pairs={self.pairs!r}, key={self.key!r})')
