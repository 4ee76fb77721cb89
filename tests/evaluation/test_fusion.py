"""Multi-model fusion on hand-made predictions with known results."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import REPO

from stadl_plugins.evaluation import fuse_predictions, fuse_scores


def logit(p):
    return np.log(p / (1 - p))


def sig(x):
    return 1 / (1 + np.exp(-x))


P = [np.array([[0.9, 0.2]]), np.array([[0.6, 0.4]]), np.array([[0.1, 0.7]]),
     np.array([[0.5, 0.5]])]


def test_mean_after_sigmoid():
    np.testing.assert_allclose(fuse_scores(P, 'mean_prob'), [[0.525, 0.45]])


def test_mean_before_sigmoid():
    expect = sig(np.mean([logit(p) for p in P], axis=0))
    np.testing.assert_allclose(fuse_scores(P, 'mean_logit'), expect)


def test_topk_before_sigmoid_uses_n_div_2():
    # n = 4 -> k = 2: the two largest logits of each entry
    # class 0: 0.9 and 0.6; class 1: 0.7 and 0.5
    expect = [[sig((logit(0.9) + logit(0.6)) / 2), sig((logit(0.7) + logit(0.5)) / 2)]]
    np.testing.assert_allclose(fuse_scores(P, 'topk_logit'), expect)
    np.testing.assert_allclose(fuse_scores(P, 'topk_logit', k=1), [[0.9, 0.7]])
    with pytest.raises(ValueError, match='k must be'):
        fuse_scores(P, 'topk_logit', k=5)


def _run(scores, boxes=((0.1, 0.1, 0.5, 0.9),), ts=(902, 903)):
    return [dict(video_id='v', timestamp=t,
                 pred_instances=dict(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                     scores=torch.tensor(scores, dtype=torch.float32)))
            for t in ts]


def test_fuse_predictions_matches_keyframes_in_any_order():
    a = _run([[0.9, 0.2]])
    b = list(reversed(_run([[0.5, 0.6]])))
    fused = fuse_predictions([a, b], 'mean_prob')
    assert [f['timestamp'] for f in fused] == [902, 903]
    torch.testing.assert_close(fused[0]['pred_instances']['scores'],
                               torch.tensor([[0.7, 0.4]]))


def test_fuse_predictions_refuses_other_boxes():
    a = _run([[0.9, 0.2]])
    b = _run([[0.5, 0.6]], boxes=((0.2, 0.1, 0.5, 0.9),))
    with pytest.raises(ValueError, match='other boxes'):
        fuse_predictions([a, b], names=['a.pkl', 'b.pkl'])
    with pytest.raises(ValueError, match='keyframes'):
        fuse_predictions([a, _run([[0.5, 0.6]], ts=(902,))])


def test_cli_writes_pickle_and_csv(tmp_path):
    paths = []
    for i, s in enumerate(([[0.0] * 12 + [0.9] + [0.0] * 68],
                           [[0.0] * 12 + [0.5] + [0.0] * 68])):
        path = tmp_path / f'm{i}.pkl'
        with open(path, 'wb') as f:
            pickle.dump(_run(s), f)
        paths.append(str(path))
    out, csv = tmp_path / 'fused.pkl', tmp_path / 'fused.csv'
    res = subprocess.run([sys.executable, f'{REPO}/tools/analysis/fuse_predictions.py',
                          *paths, '--out', str(out), '--mode', 'mean_prob', '--csv',
                          str(csv)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    with open(out, 'rb') as f:
        fused = pickle.load(f)
    assert float(fused[0]['pred_instances']['scores'][0, 12]) == pytest.approx(0.7)
    rows = csv.read_text().strip().splitlines()
    # one row per keyframe for class 12 (all other scores are below action_thr)
    assert len(rows) == 2
    assert rows[0].split(',')[6] == '12' and float(rows[0].split(',')[7]) == pytest.approx(0.7)
