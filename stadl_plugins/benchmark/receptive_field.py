"""Measured receptive field of a feature map (benchmark v2 design, issue 19).

The context classes of benchmark v2 only test a relation head if the RoI feature
cannot already see the target. :func:`receptive_field` measures, for one output
cell, which input pixels can change it: the support of the gradient of that cell
w.r.t. the input, with every convolution weight set to a positive constant and
every normalisation replaced by the identity, every max-pool by the average
pool of the same window (a max sends its gradient to one input only) and a
positive input (so every ReLU passes its gradient and none cancels by chance:
this is the *theoretical* receptive field, clipped by the input's borders), and
the *effective* receptive field of Luo et al. (2016) on the model as given: the
box holding ``mass`` of the absolute gradient.

    python -m stadl_plugins.benchmark.receptive_field  # the tiny SlowOnly-R18, per stage
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

__all__ = ['receptive_field', 'positive_weights', 'tiny_backbone_receptive_fields']


def positive_weights(model: nn.Module) -> nn.Module:
    """A copy with conv weights = 1/fan-in, biases 0, norms as identity and
    max-pools as average pools of the same window."""
    m = copy.deepcopy(model)

    def replace(name, new):
        parent = m
        *path, last = name.split('.')
        for p in path:
            parent = getattr(parent, p)
        setattr(parent, last, new)

    for name, mod in list(m.named_modules()):
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            with torch.no_grad():
                mod.weight.fill_(1.0 / mod.weight[0].numel())
                if mod.bias is not None:
                    mod.bias.zero_()
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
                              nn.GroupNorm, nn.LayerNorm)):
            replace(name, nn.Identity())
        elif isinstance(mod, (nn.MaxPool2d, nn.MaxPool3d)):
            avg = nn.AvgPool2d if isinstance(mod, nn.MaxPool2d) else nn.AvgPool3d
            replace(name, avg(mod.kernel_size, mod.stride, mod.padding,
                              ceil_mode=mod.ceil_mode))
    return m


def _extent(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` inclusive bounds of the True cells of a ``(H, W)`` mask."""
    ys = torch.nonzero(mask.any(1)).flatten()
    xs = torch.nonzero(mask.any(0)).flatten()
    return int(ys[0]), int(ys[-1]), int(xs[0]), int(xs[-1])


def receptive_field(forward, input_shape: tuple, cell: tuple | None = None,
                    mass: float | None = None) -> dict:
    """Input pixels that reach one output cell.

    Args:
        forward: ``x -> feature``; ``x`` of ``input_shape`` (``(1, C, H, W)`` or
            ``(1, C, T, H, W)``), the feature ``(1, C', [T',] h, w)``.
        cell: the output cell ``(i, j)`` (default: the centre).
        mass: if given, also the smallest centred box holding this fraction of
            the absolute gradient (the effective receptive field).

    Returns:
        dict: ``height``, ``width`` (pixels of the support), ``bounds`` ``(y0, y1,
        x0, x1)``, ``cell``, ``feature_shape`` and, with ``mass``,
        ``effective_height`` / ``effective_width``.
    """
    gen = torch.Generator().manual_seed(0)
    x = (0.5 + torch.rand(input_shape, generator=gen)).requires_grad_(True)
    y = forward(x)
    if isinstance(y, (tuple, list)):
        y = y[0]
    h, w = y.shape[-2:]
    i, j = cell if cell is not None else (h // 2, w // 2)
    y[..., i, j].sum().backward()
    g = x.grad.abs().reshape(-1, *input_shape[-2:]).sum(0)
    support = g > 0
    if not support.any():
        raise ValueError('the output cell does not depend on the input')
    y0, y1, x0, x1 = _extent(support)
    out = dict(height=y1 - y0 + 1, width=x1 - x0 + 1, bounds=(y0, y1, x0, x1),
               cell=(int(i), int(j)), feature_shape=tuple(y.shape))
    if mass is not None:
        cy = (y0 + y1) / 2
        cx = (x0 + x1) / 2
        total = g.sum()
        H, W = g.shape
        for r in range(0, max(H, W)):
            ya, yb = max(0, int(cy - r)), min(H, int(cy + r) + 2)
            xa, xb = max(0, int(cx - r)), min(W, int(cx + r) + 2)
            if g[ya:yb, xa:xb].sum() >= mass * total:
                out['effective_height'], out['effective_width'] = yb - ya, xb - xa
                break
    return out


def tiny_backbone_receptive_fields(height: int = 120, width: int = 160,
                                   clip_len: int = 4) -> dict:
    """Per stage of the configs' tiny SlowOnly-R18 (``configs/_base_/models/
    slowonly_r18_tiny.py``), on an unbounded-enough input (4x the frame) and on
    the frame itself: theoretical RF in pixels and the stride."""
    import os.path as osp

    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(repo, 'configs', '_base_', 'models',
                                   'slowonly_r18_tiny.py'))
    init_default_scope('mmaction')
    bcfg = cfg.model.backbone.to_dict()
    bcfg['type'] = bcfg['type'].split('.')[-1]
    n = bcfg['num_stages']
    net = MODELS.build(dict(bcfg, out_indices=tuple(range(n))))
    net.eval()             # (ResNet3d.train() returns None, so no chaining)
    net = positive_weights(net)
    res = {}
    for k in range(n):
        def stage(x, k=k):
            return net(x)[k]
        big = receptive_field(stage, (1, 3, clip_len, 4 * height, 4 * width))
        frame = receptive_field(stage, (1, 3, clip_len, height, width))
        stride = 4 * height / big['feature_shape'][-2]
        res[f'stage{k + 1}'] = dict(rf_pixels=[big['height'], big['width']],
                                    rf_in_frame=[frame['height'], frame['width']],
                                    stride=stride, channels=big['feature_shape'][1])
    return res


if __name__ == '__main__':
    import json
    print(json.dumps(tiny_backbone_receptive_fields(), indent=1))
