"""Deprecated location of the ATR head: moved to ``stadl_plugins.models.roi_heads.shared_heads.atr_head`` (a shared head, where MMAction2 keeps them).

Kept for one release; importing a name from here warns.
"""
from stadl_plugins.utils import moved_module

__getattr__ = moved_module(__name__, 'stadl_plugins.models.roi_heads.shared_heads.atr_head')
