"""Whole detectors (MMAction2 keeps STAD detectors under ``detectors/``)."""
from .flow_fast_rcnn import FlowFastRCNN  # noqa: F401

__all__ = ['FlowFastRCNN']
