"""VideoLSTM: motion-based attention against the paper's eqs. 10-15, the bottom
layer only driving attention, attention normalisation, the STAD neck trained
through the stock FastRCNN and the recognition head in a stock Recognizer3D
trained on video labels and scored with AccMetric."""
import pytest
import torch
import torch.nn.functional as F
from helpers import REPO, tiny_runner_config
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import LabelData  # noqa: F401  (data samples below)

from stadl_plugins.models.heads import VideoLSTMHead
from stadl_plugins.models.necks import ConvALSTMNeck
from stadl_plugins.models.recurrent import VideoLSTMCore, feature_difference, unroll
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
