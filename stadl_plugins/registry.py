"""The one registration scheme of stadl_plugins.

MMAction2's spatio-temporal detectors are built in two scopes: the detector dict has
``_scope_='mmdet'`` (``FastRCNN``, ``AVARoIHead``, ``BBoxHeadAVA``... live in
``mmdet.registry``), while datasets, transforms, metrics and recognisers are built in
the config's ``default_scope='mmaction'``. So that a plugin drops into a stock config
by changing one ``type=``, whatever scope that line is built in:

* **models** (backbones, necks, RoI/shared heads, recognisers, track heads) are
  registered under the same name in **both** ``mmdet.registry.MODELS`` and
  ``mmaction.registry.MODELS`` (decorator :func:`register_model`);
* **datasets, samplers, transforms, metrics, hooks, visualisation backends** go to the
  ``mmaction`` registries, where ``AVADataset`` and ``AVAMetric`` live.

Example (a stock SlowOnly AVA config with the ATR head swapped in)::

    custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)
    model = dict(type='FastRCNN', _scope_='mmdet', ...,
                 neck=dict(type='PWCFlowNeck', ...),         # was: no neck
                 roi_head=dict(type='AVARoIHead',
                               shared_head=dict(type='ATRHead', ...)))
"""
from mmaction.registry import DATA_SAMPLERS, DATASETS, HOOKS, METRICS, TRANSFORMS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmdet.registry import MODELS as MMDET_MODELS

__all__ = ['register_model', 'DATA_SAMPLERS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS',
           'MMDET_MODELS', 'MMACTION_MODELS']


def register_model(name: str | None = None, force: bool = False):
    """Class decorator: register a model in mmdet's and mmaction's MODELS."""

    def _register(cls):
        MMDET_MODELS.register_module(name=name, force=force, module=cls)
        MMACTION_MODELS.register_module(name=name, force=force, module=cls)
        return cls

    return _register
