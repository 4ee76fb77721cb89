"""Datasets, transforms and file formats."""
from . import ava_io, synthetic  # noqa: F401
