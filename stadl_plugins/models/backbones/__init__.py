"""Backbones: Inception-I3D, the flow two-stream wrapper, a backbone + clip flow wrapper."""
from .clip_flow import ClipFlowBackbone  # noqa: F401
from .flow_two_stream import FlowTwoStreamBackbone  # noqa: F401
from .inception_i3d import InceptionI3D  # noqa: F401


def __getattr__(name):
    if name == 'FlowFastRCNN':  # moved to models/detectors (one release)
        import warnings

        from ..detectors import FlowFastRCNN
        warnings.warn('stadl_plugins.models.backbones.FlowFastRCNN moved to '
                      'stadl_plugins.models.detectors.FlowFastRCNN',
                      DeprecationWarning, stacklevel=2)
        return FlowFastRCNN
    raise AttributeError(name)
