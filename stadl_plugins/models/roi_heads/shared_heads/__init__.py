"""Shared heads of ``AVARoIHead`` (MMAction2's ``roi_heads/shared_heads/``)."""
from .atr_head import ATRHead, ATRNonLocalLayer, inside_box_mask

__all__ = ['ATRHead', 'ATRNonLocalLayer', 'inside_box_mask']
