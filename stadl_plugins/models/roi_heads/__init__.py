"""RoI-level heads; shared heads (ATR) live in ``shared_heads/`` as in MMAction2."""
from .shared_heads import ATRHead, ATRNonLocalLayer, inside_box_mask

__all__ = ['ATRHead', 'ATRNonLocalLayer', 'inside_box_mask']
