"""``ClipFlowBackbone``: any video backbone plus the optical flow of its input clip,
for VideoLSTM's flow-driven motion attention (Li et al. 2016, Sec. 3.2: the motion
layer reads "the feature map extracted from optical flow image at timestep t"):
``ConvALSTMNeck`` / ``VideoLSTMHead`` with ``motion_source='flow'``.

``forward((N, 3, T, H, W))`` returns the inner backbone's outputs with the flow
``(N, 2, T_f, H, W)`` (pixels of the input, ``(u, v)``) appended as the last tuple
element. ``T_f`` is the number of time steps of the inner output
``flow_rgb_index`` (the feature the VideoLSTM attends): step ``i`` stands for clip
frame ``p_i = i * T // T_f`` (what a temporal stride of ``T / T_f`` keeps, e.g.
SlowFast's slow pathway), the flow of the consecutive pairs ``(p_i, p_{i+1})`` is
estimated by a :class:`~stadl_plugins.models.flow.pwcnet.PWCNet` (randomly
initialised, or ``flow_pretrained``: any layout of ``tools/convert/pwcnet_weights.py``)
and the ``T_f - 1`` pair flows become one flow per step with
:func:`~stadl_plugins.models.necks.pwc_flow_neck.pairs_to_slices` (step ``t``: the
mean of pairs ``(t-1, t)`` and ``(t, t+1)``). ``T_f = 1``: the flow from the first
to the last frame; a 1-frame clip: zero flow. The frames go to PWC-Net as the two-
stream model sends them (:func:`~stadl_plugins.models.backbones.flow_two_stream.
to_pwc_input`: back to 0-255 with the data preprocessor's mean/std, [0, 1], BGR).

Two ways to give the inner backbone:

* ``backbone=dict(type='mmaction.ResNet3dSlowOnly', ...)``;
* the one-line swap into a stock config, whose backbone dict is merged into this
  one: ``backbone=dict(type='ClipFlowBackbone', inner_type='mmaction.ResNet3dSlowOnly')``
  -- every key that is not this class's own goes to the inner backbone.

A checkpoint of the bare inner backbone (a stock detector's ``backbone.*`` keys)
loads as well: keys that are neither ``backbone.*`` nor ``flow_net.*`` are moved
under ``backbone.`` (a load-state-dict pre-hook), so ``load_from`` / the stock
``init_cfg`` of a trained stock detector still fill the inner backbone.

Gaps we filled (the paper: TV-L1 flow of adjacent frames, rescaled to 0-255, fed
to an ImageNet-initialised VGG-16 flow network whose pool5 map is ``M_t``):

* the flow comes from PWC-Net on the clip (no precomputed flow needed); frozen by
  default (``freeze_flow=True``: a fixed flow algorithm, as the paper's TV-L1),
  trainable by the detection loss with ``freeze_flow=False``; nothing supervises
  the flow here, so without ``flow_pretrained`` it is an untrained PWC-Net's;
* the VGG-16 flow network is replaced by the neck's/head's small
  :class:`~stadl_plugins.models.necks.conv_alstm_neck.FlowMotionEncoder` on the
  flow pooled to the feature map.
"""
from __future__ import annotations

from typing import Sequence

import torch
from mmengine.model import BaseModule

from ...registry import register_model
from ..flow.weight_converters import load_pwcnet_weights
from ..necks.pwc_flow_neck import pairs_to_slices
from .flow_two_stream import _build, to_pwc_input

__all__ = ['ClipFlowBackbone', 'step_frames']


def step_frames(clip_len: int, steps: int) -> list[int]:
    """Clip frame of each of ``steps`` feature steps: ``i * clip_len // steps``."""
    if steps < 1 or clip_len < 1:
        raise ValueError(f'need clip_len, steps >= 1, got {clip_len}, {steps}')
    return [i * clip_len // steps for i in range(steps)]


@register_model()
class ClipFlowBackbone(BaseModule):
    """An inner backbone + the PWC-Net flow of the clip (see the module docstring).

    Args:
        backbone: config of the inner backbone (give this or ``inner_type``).
        inner_type: type of the inner backbone, its arguments in ``**inner_kwargs``.
        flow_net: config of the flow network (default ``dict(type='PWCNet')``).
        flow_pretrained: PWCNet checkpoint loaded by ``init_weights``.
        freeze_flow: no gradient into the flow network (default).
        flow_mean, flow_std: the data preprocessor's normalisation (RGB, 0-255).
        flow_bgr: feed PWC-Net BGR (public weights) instead of RGB.
        flow_rgb_index: inner output (tuple index) whose time steps the flow follows.
        init_cfg: mmengine init config.

    Shapes: ``(N, 3, T, H, W)`` -> ``(*inner outputs, flow (N, 2, T_f, H, W))``.
    ``last_flow`` holds the flow of the last forward (detached).
    """

    def __init__(self, backbone: dict | None = None, inner_type: str | None = None,
                 flow_net: dict | None = None, flow_pretrained: str | None = None,
                 freeze_flow: bool = True,
                 flow_mean: Sequence[float] = (123.675, 116.28, 103.53),
                 flow_std: Sequence[float] = (58.395, 57.12, 57.375),
                 flow_bgr: bool = True, flow_rgb_index: int = 0,
                 init_cfg: dict | None = None, **inner_kwargs):
        super().__init__(init_cfg=init_cfg)
        if (backbone is None) == (inner_type is None):
            raise ValueError('ClipFlowBackbone needs the inner backbone: backbone=dict(...) '
                             'or inner_type=... with its arguments (not both)')
        if backbone is not None and inner_kwargs:
            raise TypeError(f'unexpected arguments {sorted(inner_kwargs)} next to backbone=')
        cfg = dict(backbone) if backbone is not None else dict(type=inner_type, **inner_kwargs)
        self.backbone = _build(cfg)
        self.flow_net = _build(dict(type='PWCNet') if flow_net is None else flow_net)
        self.register_buffer('mean', torch.tensor(flow_mean, dtype=torch.float32)
                             .view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(flow_std, dtype=torch.float32)
                             .view(1, 3, 1, 1), persistent=False)
        self.flow_bgr, self.flow_rgb_index = flow_bgr, flow_rgb_index
        self.flow_pretrained = flow_pretrained
        self.flow_trainable = not freeze_flow
        for p in self.flow_net.parameters():
            p.requires_grad_(self.flow_trainable)
        self.last_flow: torch.Tensor | None = None
        self._register_load_state_dict_pre_hook(self._inner_layout_hook)

    def _inner_layout_hook(self, state_dict, prefix, *args) -> None:
        """Move a bare inner-backbone checkpoint's keys under ``backbone.``."""
        own = (prefix + 'backbone.', prefix + 'flow_net.')
        for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(own)]:
            state_dict[prefix + 'backbone.' + key[len(prefix):]] = state_dict.pop(key)

    def init_weights(self) -> None:
        super().init_weights()
        if self.flow_pretrained:
            load_pwcnet_weights(self.flow_net, self.flow_pretrained)

    def clip_flow(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Flow ``(N, 2, steps, H, W)`` of a normalised clip ``(N, 3, T, H, W)``."""
        N, _, T, H, W = x.shape
        frames = step_frames(T, steps)
        pairs = list(zip(frames[:-1], frames[1:])) if steps > 1 else (
            [(0, T - 1)] if T > 1 else [])
        if not pairs:
            return x.new_zeros(N, 2, steps, H, W)
        first = torch.cat([x[:, :, a] for a, _ in pairs], 0)           # (P*N, 3, H, W)
        second = torch.cat([x[:, :, b] for _, b in pairs], 0)
        img1 = to_pwc_input(first, self.mean, self.std, self.flow_bgr)
        img2 = to_pwc_input(second, self.mean, self.std, self.flow_bgr)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.flow_trainable):
            flow = self.flow_net(img1, img2)                            # (P*N, 2, H, W)
        flow = flow.view(len(pairs), N, 2, H, W).permute(1, 2, 0, 3, 4)  # (N, 2, P, H, W)
        return flow if steps == 1 else pairs_to_slices(flow)

    def forward(self, x: torch.Tensor) -> tuple:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f'expected a clip (N, 3, T, H, W), got {tuple(x.shape)}')
        feats = self.backbone(x)
        outs = [feats] if torch.is_tensor(feats) else list(feats)
        steps = outs[self.flow_rgb_index].shape[2]
        flow = self.clip_flow(x, steps)
        self.last_flow = flow.detach()
        return (*outs, flow)
