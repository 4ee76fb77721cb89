"""Model plugins, one role per subpackage (backbones, necks, roi_heads, ...)."""
from . import roi_heads  # noqa: F401
