"""VideoLSTM: motion-based attention against the paper's eqs. 10-15, the bottom
layer only driving attention, attention normalisation, the STAD neck trained
through the stock FastRCNN and the recognition head in a stock Recognizer3D
trained on video labels and scored with AccMetric."""
import copy
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from helpers import REPO, det_sample, tiny_runner_config
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import LabelData  # noqa: F401  (data samples below)

from stadl_plugins.models.heads import VideoLSTMHead
from stadl_plugins.models.necks import ConvALSTMNeck
from stadl_plugins.models.recurrent import ConvALSTMCell, VideoLSTMCore, feature_difference, unroll
from stadl_plugins.registry import MMACTION_MODELS, MMDET_MODELS

NECK_CONFIG = f'{REPO}/configs/videolstm/slowonly-videolstm_r18-tiny_8x2x1-15e_synthetic-rgb.py'
REC_CONFIG = (f'{REPO}/configs/videolstm/'
              'videolstm_r18-tiny_8x2x1-15e_synthetic-recognition-rgb.py')


def randomize(module, std=0.4, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, std)
    return module


def conv(x, w, b=None):
    return F.conv2d(x, w, b, padding=w.shape[-1] // 2)


def lstm_update(pre, c):
    i, f, g, o = pre.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def reference_videolstm(core, x, m):
    """Eqs. 10-15 (bottom layer) and 7-9, 1-6 (top layer), written out."""
    top, bot = core.cell, core.motion_cell
    cm = m.shape[1]
    W_xm = bot.input_conv.weight[:, :cm]          # W^m_x (on M_t)
    W_em = bot.input_conv.weight[:, cm:]          # W^m_e (on the top H_{t-1})
    h, c = torch.tanh(conv(x.mean(2), core.init_conv.weight,
                           core.init_conv.bias)).chunk(2, 1)
    hm, cmem = torch.tanh(conv(m.mean(2), core.motion_init_conv.weight,
                               core.motion_init_conv.bias)).chunk(2, 1)
    hs, atts = [], []
    for t in range(x.shape[2]):
        pre_m = (conv(m[:, :, t], W_xm, bot.input_conv.bias) + conv(h, W_em)
                 + conv(hm, bot.hidden_conv.weight))
        hm, cmem = lstm_update(pre_m, cmem)                         # H^m_t
        z = conv(torch.tanh(conv(x[:, :, t], top.attention_input_conv.weight,
                                 top.attention_input_conv.bias)
                            + conv(hm, top.attention_query_conv.weight)),
                 top.attention_score_conv.weight)
        a = torch.softmax(z.flatten(2), -1).reshape_as(z)
        pre = (conv(a * x[:, :, t], top.input_conv.weight, top.input_conv.bias)
               + conv(h, top.hidden_conv.weight))
        h, c = lstm_update(pre, c)
        hs.append(h)
        atts.append(a)
    return torch.stack(hs, 2), torch.stack(atts, 2)


def test_motion_attention_matches_equations():
    core = randomize(VideoLSTMCore(3, 4, 'motion', motion_channels=2,
                                   motion_hidden_channels=5, kernel_size=3,
                                   motion_kernel_size=3, attention_channels=6))
    torch.manual_seed(1)
    x, m = torch.randn(2, 3, 4, 5, 6), torch.randn(2, 2, 4, 5, 6)
    hs, att = core(x, m)
    ref_h, ref_a = reference_videolstm(core, x, m)
    torch.testing.assert_close(hs, ref_h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(att, ref_a, rtol=1e-5, atol=1e-6)
    assert att.shape == (2, 1, 4, 5, 6)
    torch.testing.assert_close(att.sum((3, 4)), torch.ones(2, 1, 4))


def test_bottom_layer_only_drives_attention():
    core = randomize(VideoLSTMCore(3, 4, 'motion', motion_channels=2))
    torch.manual_seed(2)
    x, m = torch.randn(1, 3, 3, 4, 4), torch.randn(1, 2, 3, 4, 4)
    h1, a1 = core(x, m)
    h2, a2 = core(x, m + torch.randn_like(m))
    assert not torch.allclose(a1, a2) and not torch.allclose(h1, h2)
    # with a constant attention score the motion can no longer reach the output
    with torch.no_grad():
        core.cell.attention_score_conv.weight.zero_()
        core.motion_init_conv.weight.zero_()
        core.motion_init_conv.bias.zero_()
    h1, a1 = core(x, m)
    h2, _ = core(x, 5 * m + 1)
    torch.testing.assert_close(h1, h2)
    torch.testing.assert_close(a1, torch.full_like(a1, 1 / 16))


def test_plain_and_appearance_variants():
    core = randomize(VideoLSTMCore(3, 4, 'none', init_state='zeros'))
    x = torch.randn(1, 3, 5, 4, 4)
    hs, att = core(x)
    ref, _, _ = unroll(core.cell, x)
    assert att is None
    torch.testing.assert_close(hs, ref)
    app = randomize(VideoLSTMCore(3, 4, 'appearance'))
    hs, att = app(x)
    ref_state = torch.tanh(app.init_conv(x.mean(2))).chunk(2, 1)
    ref, _, (ref_att,) = unroll(app.cell, x, state=tuple(ref_state))
    torch.testing.assert_close(hs, ref)
    torch.testing.assert_close(att, ref_att)


def test_feature_difference():
    x = torch.randn(1, 2, 4, 3, 3)
    d = feature_difference(x)
    assert torch.all(d[:, :, 0] == 0)
    torch.testing.assert_close(d[:, :, 2], x[:, :, 2] - x[:, :, 1])


def test_neck_outputs_and_pluggable_motion_input():
    neck = ConvALSTMNeck(8, hidden_channels=4, attention='motion', output_mode='concat')
    x = torch.randn(2, 8, 5, 4, 6)
    out = neck(x)
    assert neck.out_channels == 12 and out.shape == (2, 12, 1, 4, 6)
    torch.testing.assert_close(out[:, :8, 0], x.mean(2))
    assert neck.last_attention.shape == (2, 1, 5, 4, 6)
    flow_neck = ConvALSTMNeck(8, hidden_channels=4, motion_source='input',
                              motion_channels=2, motion_index=1, output_step='all',
                              output_features=('hidden',), output_mode='concat')
    flow = torch.randn(2, 2, 5, 4, 6)
    out = flow_neck((x, flow))
    assert out.shape == (2, 4, 5, 4, 6)
    hs, _ = flow_neck.core(x, flow)
    torch.testing.assert_close(out, hs)
    with pytest.raises(ValueError, match='tuple backbone output'):
        flow_neck(x)
    with pytest.raises(ValueError, match='match the RGB'):
        flow_neck((x, flow[:, :, :3]))
    with pytest.raises(ValueError, match='attention must be'):
        ConvALSTMNeck(8, attention='spatial')


@pytest.mark.slow
def test_neck_in_fastrcnn_trains_one_epoch_and_evaluates(tiny_synthetic, tmp_path):
    init_default_scope('mmaction')
    assert MMDET_MODELS.get('ConvALSTMNeck') is ConvALSTMNeck
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'vl', config=NECK_CONFIG,
                             max_epochs=1, batch_size=4)
    cfg.default_hooks.checkpoint.save_best = None
    runner = Runner.from_cfg(cfg)
    neck = runner.model.neck
    assert neck.out_channels == cfg.model.roi_head.bbox_head.in_channels
    before = {k: v.detach().clone() for k, v in neck.state_dict().items()}
    runner.train()
    changed = {k.split('.')[1] for k, v in neck.state_dict().items()
               if not torch.equal(v, before[k])}
    assert {'cell', 'motion_cell'} <= changed
    metrics = runner.test()
    assert 0.0 <= metrics['mAP/overall'] <= 1.0
    assert neck.last_attention is not None  # the last test clip's maps


def _samples(labels):
    from mmaction.structures import ActionDataSample
    out = []
    for lab in labels:
        ds = ActionDataSample()
        ds.set_gt_label(torch.tensor([lab]))
        out.append(ds)
    return out


def test_head_loss_is_per_frame_and_prediction_averages_time_and_clips():
    head = VideoLSTMHead(num_classes=3, in_channels=4, hidden_channels=5,
                         fc_channels=6, dropout_ratio=0.0)
    x = torch.randn(2, 4, 5, 3, 3)
    logits = head(x)
    assert logits.shape == (2, 5, 3)
    losses = head.loss_by_feat(logits, _samples([0, 2]))
    expect = F.cross_entropy(logits.reshape(10, 3), torch.tensor([0] * 5 + [2] * 5))
    torch.testing.assert_close(losses['loss_cls'], expect)
    # prediction: 2 videos x 2 clips each
    head.eval()
    with torch.no_grad():
        x4 = torch.randn(4, 4, 5, 3, 3)
        frame_logits = head(x4)
        preds = head.predict(x4, _samples([1, 2]))
    probs = frame_logits.softmax(-1).mean(1).reshape(2, 2, 3).mean(1)
    for ds, p in zip(preds, probs):
        torch.testing.assert_close(ds.pred_score, p)
        assert ds.attention_maps.shape == (5, 3, 3)
        torch.testing.assert_close(ds.attention_maps.sum((1, 2)), torch.ones(5))
        assert ds.frame_scores.shape == (5, 3)


@pytest.mark.slow
def test_recognizer_trains_on_video_labels_and_reports_accuracy(tiny_synthetic,
                                                                tmp_path):
    from stadl_plugins.utils import set_data_root
    root, _ = tiny_synthetic
    cfg = Config.fromfile(REC_CONFIG)
    set_data_root(cfg, root)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].num_workers = 0
        cfg[dl].persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.max_epochs = 4
    cfg.train_cfg.val_begin = cfg.train_cfg.val_interval = 4
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.save_best = None
    cfg.work_dir = str(tmp_path / 'rec')
    runner = Runner.from_cfg(cfg)
    assert type(runner.model).__name__ == 'Recognizer3D'
    assert isinstance(runner.model.cls_head, VideoLSTMHead)
    assert MMACTION_MODELS.get('VideoLSTMHead') is VideoLSTMHead
    ds = runner.train_dataloader.dataset
    assert len(ds) == 2 and 0 <= ds[0]['data_samples'].gt_label.item() < 7
    head = runner.model.cls_head
    w0 = head.core.motion_cell.input_conv.weight.detach().clone()
    runner.train()
    assert not torch.equal(w0, head.core.motion_cell.input_conv.weight)
    metrics = runner.test()
    assert 0.0 <= metrics['acc/top1'] <= 1.0


# ---------------------------------------------------------------- attention rescaling
VIDEOLSTM_CONFIGS = sorted(
    p for p in glob.glob(f'{REPO}/configs/**/*.py', recursive=True)
    if '/configs/videolstm/' in p
    or any(k in open(p).read() for k in ('ConvALSTMNeck', 'VideoLSTMHead', 'VideoLSTMCore')))


def _build_config_model(path):
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    return MODELS.build(Config.fromfile(path).model)


def test_there_are_videolstm_configs():
    assert len(VIDEOLSTM_CONFIGS) >= 3 and FLOW_CONFIG in VIDEOLSTM_CONFIGS


@pytest.mark.parametrize('path', VIDEOLSTM_CONFIGS, ids=osp.basename)
def test_shipped_configs_rescale_the_attention(path):
    """Every shipped ConvALSTM/VideoLSTM config multiplies A by H*W (the paper's
    A o X feeds the LSTM ~1/300 of a 15x20 feature)."""
    cells = [m for m in _build_config_model(path).modules() if isinstance(m, ConvALSTMCell)]
    assert cells and all(c.rescale_attention for c in cells), path


def test_rescale_attention_class_default_is_the_papers():
    assert ConvALSTMCell(3, 4).rescale_attention is False
    assert VideoLSTMCore(3, 4, 'appearance').cell.rescale_attention is False
    assert ConvALSTMNeck(8).core.cell.rescale_attention is False
    # the paper's X~ = A o X: a uniform attention leaves 1/(H*W) of the input
    cell = ConvALSTMCell(2, 3)
    with torch.no_grad():
        cell.attention_score_conv.weight.zero_()
    x = torch.randn(1, 2, 15, 20)
    seen = {}
    cell.input_conv.register_forward_hook(lambda m, i, o: seen.update(x=i[0]))
    cell(x)
    torch.testing.assert_close(seen['x'], x / 300)
    cell.rescale_attention = True
    cell(x)
    torch.testing.assert_close(seen['x'], x)


# ---------------------------------------------------------------- motion_source='flow'
FLOW_CONFIG = (f'{REPO}/configs/videolstm/'
               'slowonly-videolstm-flow_r18-tiny_8x2x1-15e_synthetic-rgb.py')


class FrameDifferenceFlow(torch.nn.Module):
    """Stand-in flow net: u = mean over channels of (img2 - img1) * 255, v = 0."""

    def forward(self, img1, img2):
        u = (img2 - img1).mean(1, keepdim=True) * 255
        return torch.cat([u, torch.zeros_like(u)], 1)


def _clip_flow_backbone(**kw):
    from stadl_plugins.models.backbones import ClipFlowBackbone
    init_default_scope('mmaction')
    inner = dict(type='mmaction.ResNet3dSlowOnly', depth=18, base_channels=8,
                 pretrained=None, pretrained2d=False, lateral=False, num_stages=4,
                 conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
                 inflate=(0, 0, 1, 1), spatial_strides=(1, 2, 1, 1))
    tiny_pwc = dict(type='PWCNet', num_levels=4, output_level=2, channel_mult=0.25,
                    max_displacement=2, size_mode='pad')
    return ClipFlowBackbone(backbone=inner, flow_net=tiny_pwc, **kw), inner


def test_flow_config_builds_and_trains():
    from mmdet.registry import MODELS

    from stadl_plugins.models.backbones import ClipFlowBackbone
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(FLOW_CONFIG).model)
    bb, neck = model.backbone, model.neck
    assert isinstance(bb, ClipFlowBackbone) and type(bb.backbone).__name__ == 'ResNet3dSlowOnly'
    assert type(bb.flow_net).__name__ == 'PWCNet'
    assert neck.motion_source == 'flow' and neck.core.motion_channels == 16
    assert not any(p.requires_grad for p in bb.flow_net.parameters())      # frozen
    inputs = [torch.randint(0, 255, (3, 8, 64, 80), dtype=torch.uint8) for _ in range(2)]
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=[det_sample(), det_sample()]), True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert bb.last_flow.shape == (2, 2, 8, 64, 80)                # one flow per step
    assert neck.last_attention.shape == (2, 1, 8, 8, 10)
    assert neck.flow_encoder.conv.weight.grad.abs().sum() > 0     # M_t learns from the flow
    assert all(p.grad is None for p in bb.flow_net.parameters())


def test_clip_flow_pairs_follow_the_feature_steps():
    bb, _ = _clip_flow_backbone()
    bb.flow_net = FrameDifferenceFlow()
    std = bb.std.mean().item()
    x = torch.zeros(1, 3, 8, 4, 5)
    for t in range(8):
        x[:, :, t] = t ** 2 / std          # each channel: 255 * u = t^2 (mean of std)
    u = bb.clip_flow(x, 4)[0, 0, :, 0, 0]
    # steps at frames 0, 2, 4, 6; pairs (0,2), (2,4), (4,6): 4, 12, 20;
    # step t = mean of pairs (t-1, t), (t, t+1) (one at the ends)
    torch.testing.assert_close(u, torch.tensor([4., 8., 16., 20.]), rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(bb.clip_flow(x, 1)[0, 0, :, 0, 0], torch.tensor([49.]),
                               rtol=1e-3, atol=1e-3)                  # frames 0 -> 7
    assert torch.all(bb.clip_flow(x[:, :, :1], 1) == 0)
    from stadl_plugins.models.backbones.clip_flow import step_frames
    assert step_frames(32, 4) == [0, 8, 16, 24]                      # SlowFast's slow steps


def test_clip_flow_backbone_output_and_stock_checkpoints():
    bb, inner_cfg = _clip_flow_backbone()
    x = torch.randn(2, 3, 8, 64, 80)
    feat, flow = bb(x)
    assert feat.shape == (2, 64, 8, 8, 10) and flow.shape == (2, 2, 8, 64, 80)
    # a stock detector's backbone weights load into the wrapped backbone
    from mmdet.registry import MODELS
    torch.manual_seed(3)
    stock = MODELS.build(inner_cfg)
    missing, unexpected = bb.load_state_dict(stock.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith('flow_net.') for k in missing)
    for k, v in stock.state_dict().items():
        assert torch.equal(bb.backbone.state_dict()[k], v)
    with pytest.raises(ValueError, match='inner backbone'):
        type(bb)(flow_net=dict(type='PWCNet'))


def test_flow_encoder_pools_the_flow_to_the_feature_map():
    from stadl_plugins.models.necks.conv_alstm_neck import FlowMotionEncoder
    flow = torch.zeros(1, 2, 3, 32, 48)
    flow[:, 0] = 8.0                                   # 8 px right, 4 px down everywhere
    flow[:, 1] = 4.0
    flow[:, 0, :, :2, :8] = 16.0                       # a 2x8 strip moves 16 px
    like = torch.zeros(1, 5, 6, 4, 6)                  # T = 6 steps, 4x6 map (stride 8)
    f = FlowMotionEncoder.resample(flow, like)
    assert f.shape == (1, 2, 6, 4, 6)
    # feature pixels: u * 6 / 48, v * 4 / 32; each cell averages its 8x8 pixels:
    # the strip's cell (16 * 16 + 8 * 48) / 64 = 10 px -> 1.25 (bilinear: 8 px -> 1.0)
    torch.testing.assert_close(f[0, 0, :, 1:, 1:], torch.full((6, 3, 5), 1.0))
    torch.testing.assert_close(f[0, 0, :, 0, 0], torch.full((6,), 1.25))
    torch.testing.assert_close(f[0, 1], torch.full((6, 4, 6), 0.5))
    enc = FlowMotionEncoder(7)
    assert torch.all(enc(flow, like) == 0)             # zero-initialised: M_t = 0


def _flow_and_fd_necks(seed=0):
    neck = randomize(ConvALSTMNeck(8, hidden_channels=4, motion_source='flow',
                                   output_mode='concat'), seed=seed)
    fd = ConvALSTMNeck(8, hidden_channels=4, motion_source='feature_difference',
                       output_mode='concat')
    fd.core.load_state_dict(neck.core.state_dict())
    return neck, fd


def test_flow_attention_depends_on_the_flow_and_zero_flow_falls_back():
    neck, fd = _flow_and_fd_necks()
    torch.manual_seed(4)
    x = torch.randn(2, 8, 5, 4, 6)
    flow = 3 * torch.randn(2, 2, 5, 32, 48)
    neck((x, flow))
    a1 = neck.last_attention
    neck((x, flow.flip(-1)))
    assert not torch.allclose(a1, neck.last_attention)              # the flow steers A
    # zero flow: M_t = 0, i.e. the motion-attended model on a static clip
    static = x[:, :, :1].expand(-1, -1, 5, -1, -1).contiguous()
    out = neck((static, torch.zeros_like(flow)))
    torch.testing.assert_close(out, fd(static))
    torch.testing.assert_close(neck.last_attention, fd.last_attention)
    # at initialisation (zero encoder) every flow gives that model
    fresh = ConvALSTMNeck(8, hidden_channels=4, motion_source='flow', output_mode='concat')
    fresh.core.load_state_dict(neck.core.state_dict())
    torch.testing.assert_close(fresh((static, flow)), fd(static))


def test_flow_neck_output_drops_the_flow_and_checks_it():
    neck = ConvALSTMNeck(8, hidden_channels=4, motion_source='flow')        # 'project'
    x, fast = torch.randn(1, 8, 4, 4, 6), torch.randn(1, 2, 16, 4, 6)
    flow = torch.randn(1, 2, 4, 32, 48)
    out = neck((x, flow))
    assert torch.is_tensor(out) and out.shape == x.shape            # flow element dropped
    torch.testing.assert_close(out, x)                              # starts as the identity
    out = neck((x, fast, flow))                                     # SlowFast + flow
    assert isinstance(out, tuple) and len(out) == 2 and out[1] is fast
    with pytest.raises(ValueError, match='ClipFlowBackbone'):
        neck(x)
    with pytest.raises(ValueError, match='expected a flow'):
        neck((x, torch.randn(1, 3, 4, 32, 48)))
    head = VideoLSTMHead(num_classes=3, in_channels=8, hidden_channels=4, fc_channels=6,
                         motion_source='flow', dropout_ratio=0.0)
    assert head((x, flow)).shape == (1, 4, 3)


# a user's config: the stock file, the custom_imports line and one line
FLOW_SWAP = {
    'SlowOnly': ('mmaction::detection/slowonly/'
                 'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py', 4,
                 "model = dict(backbone=dict(type='ClipFlowBackbone', "
                 "inner_type='mmaction.ResNet3dSlowOnly'), neck=dict(type='ConvALSTMNeck', "
                 "in_channels=2048, motion_source='flow'))"),
    'SlowFast': ('mmaction::detection/slowfast/'
                 'slowfast_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py', 32,
                 "model = dict(backbone=dict(type='ClipFlowBackbone', "
                 "inner_type='mmaction.ResNet3dSlowFast'), neck=dict(type='ConvALSTMNeck', "
                 "in_channels=2048, motion_source='flow'))"),
}


def _swap_model(tmp_path, backbone, line):
    from mmdet.registry import MODELS
    base = FLOW_SWAP[backbone][0]
    path = tmp_path / f'{backbone}_{bool(line)}.py'
    path.write_text(f"_base_ = '{base}'\ncustom_imports = dict(imports=['stadl_plugins'], "
                    f"allow_failed_imports=False)\n{line}\n")
    cfg = Config.fromfile(str(path))
    m = cfg.model                                       # the tiny variant: widths / 8
    m.init_cfg = None
    if backbone == 'SlowOnly':
        m.backbone.base_channels = 8
    else:
        m.backbone.slow_pathway.base_channels = 8
        m.backbone.fast_pathway.base_channels = 1
    m.roi_head.bbox_head.in_channels //= 8
    if m.get('neck'):
        m.neck.in_channels //= 8
        m.backbone.flow_net = dict(type='PWCNet', num_levels=4, output_level=2,
                                   channel_mult=0.25, max_displacement=2)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    return MODELS.build(m)


@pytest.mark.parametrize('backbone', list(FLOW_SWAP))
def test_flow_motion_is_a_one_line_swap_that_starts_as_the_stock_model(backbone, tmp_path):
    _, clip_len, line = FLOW_SWAP[backbone]
    if backbone == 'SlowOnly':                          # the line docs/recurrent.md prints
        assert line in open(f'{REPO}/docs/recurrent.md', encoding='utf-8').read()
    model = _swap_model(tmp_path, backbone, line)
    assert type(model.backbone).__name__ == 'ClipFlowBackbone'
    assert type(model.neck).__name__ == 'ConvALSTMNeck' and model.neck.motion_source == 'flow'
    torch.manual_seed(1)
    inputs = [torch.randint(0, 255, (3, clip_len, 64, 80), dtype=torch.uint8)
              for _ in range(2)]
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=[det_sample(), det_sample()]), True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.last_flow.shape[2] == 4          # the (slow) feature's steps
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.neck.parameters())
    # identity at initialisation: the stock detector's weights, its predictions
    stock = _swap_model(tmp_path, backbone, '')
    missing, unexpected = model.load_state_dict(stock.state_dict(), strict=False)[:2]
    assert not unexpected
    assert all(k.startswith(('neck.', 'backbone.flow_net.')) for k in missing)
    model.eval(), stock.eval()
    data = model.data_preprocessor(dict(inputs=inputs[:1], data_samples=[det_sample()]), False)
    with torch.no_grad():
        got = model(**copy.deepcopy(data), mode='predict')[0].pred_instances.scores
        ref = stock(**copy.deepcopy(data), mode='predict')[0].pred_instances.scores
    assert got.shape == (2, 81)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
