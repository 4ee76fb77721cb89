"""Modules moved in this release keep their old import path for one release: the
name is the same object as at the new home, and reading it warns."""
import importlib

import pytest

MOVED = [
    ('stadl_plugins.models.track_heads.reclnet', 'stadl_plugins.models.localizers.reclnet',
     'RecLNet'),
    ('stadl_plugins.models.roi_heads.atr_head',
     'stadl_plugins.models.roi_heads.shared_heads.atr_head', 'ATRHead'),
    ('stadl_plugins.tracking.track_features', 'stadl_plugins.apis.track_features',
     'TrackFeatureExtractor'),
    ('stadl_plugins.models.backbones', 'stadl_plugins.models.detectors', 'FlowFastRCNN'),
    ('stadl_plugins.models.backbones.flow_two_stream',
     'stadl_plugins.models.detectors.flow_fast_rcnn', 'FlowFastRCNN'),
]


@pytest.mark.parametrize('old, new, name', MOVED, ids=lambda x: x.rsplit('.', 1)[-1])
def test_old_path_warns_and_gives_the_same_object(old, new, name):
    with pytest.warns(DeprecationWarning, match='moved to'):
        got = getattr(importlib.import_module(old), name)
    assert got is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError):
        getattr(importlib.import_module(old), 'no_such_name')
