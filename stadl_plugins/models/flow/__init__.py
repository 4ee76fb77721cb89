"""Optical flow: correlation, warping, PWC-Net and weight converters (PWC-Net / Zhang et al. PR 2020)."""
from .correlation import Correlation, correlation, correlation_shift_loop  # noqa: F401
from .fusion import MotionAppearanceFusion, PyramidFusion  # noqa: F401
from .pwcnet import PWCNet, end_point_error, multi_level_epe  # noqa: F401
from .warp import FlowWarp, flow_warp  # noqa: F401
from .weight_converters import convert_pwcnet_state_dict, load_pwcnet_weights  # noqa: F401
