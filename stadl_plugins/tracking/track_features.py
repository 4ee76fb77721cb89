"""Deprecated location of the track-feature extractor: moved to ``stadl_plugins.apis.track_features`` (it runs a trained model through the inferencer, so it sits beside it; ``tracking/`` keeps linking and the online tracker).

Kept for one release; importing a name from here warns.
"""
import importlib
import warnings

_NEW = 'stadl_plugins.apis.track_features'


def __getattr__(name):
    module = importlib.import_module(_NEW)
    if name.startswith('__') or not hasattr(module, name):
        raise AttributeError(name)
    warnings.warn(f'{__name__}.{name} moved to {_NEW}.{name}; the old path '
                  'will be removed in the next release', DeprecationWarning,
                  stacklevel=2)
    return getattr(module, name)
