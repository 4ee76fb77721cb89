"""Small visualize.py fixes: a single-keyframe score chart shows its point, flow
--frames selects fields, a 1080p tube strip is capped at --max-width."""
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
from helpers import REPO

TOOL = osp.join(REPO, 'tools', 'analysis', 'visualize.py')


def run(*args):
    res = subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def coloured_pixels(path):
    img = cv2.imread(str(path)).astype(int)
    return int(((img.max(2) - img.min(2)) > 60).sum())  # saturated (not grey) pixels


def test_single_keyframe_score_chart_is_not_empty(tmp_path):
    np.savez(tmp_path / 'one.npz', scores=np.array([[0.8, 0.1]]))
    run('scores', tmp_path / 'one.npz', '--out', tmp_path / 'one.png')
    # the marker of the one point is drawn (a line through one point is not)
    assert coloured_pixels(tmp_path / 'one.png') > 60


def test_flow_frames_selects_fields(tmp_path):
    flow = np.zeros((3, 8, 10, 2), np.float32)
    flow[1, ..., 0] = 2.0
    np.savez(tmp_path / 'f.npz', flow=flow)
    run('flow', tmp_path / 'f.npz', '--frames', 1, '--out', tmp_path / 'one.png')
    run('flow', tmp_path / 'f.npz', '--frames', 0, 2, '--out', tmp_path / 'two.png')
    one, two = cv2.imread(str(tmp_path / 'one.png')), cv2.imread(str(tmp_path / 'two.png'))
    assert two.shape[1] > one.shape[1]
    res = subprocess.run([sys.executable, TOOL, 'flow', str(tmp_path / 'f.npz'),
                          '--frames', '5', '--out', str(tmp_path / 'x.png')],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and '3 flow' in res.stderr


def test_tube_strip_max_width(tmp_path):
    from stadl_plugins.visualization import save_tube_strip
    frames = np.zeros((8, 1080, 1920, 3), np.uint8)
    tubes = [dict(id=0, frame_inds=np.arange(8), boxes=np.tile([100, 100, 400, 900], (8, 1)),
                  label='walk')]
    grid = save_tube_strip(str(tmp_path / 't.png'), frames, tubes, range(8),
                           max_width=2048)
    assert grid.shape[1] <= 2048
    full = save_tube_strip(str(tmp_path / 'u.png'), frames[:2], tubes, range(2))
    assert full.shape[1] == 2 * 1920 + 2
