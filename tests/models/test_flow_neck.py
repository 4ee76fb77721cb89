"""PWCFlowNeck: shapes for stock backbones, identity at init, gradients, fusion
blocks, stock FastRCNN loss/predict, and a real Runner epoch + evaluation."""
import copy
import math

import pytest
import torch
from helpers import REPO, det_sample, tiny_runner_config
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from stadl_plugins.models.flow.fusion import MotionAppearanceFusion, PyramidFusion
from stadl_plugins.models.necks import PWCFlowNeck
from stadl_plugins.models.necks.pwc_flow_neck import pairs_to_slices, resize_flow

SMALL = dict(corr_channels=8, motion_channels=8, estimator_channels=(8, 8),
             max_displacement=2)
FUSIONS = ['concat', 'sum', 'average', 'stfp']
SYN_CFG = f'{REPO}/configs/pwc_flow/slowonly-pwcneck_r18-tiny_4x2x1-15e_synthetic-rgb.py'
SF_CFG = f'{REPO}/configs/pwc_flow/slowfast-pwcneck_r18-tiny_16x1x1-15e_synthetic-rgb.py'


@pytest.mark.parametrize('fusion', FUSIONS)
def test_identity_at_init_and_shapes(fusion):
    torch.manual_seed(0)
    neck = PWCFlowNeck(16, fusion=fusion, **SMALL)
    x = torch.randn(2, 16, 4, 10, 12)
    out = neck(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x)
    flows = neck.last_flows[0]
    assert [f.shape for f in flows] == [(2, 3, 2, 10, 12), (2, 3, 2, 5, 6), (2, 3, 2, 3, 3)]


@pytest.mark.parametrize('fusion', FUSIONS)
def test_every_parameter_gets_a_gradient(fusion):
    torch.manual_seed(0)
    neck = PWCFlowNeck(16, fusion=fusion, identity_init=False, **SMALL)
    x = torch.randn(2, 16, 3, 8, 8, requires_grad=True)
    out = neck(x)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_slowfast_tuple_and_passthrough_pathway():
    torch.manual_seed(0)
    slow, fast = torch.randn(2, 16, 2, 8, 8), torch.randn(2, 4, 8, 8, 8)
    neck = PWCFlowNeck([16, 4], identity_init=False, **SMALL)
    out = neck((slow, fast))
    assert isinstance(out, tuple) and out[0].shape == slow.shape and out[1].shape == fast.shape
    only_fast = PWCFlowNeck([16, 4], pathways=[1], identity_init=False, **SMALL)
    out = only_fast((slow, fast))
    assert out[0] is slow and not torch.equal(out[1], fast)


def test_levels_mode_uses_backbone_stages():
    torch.manual_seed(0)
    stages = (torch.randn(1, 8, 4, 16, 16), torch.randn(1, 16, 4, 8, 8), torch.randn(1, 32, 4, 8, 8))
    neck = PWCFlowNeck([8, 16, 32], feature_mode='levels', out_level=1, num_levels=3,
                       fusion='stfp', identity_init=False, **SMALL)
    out = neck(stages)
    assert out.shape == stages[1].shape
    # levels: stage 1 (8x8), stage 2 (8x8), one pooled (4x4)
    assert [f.shape[-2:] for f in neck.last_flows[0]] == [(8, 8), (8, 8), (4, 4)]
    bad = PWCFlowNeck([8, 16, 32], feature_mode='levels', out_level=1, **SMALL)
    with pytest.raises(ValueError, match='finest'):
        bad((stages[0], stages[1], torch.randn(1, 32, 4, 16, 16)))


@pytest.mark.slow
def test_motion_features_follow_the_content_shift():
    """A trained-free check of the wiring: the coarsest cost volume of a pair whose
    second slice is the first shifted by one cell peaks at that displacement."""
    torch.manual_seed(0)
    neck = PWCFlowNeck(8, num_levels=1, corr_channels=None, motion_channels=4,
                       estimator_channels=(4,), max_displacement=2)
    a = torch.randn(1, 8, 1, 10, 10)
    b = torch.roll(a, shifts=1, dims=-1)                  # content moves +1 in x
    x = torch.cat([a, b], 2)                              # (1, 8, 2, 10, 10)
    cost = neck.motion['0'].correlation(x[:, :, 0], x[:, :, 1])
    # peak at dy = 0, dx = +1 -> channel (0 + 2) * 5 + (1 + 2)
    assert int(cost[0, :, 5, 5].argmax()) == 13


def test_helpers():
    m = torch.arange(6.).view(1, 1, 3, 1, 2)              # T-1 = 3 pairs
    s = pairs_to_slices(m)
    assert s.shape == (1, 1, 4, 1, 2)
    torch.testing.assert_close(s[0, 0, :, 0, 0], torch.tensor([0., 1., 3., 4.]))
    f = torch.ones(1, 2, 4, 5)
    r = resize_flow(f, (8, 15))
    torch.testing.assert_close(r[0, 0], torch.full((8, 15), 3.0))
    torch.testing.assert_close(r[0, 1], torch.full((8, 15), 2.0))


def test_fusion_blocks_follow_the_paper_equations():
    torch.manual_seed(0)
    a, m = torch.randn(2, 6, 1, 4, 4), torch.randn(2, 6, 1, 4, 4)
    for mode, combine in [('sum', a + m), ('average', 0.5 * (a + m))]:
        blk = MotionAppearanceFusion(6, 6, mode)            # same channels: no projection
        assert isinstance(blk.proj, torch.nn.Identity)
        expect = torch.nn.functional.conv3d(combine, blk.mix.weight, blk.mix.bias)
        torch.testing.assert_close(blk(a, m), expect)
    cat = MotionAppearanceFusion(6, 6, 'concat')
    assert cat.mix.in_channels == 12 and cat.mix.out_channels == 6
    # STFP: fused_i = a_i + m_i + U(fused_{i+1})
    coarse_a, coarse_m = torch.randn(2, 8, 1, 2, 2), torch.randn(2, 8, 1, 2, 2)
    pyr = PyramidFusion([6, 8], [6, 8], 'stfp')
    fine, coarse = pyr([a, coarse_a], [m, coarse_m])
    torch.testing.assert_close(coarse, coarse_a + coarse_m)
    up = torch.nn.functional.interpolate(coarse, size=(1, 4, 4), mode='trilinear',
                                         align_corners=False)
    td = pyr.top_down[0]
    torch.testing.assert_close(fine, a + m + torch.nn.functional.conv3d(up, td.weight, td.bias))
    with pytest.raises(ValueError, match='fusion mode'):
        MotionAppearanceFusion(4, 4, 'max')


def test_clear_errors():
    neck = PWCFlowNeck(16, **SMALL)
    with pytest.raises(ValueError, match='at least 2 time slices'):
        neck(torch.randn(1, 16, 1, 8, 8))
    with pytest.raises(ValueError, match=r'expected \(N, 16, T, H, W\)'):
        neck(torch.randn(1, 8, 4, 8, 8))
    with pytest.raises(ValueError, match='2 pathway'):
        PWCFlowNeck([16, 4], **SMALL)(torch.randn(1, 16, 4, 8, 8))


@pytest.mark.parametrize('cfg_path,fusion,clip_len', [
    (SYN_CFG, 'concat', 4), (SYN_CFG, 'sum', 4), (SYN_CFG, 'average', 4),
    (SYN_CFG, 'stfp', 4), (SF_CFG, 'stfp', 16)])
def test_stock_fastrcnn_loss_and_predict(cfg_path, fusion, clip_len):
    from mmdet.registry import MODELS
    init_default_scope('mmaction')
    model_cfg = copy.deepcopy(Config.fromfile(cfg_path).model)
    model_cfg.neck.fusion = fusion
    model_cfg.neck.identity_init = False
    model = MODELS.build(model_cfg)
    model.init_weights()
    assert isinstance(model.neck, PWCFlowNeck)
    torch.manual_seed(0)
    inputs = [torch.randint(0, 255, (3, clip_len, 64, 80), dtype=torch.uint8)
              for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=[det_sample(), det_sample()]),
                                   True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert torch.isfinite(total)
    est = model.neck.motion['0'].estimators[-1]
    assert est.predict_flow.weight.grad.abs().sum() > 0      # detection loss reaches motion
    model.eval()
    data = model.data_preprocessor(dict(inputs=inputs[:1], data_samples=[det_sample()]), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert out[0].pred_instances.scores.shape == (2, 81)


@pytest.mark.slow
def test_runner_trains_one_epoch_and_evaluates(tiny_synthetic, tmp_path):
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'pwcneck', config=SYN_CFG, max_epochs=1)
    cfg.default_hooks.checkpoint.save_best = None
    runner = Runner.from_cfg(cfg)
    assert isinstance(runner.model.neck, PWCFlowNeck)
    before = {k: v.clone() for k, v in runner.model.neck.state_dict().items()}
    runner.train()
    after = runner.model.neck.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)   # the neck learned
    metrics = runner.test()
    assert 'mAP/overall' in metrics
    assert math.isfinite(metrics['mAP/overall']) and 0.0 <= metrics['mAP/overall'] <= 1.0
