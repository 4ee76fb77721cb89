"""Track-level heads: one RecLNet stream (the whole model is in ``localizers/``)."""
from .reclnet_stream import RecLNetStream  # noqa: F401

__all__ = ['RecLNetStream']
