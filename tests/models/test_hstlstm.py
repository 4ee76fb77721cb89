"""HST-LSTM neck: layer-1 carry-over, the pooling equations against a reference,
softmax normalisation, shapes and channels for the stock RoI head, config build,
and a real Runner epoch + AVA-mAP evaluation on the tiny synthetic data."""
import math

import pytest
import torch
from helpers import REPO, tiny_runner_config
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from stadl_plugins.models.necks import HSTLSTMNeck
from stadl_plugins.registry import MMACTION_MODELS, MMDET_MODELS

CONFIG = f'{REPO}/configs/hstlstm/slowonly-hstlstm_r18-tiny_9x3x1-15e_synthetic-rgb.py'


def randomize(module, std=0.3, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, std)
    return module


def test_layer1_carries_cell_state_across_seconds_and_resets_hidden():
    neck = randomize(HSTLSTMNeck(4, hidden_channels=5, micro_steps=3, num_layers=1))
    torch.manual_seed(1)
    feat = torch.randn(2, 4, 6, 5, 5)
    (h1, c1), = neck.hierarchy(feat)
    cell = neck.cells[0]
    state = None
    for t in range(6):
        if t == 3:  # second 2 starts from second 1's cell state, h = 0
            state = (torch.zeros_like(state[0]), state[1])
        h, state = cell(feat[:, :, t], state)
        torch.testing.assert_close(h1[:, :, t], h)
        torch.testing.assert_close(c1[:, :, t], state[1])
    # it is not a plain 6-step unroll (hidden reset) nor independent seconds
    # (cell carried)
    neck.reset_hidden_each_second = False
    (h_cont, _), = neck.hierarchy(feat)
    assert not torch.allclose(h_cont[:, :, 3], h1[:, :, 3])
    torch.testing.assert_close(h_cont[:, :, :3], h1[:, :, :3])
    neck.reset_hidden_each_second = True
    (h_sec2, _), = neck.hierarchy(feat[:, :, 3:])
    assert not torch.allclose(h_sec2[:, :, 0], h1[:, :, 3])


def reference_layer2(neck, feat, h_low, c_low):
    """Paper eqs. of the higher layers (typos resolved as documented), by hand."""
    k = neck.pool_sizes[0]
    n, hid, t, hh, ww = h_low.shape
    steps = t // k
    cell = neck.cells[1]
    gc, gh = neck.cell_pools[0], neck.hidden_pools[0]
    scale = 1 / math.sqrt(hid)
    hc = hid
    W = cell.input_conv.weight
    U = cell.hidden_conv.weight
    b = cell.input_conv.bias

    def gate(idx, x, h):
        sl = slice(idx * hc, (idx + 1) * hc)
        return (torch.nn.functional.conv2d(x, W[sl], b[sl], padding=1)
                + torch.nn.functional.conv2d(h, U[sl], padding=1))

    h_prev = torch.zeros(n, hid, hh, ww)
    c_prev = torch.zeros(n, hid, hh, ww)
    hs, cs, sc_all, sh_all = [], [], [], []
    for m in range(steps):
        x_ctx = feat[:, :, m * (t // steps):(m + 1) * (t // steps)].mean(2)
        C_c = gc.context_conv(x_ctx)
        C_h = gh.context_conv(x_ctx)
        yc = [(C_c * c_low[:, :, m * k + j]).sum(1) * scale for j in range(k)]
        yh = [(C_h * h_low[:, :, m * k + j]).sum(1) * scale for j in range(k)]
        if m == 0:  # no own previous cell yet
            den = sum(torch.exp(y) for y in yc)
            sc_prev = torch.zeros_like(den)
        else:
            yc_prev = (C_c * c_prev).sum(1) * scale
            den = torch.exp(yc_prev) + sum(torch.exp(y) for y in yc)
            sc_prev = torch.exp(yc_prev) / den
        sc = [torch.exp(y) / den for y in yc]
        denh = sum(torch.exp(y) for y in yh)
        sh = [torch.exp(y) / denh for y in yh]
        pc = sc_prev[:, None] * c_prev + sum(
            s[:, None] * c_low[:, :, m * k + j] for j, s in enumerate(sc))
        ph = sum(s[:, None] * h_low[:, :, m * k + j] for j, s in enumerate(sh))
        i = torch.sigmoid(gate(0, ph, h_prev) + cell.peephole_i * c_prev)
        f = torch.sigmoid(gate(1, ph, h_prev) + cell.peephole_f * c_prev)
        c = f * pc + i * torch.tanh(gate(2, ph, h_prev))
        o = torch.sigmoid(gate(3, ph, h_prev) + cell.peephole_o * c)
        h = o * torch.tanh(c)
        hs.append(h)
        cs.append(c)
        sc_all.append(torch.stack([sc_prev] + sc, 1))
        sh_all.append(torch.stack(sh, 1))
        h_prev, c_prev = h, c
    return (torch.stack(hs, 2), torch.stack(cs, 2), torch.stack(sc_all, 1),
            torch.stack(sh_all, 1))


def test_layer2_attention_pooling_matches_equations():
    neck = randomize(HSTLSTMNeck(4, hidden_channels=5, micro_steps=3, num_layers=2),
                     std=0.4)
    torch.manual_seed(2)
    feat = torch.randn(2, 4, 9, 4, 5)
    (h1, c1), (h2, c2) = neck.hierarchy(feat)
    ref_h, ref_c, ref_sc, ref_sh = reference_layer2(neck, feat, h1, c1)
    torch.testing.assert_close(h2, ref_h, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(c2, ref_c, rtol=1e-4, atol=1e-5)
    w = neck.pool_weights[0]
    assert w['cell'].shape == (2, 3, 4, 4, 5) and w['hidden'].shape == (2, 3, 3, 4, 5)
    torch.testing.assert_close(w['cell'], ref_sc, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(w['hidden'], ref_sh, rtol=1e-4, atol=1e-6)
    # normalised over the candidates at every location; first step: own cell 0
    torch.testing.assert_close(w['cell'].sum(2), torch.ones(2, 3, 4, 5))
    torch.testing.assert_close(w['hidden'].sum(2), torch.ones(2, 3, 4, 5))
    assert torch.all(w['cell'][:, 0, 0] == 0) and torch.all(w['cell'][:, 1:, 0] > 0)
    assert w['hidden'].std() > 1e-3  # not a plain average


def test_context_steers_the_pooling():
    neck = randomize(HSTLSTMNeck(4, hidden_channels=5, num_layers=2), std=0.4)
    feat = torch.randn(1, 4, 6, 4, 4)
    neck.hierarchy(feat)
    w1 = neck.pool_weights[0]['hidden'].clone()
    with torch.no_grad():
        neck.hidden_pools[0].context_conv.weight.mul_(-1)
        neck.hidden_pools[0].context_conv.bias.mul_(-1)
    neck.hierarchy(feat)
    assert not torch.allclose(w1, neck.pool_weights[0]['hidden'])


def test_three_layers_and_pool_sizes():
    neck = HSTLSTMNeck(4, hidden_channels=6, micro_steps=3, num_layers=3,
                       pool_sizes=(3, 2), output_step='all',
                       output_features=('hstlstm',), output_mode='concat',
                       input_steps=None)
    feat = torch.randn(1, 4, 12, 4, 4)
    states = neck.hierarchy(feat)
    assert [s[0].shape[2] for s in states] == [12, 4, 2]
    out = neck(feat)
    assert out.shape == (1, 6, 2, 4, 4)
    assert len(neck.pool_weights) == 2 and neck.pool_weights[1]['cell'].shape[2] == 3
    with pytest.raises(ValueError, match='multiple of 6'):
        neck(torch.randn(1, 4, 9, 4, 4))


@pytest.mark.parametrize('step,t_out', [('last', 1), ('center', 1), ('keyframe', 1),
                                        ('all', 3)])
def test_output_concatenates_appearance_backbone_hstlstm(step, t_out):
    neck = randomize(HSTLSTMNeck(8, hidden_channels=4, output_step=step,
                                 output_mode='concat'), std=0.2)
    feat = torch.randn(2, 8, 9, 5, 6)
    out = neck(feat)
    assert neck.out_channels == 8 + 8 + 4
    assert out.shape == (2, 20, t_out, 5, 6)
    (_, _), (h2, _) = neck.hierarchy(feat)
    sel = {'last': h2[:, :, 2:], 'center': h2[:, :, 1:2], 'keyframe': h2[:, :, 1:2],
           'all': h2}[step]
    torch.testing.assert_close(out[:, 16:], sel)
    # appearance = the keyframe (centre) slice, backbone = mean over the span
    torch.testing.assert_close(out[:, :8], feat[:, :, 4:5].expand(-1, -1, t_out, -1, -1))
    if step == 'all':
        torch.testing.assert_close(out[:, 8:16, 1], feat[:, :, 3:6].mean(2))
    else:
        span = feat if step == 'last' else feat[:, :, 3:6]
        torch.testing.assert_close(out[:, 8:16, 0], (feat[:, :, 6:9] if step == 'last'
                                                     else span).mean(2))


def _keyframe_index(clip_len):
    """Where MMAction2's SampleAVAFrames puts the keyframe in a clip: frame indices
    ``keyframe + (arange(clip_len) - clip_len // 2) * frame_interval``."""
    import numpy as np
    offsets = (np.arange(clip_len) - clip_len // 2) * 3
    (k,) = np.flatnonzero(offsets == 0)
    return int(k)


@pytest.mark.parametrize('seconds,num_layers', [(3, 2), (5, 2), (4, 2), (5, 1)])
def test_default_output_is_the_keyframe_step(seconds, num_layers):
    # a clip of `seconds` x 3 micro-steps (one backbone step per frame, as the
    # synthetic 9x3x1 SlowOnly: T = clip_len) in which only the keyframe's second
    # carries signal: the default output reads that second, 'last' does not
    t = 3 * seconds
    kf = _keyframe_index(t)
    sec = kf // 3  # the second the keyframe frame falls in
    neck = HSTLSTMNeck(8, hidden_channels=4, num_layers=num_layers, input_steps=None,
                       output_features=('backbone',), output_mode='concat')
    assert neck.output_step == 'keyframe'
    assert neck.keyframe_step(seconds) == sec
    feat = torch.zeros(1, 8, t, 3, 3)
    feat[:, :, 3 * sec:3 * sec + 3] = torch.randn(1, 8, 3, 3, 3)
    out = neck(feat)
    torch.testing.assert_close(out[:, :, 0], feat[:, :, 3 * sec:3 * sec + 3].mean(2))
    assert out.abs().sum() > 0
    last = HSTLSTMNeck(8, hidden_channels=4, num_layers=num_layers, input_steps=None,
                       output_features=('backbone',), output_mode='concat',
                       output_step='last')
    assert last(feat).abs().sum() == 0  # still available: the last second, empty here
    # the HST-LSTM state: the top layer's step of the keyframe's second
    full = randomize(HSTLSTMNeck(8, hidden_channels=4, num_layers=num_layers,
                                 input_steps=None, output_features=('hstlstm',),
                                 output_mode='concat'), std=0.3)
    x = torch.randn(1, 8, t, 3, 3)
    top = full._top_steps(full.hierarchy(x))
    assert top.shape[2] == seconds
    torch.testing.assert_close(full(x)[:, :, 0], top[:, :, sec])
    full.output_step = 'last'
    torch.testing.assert_close(full(x)[:, :, 0], top[:, :, -1])


def test_hstlstm_configs_use_the_keyframe_step():
    import glob
    for path in sorted(glob.glob(f'{REPO}/configs/hstlstm/*.py')):
        text = open(path).read()
        assert "output_step='keyframe'" in text and "output_step='last'" not in text, path
    assert Config.fromfile(CONFIG).model.neck.output_step == 'keyframe'


def test_one_layer_outputs_end_of_each_second_and_tuple_inputs():
    neck = HSTLSTMNeck(8, hidden_channels=4, num_layers=1, output_step='all',
                       output_features=('hstlstm',), output_mode='concat')
    feat = torch.randn(1, 8, 9, 4, 4)
    (h1, _), = neck.hierarchy(feat)
    torch.testing.assert_close(neck(feat), h1[:, :, 2::3])
    app = torch.randn(1, 3, 8, 8)  # a 2D keyframe stream at another resolution
    neck2 = HSTLSTMNeck(8, hidden_channels=4, appearance_index=1,
                        appearance_channels=3, feature_index=0, output_mode='concat')
    out = neck2((feat, app))
    assert neck2.out_channels == 3 + 8 + 4 and out.shape == (1, 15, 1, 4, 4)
    with pytest.raises(ValueError, match='tuple'):
        neck2(feat)
    # input_steps resamples a backbone feature of another length (19 -> 9 steps)
    neck3 = HSTLSTMNeck(8, hidden_channels=4, input_steps=9, output_features=('hstlstm',),
                        output_mode='concat')
    long_feat = torch.randn(1, 8, 19, 4, 4)
    pooled = torch.nn.functional.adaptive_avg_pool3d(long_feat, (9, 4, 4))
    torch.testing.assert_close(neck3(long_feat), neck3(pooled))


def test_no_recurrence_control_is_order_blind_and_matches_the_cell_from_zero():
    """recurrent=False: each micro-step is the layer-1 cell from a zero state, the
    second's steps averaged; shuffling steps inside a second changes nothing, while
    the recurrent neck with the same weights does see the order."""
    ctrl = randomize(HSTLSTMNeck(6, hidden_channels=4, num_layers=1, recurrent=False,
                                 output_step='all', output_features=('hstlstm',),
                                 output_mode='concat'))
    rec = HSTLSTMNeck(6, hidden_channels=4, num_layers=1, output_step='all',
                      output_features=('hstlstm',), output_mode='concat')
    rec.load_state_dict(ctrl.state_dict())
    torch.manual_seed(1)
    feat = torch.randn(2, 6, 6, 4, 4)
    out = ctrl(feat)
    assert out.shape == (2, 4, 2, 4, 4)
    cell = ctrl.cells[0]
    want = torch.stack([torch.stack([cell(feat[:, :, t])[0] for t in range(s, s + 3)]
                        ).mean(0) for s in (0, 3)], 2)
    torch.testing.assert_close(out, want)
    shuffled = feat[:, :, [2, 0, 1, 4, 5, 3]]
    torch.testing.assert_close(ctrl(shuffled), out)
    assert not torch.allclose(rec(shuffled), rec(feat), atol=1e-4)
    with pytest.raises(ValueError, match='num_layers=1'):
        HSTLSTMNeck(6, num_layers=2, recurrent=False)


def test_gradients_reach_every_parameter():
    neck = HSTLSTMNeck(4, hidden_channels=5, num_layers=2, output_mode='concat')
    torch.manual_seed(3)
    feat = torch.randn(2, 4, 6, 4, 4, requires_grad=True)
    # two steps so the own-previous-cell candidate and peepholes are used
    out = neck(feat)
    out[:, 8:].square().sum().backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert feat.grad.abs().sum() > 0


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match='pool_sizes'):
        HSTLSTMNeck(4, num_layers=2, pool_sizes=(3, 3))
    with pytest.raises(ValueError, match='output_step'):
        HSTLSTMNeck(4, output_step='first')
    with pytest.raises(ValueError, match='output_features'):
        HSTLSTMNeck(4, output_features=('resnet',))
    with pytest.raises(ValueError, match=r'\(N, 4, T, H, W\)'):
        HSTLSTMNeck(4)(torch.randn(1, 5, 6, 4, 4))


def test_config_builds_and_runs_through_stock_fastrcnn():
    init_default_scope('mmaction')
    cfg = Config.fromfile(CONFIG)
    assert MMDET_MODELS.get('HSTLSTMNeck') is HSTLSTMNeck
    assert MMACTION_MODELS.get('HSTLSTMNeck') is HSTLSTMNeck
    model = MMDET_MODELS.build(cfg.model)
    assert isinstance(model.neck, HSTLSTMNeck)
    assert model.neck.out_channels == cfg.model.roi_head.bbox_head.in_channels
    x = torch.randn(1, 3, 9, 64, 64)
    feat = model.extract_feat(x)
    assert feat.shape == (1, model.neck.out_channels, 1, 8, 8)


@pytest.mark.slow
def test_trains_one_epoch_through_runner_and_evaluates(tiny_synthetic, tmp_path):
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'hst', config=CONFIG,
                             max_epochs=1, batch_size=4)
    cfg.default_hooks.checkpoint.save_best = None
    runner = Runner.from_cfg(cfg)
    neck = runner.model.neck
    before = {k: v.detach().clone() for k, v in neck.state_dict().items()}
    runner.train()
    changed = [k for k, v in neck.state_dict().items()
               if not torch.equal(v, before[k])]
    assert any(k.startswith('cells.1') for k in changed)
    assert any(k.startswith('hidden_pools.0') for k in changed)
    metrics = runner.test()
    assert 0.0 <= metrics['mAP/overall'] <= 1.0
    assert neck.pool_weights and neck.pool_weights[0]['cell'].shape[1] == 3


def test_ava_config_with_inception_i3d_builds_and_runs():
    init_default_scope('mmaction')
    cfg = Config.fromfile(f'{REPO}/configs/hstlstm/hstlstm_inception-i3d-kinetics400-'
                          'pretrained_8xb8-75x2x1-20e_ava22-rgb.py')
    assert cfg.train_dataloader.dataset.pipeline[0].clip_len == 75
    model = MMDET_MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'InceptionI3D'
    assert model.neck.out_channels == cfg.model.roi_head.bbox_head.in_channels == 1728
    model.eval()
    with torch.no_grad():
        feat = model.extract_feat(torch.randn(1, 3, 16, 64, 64))
    assert feat.shape == (1, 1728, 1, 4, 4)
