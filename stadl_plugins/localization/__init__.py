"""Temporal and attention-map localization (track scores -> segments, saliency -> boxes)."""
from . import (
    attention,  # noqa: F401  attention maps -> boxes -> tube (VideoLSTM)
    temporal,  # noqa: F401  track scores -> sub-track tubes (RecLNet threshold / Viterbi)
)
