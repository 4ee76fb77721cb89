"""Deprecated location of RecLNet: moved to ``stadl_plugins.models.localizers.reclnet`` (a whole model; its stream is ``track_heads.reclnet_stream``).

Kept for one release; importing a name from here warns.
"""
from stadl_plugins.utils import moved_module

__getattr__ = moved_module(__name__, 'stadl_plugins.models.localizers.reclnet')
