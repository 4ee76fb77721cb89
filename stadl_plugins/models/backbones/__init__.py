"""Backbones: Inception-I3D, flow two-stream wrapper."""
from .inception_i3d import InceptionI3D  # noqa: F401
from .flow_two_stream import FlowFastRCNN, FlowTwoStreamBackbone  # noqa: F401
