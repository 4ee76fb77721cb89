"""Deprecated location of the ATR head: moved to ``stadl_plugins.models.roi_heads.shared_heads.atr_head`` (a shared head, where MMAction2 keeps them).

Kept for one release; importing a name from here warns.
"""
import importlib
import warnings

_NEW = 'stadl_plugins.models.roi_heads.shared_heads.atr_head'


def __getattr__(name):
    module = importlib.import_module(_NEW)
    if name.startswith('__') or not hasattr(module, name):
        raise AttributeError(name)
    warnings.warn(f'{__name__}.{name} moved to {_NEW}.{name}; the old path '
                  'will be removed in the next release', DeprecationWarning,
                  stacklevel=2)
    return getattr(module, name)
