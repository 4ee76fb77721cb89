"""Whole track-level localization models (RecLNet), as MMAction2's ``localizers/``."""
from .reclnet import RecLNet  # noqa: F401

__all__ = ['RecLNet']
