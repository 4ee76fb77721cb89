"""The integrated real-time model of Zhang et al., "Learning motion representation
for real-time spatio-temporal action localization" (Pattern Recognition 2020), as
an MMAction2 backbone wrapper plus a ``FastRCNN`` that adds the flow loss.

:class:`FlowTwoStreamBackbone` (paper Fig. 1, 2):

1. from the clip ``(N, 3, T, H, W)`` take ``K = num_frames`` (3) frames around the
   centre ``k = T // 2`` (``frame_stride`` apart): ``im_{k-1}, im_k, im_{k+1}``;
2. a :class:`~stadl_plugins.models.flow.pwcnet.PWCNet` estimates the flow of the
   pairs ``(im_{k-1}, im_k)`` and ``(im_k, im_{k+1})`` (``pairs='adjacent'``, the
   paper; ``'outer'``: the single pair ``(im_{k-1}, im_{k+1})`` of the released
   code), each at the PWCNet's size (``input_size=(320, 320)`` in the paper) and
   resized back to ``H x W``;
3. the flows are stacked on channels and a 1x1 "fusing" convolution (+BN) turns
   them into a 3-channel flow image;
4. one **shared-weight** inner backbone (any MMAction2 3D backbone returning its
   stages, e.g. ``ResNet3dSlowOnly`` with ``out_indices=(1, 2, 3)``) processes the
   RGB keyframe ``im_k`` and the flow image (as 1-frame clips, in one batch);
5. the RGB and flow features of each scale are fused (M-Concat, M-Sum,
   M-Average or STFP, :mod:`stadl_plugins.models.flow.fusion`), and the fused
   map of scale ``out_scale`` -- ``(N, C, 1, h, w)`` -- goes to the stock RoI head.

The flow subnet starts frozen (``freeze_flow=True``) and is unfrozen by
:class:`~stadl_plugins.engine.flow_unfreeze_hook.FlowUnfreezeHook` after N
iterations. :class:`~stadl_plugins.models.detectors.flow_fast_rcnn.FlowFastRCNN` adds the multi-level EPE loss L(Theta) of the
flow subnet to the detection losses (``loss_flow``) when the data carry ground
truth flow (``data_sample.gt_flow``, written by the ``LoadFlowGT`` transform) and
the subnet is trainable; it always logs ``flow_epe`` when GT is present.

Paper gaps filled here:

* the detector: the paper's SSD/RFB head and Deeplab-VGG16 are replaced by the
  stock MMAction2 AVA head (RoIAlign on proposals) and an MMAction2 3D backbone on
  1-frame clips; only one scale (``out_scale``) reaches the RoI head, so
  element-wise fusion is built only for it and STFP for ``out_scale`` and the
  coarser scales (the paper's SSD head reads every scale);
* the fusing conv is 1x1 conv + BatchNorm (the paper: "1x1 point-wise conv"; the
  released code adds BN+ReLU -- the ReLU would drop the sign of the flow, so it is
  left out), its input the flows divided by PWCNet's ``flow_div`` (20);
* PWC-Net input: the normalised clip is mapped back to 0-255 with the data
  preprocessor's ``mean``/``std``, scaled to [0, 1] and flipped to BGR
  (``pwc_bgr=True``), what public PWC-Net weights expect;
* ``flow_source`` (the issue-20 flow block: flows of rising quality into the same
  model): ``'pwcnet'`` (the paper), ``'zero'`` (no motion), ``'frame_difference'``
  (the grey-level difference of each pair, in the two flow channels; not a flow,
  the cheapest motion cue) or ``'input'`` (flows computed outside the model, by
  the :class:`~stadl_plugins.datasets.transforms.ComputeFlow` transform or
  :class:`~stadl_plugins.datasets.transforms.LoadFlowGT`, carried by each data
  sample as ``input_flow`` ``(P, 2, H, W)`` pixels and handed over by
  :class:`~stadl_plugins.models.detectors.flow_fast_rcnn.FlowFastRCNN`). Every
  source is divided by PWCNet's ``flow_div`` (20) before the fusing conv, as the
  estimated flow is; without ``'pwcnet'`` there is no flow subnet and no
  ``loss_flow``, and ``flow_epe`` (when the samples carry ``gt_flow``) measures the
  given flow;
* ``flow_pretrained``: a PWCNet checkpoint (any layout of
  :mod:`~stadl_plugins.models.flow.weight_converters`) loaded at ``init_weights``;
* ``backbone_pretrained``: the shared inner backbone from a checkpoint whose keys
  carry ``backbone_prefix`` (a Recognizer3D's or detector's ``backbone.*``, e.g.
  the v2 pretraining stage's), loaded at ``init_weights`` after the children's
  own initialisation. The detector-level ``init_cfg=dict(type='Pretrained')``
  cannot do this: the inner backbone's keys are ``backbone.backbone.*`` and
  mmengine loads with ``strict=False``, so nothing would load and nothing would
  say so. Here every inner parameter must be in the checkpoint (missing keys
  raise, naming the prefix); extra keys (a head) are counted in
  ``backbone_load_info``;
* the flow loss (``loss_flow``): Eq. 8 adds L(Theta) to the detection losses with
  weight 1 (``FlowFastRCNN(flow_loss_weight=1.0)``); Eq. 1 is PWC-Net's loss with
  weights ``alpha_i`` whose values the paper does not give: we take PWC-Net's
  (0.32, 0.08, 0.02, 0.01, 0.005 for levels 6..2, keyed by level, so a shorter
  pyramid keeps the weights of its levels), its ground truth divided by 20 and
  average-pooled to each level, and its per-pixel EPE **summed** over the pixels
  of each level (``flow_loss_reduction='sum'``, the default and every shipped
  config). The paper does not say how the K-1 pairs and the batch combine: the sum
  is averaged over the pairs and the clips (PWC-Net divides by the batch size).
  ``'mean'`` (over pixels, ~1/(h*w) of the paper's loss per level) is an explicit
  option only; with it the detection gradient swamps the EPE term once the
  subnet is unfrozen;
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ...registry import MMDET_MODELS, register_model
from ...safe_load import load_prefixed_weights
from ...structures.flow_pairs import pair_indices
from ..flow.fusion import FUSION_MODES, PyramidFusion
from ..flow.pwcnet import end_point_error
from ..flow.weight_converters import load_pwcnet_weights

__all__ = ['FlowTwoStreamBackbone', 'to_pwc_input', 'FLOW_SOURCES']

#: where the flow stream's flow comes from (``flow_source``)
FLOW_SOURCES = ('pwcnet', 'zero', 'frame_difference', 'input')
#: PWCNet's flow scaling, used for every source so the fusing conv sees one scale
DEFAULT_FLOW_DIV = 20.0


def _build(cfg: dict):
    """Build a sub-model from inside mmdet's scope (the detector's): MMAction2
    models need their prefix, e.g. ``'mmaction.ResNet3dSlowOnly'``; stadl_plugins
    models are registered in both registries."""
    return MMDET_MODELS.build(cfg)


def to_pwc_input(frames: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 bgr: bool = True) -> torch.Tensor:
    """Normalised ``(B, 3, H, W)`` RGB frames -> PWC-Net input: back to 0-255 with
    the data preprocessor's ``mean``/``std`` (``(1, 3, 1, 1)``), scaled to [0, 1],
    flipped to BGR when ``bgr`` (what public PWC-Net weights expect)."""
    img = (frames * std + mean) / 255.0
    return img.flip(1) if bgr else img


@register_model()
class FlowTwoStreamBackbone(BaseModule):
    """PWC-Net flow subnet + shared-weight two-stream backbone + multi-scale fusion.

    Args:
        flow_net: config of the flow subnet (``dict(type='PWCNet', ...)``).
        backbone: config of the shared inner backbone; it must return one map per
            scale (a tuple, or a tensor for one scale) for ``(B, 3, 1, H, W)`` input.
        stage_channels: channels of the inner backbone's outputs, fine -> coarse.
        fusion: ``'concat'`` | ``'sum'`` | ``'average'`` | ``'stfp'``.
        out_scale: index (into the backbone outputs) of the scale returned.
        num_frames: K (3); ``frame_stride``: clip positions between them.
        pairs: ``'adjacent'`` (paper, K-1 pairs) or ``'outer'`` (released code).
        mean, std: the data preprocessor's normalisation (RGB, 0-255).
        pwc_bgr: feed PWCNet BGR (public weights) instead of RGB.
        freeze_flow: start with the flow subnet frozen (the paper).
        flow_pretrained: optional PWCNet checkpoint loaded by ``init_weights``.
        flow_loss_reduction: ``'sum'`` over pixels (the paper / PWC-Net, default)
            or ``'mean'`` over pixels (an explicit option, not the paper).
        flow_source: ``'pwcnet'`` | ``'zero'`` | ``'frame_difference'`` |
            ``'input'`` (module docstring); ``flow_net`` may be None unless
            ``'pwcnet'``.
        backbone_pretrained: optional checkpoint of the inner backbone, its keys
            under ``backbone_prefix`` (default ``'backbone.'``; ``''`` for an
            unprefixed file), loaded strictly by ``init_weights``.
        init_cfg: mmengine init config.

    Shapes: ``forward((N, 3, T, H, W)) -> (N, C_out, 1, h, w)``. After a forward,
    ``last_flow`` is ``(N, P, 2, H, W)`` (pixels).
    """

    def __init__(self, flow_net: dict, backbone: dict, stage_channels: Sequence[int],
                 fusion: str = 'concat', out_scale: int = -1, num_frames: int = 3,
                 frame_stride: int = 1, pairs: str = 'adjacent',
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), pwc_bgr: bool = True,
                 freeze_flow: bool = True, flow_pretrained: str | None = None,
                 flow_loss_reduction: str = 'sum', flow_source: str = 'pwcnet',
                 backbone_pretrained: str | None = None,
                 backbone_prefix: str = 'backbone.', init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        if flow_source not in FLOW_SOURCES:
            raise ValueError(f'flow_source must be one of {FLOW_SOURCES}, got {flow_source!r}')
        if flow_source == 'pwcnet' and flow_net is None:
            raise ValueError("flow_source='pwcnet' needs a flow_net (e.g. dict(type='PWCNet'))")
        if flow_source != 'pwcnet' and (flow_net is not None or flow_pretrained):
            raise ValueError(f"flow_source={flow_source!r} has no flow subnet: set flow_net=None "
                             'and flow_pretrained=None (they would be ignored)')
        self.flow_source = flow_source
        if fusion not in FUSION_MODES:
            raise ValueError(f'fusion must be one of {FUSION_MODES}, got {fusion!r}')
        if flow_loss_reduction not in ('sum', 'mean'):
            raise ValueError("flow_loss_reduction must be 'sum' (the paper) or 'mean', "
                             f'got {flow_loss_reduction!r}')
        pair_indices(2 * num_frames * frame_stride + 1, num_frames, frame_stride, pairs)
        self.flow_net = _build(flow_net) if flow_source == 'pwcnet' else None
        self.flow_div = float(getattr(self.flow_net, 'flow_div', DEFAULT_FLOW_DIV))
        self.backbone = _build(backbone)
        self.stage_channels = list(stage_channels)
        self.out_scale = out_scale % len(self.stage_channels)
        self.num_frames, self.frame_stride, self.pairs = num_frames, frame_stride, pairs
        self.num_pairs = 1 if pairs == 'outer' else num_frames - 1
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.pwc_bgr = pwc_bgr
        self.flow_fuse = nn.Sequential(nn.Conv2d(2 * self.num_pairs, 3, 1), nn.BatchNorm2d(3))
        used = self.stage_channels[self.out_scale:] if fusion == 'stfp' else \
            [self.stage_channels[self.out_scale]]
        self.fusion_mode = fusion
        self.fusion = PyramidFusion(used, used, fusion, identity_init=False)
        self.flow_pretrained = flow_pretrained
        self.backbone_pretrained = backbone_pretrained
        self.backbone_prefix = backbone_prefix
        self.backbone_load_info: dict | None = None
        self.flow_loss_reduction = flow_loss_reduction
        self.flow_trainable = True
        self.set_flow_trainable(not freeze_flow)
        self.last_flow: torch.Tensor | None = None
        self._last_levels: dict | None = None

    # ------------------------------------------------------------ freezing
    def set_flow_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze (True) the flow subnet's parameters."""
        self.flow_trainable = bool(trainable)
        for p in (self.flow_net.parameters() if self.flow_net is not None else ()):
            p.requires_grad_(self.flow_trainable)

    def init_weights(self) -> None:
        super().init_weights()
        if self.flow_pretrained and self.flow_net is not None:
            load_pwcnet_weights(self.flow_net, self.flow_pretrained)
        if self.backbone_pretrained:
            self.backbone_load_info = load_prefixed_weights(
                self.backbone, self.backbone_pretrained, self.backbone_prefix,
                fix="set backbone_prefix to the prefix its backbone keys carry "
                    "('' for none)")

    # ------------------------------------------------------------ forward
    def flow_inputs(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, 3, H, W)`` RGB frames -> PWC-Net input ([0, 1], BGR)."""
        return to_pwc_input(frames, self.mean, self.std, self.pwc_bgr)

    def forward(self, x: torch.Tensor, input_flow: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(N, 3, T, H, W)``; ``input_flow`` ``(N, P, 2, H, W)`` pixels, only
        (and required) with ``flow_source='input'``."""
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f'expected a clip (N, 3, T, H, W), got {tuple(x.shape)}')
        N, _, T, H, W = x.shape
        pairs = pair_indices(T, self.num_frames, self.frame_stride, self.pairs)
        P = len(pairs)
        self._last_levels = None
        if self.flow_source == 'pwcnet':
            first = torch.cat([x[:, :, a] for a, _ in pairs], 0)      # (P*N, 3, H, W)
            second = torch.cat([x[:, :, b] for _, b in pairs], 0)
            img1, img2 = self.flow_inputs(first), self.flow_inputs(second)
            with torch.set_grad_enabled(torch.is_grad_enabled() and self.flow_trainable):
                flow, levels = self.flow_net(img1, img2, return_levels=True)
            self.last_flow = flow.view(P, N, 2, H, W).transpose(0, 1)  # (N, P, 2, H, W)
            self._last_levels = levels
        elif self.flow_source == 'input':
            if input_flow is None:
                raise ValueError("flow_source='input' needs input_flow (N, P, 2, H, W): add "
                                 "ComputeFlow (or LoadFlowGT with key='input_flow') to the "
                                 "pipeline, pack it with PackActionInputs(algorithm_keys="
                                 "('input_flow',)) and use FlowFastRCNN")
            want = (N, P, 2, H, W)
            if tuple(input_flow.shape) != want:
                raise ValueError(f'input_flow {tuple(input_flow.shape)} does not match the '
                                 f'clip: expected {want} (same pairs and image size)')
            self.last_flow = input_flow.to(x.device, x.dtype)
        elif self.flow_source == 'zero':
            self.last_flow = x.new_zeros(N, P, 2, H, W)
        else:  # frame_difference: grey-level change of each pair, in both channels
            diff = torch.stack([(x[:, :, b] - x[:, :, a]).mean(1) for a, b in pairs], 1)
            self.last_flow = diff[:, :, None].expand(N, P, 2, H, W) * self.flow_div
        stacked = self.last_flow.reshape(N, 2 * P, H, W) / self.flow_div
        flow_image = self.flow_fuse(stacked)                          # (N, 3, H, W)
        key = x[:, :, T // 2:T // 2 + 1]                              # (N, 3, 1, H, W)
        feats = self.backbone(torch.cat([key, flow_image[:, :, None]], 0))
        feats = [feats] if torch.is_tensor(feats) else list(feats)
        if len(feats) != len(self.stage_channels):
            raise ValueError(f'the inner backbone returned {len(feats)} scales, '
                             f'stage_channels lists {len(self.stage_channels)}')
        used = feats[self.out_scale:] if self.fusion_mode == 'stfp' else [feats[self.out_scale]]
        fused = self.fusion([f[:N] for f in used], [f[N:] for f in used])
        return fused[0]

    # ------------------------------------------------------------ flow loss
    def flow_losses(self, data_samples: Sequence, weight: float = 1.0) -> dict:
        """``loss_flow`` (when trainable and ``weight > 0``) and ``flow_epe`` of the
        last forward against ``data_sample.gt_flow`` ``(P, 2, H, W)``; ``{}`` when
        the samples have no ground truth."""
        if self.last_flow is None or not data_samples or \
                not all(hasattr(ds, 'gt_flow') for ds in data_samples) or \
                self.flow_source == 'frame_difference':  # not a flow: no EPE
            return {}
        gt = torch.stack([torch.as_tensor(ds.gt_flow) for ds in data_samples]).to(
            self.last_flow.device, self.last_flow.dtype)              # (N, P, 2, H, W)
        if gt.shape != self.last_flow.shape:
            raise ValueError(f'gt_flow {tuple(gt.shape)} does not match the estimated flow '
                             f'{tuple(self.last_flow.shape)} (same pairs and image size needed)')
        # (N * P, 2, H, W): the EPE is the norm over (u, v) of each pair's flow
        out = {'flow_epe': end_point_error(self.last_flow.detach().flatten(0, 1),
                                           gt.flatten(0, 1))}
        if self.flow_net is not None and self.flow_trainable and weight > 0:
            gt_pairs = gt.transpose(0, 1).reshape(-1, *gt.shape[2:])  # pair-major, as forward
            out['loss_flow'] = weight * self.flow_net.loss(
                self._last_levels, gt_pairs, reduction=self.flow_loss_reduction)
        return out


def __getattr__(name):
    if name == 'FlowFastRCNN':  # moved to models/detectors (one release)
        import warnings

        from ..detectors.flow_fast_rcnn import FlowFastRCNN
        warnings.warn(f'{__name__}.FlowFastRCNN moved to '
                      'stadl_plugins.models.detectors.flow_fast_rcnn.FlowFastRCNN',
                      DeprecationWarning, stacklevel=2)
        return FlowFastRCNN
    raise AttributeError(name)
