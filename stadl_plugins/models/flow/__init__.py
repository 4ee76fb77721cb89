"""Optical flow: correlation, warping, PWC-Net and weight converters (PWC-Net / Zhang et al. PR 2020)."""
from .correlation import Correlation, correlation, correlation_shift_loop  # noqa: F401
from .warp import FlowWarp, flow_warp  # noqa: F401
