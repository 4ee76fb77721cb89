"""Reference equivalence: PWC-Net (sniklaus/pytorch-pwc) and Inception-I3D
(piergiaj/pytorch-i3d) against the fixtures in ``../shared/data/reference_models``.

The fixture README is the specification: each reference checkpoint is regenerated
from its key list with the deterministic fill rule, converted the way the docs tell a
user (``tools/convert/pwcnet_weights.py`` + ``load_pwcnet_weights`` in
``docs/flow.md``; ``tools/convert/i3d_weights.py`` + ``InceptionI3D(pretrained=...)``
in ``docs/recurrent.md``), loaded strictly, run on the stored inputs and compared with
the reference outputs (computed by the reference code in float64) at the README's
tolerances: ``max|diff| <= tol * max|ref|`` with ``tol`` 3e-5 (PWC-Net, float32),
1e-5 (I3D, float32), 1e-6 (float64).
"""
import importlib.util
import json
import os.path as osp
import re
import shlex
import zlib

import numpy as np
import pytest
import torch
from helpers import REPO, shared

from stadl_plugins.models.backbones import InceptionI3D
from stadl_plugins.models.backbones.i3d_weights import load_i3d_checkpoint
from stadl_plugins.models.flow.pwcnet import PWCNet
from stadl_plugins.models.flow.weight_converters import (
    convert_pwcnet_state_dict,
    load_pwcnet_weights,
)

TOL = {('pwcnet', torch.float32): 3e-5, ('i3d', torch.float32): 1e-5,
       ('pwcnet', torch.float64): 1e-6, ('i3d', torch.float64): 1e-6}
I3D_ENDPOINTS = ('Mixed_4b', 'Mixed_4f', 'Mixed_5c')


# ------------------------------------------------------------ the fill rule
def _uniform01(seed: int, n: int) -> np.ndarray:
    """``n`` values in [0, 1): splitmix64 finaliser of ``seed + i * golden`` (i = 1..n)."""
    u64 = np.uint64
    z = u64(seed) + np.arange(1, n + 1, dtype=np.uint64) * u64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> u64(30))) * u64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> u64(27))) * u64(0x94D049BB133111EB)
    z ^= z >> u64(31)
    return (z >> u64(11)).astype(np.float64) * 2.0 ** -53


def rule_tensor(key: str, shape, gain: float, bias: float) -> torch.Tensor:
    """The tensor the README's weight rule assigns to ``key`` (float32; int64 counter)."""
    kind = key.rsplit('.', 1)[-1]
    if kind == 'num_batches_tracked':
        return torch.zeros(shape, dtype=torch.int64)
    n = int(np.prod(shape)) if len(shape) else 1
    u = _uniform01(zlib.crc32(key.encode('utf-8')), n).reshape(shape)
    if kind == 'weight' and len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        v = gain * np.sqrt(6.0 / fan_in) * (2.0 * u - 1.0)
    elif kind == 'weight':
        v = 0.5 + u
    elif kind == 'bias':
        v = bias * (2.0 * u - 1.0)
    elif kind == 'running_mean':
        v = 0.2 * (2.0 * u - 1.0)
    elif kind == 'running_var':
        v = 0.5 + u
    else:
        raise KeyError(f'the fill rule does not cover {key!r}')
    return torch.from_numpy(v.astype(np.float32))


def reference_state_dict(name: str) -> tuple[dict, dict]:
    """``(state_dict named as the reference module, key-list JSON)``."""
    with open(shared('reference_models', name)) as f:
        spec = json.load(f)
    gain, bias = spec['rule']['gain'], spec['rule']['bias']
    sd = {}
    for key, shape, dtype in spec['keys']:
        t = rule_tensor(key, shape, gain, bias)
        assert str(t.dtype) == f'torch.{dtype}', (key, dtype)
        sd[key] = t
    assert len(sd) == spec['num_tensors']
    buffers = ('running_mean', 'running_var', 'num_batches_tracked')
    assert sum(t.numel() for k, t in sd.items()
               if not k.endswith(buffers)) == spec['num_parameters']
    return sd, spec


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(
        f'stadl_tool_{name}', osp.join(REPO, 'tools', 'convert', f'{name}.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)          # the CLI's own main(), in this process
    return tool


def _rel(ours: torch.Tensor, ref: np.ndarray) -> tuple[float, float]:
    ref_t = torch.from_numpy(ref).to(torch.float64)
    assert tuple(ours.shape) == tuple(ref_t.shape)
    diff = (ours.detach().to(torch.float64) - ref_t).abs().max().item()
    return diff, diff / ref_t.abs().max().item()


def assert_matches(ours, ref, tol, what):
    diff, rel = _rel(ours, ref)
    assert rel <= tol, f'{what}: max|diff| {diff:.3g} = {rel:.3g} * max|ref| > {tol:g}'
    return diff, rel


# ------------------------------------------------------------------ PWC-Net
PWC_CASES = ['noise64x64', 'tex320x320', 'noise100x75', 'warp192x256', 'tex436x1024']


@pytest.fixture(scope='module')
def pwc_npz():
    return np.load(shared('reference_models', 'pwcnet_sniklaus_fixture.npz'))


@pytest.fixture(scope='module')
def pwc_reference_sd():
    return reference_state_dict('pwcnet_sniklaus_keys.json')[0]


@pytest.fixture(scope='module')
def pwc_checkpoint(pwc_reference_sd, tmp_path_factory):
    """docs/flow.md: ``python tools/convert/pwcnet_weights.py network-default.pytorch
    work_dirs/pwcnet_sniklaus.pth`` on the published file's naming (``module``
    where ``Network().state_dict()`` says ``net``)."""
    tmp = tmp_path_factory.mktemp('pwc')
    published = {k.replace('net', 'module'): v for k, v in pwc_reference_sd.items()}
    src, dst = tmp / 'network-default.pytorch', tmp / 'pwcnet_sniklaus.pth'
    torch.save(published, src)
    assert _load_tool('pwcnet_weights').main([str(src), str(dst)]) == 0
    return str(dst)


@pytest.fixture(scope='module')
def pwc_model(pwc_checkpoint):
    model = PWCNet()                                   # the documented default: PWC-DC
    info = load_pwcnet_weights(model, pwc_checkpoint)  # strict
    assert info['corr_normalize'] == 'mean' and model.correlation.normalize == 'mean'
    return model.eval()


def _pwc_inputs(npz, case, dtype):
    def img(k):   # uint8 BGR -> float32 in [0, 1] exactly as the README, then dtype
        return torch.from_numpy(npz[f'{case}_{k}'].astype(np.float32) / np.float32(255))
    return img('img1').to(dtype), img('img2').to(dtype)


def run_pwc(model, npz, case, dtype):
    """flow, core (20 * level-2 flow incl. context) and the raw decoder outputs."""
    raw = {}
    hooks = [model.decoders[f'level{lvl}'].register_forward_hook(
        lambda mod, inp, out, lvl=lvl: raw.__setitem__(lvl, out[0]))
        for lvl in range(2, 7)]
    try:
        model.to(dtype)
        with torch.no_grad():
            flow, levels = model(*_pwc_inputs(npz, case, dtype), return_levels=True)
    finally:
        model.float()
        for h in hooks:
            h.remove()
    return flow, model.flow_div * levels[model.output_level], raw


def test_pwc_reference_checkpoint_converts_one_to_one(pwc_reference_sd):
    """Both namings (``net`` of the module, ``module`` of the published files) give
    the same converted dict, every tensor lands, and strict load succeeds."""
    sd_net, info = convert_pwcnet_state_dict(pwc_reference_sd)
    published = {k.replace('net', 'module'): v for k, v in pwc_reference_sd.items()}
    sd_module, _ = convert_pwcnet_state_dict(published)
    assert info['layout'] == 'sniklaus' and info['convs_per_level'] == 3
    assert list(sd_net) == list(sd_module) and len(sd_net) == len(pwc_reference_sd)
    for k in sd_net:
        assert sd_net[k] is sd_module[k]
    res = PWCNet().load_state_dict(sd_net, strict=True)
    assert not res.missing_keys and not res.unexpected_keys


@pytest.mark.parametrize('case', PWC_CASES)
def test_pwcnet_matches_reference_float32(pwc_model, pwc_npz, case):
    flow, core, raw = run_pwc(pwc_model, pwc_npz, case, torch.float32)
    tol = TOL['pwcnet', torch.float32]
    assert_matches(core, pwc_npz[f'{case}_core'], tol, f'{case} core')
    if case == 'tex436x1024':      # the fixture stores every 4th row/column of the flow
        assert flow.shape == (1, 2, 436, 1024)
        assert_matches(flow[:, :, 1::4, 2::4], pwc_npz[f'{case}_flow_sub4'], tol,
                       f'{case} flow_sub4')
    else:
        assert_matches(flow, pwc_npz[f'{case}_flow'], tol, f'{case} flow')
    if case == 'tex320x320':
        for lvl in range(2, 7):
            assert_matches(raw[lvl], pwc_npz[f'{case}_level{lvl}'], tol, f'level{lvl}')


@pytest.mark.parametrize('case', ['noise64x64', 'noise100x75', 'tex320x320'])
def test_pwcnet_matches_reference_float64(pwc_model, pwc_npz, case):
    """In float64 only the float32 rounding of the stored values remains."""
    flow, core, raw = run_pwc(pwc_model, pwc_npz, case, torch.float64)
    tol = TOL['pwcnet', torch.float64]
    assert flow.dtype == torch.float64
    assert_matches(core, pwc_npz[f'{case}_core'], tol, f'{case} core')
    assert_matches(flow, pwc_npz[f'{case}_flow'], tol, f'{case} flow')
    if case == 'tex320x320':
        for lvl in range(2, 7):
            assert_matches(raw[lvl], pwc_npz[f'{case}_level{lvl}'], tol, f'level{lvl}')


def test_pwcnet_resize_is_one_bilinear_step_from_quarter_resolution(pwc_npz):
    """The fixture's internal relation, on our resize code alone: flow = one bilinear
    interpolation of ``core`` to (H, W), u *= W / Wn, v *= H / Hn (at 100x75 the
    two-step path is 0.18 * max|flow| away)."""
    net = PWCNet(channel_mult=0.125)
    core = torch.from_numpy(pwc_npz['noise100x75_core']).double()  # (1, 2, 32, 32)
    seen = []

    def estimate(img1, img2):                                      # network: 128x128
        seen.append(tuple(img1.shape[-2:]))
        return {2: core / net.flow_div}

    net.estimate = estimate
    img = torch.zeros(1, 3, 100, 75, dtype=torch.float64)
    flow = net(img, img)
    assert seen == [(128, 128)]
    assert_matches(flow, pwc_npz['noise100x75_flow'], 1e-6, 'resize of the stored core')


# ------------------------------------------------------------- Inception-I3D
I3D_CASES = {'rgb16x112x112': ('rgb', I3D_ENDPOINTS),
             'rgb9x97x113': ('rgb', I3D_ENDPOINTS),
             'flow9x97x113': ('flow', ('Mixed_4f', 'Mixed_5c'))}


@pytest.fixture(scope='module')
def i3d_npz():
    return np.load(shared('reference_models', 'i3d_piergiaj_fixture.npz'))


@pytest.fixture(scope='module')
def i3d_sources(tmp_path_factory):
    """``rgb_imagenet.pt`` / ``flow_imagenet.pt`` regenerated from the key lists."""
    tmp = tmp_path_factory.mktemp('i3d')
    out = {}
    for stream in ('rgb', 'flow'):
        sd, spec = reference_state_dict(f'i3d_piergiaj_{stream}_keys.json')
        path = tmp / f'{stream}_imagenet.pt'
        torch.save(sd, path)
        out[stream] = (str(path), sd)
    return out


@pytest.fixture(scope='module')
def i3d_models(i3d_sources, tmp_path_factory):
    """docs/recurrent.md: ``python tools/convert/i3d_weights.py rgb_imagenet.pt
    out.pth``, then ``InceptionI3D(pretrained=out.pth)`` (what a config's
    ``backbone.pretrained`` does at ``init_weights``)."""
    tmp = tmp_path_factory.mktemp('i3d_out')
    tool = _load_tool('i3d_weights')
    models = {}
    for stream, (src, _) in i3d_sources.items():
        dst = str(tmp / f'i3d_{stream}.pth')
        assert tool.main([src, dst]) == 0
        model = InceptionI3D(out_endpoints=I3D_ENDPOINTS,
                             in_channels=3 if stream == 'rgb' else 2, pretrained=dst)
        model.init_weights()
        models[stream] = model.eval()
    return models


def _i3d_input(npz, case, dtype):
    clip = npz[f'{case}_input'].astype(np.float32)
    return torch.from_numpy((clip - np.float32(127.5)) / np.float32(127.5)).to(dtype)


def run_i3d(model, npz, case, dtype):
    try:
        model.to(dtype)
        with torch.no_grad():
            feats = model(_i3d_input(npz, case, dtype))
    finally:
        model.float()
    return dict(zip(I3D_ENDPOINTS, feats))


def test_i3d_reference_checkpoint_loads_strictly_and_drops_only_logits(i3d_sources):
    for stream, (src, sd) in i3d_sources.items():
        model = InceptionI3D(out_endpoints='Mixed_5c',
                             in_channels=3 if stream == 'rgb' else 2)
        dropped = load_i3d_checkpoint(model, src, strict=True)
        assert sorted(dropped) == ['logits.conv3d.bias', 'logits.conv3d.weight']
        # every reference tensor landed unchanged (names differ, values do not)
        ours = model.state_dict()
        assert len(ours) == len(sd) - 2
        assert torch.equal(ours['layers.Mixed_4f.branch3.1.conv.weight'],
                           sd['Mixed_4f.b3b.conv3d.weight'])
        assert torch.equal(ours['layers.Mixed_5c.branch1.1.bn.running_var'],
                           sd['Mixed_5c.b1b.bn.running_var'])


@pytest.mark.parametrize('case', list(I3D_CASES))
def test_i3d_matches_reference_float32(i3d_models, i3d_npz, case):
    stream, endpoints = I3D_CASES[case]
    feats = run_i3d(i3d_models[stream], i3d_npz, case, torch.float32)
    for ep in endpoints:
        assert_matches(feats[ep], i3d_npz[f'{case}_{ep}'], TOL['i3d', torch.float32],
                       f'{case} {ep}')


@pytest.mark.parametrize('case', ['rgb16x112x112', 'rgb9x97x113'])
def test_i3d_matches_reference_float64(i3d_models, i3d_npz, case):
    stream, endpoints = I3D_CASES[case]
    feats = run_i3d(i3d_models[stream], i3d_npz, case, torch.float64)
    for ep in endpoints:
        assert feats[ep].dtype == torch.float64
        assert_matches(feats[ep], i3d_npz[f'{case}_{ep}'], TOL['i3d', torch.float64],
                       f'{case} {ep}')


# ----------------------------------------------- documented I3D conversions
def documented_commands(tool: str) -> list[str]:
    """Every ``python <tool> ...`` command in docs/recurrent.md (code blocks and
    inline code) and in the README's command table."""
    cmds = []
    for doc in ('docs/recurrent.md', 'README.md'):
        with open(osp.join(REPO, doc)) as f:
            text = f.read()
        for block in re.findall(r'```[a-z]*\n(.*?)```', text, flags=re.S):
            cmds += [ln.strip() for ln in block.splitlines()
                     if ln.strip().startswith(f'python {tool}')]
        text = re.sub(r'```.*?```', '', text, flags=re.S)
        cmds += [c.strip() for c in re.findall(r'`([^`\n]+)`', text)
                 if c.strip().startswith(f'python {tool}')]
    return cmds


def test_every_documented_i3d_conversion_works_as_written(i3d_sources, tmp_path):
    """docs/recurrent.md: each command runs, and its output loads as the docs say --
    ``model.backbone.pretrained=<out>`` (with or without ``--prefix backbone.``) and,
    for the ``--prefix backbone.`` file, ``load_from`` into a detector."""
    from mmengine.runner import load_checkpoint

    from stadl_plugins.models.backbones.i3d_weights import convert_pytorch_i3d
    from stadl_plugins.models.backbones.inception_i3d import ENDPOINTS

    cmds = documented_commands('tools/convert/i3d_weights.py')
    assert len(cmds) >= 3 and any('--prefix backbone.' in c for c in cmds), cmds
    tool = _load_tool('i3d_weights')
    for n, cmd in enumerate(cmds):
        argv = shlex.split(cmd)[2:]
        stream = 'flow' if 'flow' in osp.basename(argv[0]) else 'rgb'
        src, ref_sd = i3d_sources[stream]
        dst = str(tmp_path / f'{n}_{osp.basename(argv[1])}')
        assert tool.main([src, dst] + argv[2:]) == 0, cmd
        up_to = argv[argv.index('--up-to') + 1] if '--up-to' in argv else 'Mixed_5c'
        in_ch = 2 if stream == 'flow' else 3
        expected, _ = convert_pytorch_i3d(ref_sd, ENDPOINTS[:ENDPOINTS.index(up_to) + 1])

        # model.backbone.pretrained=<dst>: what InceptionI3D.init_weights does
        backbone = InceptionI3D(out_endpoints=up_to, in_channels=in_ch, pretrained=dst)
        backbone.init_weights()
        got = backbone.state_dict()
        assert set(expected) <= set(got), cmd
        for k, v in expected.items():
            assert torch.equal(got[k], v), (cmd, k)

        if '--prefix' in argv:   # load_from=<dst>: the runner's non-strict load
            prefix = argv[argv.index('--prefix') + 1]
            assert prefix == 'backbone.'
            detector = torch.nn.Module()
            detector.backbone = InceptionI3D(out_endpoints=up_to, in_channels=in_ch)
            detector.roi_head = torch.nn.Linear(4, 2)
            load_checkpoint(detector, dst, map_location='cpu', strict=False)
            for k, v in expected.items():
                assert torch.equal(detector.backbone.state_dict()[k], v), (cmd, k)


def test_prefixed_i3d_checkpoint_loads_into_the_backbone(i3d_sources):
    """A detector-style state dict (``backbone.layers.*`` + head keys) loads into
    the bare backbone; the head keys are reported unused; an ambiguous prefix is
    refused with a message."""
    from stadl_plugins.models.backbones.i3d_weights import convert_pytorch_i3d
    _, ref_sd = i3d_sources['rgb']
    ours, _ = convert_pytorch_i3d(ref_sd)
    det = {f'backbone.{k}': v for k, v in ours.items()}
    det['roi_head.bbox_head.fc_cls.weight'] = torch.zeros(3, 4)
    model = InceptionI3D(out_endpoints='Mixed_4b')
    unused = load_i3d_checkpoint(model, {'state_dict': det})
    assert 'roi_head.bbox_head.fc_cls.weight' in unused
    assert any(k.startswith('layers.Mixed_5c.') for k in unused)
    assert torch.equal(model.state_dict()['layers.Mixed_4b.branch0.conv.weight'],
                       ref_sd['Mixed_4b.b0.conv3d.weight'])
    two = dict(det)
    two.update({f'flow_backbone.{k}': v for k, v in ours.items()})
    with pytest.raises(KeyError, match='several prefixes'):
        load_i3d_checkpoint(InceptionI3D(out_endpoints='Mixed_4b'), two)
