"""Every plugin is a one-line swap into MMAction2's own STAD configs.

For each plugin x {SlowOnly, SlowFast} stock AVA config, a config file holds
exactly what docs/plugins.md documents: ``_base_`` = the stock file, the
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
from helpers import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope

STOCK = {
    'SlowOnly': ('mmaction::detection/slowonly/'
                 'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py', 4),
    'SlowFast': ('mmaction::detection/slowfast/'
                 'slowfast_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py', 32),
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
DOCS = [osp.join(REPO, 'docs', 'plugins.md'), osp.join(REPO, 'README.md')]
TINY = 8  # every width divided by this


def write_config(tmp_path, backbone, line=None):
    text = f"_base_ = '{STOCK[backbone][0]}'\n{IMPORTS}\n" + (f'{line}\n' if line else '')
    path = tmp_path / f'{backbone}.py'
    path.write_text(text)
    return str(path)


def shrink(cfg, backbone):
    """The tiny-size variant: widths / 8, no checkpoint download."""
    m = cfg.model
    m.init_cfg = None
    if backbone == 'SlowOnly':
        m.backbone.base_channels = 64 // TINY
    else:
        m.backbone.slow_pathway.base_channels = 64 // TINY
        m.backbone.fast_pathway.base_channels = 8 // TINY
    m.roi_head.bbox_head.in_channels //= TINY
    for part in (m.get('neck'), m.roi_head.get('shared_head')):
        if part is not None:
            ch = part.in_channels
            part.in_channels = [c // TINY for c in ch] if isinstance(ch, list) else ch // TINY
    return cfg


def sample(h=64, w=80):
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(h, w), img_key='v,0901', video_id='v', timestamp=901))
    boxes = torch.tensor([[8., 8., 40., 60.], [40., 10., 70., 60.]])
    labels = torch.zeros(2, 81)
    labels[0, 12] = labels[1, 14] = 1
    s.gt_instances = InstanceData(bboxes=boxes, labels=labels)
    s.proposals = InstanceData(bboxes=boxes.clone())
    return s


def build(path, backbone):
    from mmdet.registry import MODELS
    init_default_scope('mmaction')
    cfg = shrink(Config.fromfile(path), backbone)
    torch.manual_seed(0)
    return MODELS.build(copy.deepcopy(cfg.model))


def test_documented_lines_are_in_the_docs():
    for doc in DOCS:
        text = open(doc, encoding='utf-8').read()
        for line in set(SWAPS.values()):
            assert line in text, f'{osp.basename(doc)} lacks {line}'


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
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=[sample(), sample()]),
                                   True)
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
    data = model.data_preprocessor(dict(inputs=inputs[:1], data_samples=[sample()]), False)
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
