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

    def _set_input_flow(self, batch_data_samples) -> None:
        """Hand the samples' ``input_flow`` to a backbone with ``flow_source='input'``
        (mmdet's ``extract_feat`` passes the backbone only the images)."""
        self._input_flow = None
        if getattr(self.backbone, 'flow_source', None) != 'input' or not batch_data_samples:
            return
        missing = [i for i, ds in enumerate(batch_data_samples)
                   if not hasattr(ds, 'input_flow')]
        if missing:
            raise ValueError(f"flow_source='input': samples {missing} carry no input_flow; "
                             "add ComputeFlow to the pipeline and pack it with "
                             "PackActionInputs(algorithm_keys=('input_flow',))")
        self._input_flow = torch.stack([torch.as_tensor(ds.input_flow)
                                        for ds in batch_data_samples])

    def extract_feat(self, batch_inputs: torch.Tensor):
        flow = getattr(self, '_input_flow', None)
        if flow is None:
            x = self.backbone(batch_inputs)
        else:
            x = self.backbone(batch_inputs, input_flow=flow)
        if self.with_neck:
            x = self.neck(x)
        return x

    def loss(self, batch_inputs: torch.Tensor, batch_data_samples) -> dict:
        self._set_input_flow(batch_data_samples)
        try:
            losses = super().loss(batch_inputs, batch_data_samples)
        finally:
            self._input_flow = None
        losses.update(self.backbone.flow_losses(batch_data_samples, self.flow_loss_weight))
        return losses

    def predict(self, batch_inputs: torch.Tensor, batch_data_samples, rescale: bool = True):
        self._set_input_flow(batch_data_samples)
        try:
            return super().predict(batch_inputs, batch_data_samples, rescale=rescale)
        finally:
            self._input_flow = None

    def _forward(self, batch_inputs: torch.Tensor, batch_data_samples=None):
        self._set_input_flow(batch_data_samples)
        try:
            return super()._forward(batch_inputs, batch_data_samples)
        finally:
            self._input_flow = None
