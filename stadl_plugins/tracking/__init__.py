"""Person tracks: offline linking of per-frame detections (``linking``) and the
online tracker of the demo (``online``). Track-feature extraction is
:mod:`stadl_plugins.apis.track_features`."""
from . import (
    linking,  # noqa: F401  greedy IoU linking of whole videos, track files
    online,  # noqa: F401  IoUTracker (demo)
)
