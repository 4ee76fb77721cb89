"""Track-level heads (RecLNet)."""
from . import reclnet  # noqa: F401  RecLNet (GRU track scoring, fusion variants)
