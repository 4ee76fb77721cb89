"""Localization from a VideoLSTM recognizer's attention over whole videos
(`AttentionLocalizer`, `tools/analysis/attention_localization.py`)."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import REPO  # noqa: E402
from mmengine.config import Config

REC_CONFIG = os.path.join(REPO, 'configs', 'videolstm',
                          'videolstm_r18-tiny_8x2x1-15e_synthetic-recognition-rgb.py')


def _localizer(**kw):
    from stadl_plugins.apis.attention_localization import AttentionLocalizer
    torch.manual_seed(0)
    return AttentionLocalizer(REC_CONFIG, None, **kw)


def test_every_frame_gets_the_nearest_sampled_frame():
    from mmaction.structures import ActionDataSample
    loc = _localizer(clip_len=4, frame_interval=2)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (21, 48, 64, 3), dtype=np.uint8)
    att, scores = loc.frame_outputs(frames)
    assert att.shape[0] == 21 and scores.shape == (21, 7)
    np.testing.assert_allclose(att.sum((1, 2)), 1, rtol=1e-5)   # spatial softmax
    np.testing.assert_allclose(scores.sum(1), 1, rtol=1e-5)
    # windows of 4 frames every 2 frames tile the video: starts 0, 8, then 13 (end)
    win = frames[[8, 10, 12, 14]].transpose(3, 0, 1, 2)[None]
    (out,) = loc.model.test_step(dict(inputs=[torch.from_numpy(np.ascontiguousarray(win))],
                                      data_samples=[ActionDataSample()]))
    np.testing.assert_allclose(att[10], out.attention_maps[1].numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(att[11], att[10])          # 11 takes sample 10 (tie: earlier)
    np.testing.assert_allclose(scores[12], out.frame_scores[2].numpy(), rtol=1e-5)


def test_plain_convlstm_is_refused():
    cfg = Config.fromfile(REC_CONFIG)
    cfg.model.cls_head.attention = 'none'
    from stadl_plugins.apis.attention_localization import AttentionLocalizer
    with pytest.raises(ValueError, match="attention is 'appearance' or 'motion'"):
        AttentionLocalizer(cfg)


def test_tool_writes_tubes_the_video_map_evaluator_reads(tiny_synthetic, tmp_path):
    root, _ = tiny_synthetic
    loc = _localizer()
    ckpt = tmp_path / 'rec.pth'
    torch.save(dict(state_dict=loc.model.state_dict(), meta={}), ckpt)
    out = tmp_path / 'tubes.pkl'
    gt_file = os.path.join(root, 'annotations', 'synthetic_gt.pkl')
    res = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools', 'analysis', 'attention_localization.py'),
         REC_CONFIG, str(ckpt), '--frames', os.path.join(root, 'rawframes'),
         '--gt', gt_file, '--out', str(out)], capture_output=True, text=True, cwd=REPO,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert res.returncode == 0, res.stderr[-2000:]
    assert '"v_map@0.2"' in res.stdout
    with open(out, 'rb') as f:
        tubes = pickle.load(f)
    with open(gt_file, 'rb') as f:
        gt = pickle.load(f)
    (video,) = gt['test_videos'][0]
    assert sorted(tubes) == list(range(7))
    (v, score, tube), = tubes[0]
    n = gt['nframes'][video]
    assert v == video and 0 <= score <= 1 and tube.shape == (n, 5)
    np.testing.assert_array_equal(tube[:, 0], np.arange(1, n + 1))
    H, W = gt['resolution'][video]
    assert (tube[:, 1] < tube[:, 3]).all() and tube[:, 3].max() <= W and \
        tube[:, 4].max() <= H
    # the same boxes for every class, each class scored by its own probability
    np.testing.assert_array_equal(tubes[3][0][2], tube)
    assert sum(tubes[c][0][1] for c in range(7)) == pytest.approx(1, abs=1e-4)
    from stadl_plugins.evaluation.functional.video_ap import video_map
    m = video_map(gt, tubes, [video], thresholds=(0.1,), ranges=())
    assert 0 <= m['v_map@0.1'] <= 100
