"""ATR head: out-of-box masking, identity at init, gradients, stock-head integration."""
import copy

import pytest
import torch
from helpers import REPO, det_sample
from mmengine.config import Config
from mmengine.registry import init_default_scope

from stadl_plugins.models.roi_heads import ATRHead, inside_box_mask


def randomize_outputs(head):
    for layer in head.layers:
        torch.nn.init.normal_(layer.out.weight, std=0.5)
    return head


def make_inputs(C=16, T=1, H=8, W=10, K=3, N=2, S=4, stride=8):
    torch.manual_seed(0)
    feat = torch.randn(N, C, T, H, W)
    x = torch.randn(K, C, T, S, S)
    rois = torch.tensor([[0, 8., 8., 40., 56.], [1, 0., 0., 30., 30.],
                         [0, 40., 16., 72., 60.]])[:K]
    return x, feat, rois


def test_mask_marks_cells_whose_centre_is_in_the_box():
    rois = torch.tensor([[0, 8., 8., 24., 40.]])
    m = inside_box_mask(rois, 8, 10, 8).reshape(8, 10)
    # centres at 4, 12, 20, ...: x in {12, 20} -> cols 1..2, y in {12..36} -> rows 1..4
    expect = torch.zeros(8, 10, dtype=torch.bool)
    expect[1:5, 1:3] = True
    assert torch.equal(m, expect)
    grown = inside_box_mask(rois, 8, 10, 8, margin=0.5).reshape(8, 10)
    assert grown.sum() > m.sum() and (grown | m).equal(grown)


@pytest.mark.parametrize('query', ['cell', 'pooled'])
def test_attention_to_in_box_cells_is_exactly_zero(query):
    x, feat, rois = make_inputs()
    head = ATRHead(16, featmap_stride=8, latent_channels=8, query=query)
    head.layers[0].record_attention = True
    head(x, feat, rois)
    attn = head.layers[0].last_attention                     # (K, Q, M)
    mask = inside_box_mask(rois, 8, 10, 8)
    assert mask.any(1).all() and (~mask).any(1).all()
    inside = attn.masked_select(mask[:, None, :].expand_as(attn))
    assert torch.all(inside == 0)
    torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:2]))


def test_context_inside_box_does_not_matter_outside_does():
    x, feat, rois = make_inputs(K=1)
    head = randomize_outputs(ATRHead(16, featmap_stride=8, latent_channels=8))
    head.eval()
    base = head(x, feat, rois)
    mask = inside_box_mask(rois, 8, 10, 8).reshape(8, 10)
    f_in = feat.clone()
    f_in[0, :, :, mask] += 10 * torch.randn(16, 1, int(mask.sum()))
    torch.testing.assert_close(head(x, f_in, rois), base)
    f_out = feat.clone()
    f_out[0, :, :, ~mask] += torch.randn(16, 1, int((~mask).sum()))
    assert not torch.allclose(head(x, f_out, rois), base)
    # the other clip of the batch is never looked at by a RoI of clip 0
    f_other = feat.clone()
    f_other[1] += 5
    torch.testing.assert_close(head(x, f_other, rois), base)


def test_box_covering_everything_adds_nothing():
    x, feat, _ = make_inputs(K=1)
    rois = torch.tensor([[0, 0., 0., 200., 200.]])
    head = randomize_outputs(ATRHead(16, featmap_stride=8, latent_channels=8))
    torch.testing.assert_close(head(x, feat, rois), x)


def test_identity_at_init_even_after_init_weights():
    x, feat, rois = make_inputs()
    head = ATRHead(16, featmap_stride=8, num_layers=2,
                   init_cfg=dict(type='Normal', layer='Conv3d', std=1.0))
    head.init_weights()
    torch.testing.assert_close(head(x, feat, rois), x)


def test_gradients_reach_theta_phi_g_after_first_step():
    x, feat, rois = make_inputs()
    head = ATRHead(16, featmap_stride=8, latent_channels=8)
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    target = torch.randn_like(x)
    for step in range(2):
        opt.zero_grad()
        loss = ((head(x, feat, rois) - target) ** 2).mean()
        loss.backward()
        layer = head.layers[0]
        if step == 0:
            assert layer.out.weight.grad.abs().sum() > 0
        else:
            for m in (layer.theta, layer.phi, layer.g):
                assert m.weight.grad.abs().sum() > 0
        opt.step()


def test_bad_channels_are_clear_errors():
    x, feat, rois = make_inputs()
    head = ATRHead(32, featmap_stride=8)
    with pytest.raises(ValueError, match='in_channels=32'):
        head(torch.randn(3, 16, 1, 4, 4), torch.randn(2, 32, 1, 8, 10), rois)
    with pytest.raises(ValueError, match='context_channels=32'):
        head(torch.randn(3, 32, 1, 4, 4), feat, rois)


def _detector_cfg(backbone, in_channels, temporal_pool):
    cfg = Config.fromfile(f'{REPO}/configs/_base_/models/slowonly_r18_tiny.py')
    model = copy.deepcopy(cfg.model)
    if backbone is not None:
        model.backbone = backbone
    model.roi_head.bbox_roi_extractor.with_temporal_pool = temporal_pool
    model.roi_head.bbox_head.in_channels = in_channels
    model.roi_head.shared_head = dict(type='ATRHead', in_channels=in_channels,
                                      featmap_stride=8, latent_channels=16)
    return model


SLOWFAST = dict(type='mmaction.ResNet3dSlowFast', pretrained=None, resample_rate=4,
                speed_ratio=4, channel_ratio=4,
                slow_pathway=dict(type='resnet3d', depth=18, base_channels=8,
                                  pretrained=None, lateral=True, conv1_kernel=(1, 7, 7),
                                  conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1),
                                  spatial_strides=(1, 2, 1, 1), fusion_kernel=7),
                fast_pathway=dict(type='resnet3d', depth=18, base_channels=2,
                                  pretrained=None, lateral=False, conv1_kernel=(5, 7, 7),
                                  conv1_stride_t=1, pool1_stride_t=1,
                                  spatial_strides=(1, 2, 1, 1)))


@pytest.mark.parametrize('name,backbone,channels,clip_len', [
    ('slowonly', None, 64, 4),
    ('slowfast', SLOWFAST, 64 + 16, 16),
])
@pytest.mark.parametrize('temporal_pool', [True, False])
def test_in_stock_fastrcnn_loss_and_predict(name, backbone, channels, clip_len,
                                            temporal_pool):
    from mmdet.registry import MODELS
    init_default_scope('mmaction')
    model = MODELS.build(_detector_cfg(backbone, channels, temporal_pool))
    model.init_weights()
    assert isinstance(model.roi_head.shared_head, ATRHead)

    inputs = [torch.randint(0, 255, (3, clip_len, 64, 80), dtype=torch.uint8)
              for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=[det_sample(),
                                                                     det_sample()]), True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert torch.isfinite(total)
    model.eval()
    data = model.data_preprocessor(dict(inputs=inputs[:1], data_samples=[det_sample()]),
                                   False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert out[0].pred_instances.scores.shape == (2, 81)


def test_context_radius_limits_attention_to_surroundings():
    from stadl_plugins.models.roi_heads.shared_heads.atr_head import box_distance
    x, feat, rois = make_inputs(K=1)
    head = ATRHead(16, featmap_stride=8, latent_channels=8, context_radius=0.5)
    head.layers[0].record_attention = True
    head(x, feat, rois)
    attn = head.layers[0].last_attention[0]                 # (Q, M)
    dist = box_distance(rois, 8, 10, 8)[0]
    far = dist > 0.5
    assert far.any() and (attn[:, far] == 0).all()
    assert (attn[:, (dist > 0) & ~far] > 0).all()
    with pytest.raises(ValueError, match='context_radius'):
        ATRHead(16, context_radius=0.1, mask_margin=0.2)
