"""PWCNet: architecture facts, sizes, loss, real training steps, weight converters."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from helpers import REPO

from stadl_plugins.models.flow.pwcnet import PWCNet, multi_level_epe
from stadl_plugins.models.flow.weight_converters import (
    convert_pwcnet_state_dict,
    detect_layout,
    load_pwcnet_weights,
)

TINY = dict(num_levels=4, output_level=2, channel_mult=0.25, max_displacement=2)

PYR = [3, 16, 32, 64, 96, 128, 196]        # input + levels 1..6
DENSE = [128, 128, 96, 64, 32]
CONTEXT = [128, 128, 128, 96, 64, 32]


def test_full_model_layout_matches_pwc_dc():
    m = PWCNet()
    ins = {lvl: m.decoders[f'level{lvl}'].dense[0][0].in_channels for lvl in range(2, 7)}
    assert ins == {6: 81, 5: 213, 4: 181, 3: 149, 2: 117}
    assert m.context[0].in_channels == 117 + 448 == 565
    assert [m.context[i].dilation[0] for i in range(0, 12, 2)] == [1, 2, 4, 8, 16, 1]
    assert [m.encoder[f'level{i}'][0].out_channels for i in range(1, 7)] == PYR[1:]
    assert [m.encoder[f'level{i}'][0].stride[0] for i in range(1, 7)] == [2] * 6
    assert not hasattr(m.decoders['level2'], 'upsample_flow')
    assert m.decoders['level3'].upsample_feat.in_channels == 149 + 448
    # warp multipliers flow_div / 2**level for levels 5..2
    assert [m.flow_div / 2 ** lvl for lvl in (5, 4, 3, 2)] == [0.625, 1.25, 2.5, 5.0]


@pytest.mark.parametrize('size_mode', ['resize', 'pad'])
def test_shapes_any_input_size(size_mode):
    torch.manual_seed(0)
    m = PWCNet(size_mode=size_mode, **TINY).eval()
    a, b = torch.rand(2, 3, 50, 70), torch.rand(2, 3, 50, 70)
    flow, levels = m(a, b, return_levels=True)
    assert flow.shape == (2, 2, 50, 70)
    assert sorted(levels) == [2, 3, 4]
    Hn, Wn = m.network_size(50, 70)
    assert (Hn, Wn) == (64, 80)
    for lvl, f in levels.items():
        assert f.shape == (2, 2, Hn // 2 ** lvl, Wn // 2 ** lvl)
    with pytest.raises(ValueError, match='multiples of 16'):
        m.estimate(a, b)


class ConstantFlowPWCNet(PWCNet):
    """Our own PWCNet whose estimate is a known constant: isolates the resizing."""

    def estimate(self, img1, img2):
        B, _, H, W = img1.shape
        s = 2 ** self.output_level
        out = img1.new_zeros(B, 2, H // s, W // s)
        out[:, 0], out[:, 1] = 6.0 / self.flow_div, -4.0 / self.flow_div
        return {self.output_level: out}


def test_resize_rescales_u_and_v_and_fixed_input_size():
    m = ConstantFlowPWCNet(size_mode='resize', **TINY)
    flow = m(torch.rand(1, 3, 40, 100), torch.rand(1, 3, 40, 100))   # net at 48 x 112
    torch.testing.assert_close(flow[:, 0], torch.full((1, 40, 100), 6.0 * 100 / 112))
    torch.testing.assert_close(flow[:, 1], torch.full((1, 40, 100), -4.0 * 40 / 48))
    paper = ConstantFlowPWCNet(input_size=(320, 320), **TINY)         # the paper: 320x320
    flow = paper(torch.rand(1, 3, 240, 160), torch.rand(1, 3, 240, 160))
    torch.testing.assert_close(flow[0, 0], torch.full((240, 160), 6.0 * 160 / 320))
    torch.testing.assert_close(flow[0, 1], torch.full((240, 160), -4.0 * 240 / 320))
    padded = ConstantFlowPWCNet(size_mode='pad', **TINY)
    torch.testing.assert_close(padded(torch.rand(1, 3, 40, 100), torch.rand(1, 3, 40, 100))[:, 0],
                               torch.full((1, 40, 100), 6.0))


def test_multi_level_epe_values():
    gt = torch.randn(2, 2, 32, 32) * 5
    preds = {lvl: F.adaptive_avg_pool2d(gt / 20, 32 // 2 ** lvl) for lvl in (2, 3, 4)}
    assert multi_level_epe(preds, gt).abs() < 1e-4
    off = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)   # EPE 5 at every pixel
    shifted = {lvl: p + off for lvl, p in preds.items()}
    expect = 0.005 * 5 * 64 + 0.01 * 5 * 16 + 0.02 * 5 * 4
    torch.testing.assert_close(multi_level_epe(shifted, gt), torch.tensor(expect),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(multi_level_epe(shifted, gt, reduction='mean'),
                               torch.tensor((0.005 + 0.01 + 0.02) * 5.0), rtol=1e-4, atol=1e-4)
    valid = torch.zeros(2, 1, 32, 32)
    valid[..., :16, :] = 1                            # top half only
    got = multi_level_epe(shifted, gt, valid=valid)
    torch.testing.assert_close(got, torch.tensor(expect / 2), rtol=1e-4, atol=1e-4)


def shifted_pairs(n, size=32, max_shift=2, seed=0):
    """Smooth random textures and copies shifted by an integer (u, v)."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(n, 3, size // 4 + 4, size // 4 + 4, generator=g),
                         size=(size + 16, size + 16), mode='bilinear', align_corners=False)
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=g)
    img1 = base[:, :, 8:8 + size, 8:8 + size]
    img2 = torch.stack([base[i, :, 8 - int(v):8 - int(v) + size, 8 - int(u):8 - int(u) + size]
                        for i, (u, v) in enumerate(shifts.tolist())])
    # img1(x) = img2(x + (u, v)): forward flow is (u, v) everywhere
    flow = shifts.float().view(n, 2, 1, 1).expand(n, 2, size, size).clone()
    return img1, img2, flow


def test_training_steps_reduce_the_epe_loss():
    torch.manual_seed(0)
    m = PWCNet(num_levels=3, output_level=2, channel_mult=0.25, max_displacement=2)
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    img1, img2, gt = shifted_pairs(4)
    losses = []
    for _ in range(25):
        _, levels = m(img1, img2, return_levels=True)
        loss = m.loss(levels, gt, reduction='mean')
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5, losses


# ---------------------------------------------------------------- converters
def _conv(sd, name, cout, cin, k=3, seq=True):
    sd[f'{name}{".0" if seq else ""}.weight'] = torch.randn(cout, cin, k, k)
    sd[f'{name}{".0" if seq else ""}.bias'] = torch.randn(cout)


def _deconv(sd, name, cin, cout=2):
    sd[f'{name}.weight'] = torch.randn(cin, cout, 4, 4)      # ConvTranspose2d: (in, out, k, k)
    sd[f'{name}.bias'] = torch.randn(cout)


def _dec_in(lvl):
    return 81 if lvl == 6 else 81 + PYR[lvl] + 4


def sniklaus_state_dict(prefix='module'):
    """Names/shapes of sniklaus/pytorch-pwc (documented in docs/flow.md)."""
    P = lambda s: prefix + s  # noqa: E731
    names = ['One', 'Two', 'Thr', 'Fou', 'Fiv', 'Six']
    sd = {}
    for i, n in enumerate(names):
        cin, c = PYR[i], PYR[i + 1]
        for j, a in enumerate([cin, c, c]):
            _conv(sd, f'{P("Extractor")}.{P(n)}.{2 * j}', c, a, seq=False)
    for lvl, n in zip(range(2, 7), names[1:]):
        if lvl < 6:
            _deconv(sd, f'{P(n)}.{P("Upflow")}', 2)
            _deconv(sd, f'{P(n)}.{P("Upfeat")}', _dec_in(lvl + 1) + 448)
        ch = _dec_in(lvl)
        for m, out in zip(names[:5], DENSE):
            _conv(sd, f'{P(n)}.{P(m)}', out, ch)
            ch += out
        _conv(sd, f'{P(n)}.{P("Six")}', 2, ch)
    ch = _dec_in(2) + 448
    for j, out in enumerate(CONTEXT + [2]):
        _conv(sd, f'{P("Refiner")}.{P("Main")}.{2 * j}', out, ch, seq=False)
        ch = out
    return sd


def nvlabs_state_dict(three_convs=True):
    sd = {}
    for lvl in range(1, 7):
        cin, c = PYR[lvl - 1], PYR[lvl]
        if three_convs:
            order = ['aa', 'a', 'b'] if lvl == 6 else ['a', 'aa', 'b']
        else:
            order = ['a', 'b']
        for j, which in enumerate(order):
            _conv(sd, f'conv{lvl}{which}', c, cin if j == 0 else c)
    for lvl in range(2, 7):
        ch = _dec_in(lvl)
        for j, out in enumerate(DENSE):
            _conv(sd, f'conv{lvl}_{j}', out, ch)
            ch += out
        _conv(sd, f'predict_flow{lvl}', 2, ch, seq=False)
        _deconv(sd, f'deconv{lvl}', 2)                   # deconv2 exists, unused
        if lvl > 2:
            _deconv(sd, f'upfeat{lvl}', ch)
    ch = _dec_in(2) + 448
    for k, out in enumerate(CONTEXT, start=1):
        _conv(sd, f'dc_conv{k}', out, ch)
        ch = out
    _conv(sd, 'dc_conv7', 2, ch, seq=False)
    return {'state_dict': sd}


def mmflow_state_dict():
    sd = {}
    for i in range(6):
        cin, c = PYR[i], PYR[i + 1]
        for j, a in enumerate([cin, c, c]):
            _conv(sd, f'encoder.layers.{i}.layers.{j}.conv', c, a, seq=False)
    for lvl in range(2, 7):
        pre = f'decoder.decoders.level{lvl}'
        ch = _dec_in(lvl)
        for j, out in enumerate(DENSE):
            _conv(sd, f'{pre}.dense_net.layers.{j}.layers.conv', out, ch, seq=False)
            ch += out
        _conv(sd, f'{pre}.predict_layer', 2, ch, seq=False)
        if lvl > 2:
            _deconv(sd, f'{pre}.upflow_layer', 2)
            _deconv(sd, f'{pre}.upfeat_layer', ch)
    ch = _dec_in(2) + 448
    for j, out in enumerate(CONTEXT):
        _conv(sd, f'decoder.post_processor.layers.{j}.conv', out, ch, seq=False)
        ch = out
    _conv(sd, 'decoder.post_processor.layers.6', 2, ch, seq=False)
    return {'meta': {}, 'state_dict': sd}


def _check_landed(model, sd, pairs):
    ours = model.state_dict()
    for src, dst in pairs:
        assert torch.equal(ours[dst], sd[src]), (src, dst)


@pytest.mark.parametrize('prefix', ['module', 'net'])
def test_sniklaus_converter_strict_load(prefix):
    src = sniklaus_state_dict(prefix)
    sd, info = convert_pwcnet_state_dict(src)
    assert info['layout'] == 'sniklaus' and info['corr_normalize'] == 'mean'
    assert len(sd) == len(src)
    m = PWCNet(corr_normalize=info['corr_normalize'])
    res = m.load_state_dict(sd, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    P = lambda s: prefix + s  # noqa: E731
    _check_landed(m, src, [
        (f'{P("Extractor")}.{P("Six")}.0.weight', 'encoder.level6.0.weight'),
        (f'{P("Fiv")}.{P("Upflow")}.weight', 'decoders.level6.upsample_flow.weight'),
        (f'{P("Two")}.{P("Upfeat")}.weight', 'decoders.level3.upsample_feat.weight'),
        (f'{P("Six")}.{P("Six")}.0.weight', 'decoders.level6.predict_flow.weight'),
        (f'{P("Thr")}.{P("Fiv")}.0.bias', 'decoders.level3.dense.4.0.bias'),
        (f'{P("Refiner")}.{P("Main")}.12.weight', 'context.12.weight')])


@pytest.mark.parametrize('three_convs', [True, False])
def test_nvlabs_converter_strict_load(three_convs):
    src = nvlabs_state_dict(three_convs)
    sd, info = convert_pwcnet_state_dict(src)
    assert info['layout'] == 'nvlabs' and info['dropped'] == ['deconv2.weight', 'deconv2.bias']
    assert info['convs_per_level'] == (3 if three_convs else 2)
    m = PWCNet(convs_per_level=info['convs_per_level'])
    m.load_state_dict(sd, strict=True)
    s = src['state_dict']
    pairs = [('conv5_0.0.weight', 'decoders.level5.dense.0.0.weight'),
             ('deconv3.weight', 'decoders.level3.upsample_flow.weight'),
             ('upfeat6.bias', 'decoders.level6.upsample_feat.bias'),
             ('dc_conv5.0.weight', 'context.8.weight'), ('dc_conv7.weight', 'context.12.weight')]
    if three_convs:   # level 6: 'aa' carries the stride and comes first
        pairs += [('conv6aa.0.weight', 'encoder.level6.0.weight'),
                  ('conv6a.0.weight', 'encoder.level6.2.weight'),
                  ('conv3aa.0.weight', 'encoder.level3.2.weight')]
    else:
        pairs += [('conv6b.0.weight', 'encoder.level6.2.weight')]
    _check_landed(m, s, pairs)


def test_mmflow_converter_strict_load_and_sum_normalisation():
    src = mmflow_state_dict()
    sd, info = convert_pwcnet_state_dict(src)
    assert info['layout'] == 'mmflow' and info['corr_normalize'] == 'sum'
    m = PWCNet(corr_normalize='sum')
    m.load_state_dict(sd, strict=True)
    _check_landed(m, src['state_dict'], [
        ('encoder.layers.2.layers.1.conv.weight', 'encoder.level3.2.weight'),
        ('decoder.decoders.level4.upfeat_layer.weight', 'decoders.level4.upsample_feat.weight'),
        ('decoder.decoders.level2.dense_net.layers.3.layers.conv.weight',
         'decoders.level2.dense.3.0.weight'),
        ('decoder.post_processor.layers.6.weight', 'context.12.weight')])


def test_converter_rejects_unknown_keys_and_layouts():
    src = mmflow_state_dict()
    src['state_dict']['decoder.something_else.weight'] = torch.zeros(1)
    with pytest.raises(KeyError, match='something_else'):
        convert_pwcnet_state_dict(src)
    with pytest.raises(ValueError, match='unknown PWC-Net'):
        detect_layout({'foo.weight': torch.zeros(1)})


def test_cli_converts_and_output_loads_weights_only(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'pwcnet_weights', osp.join(REPO, 'tools', 'convert', 'pwcnet_weights.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    src = tmp_path / 'network-default.pytorch'
    torch.save(sniklaus_state_dict('net'), src)
    dst = tmp_path / 'pwcnet_sniklaus.pth'
    assert cli.main([str(src), str(dst)]) == 0
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['layout'] == 'sniklaus'
    m = PWCNet(corr_normalize='sum')
    info = load_pwcnet_weights(m, str(dst))        # our own layout, normalisation from meta
    assert info['layout'] == 'stadl' and m.correlation.normalize == 'mean'
