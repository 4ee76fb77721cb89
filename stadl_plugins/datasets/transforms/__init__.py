"""Pipeline transforms (registered in MMAction2's TRANSFORMS)."""
from .actor_crop import ActorCentredCrop  # noqa: F401
from .flow_computing import ComputeFlow  # noqa: F401
from .flow_loading import LoadFlowGT, compose_flows  # noqa: F401
