"""Deprecated location of the track-feature extractor: moved to ``stadl_plugins.apis.track_features`` (it runs a trained model through the inferencer, so it sits beside it; ``tracking/`` keeps linking and the online tracker).

Kept for one release; importing a name from here warns.
"""
from stadl_plugins.utils import moved_module

__getattr__ = moved_module(__name__, 'stadl_plugins.apis.track_features')
