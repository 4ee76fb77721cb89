"""Pipeline transforms (registered in MMAction2's TRANSFORMS)."""
from .flow_loading import LoadFlowGT, compose_flows  # noqa: F401
