"""Model plugins, one role per subpackage (backbones, necks, roi_heads, ...)."""
from . import flow, recurrent  # noqa: F401  building blocks first
from . import backbones, heads, necks, roi_heads, track_heads  # noqa: F401
