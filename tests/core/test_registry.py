"""The registration scheme: stock STAD modules usable, plugins addressable from both scopes."""
import torch
from mmengine.registry import init_default_scope

from stadl_plugins.registry import MMACTION_MODELS, MMDET_MODELS, register_model


def test_stock_stad_modules_registered():
    from mmaction.registry import DATASETS, METRICS, TRANSFORMS
    from mmdet.registry import TASK_UTILS
    for name in ('FastRCNN', 'AVARoIHead', 'BBoxHeadAVA', 'SingleRoIExtractor3D',
                 'ACRNHead'):
        assert MMDET_MODELS.get(name) is not None, name
    assert TASK_UTILS.get('MaxIoUAssignerAVA') is not None
    assert MMACTION_MODELS.get('ResNet3dSlowOnly') is not None
    assert DATASETS.get('AVADataset') is not None
    assert METRICS.get('AVAMetric') is not None
    assert TRANSFORMS.get('SampleAVAFrames') is not None


class _ScaleNeck(torch.nn.Module):
    """A neck for this test only: multiplies the features by a constant."""

    def __init__(self, scale=2.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def test_plugin_swaps_into_stock_fastrcnn_by_one_type_line():
    name = '_TestScaleNeck'
    register_model(name=name, force=True)(_ScaleNeck)
    try:
        assert MMDET_MODELS.get(name) is _ScaleNeck
        assert MMACTION_MODELS.get(name) is _ScaleNeck
        init_default_scope('mmaction')
        from helpers import REPO
        from mmengine.config import Config
        cfg = Config.fromfile(f'{REPO}/configs/_base_/models/slowonly_r18_tiny.py')
        cfg.model.neck = dict(type=name, scale=3.0)  # the one line
        model = MMDET_MODELS.build(cfg.model)
        assert isinstance(model.neck, _ScaleNeck) and model.neck.scale == 3.0
        x = torch.randn(1, 3, 4, 32, 32)
        with torch.no_grad():
            model.eval()
            feat = model.extract_feat(x)
            ref = model.backbone(x)
        ref = ref[0] if isinstance(ref, tuple) else ref
        feat = feat[0] if isinstance(feat, tuple) else feat
        torch.testing.assert_close(feat, 3.0 * ref)
        # the same name resolves in the mmaction scope as well
        assert MMACTION_MODELS.build(dict(type=name)).scale == 2.0
    finally:
        MMDET_MODELS._module_dict.pop(name, None)
        MMACTION_MODELS._module_dict.pop(name, None)
