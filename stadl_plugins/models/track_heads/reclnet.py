"""Deprecated location of RecLNet: moved to ``stadl_plugins.models.localizers.reclnet`` (a whole model; its stream is ``track_heads.reclnet_stream``).

Kept for one release; importing a name from here warns.
"""
import importlib
import warnings

_NEW = 'stadl_plugins.models.localizers.reclnet'


def __getattr__(name):
    module = importlib.import_module(_NEW)
    if name.startswith('__') or not hasattr(module, name):
        raise AttributeError(name)
    warnings.warn(f'{__name__}.{name} moved to {_NEW}.{name}; the old path '
                  'will be removed in the next release', DeprecationWarning,
                  stacklevel=2)
    return getattr(module, name)
