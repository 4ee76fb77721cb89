"""PWC-Net converters against the key lists of the public NVlabs and mmflow formats.

The key lists (``tests/fixtures/reference_keys/``, see its README) were derived from the
NVlabs and mmflow model code at the commits recorded there, not read from checkpoint
files. Each test builds a state dict with exactly those keys and shapes (values: a
deterministic function of the key name), converts it the way ``docs/flow.md`` tells a
user (``tools/convert/pwcnet_weights.py`` and ``load_pwcnet_weights``) and checks the
strict load and where every tensor lands, against a role-by-role table written here
from the reference forward code (independent of the converter's regular expressions).

What this does NOT check: the outputs of NVlabs' or mmflow's networks (no reference
outputs exist for them here). The estimator replay below only checks that the converted
weights see their input channels in the concatenation order read from the reference
forward code.
"""
import contextlib
import importlib.util
import json
import math
import os.path as osp
import zlib

import pytest
import torch
import torch.nn.functional as F
from helpers import REPO

from stadl_plugins.models.flow.pwcnet import PWCNet
from stadl_plugins.models.flow.weight_converters import (
    convert_pwcnet_state_dict,
    detect_layout,
    load_pwcnet_weights,
)

FIXTURES = osp.join(REPO, 'tests', 'fixtures', 'reference_keys')

# fixture -> what the converter must report, and how the public file wraps the tensors
FORMATS = {
    'nvlabs': dict(fixture='nvlabs_pwcdc.json', layout='nvlabs', corr='mean', convs=3,
                   dropped=['deconv2.weight', 'deconv2.bias'], file='pwc_net.pth.tar'),
    'nvlabs_old': dict(fixture='nvlabs_pwcdc_old.json', layout='nvlabs', corr='mean',
                       convs=2, dropped=['deconv2.weight', 'deconv2.bias'],
                       file='pwc_net.pth.tar'),
    'mmflow': dict(fixture='mmflow_pwcnet.json', layout='mmflow', corr='sum', convs=3,
                   dropped=[], file='pwcnet_ft_4x1_300k_sintel_final_384x768.pth'),
}
NUM_TENSORS = {'nvlabs': 128, 'nvlabs_old': 116, 'mmflow': 126}


def role_table(fmt):
    """``{source key: PWCNet key}``, role by role, from the reference forward code."""
    pairs = []
    if fmt.startswith('nvlabs'):
        for lvl in range(1, 7):
            if fmt == 'nvlabs_old':
                order = ['a', 'b']                    # c1l = convlb(convla(.))
            elif lvl == 6:
                order = ['aa', 'a', 'b']              # c16 = conv6b(conv6a(conv6aa(c15)))
            else:
                order = ['a', 'aa', 'b']              # c1l = convlb(convlaa(convla(.)))
            pairs += [(f'conv{lvl}{n}.0', f'encoder.level{lvl}.{2 * j}')
                      for j, n in enumerate(order)]
        for lvl in range(2, 7):
            pairs += [(f'conv{lvl}_{k}.0', f'decoders.level{lvl}.dense.{k}.0')
                      for k in range(5)]
            pairs.append((f'predict_flow{lvl}', f'decoders.level{lvl}.predict_flow'))
            if lvl > 2:                               # up_flow6 = deconv6(flow6), ...
                pairs += [(f'deconv{lvl}', f'decoders.level{lvl}.upsample_flow'),
                          (f'upfeat{lvl}', f'decoders.level{lvl}.upsample_feat')]
        pairs += [(f'dc_conv{k + 1}.0', f'context.{2 * k}') for k in range(6)]
        pairs.append(('dc_conv7', 'context.12'))
    else:
        for lvl in range(1, 7):
            pairs += [(f'encoder.layers.{lvl - 1}.layers.{j}.conv', f'encoder.level{lvl}.{2 * j}')
                      for j in range(3)]
        for lvl in range(2, 7):
            pre = f'decoder.decoders.level{lvl}'
            pairs += [(f'{pre}.dense_net.layers.{k}.layers.conv',
                       f'decoders.level{lvl}.dense.{k}.0') for k in range(5)]
            pairs.append((f'{pre}.predict_layer', f'decoders.level{lvl}.predict_flow'))
            if lvl > 2:                               # upflow/upfeat of the sending level
                pairs += [(f'{pre}.upflow_layer', f'decoders.level{lvl}.upsample_flow'),
                          (f'{pre}.upfeat_layer', f'decoders.level{lvl}.upsample_feat')]
        pairs += [(f'decoder.post_processor.layers.{k}.conv', f'context.{2 * k}')
                  for k in range(6)]
        pairs.append(('decoder.post_processor.layers.6', 'context.12'))
    return {f'{s}.{p}': f'{d}.{p}' for s, d in pairs for p in ('weight', 'bias')}


def estimator_names(fmt, lvl):
    if fmt.startswith('nvlabs'):
        return [f'conv{lvl}_{k}.0' for k in range(5)], f'predict_flow{lvl}', f'upfeat{lvl}'
    pre = f'decoder.decoders.level{lvl}'
    return ([f'{pre}.dense_net.layers.{k}.layers.conv' for k in range(5)],
            f'{pre}.predict_layer', f'{pre}.upfeat_layer')


def fill(name, shape):
    """Deterministic tensor of ``shape`` from the key name (Kaiming-sized weights)."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    t = torch.randn(shape, generator=g)
    if name.endswith('.weight'):
        return t * math.sqrt(2.0 / math.prod(shape[1:]))
    return t * 0.01


_CACHE = {}
_MODEL_SHAPES = {}


def pwcnet_shapes(convs):
    """``{key: shape}`` of ``PWCNet(convs_per_level=convs).state_dict()``."""
    if convs not in _MODEL_SHAPES:
        sd = PWCNet(convs_per_level=convs).state_dict()
        _MODEL_SHAPES[convs] = {k: tuple(v.shape) for k, v in sd.items()}
    return _MODEL_SHAPES[convs]


def fixture_and_source(fmt):
    """(fixture JSON, public-format state dict with exactly its keys and shapes)."""
    if fmt not in _CACHE:
        with open(osp.join(FIXTURES, FORMATS[fmt]['fixture'])) as f:
            fx = json.load(f)
        keys = [k for k, _ in fx['keys']]
        assert len(set(keys)) == len(keys) == fx['num_tensors'] == NUM_TENSORS[fmt]
        assert len({zlib.crc32(k.encode()) for k in keys}) == len(keys)   # distinct fills
        _CACHE[fmt] = fx, {k: fill(k, s) for k, s in fx['keys']}
    return _CACHE[fmt]


def public_file(fmt, path, wrapped=None):
    """Write the source as the public file holds it: mmflow (mmcv) checkpoints are
    ``{'meta', 'state_dict'}``; NVlabs' loader accepts a bare dict or ``state_dict``."""
    _, src = fixture_and_source(fmt)
    wrapped = fmt == 'mmflow' if wrapped is None else wrapped
    obj = {'meta': {'mmflow_version': '0.5.2'}, 'state_dict': src} if wrapped else src
    torch.save(obj, path)
    return str(path)


def warns_if_ambiguous(fmt):
    if fmt == 'nvlabs_old':
        return pytest.warns(UserWarning, match='PWCDCNet_old')
    return contextlib.nullcontext()


def load_cli():
    spec = importlib.util.spec_from_file_location(
        'pwcnet_weights', osp.join(REPO, 'tools', 'convert', 'pwcnet_weights.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


def assert_mapping(fmt, converted):
    """Every source tensor is consumed (or documented as dropped) and sits, unchanged,
    at the PWCNet key the role table gives; every PWCNet tensor receives one."""
    fx, src = fixture_and_source(fmt)
    table = role_table(fmt)
    model_keys = set(pwcnet_shapes(FORMATS[fmt]['convs']))
    assert fx['dropped'] == FORMATS[fmt]['dropped']
    assert set(table) | set(fx['dropped']) == set(src) and not set(table) & set(fx['dropped'])
    assert set(converted) == set(table.values()) == model_keys
    assert len(converted) + len(fx['dropped']) == len(src)
    for s, d in table.items():
        assert torch.equal(converted[d], src[s]), f'{s} should land at {d}'


@pytest.mark.parametrize('fmt', list(FORMATS))
def test_fixture_shapes_fit_pwcnet_through_the_role_table(fmt):
    """The derived key list and our PWCNet agree on every shape (independent of the
    converter), and the totals are those in the fixture README."""
    fx, _ = fixture_and_source(fmt)
    shapes = dict((k, tuple(s)) for k, s in fx['keys'])
    ours = pwcnet_shapes(FORMATS[fmt]['convs'])
    for s, d in role_table(fmt).items():
        assert shapes[s] == ours[d], (s, d)
    assert fx['num_parameters'] == sum(math.prod(s) for s in shapes.values())
    dropped = sum(math.prod(shapes[k]) for k in fx['dropped'])
    assert fx['num_parameters'] - dropped == sum(math.prod(s) for s in ours.values())


@pytest.mark.parametrize('fmt', list(FORMATS))
def test_cli_converts_the_public_format_strictly(fmt, tmp_path, capsys):
    """docs/flow.md: ``python tools/convert/pwcnet_weights.py <file> <out>`` (layout
    detected), then ``load_pwcnet_weights(model, out)``."""
    spec = FORMATS[fmt]
    src_path = public_file(fmt, tmp_path / spec['file'])
    dst = tmp_path / f'pwcnet_{fmt}.pth'
    with warns_if_ambiguous(fmt):
        assert load_cli().main([src_path, str(dst)]) == 0
    out = capsys.readouterr().out
    assert f"{spec['layout']} layout, {NUM_TENSORS[fmt] - len(spec['dropped'])} tensors" in out
    assert (f"corr_normalize='{spec['corr']}', convs_per_level={spec['convs']}" in out)
    assert ('dropped unused: deconv2.weight, deconv2.bias' in out) == bool(spec['dropped'])
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta'] == dict(layout=spec['layout'], corr_normalize=spec['corr'],
                                convs_per_level=spec['convs'])
    assert_mapping(fmt, ckpt['state_dict'])
    other = 'sum' if spec['corr'] == 'mean' else 'mean'
    model = PWCNet(convs_per_level=spec['convs'], corr_normalize=other)
    info = load_pwcnet_weights(model, str(dst))            # strict; normalisation from meta
    assert info['layout'] == 'stadl' and model.correlation.normalize == spec['corr']
    assert_mapping(fmt, model.state_dict())


@pytest.mark.parametrize('wrapped', [False, True])
@pytest.mark.parametrize('fmt', list(FORMATS))
def test_load_pwcnet_weights_reads_the_public_file(fmt, wrapped, tmp_path):
    """``load_pwcnet_weights(model, path)`` on the public file itself: detected layout,
    cost-volume normalisation set for the layout, documented drops, strict load."""
    spec = FORMATS[fmt]
    path = public_file(fmt, tmp_path / spec['file'], wrapped)
    _, src = fixture_and_source(fmt)
    assert detect_layout(src) == spec['layout']
    other = 'sum' if spec['corr'] == 'mean' else 'mean'
    model = PWCNet(convs_per_level=spec['convs'], corr_normalize=other)
    with warns_if_ambiguous(fmt):
        info = load_pwcnet_weights(model, path)
    assert info == dict(layout=spec['layout'], corr_normalize=spec['corr'],
                        convs_per_level=spec['convs'], dropped=spec['dropped'])
    assert model.correlation.normalize == spec['corr']
    assert_mapping(fmt, model.state_dict())
    with warns_if_ambiguous(fmt):
        sd, _ = convert_pwcnet_state_dict(src)
    res = PWCNet(convs_per_level=spec['convs']).load_state_dict(sd, strict=True)
    assert not res.missing_keys and not res.unexpected_keys


def test_a_wrong_model_refuses_the_weights():
    """The strict load is what catches a three-conv file loaded into a two-conv model
    (and the reverse): the converter's settings must be used."""
    for fmt, wrong in (('nvlabs', 2), ('nvlabs_old', 3), ('mmflow', 2)):
        _, src = fixture_and_source(fmt)
        with warns_if_ambiguous(fmt):
            sd, _ = convert_pwcnet_state_dict(src)
        with pytest.raises(RuntimeError, match='Missing key|Unexpected key'):
            PWCNet(convs_per_level=wrong).load_state_dict(sd, strict=True)


@pytest.mark.parametrize('fmt', list(FORMATS))
def test_converted_net_runs_finite_and_both_routes_agree(fmt, tmp_path):
    """Functional smoke check, no reference outputs: the net built from the CLI output
    and the one loaded from the public file directly give the same finite flow."""
    spec = FORMATS[fmt]
    path = public_file(fmt, tmp_path / spec['file'])
    dst = tmp_path / 'converted.pth'
    with warns_if_ambiguous(fmt):
        load_cli().main([path, str(dst)])
    a = PWCNet(convs_per_level=spec['convs'])
    load_pwcnet_weights(a, str(dst))
    b = PWCNet(convs_per_level=spec['convs'])
    with warns_if_ambiguous(fmt):
        load_pwcnet_weights(b, path)
    g = torch.Generator().manual_seed(0)
    img1 = torch.rand(1, 3, 64, 64, generator=g)
    img2 = torch.roll(img1, shifts=(1, 2), dims=(2, 3))
    with torch.no_grad():
        fa, fb = a.eval()(img1, img2), b.eval()(img1, img2)
    assert fa.shape == (1, 2, 64, 64) and torch.isfinite(fa).all() and fa.abs().max() > 0
    assert torch.equal(fa, fb)


def replay_estimator(fmt, lvl, x, order):
    """One estimator level computed from the *source* tensors with F.conv2d, in the
    concatenation order read from a reference forward:

    * ``'new_first'``: ``x = cat(conv_k(x), x)`` for k = 0..4 -- NVlabs ``PWCDCNet``
      (HEAD, and ``940521b`` for two convs) and mmflow ``DenseLayer``;
    * ``'pwcdcnet_old'``: NVlabs ``PWCDCNet_old``: ``cat(x, conv_0(x))``,
      ``cat(conv_1(x), x)``, then ``cat(x, conv_k(x))`` for k = 2..4.
    """
    _, src = fixture_and_source(fmt)
    dense, pred, upfeat = estimator_names(fmt, lvl)

    def conv(name, inp):
        out = F.conv2d(inp, src[f'{name}.weight'], src[f'{name}.bias'], padding=1)
        return F.leaky_relu(out, 0.1)

    for k, name in enumerate(dense):
        new = conv(name, x)
        x = torch.cat([new, x] if order == 'new_first' or k == 1 else [x, new], 1)
    flow = F.conv2d(x, src[f'{pred}.weight'], src[f'{pred}.bias'], padding=1)
    up = F.conv_transpose2d(x, src[f'{upfeat}.weight'], src[f'{upfeat}.bias'],
                            stride=2, padding=1)
    return flow, x, up


@pytest.mark.parametrize('fmt', list(FORMATS))
def test_converted_estimator_reads_channels_in_the_reference_order(fmt):
    """Level 6 (cost only) and level 3 (cost, f1, up_flow, up_feat) of the converted
    net equal a replay of the reference's dense concatenation on the source tensors.
    For the two-conv list the replay of ``PWCDCNet_old``'s order differs: the names
    cannot tell the two classes apart (hence the converter's warning)."""
    spec = FORMATS[fmt]
    model = PWCNet(convs_per_level=spec['convs'])
    _, src = fixture_and_source(fmt)
    with warns_if_ambiguous(fmt):
        sd, _ = convert_pwcnet_state_dict(src)
    model.load_state_dict(sd, strict=True)
    g = torch.Generator().manual_seed(1)
    for lvl in (6, 3):
        est = model.decoders[f'level{lvl}']
        x = torch.randn(1, est.dense[0][0].in_channels, 6, 8, generator=g)
        with torch.no_grad():
            flow, feat = est(x)
            up = est.upsample_feat(feat)
            ref = replay_estimator(fmt, lvl, x, 'new_first')
            for ours, theirs in zip((flow, feat, up), ref):
                torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
            if fmt == 'nvlabs_old':
                old_flow, _, _ = replay_estimator(fmt, lvl, x, 'pwcdcnet_old')
                assert (old_flow - flow).abs().max() > 1e-2 * flow.abs().max()
