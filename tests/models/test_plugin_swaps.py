"""Every plugin is a one-line swap into MMAction2's own STAD configs.

For each plugin x {SlowOnly, SlowFast} stock AVA config and the two I3D user configs
of docs/plugins.md (MMAction2 ships no I3D detection config), a config file holds
exactly what docs/plugins.md documents: ``_base_`` = the stock (or I3D) file, the
``custom_imports`` line and the plugin's line. It is parsed as a user's file would
be, then shrunk for the CPU (every width / 8, no pretrained checkpoint: the
tiny-size variant), built, run forward + loss + backward, and, because each plugin
starts as the identity, it predicts exactly what the stock detector with the same
weights predicts.
"""
import copy
import os.path as osp
import re

import pytest
import torch
from helpers import REPO, det_sample
from mmengine.config import Config
from mmengine.registry import init_default_scope

SLOWONLY = ('mmaction::detection/slowonly/'
            'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
# MMAction2 1.2.0 ships no I3D detection config (configs/detection/ has SlowOnly,
# SlowFast, ACRN, LFB, VideoMAE only), so the I3D case is the user config
# docs/plugins.md prints: the stock SlowOnly AVA config with the backbone of
# MMAction2's own I3D (configs/_base_/models/i3d_r50.py, ``ResNet3d`` with I3D
# inflation) and its 32x2x1 clip; and, on top of it, our Inception-v1 I3D tapped at
# Mixed_4f (832 channels, the HST-LSTM / RecLNet backbone).
I3D_R50 = """\
_base_ = 'mmaction::detection/slowonly/slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py'
model = dict(
    init_cfg=None,  # the base's SlowOnly checkpoint does not fit this backbone
    backbone=dict(  # MMAction2's configs/_base_/models/i3d_r50.py backbone ...
        _delete_=True, type='mmaction.ResNet3d', depth=50,
        pretrained='torchvision://resnet50', pretrained2d=True,
        conv1_kernel=(5, 7, 7), conv1_stride_t=2, pool1_stride_t=2,
        conv_cfg=dict(type='Conv3d'), norm_eval=False, zero_init_residual=False,
        inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
        spatial_strides=(1, 2, 2, 1)))  # ... with res5 at stride 16, as every stock AVA detector
# MMAction2's I3D clip, 32x2x1 (temporal stride 8: T = 4 at res5); the rest as the base
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=32, frame_interval=2),
    dict(type='RawFrameDecode', io_backend='disk'),
    dict(type='RandomRescale', scale_range=(256, 320)),
    dict(type='RandomCrop', size=256),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=32, frame_interval=2, test_mode=True),
    dict(type='RawFrameDecode', io_backend='disk'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=val_pipeline))
"""
INCEPTION_I3D = """\
_base_ = './i3d-r50_ava21-rgb.py'
custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='InceptionI3D', out_endpoints=('Mixed_4f',)),
    roi_head=dict(bbox_head=dict(in_channels=832)),  # Mixed_4f: 832 channels, stride 16
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]))
"""
# backbone -> (the _base_ of a user's file, the clip length, {file name: text} it needs)
STOCK = {
    'SlowOnly': (SLOWONLY, 4, {}),
    'SlowFast': ('mmaction::detection/slowfast/'
                 'slowfast_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py', 32, {}),
    'I3D-R50': ('./i3d-r50_ava21-rgb.py', 32, {'i3d-r50_ava21-rgb.py': I3D_R50}),
    'InceptionI3D': ('./inception-i3d_ava21-rgb.py', 32,
                     {'i3d-r50_ava21-rgb.py': I3D_R50,
                      'inception-i3d_ava21-rgb.py': INCEPTION_I3D}),
}
IMPORTS = "custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)"
# (plugin, backbone) -> the line docs/plugins.md documents
SWAPS = {
    ('PWCFlowNeck', 'SlowOnly'): "model = dict(neck=dict(type='PWCFlowNeck', in_channels=2048))",
    ('PWCFlowNeck', 'SlowFast'): "model = dict(neck=dict(type='PWCFlowNeck', in_channels=2048))",
    ('PWCFlowNeck both pathways', 'SlowFast'):
        "model = dict(neck=dict(type='PWCFlowNeck', in_channels=[2048, 256]))",
    ('HSTLSTMNeck', 'SlowOnly'): "model = dict(neck=dict(type='HSTLSTMNeck', in_channels=2048))",
    ('HSTLSTMNeck', 'SlowFast'): "model = dict(neck=dict(type='HSTLSTMNeck', in_channels=2048))",
    ('ConvALSTMNeck', 'SlowOnly'):
        "model = dict(neck=dict(type='ConvALSTMNeck', in_channels=2048))",
    ('ConvALSTMNeck', 'SlowFast'):
        "model = dict(neck=dict(type='ConvALSTMNeck', in_channels=2048))",
    ('ATRHead', 'SlowOnly'):
        "model = dict(roi_head=dict(shared_head=dict(type='ATRHead', in_channels=2048)))",
    ('ATRHead', 'SlowFast'):
        "model = dict(roi_head=dict(shared_head=dict(type='ATRHead', in_channels=2304)))",
}
for plugin in ('PWCFlowNeck', 'HSTLSTMNeck', 'ConvALSTMNeck', 'ATRHead'):
    # MMAction2's I3D: 2048 channels at stride 16, the SlowOnly lines as they are
    SWAPS[(plugin, 'I3D-R50')] = SWAPS[(plugin, 'SlowOnly')]
    # Inception-v1 I3D at Mixed_4f: 832 channels (T = 32 / 4 = 8)
    SWAPS[(plugin, 'InceptionI3D')] = SWAPS[(plugin, 'SlowOnly')].replace('2048', '832')

PLUGINS_DOC, README = osp.join(REPO, 'docs', 'plugins.md'), osp.join(REPO, 'README.md')
# backbone -> (channels, T) of the feature the plugin gets, at full width
FEATURE = {'SlowOnly': (2048, 4), 'SlowFast': (2048, 4), 'I3D-R50': (2048, 4),
           'InceptionI3D': (832, 8)}
TINY = 8  # every width divided by this


def write_config(tmp_path, backbone, line=None):
    base, _, needs = STOCK[backbone]
    for name, text in needs.items():
        (tmp_path / name).write_text(text)
    text = f"_base_ = '{base}'\n{IMPORTS}\n" + (f'{line}\n' if line else '')
    path = tmp_path / f'{backbone}.py'
    path.write_text(text)
    return str(path)


def shrink(cfg, backbone):
    """The tiny-size variant: widths / 8, no checkpoint download."""
    m = cfg.model
    m.init_cfg = None
    if backbone in ('SlowOnly', 'I3D-R50'):
        m.backbone.base_channels = 64 // TINY
        m.backbone.pretrained = None
    elif backbone == 'InceptionI3D':
        m.backbone.width = 1 / TINY
    else:
        m.backbone.slow_pathway.base_channels = 64 // TINY
        m.backbone.fast_pathway.base_channels = 8 // TINY
    m.roi_head.bbox_head.in_channels //= TINY
    for part in (m.get('neck'), m.roi_head.get('shared_head')):
        if part is not None:
            ch = part.in_channels
            part.in_channels = [c // TINY for c in ch] if isinstance(ch, list) else ch // TINY
    return cfg


def build(path, backbone):
    from mmdet.registry import MODELS
    init_default_scope('mmaction')
    cfg = shrink(Config.fromfile(path), backbone)
    torch.manual_seed(0)
    return MODELS.build(copy.deepcopy(cfg.model))


def test_documented_lines_are_in_the_docs():
    text = open(PLUGINS_DOC, encoding='utf-8').read()
    for line in set(SWAPS.values()):
        assert line in text, f'docs/plugins.md lacks {line}'
    for config in (I3D_R50, INCEPTION_I3D):  # the I3D files, verbatim in a code block
        assert f'```python\n{config}```' in text, f'docs/plugins.md lacks\n{config}'
    readme = open(README, encoding='utf-8').read()
    for (_, backbone), line in SWAPS.items():
        if backbone in ('SlowOnly', 'SlowFast'):
            assert line in readme, f'README.md lacks {line}'


def test_the_i3d_config_changes_only_the_backbone_and_the_clip(tmp_path):
    """The documented I3D file is the stock SlowOnly config but for what it says."""
    stock = Config.fromfile(write_config(tmp_path, 'SlowOnly'))
    i3d = Config.fromfile(write_config(tmp_path, 'I3D-R50'))
    assert i3d.model.backbone.type == 'mmaction.ResNet3d' and i3d.model.init_cfg is None
    (tmp_path / 'mm_i3d.py').write_text("_base_ = 'mmaction::_base_/models/i3d_r50.py'\n")
    mm_i3d = Config.fromfile(str(tmp_path / 'mm_i3d.py')).model.backbone
    assert i3d.model.backbone == dict(mm_i3d, type='mmaction.ResNet3d',
                                      spatial_strides=(1, 2, 2, 1))
    for cfg in (stock, i3d):
        del cfg.model['backbone'], cfg.model['init_cfg']
    assert i3d.model == stock.model
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        got, ref = i3d[key].dataset.pipeline, stock[key].dataset.pipeline
        assert got[0].clip_len == 32 and got[0].frame_interval == 2
        assert [dict(p, clip_len=0, frame_interval=0) if i == 0 else p
                for i, p in enumerate(got)] == \
            [dict(p, clip_len=0, frame_interval=0) if i == 0 else p
             for i, p in enumerate(ref)]
        got.clear(), ref.clear()
        assert i3d[key] == stock[key]


@pytest.mark.parametrize('plugin,backbone', list(SWAPS))
def test_one_line_swap_builds_trains_and_starts_as_the_stock_model(plugin, backbone,
                                                                  tmp_path):
    line = SWAPS[(plugin, backbone)]
    name = re.search(r"type='(\w+)'", line).group(1)
    model = build(write_config(tmp_path, backbone, line), backbone)
    part = model.neck if 'neck' in line else model.roi_head.shared_head
    assert type(part).__name__ == name
    clip_len = STOCK[backbone][1]
    torch.manual_seed(1)
    inputs = [torch.randint(0, 255, (3, clip_len, 64, 80), dtype=torch.uint8)
              for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=[det_sample(), det_sample()]),
                                   True)
    feat = model.backbone(data['inputs'])  # what the plugin gets: channels, T, stride 16
    feat = feat[0] if isinstance(feat, tuple) else feat
    channels, steps = FEATURE[backbone]
    assert feat.shape[1:] == (channels // TINY, steps, 4, 5)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())

    # identity at initialisation: same predictions as the stock model, same weights
    (tmp_path / 'stock').mkdir()
    stock = build(write_config(tmp_path / 'stock', backbone), backbone)
    missing, unexpected = model.load_state_dict(stock.state_dict(), strict=False)[:2]
    assert not unexpected and all(k.split('.')[0] in ('neck', 'roi_head') for k in missing)
    model.eval(), stock.eval()
    data = model.data_preprocessor(dict(inputs=inputs[:1], data_samples=[det_sample()]), False)
    with torch.no_grad():
        got = model(**copy.deepcopy(data), mode='predict')[0].pred_instances.scores
        ref = stock(**copy.deepcopy(data), mode='predict')[0].pred_instances.scores
    assert got.shape == (2, 81)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


def test_hstlstm_adapts_to_the_clip_length_and_strict_mode_names_the_fix():
    from stadl_plugins.models.necks import HSTLSTMNeck
    neck = HSTLSTMNeck(8, hidden_channels=4)
    for t in (1, 2, 4, 5, 8, 16):
        x = torch.randn(1, 8, t, 4, 4)
        assert neck(x).shape == x.shape
        assert neck.resample_steps(t) % 3 == 0
    assert neck.resample_steps(4) == 3 and neck.resample_steps(8) == 9
    with pytest.raises(ValueError, match=r"neck=dict\(input_steps='auto'\)"):
        HSTLSTMNeck(8, hidden_channels=4, input_steps=None)(torch.randn(1, 8, 4, 4, 4))


@pytest.mark.parametrize('name', ['HSTLSTMNeck', 'ConvALSTMNeck', 'PWCFlowNeck'])
def test_wrong_in_channels_names_the_line_to_set(name):
    from stadl_plugins.models import necks
    neck = getattr(necks, name)(16)
    with pytest.raises(ValueError, match=r'model=dict\(neck=dict\(in_channels=8\)\)'):
        neck(torch.randn(1, 8, 4, 8, 8))


def test_concat_mode_keeps_the_old_output():
    from stadl_plugins.models.necks import ConvALSTMNeck, HSTLSTMNeck
    x = torch.randn(1, 8, 9, 4, 4)
    hst = HSTLSTMNeck(8, hidden_channels=4, output_mode='concat')
    assert hst.out_channels == 20 and hst(x).shape == (1, 20, 1, 4, 4)
    vl = ConvALSTMNeck(8, hidden_channels=4, output_mode='concat')
    assert vl.out_channels == 12 and vl(x).shape == (1, 12, 1, 4, 4)
    with pytest.raises(ValueError, match="'concat'"):
        HSTLSTMNeck(8, output_mode='sum')
