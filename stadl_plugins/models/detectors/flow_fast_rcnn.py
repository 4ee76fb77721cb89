"""``FlowFastRCNN``: MMDetection's ``FastRCNN`` plus the flow-subnet loss of Zhang
et al. (Pattern Recognition 2020, Eq. 8) for a
:class:`~stadl_plugins.models.backbones.flow_two_stream.FlowTwoStreamBackbone`.
"""
from __future__ import annotations

import torch
from mmdet.models.detectors import FastRCNN

from ...registry import register_model

__all__ = ['FlowFastRCNN']


@register_model()
class FlowFastRCNN(FastRCNN):
    """MMDetection's ``FastRCNN`` plus the flow-subnet loss of a
    :class:`FlowTwoStreamBackbone` (paper Eq. 8: ``L = L_det + L(Theta)``).

    Args:
        flow_loss_weight: weight of ``loss_flow`` (1.0 = the paper's plain sum).
        *args, **kwargs: ``FastRCNN``'s.
    """

    def __init__(self, *args, flow_loss_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.backbone, 'flow_losses'):
            raise TypeError('FlowFastRCNN needs a backbone with flow_losses() '
                            f'(FlowTwoStreamBackbone), got {type(self.backbone).__name__}')
        self.flow_loss_weight = flow_loss_weight

    def loss(self, batch_inputs: torch.Tensor, batch_data_samples) -> dict:
        losses = super().loss(batch_inputs, batch_data_samples)
        losses.update(self.backbone.flow_losses(batch_data_samples, self.flow_loss_weight))
        return losses
