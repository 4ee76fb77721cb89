"""Temporal and attention-map localization (track scores -> segments, saliency -> boxes)."""
from . import attention  # noqa: F401  attention maps -> boxes -> tube (VideoLSTM)
