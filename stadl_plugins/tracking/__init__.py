"""Person tracks: linking per-frame detections into tracks."""
from . import linking  # noqa: F401  greedy online IoU linking, track files
from . import track_features  # noqa: F401  RoI features along tracks from STAD models
