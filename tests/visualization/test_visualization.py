"""Visualizations: each writes a non-empty PNG of the expected size; the flow colour
wheel maps directions to the expected hues; the CLI subcommands run."""
import colorsys
import importlib.util
import json
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
from helpers import REPO

from stadl_plugins.visualization import (
    color_wheel,
    draw_tubes,
    flow_to_color,
    overlay_maps,
    plot_ap_bars,
    plot_pr_curves,
    plot_score_curves,
    plot_training_curves,
    save_attention_grid,
    save_tube_strip,
    true_segments,
    write_flow_png,
)


def png_size(path):
    assert osp.isfile(path) and osp.getsize(path) > 0, path
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert img is not None, f'{path} is not a readable image'
    return img.shape[1], img.shape[0]  # (width, height)


def hue_deg(rgb):
    return colorsys.rgb_to_hsv(*(np.asarray(rgb, float) / 255))[0] * 360


def _cli():
    spec = importlib.util.spec_from_file_location(
        'visualize', osp.join(REPO, 'tools', 'analysis', 'visualize.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


# -------------------------------------------------------------------------- flow
@pytest.mark.parametrize('direction,hue_range', [
    ((1, 0), (0, 5)),         # right: red
    ((0, 1), (45, 65)),       # down (image y): yellow
    ((-1, 0), (180, 200)),    # left: cyan
    ((0, -1), (250, 280)),    # up: blue-violet
    ((1, 1), (20, 40)),       # right-down: orange
])
def test_flow_to_color_hues(direction, hue_range):
    d = np.array(direction, np.float64)
    flow = (3.0 * d / np.linalg.norm(d))[None, None]  # magnitude 3 = max_flow
    rgb = flow_to_color(flow, max_flow=3.0)[0, 0]
    assert hue_range[0] <= hue_deg(rgb) <= hue_range[1], (direction, rgb)
    assert rgb.max() == 255 and rgb.min() <= 5  # fully saturated at max_flow


def test_flow_to_color_zero_saturation_and_layout():
    assert (flow_to_color(np.zeros((3, 4, 2))) == 255).all()     # no motion: white
    half = flow_to_color(np.array([[[1.0, 0.0]]]), max_flow=2.0)[0, 0]
    np.testing.assert_array_equal(half, [255, 128, 128])          # half-way to red
    over = flow_to_color(np.array([[[4.0, 0.0]]]), max_flow=2.0)[0, 0]
    np.testing.assert_array_equal(over, [191, 0, 0])              # beyond: darker
    f = np.random.default_rng(0).normal(size=(5, 6, 2))
    np.testing.assert_array_equal(flow_to_color(f), flow_to_color(f.transpose(2, 0, 1)))
    bad = f.copy()
    bad[0, 0, 0] = np.nan
    assert (flow_to_color(bad)[0, 0] == 0).all()
    wheel = color_wheel()
    assert wheel.shape == (55, 3) and len({tuple(r) for r in wheel}) == 55
    with pytest.raises(ValueError, match='flow must be'):
        flow_to_color(np.zeros((4, 4, 3)))


def test_write_flow_png_size(tmp_path):
    y, x = np.mgrid[0:72, 0:96].astype(np.float64)
    flow = np.stack([x - 48, y - 36], -1)
    path = write_flow_png(str(tmp_path / 'f.png'), flow)
    assert png_size(path) == (96, 72)
    img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    # far right of the centre row moves right (red), far left moves left (cyan)
    assert hue_deg(img[36, 95]) < 8 and 175 < hue_deg(img[36, 20]) < 205


# --------------------------------------------------------------------- attention
def test_attention_overlay_and_grid(tmp_path):
    frames = np.full((5, 32, 40, 3), 128, np.uint8)
    maps = np.zeros((5, 4, 5))
    maps[:, 0, 0] = 1.0  # attention in the top-left cell
    over = overlay_maps(frames, maps, alpha=1.0)
    assert over.shape == (5, 32, 40, 3)
    # jet: high -> red in the top-left, low -> blue in the bottom-right
    assert over[0, 1, 1, 0] >= 120 and over[0, 1, 1, 1:].max() < 30
    assert over[0, -1, -1, 2] >= 120 and over[0, -1, -1, :2].max() < 30
    np.testing.assert_array_equal(overlay_maps(frames, maps, alpha=0.0), frames)
    grid = save_attention_grid(str(tmp_path / 'a.png'), frames, maps, ncols=3,
                               captions=[f't={t}' for t in range(5)])
    assert png_size(str(tmp_path / 'a.png')) == (3 * 40 + 2 * 2, 2 * 32 + 2) \
        == grid.shape[1::-1]
    with pytest.raises(ValueError, match='maps must be'):
        overlay_maps(frames, np.zeros((4, 4, 5)))


# ------------------------------------------------------------------------- tubes
def test_tubes_drawn_on_the_right_frames(tmp_path):
    frames = np.zeros((6, 48, 64, 3), np.uint8)
    tubes = [dict(id=1, frame_inds=[10, 11, 12], boxes=[[5, 5, 20, 40]] * 3,
                  label='walk', score=0.8),
             dict(id=2, frame_inds=[13, 14], boxes=[[30, 8, 60, 44]] * 2)]
    drawn = draw_tubes(frames, tubes, frame_indices=range(10, 16))
    assert drawn[0, 5:40, 5].any() and not drawn[0, 20:40, 60].any()   # tube 1 only
    assert drawn[3, 20:40, 60].any() and not drawn[3, 20:40, 5].any()  # tube 2 only
    assert not drawn[5].any()                                           # none
    save_tube_strip(str(tmp_path / 't.png'), frames, tubes, range(10, 16), ncols=6)
    assert png_size(str(tmp_path / 't.png')) == (6 * 64 + 5 * 2, 48)


# ------------------------------------------------------------------------ charts
def test_score_curves(tmp_path):
    t = np.arange(40)
    scores = np.stack([np.clip(np.sin(t / 6), 0, 1), 0.2 + 0 * t, t / 40], 1)
    path = plot_score_curves(str(tmp_path / 's.png'), scores, ['a', 'b', 'c'],
                             threshold=0.5, size=(640, 320))
    assert png_size(path) == (640, 320)
    assert true_segments(scores[:, 0] >= 0.5) == [(4, 16)]
    assert true_segments(np.array([1, 1, 0, 1], bool)) == [(0, 2), (3, 4)]


def test_ap_bars_and_pr_curves(tmp_path):
    ap = {'walk': 0.82, 'stand': 0.52, 'spin': 0.13, 'wave': float('nan')}
    assert png_size(plot_ap_bars(str(tmp_path / 'ap.png'), ap,
                                 size=(700, 350))) == (700, 350)
    from stadl_plugins.evaluation.functional import precision_recall
    tp = np.array([1, 0, 1, 1, 0], bool)
    p, r = precision_recall(np.linspace(1, 0, 5), tp, 4)
    assert png_size(plot_pr_curves(str(tmp_path / 'pr.png'), {'walk': (p, r)},
                                   {'walk': 0.6}, size=(500, 400))) == (500, 400)
    with pytest.raises(ValueError, match='empty'):
        plot_ap_bars(str(tmp_path / 'x.png'), {})


def _write_scalars(work_dir):
    run = work_dir / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    lines = [dict(lr=1e-3 * (i + 1), loss=1.0 / (i + 1), loss_action_cls=1.0 / (i + 1),
                  epoch=1 + i // 5, iter=i + 1, step=i + 1) for i in range(10)]
    lines += [{'mAP/overall': 0.2, 'step': 1}, {'mAP/overall': 0.3, 'step': 2}]
    with open(run / 'scalars.json', 'w') as f:
        f.write('\n'.join(json.dumps(x) for x in lines) + '\n')
    return lines


def test_training_curves(tmp_path):
    lines = _write_scalars(tmp_path)
    path = plot_training_curves(str(tmp_path / 'c.png'), lines, size=(900, 600))
    assert png_size(path) == (900, 600)
    with pytest.raises(ValueError, match='none of the keys'):
        plot_training_curves(str(tmp_path / 'c.png'), lines, keys=['acc'])


# --------------------------------------------------------------------------- CLI
def test_cli_subcommands(tmp_path, capsys):
    main = _cli()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / 'flow.npz', flow=rng.normal(size=(2, 24, 32, 2)))
    assert main(['flow', str(tmp_path / 'flow.npz'), '--out',
                 str(tmp_path / 'flow.png'), '--ncols', '2']) == 0
    assert png_size(str(tmp_path / 'flow.png')) == (2 * 32 + 2, 24)

    np.savez(tmp_path / 'att.npz', frames=rng.integers(0, 255, (4, 32, 32, 3),
                                                        dtype=np.uint8),
             maps=rng.uniform(size=(4, 7, 7)))
    assert main(['attention', str(tmp_path / 'att.npz'), '--ncols', '4', '--out',
                 str(tmp_path / 'att.png')]) == 0
    assert png_size(str(tmp_path / 'att.png')) == (4 * 32 + 3 * 2, 32)

    tubes = dict(frames=np.zeros((3, 40, 50, 3), np.uint8), frame_inds=[5, 6, 7],
                 class_names=['walk', 'stand'],
                 tubes=[dict(id=3, frame_inds=[5, 6], boxes=[[2, 2, 20, 30]] * 2,
                             keyframe_times=[0.0, 1.0, 2.0],
                             keyframe_scores=[[0.9, 0.1], [0.6, 0.3], [0.2, 0.7]])])
    with open(tmp_path / 'tubes.pkl', 'wb') as f:
        pickle.dump(tubes, f)
    assert main(['tubes', str(tmp_path / 'tubes.pkl'), '--out',
                 str(tmp_path / 'tubes.png')]) == 0
    assert png_size(str(tmp_path / 'tubes.png')) == (3 * 50 + 2 * 2, 40)
    assert main(['scores', str(tmp_path / 'tubes.pkl'), '--track', '3',
                 '--threshold', '0.5', '--out', str(tmp_path / 'ts.png')]) == 0
    assert png_size(str(tmp_path / 'ts.png')) == (800, 400)

    np.savez(tmp_path / 'scores.npz', scores=rng.uniform(size=(30, 4)),
             class_names=np.array(['a', 'b', 'c', 'd']), threshold=0.7)
    assert main(['scores', str(tmp_path / 'scores.npz'), '--out',
                 str(tmp_path / 's.png')]) == 0
    assert png_size(str(tmp_path / 's.png')) == (800, 400)

    summary = dict(config='x.py', per_class_AP={'walk': 0.8, 'spin': 0.1},
                   pr_curves={'walk': dict(precision=[1, 1, 0.67],
                                           recall=[0.5, 1.0, 1.0])})
    (tmp_path / 'summary.json').write_text(json.dumps(summary))
    assert main(['ap', str(tmp_path / 'summary.json'), '--out',
                 str(tmp_path / 'ap.png'), '--pr-out', str(tmp_path / 'pr.png')]) == 0
    assert png_size(str(tmp_path / 'ap.png')) == (800, 400)
    assert png_size(str(tmp_path / 'pr.png')) == (600, 500)

    _write_scalars(tmp_path / 'work')
    assert main(['curves', str(tmp_path / 'work'), '--out',
                 str(tmp_path / 'curves.png')]) == 0
    assert png_size(str(tmp_path / 'curves.png')) == (900, 600)

    # flow from two images through a (tiny, random) PWC-Net config + checkpoint
    import torch
    from mmaction.registry import MODELS
    (tmp_path / 'pwc.py').write_text(
        "custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)\n"
        "model = dict(type='PWCNet', channel_mult=0.25)\n")
    torch.manual_seed(0)
    pwc = MODELS.build(dict(type='PWCNet', channel_mult=0.25))
    torch.save(dict(state_dict=pwc.state_dict()), tmp_path / 'pwc.pth')
    img = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    cv2.imwrite(str(tmp_path / 'b.png'), np.roll(img, 2, axis=1))
    assert main(['flow', '--images', str(tmp_path / 'a.png'), str(tmp_path / 'b.png'),
                 '--config', str(tmp_path / 'pwc.py'), '--checkpoint',
                 str(tmp_path / 'pwc.pth'), '--out', str(tmp_path / 'pwc.png')]) == 0
    assert png_size(str(tmp_path / 'pwc.png')) == (56, 40)

    # errors are reported, not raised
    assert main(['curves', str(tmp_path / 'nowhere'), '--out',
                 str(tmp_path / 'x.png')]) == 2
    assert 'scalars.json' in capsys.readouterr().err
    assert main(['attention', str(tmp_path / 'flow.npz'), '--out',
                 str(tmp_path / 'x.png')]) == 2
    assert "has no 'frames'" in capsys.readouterr().err
