"""The RecLNet v2 block's pieces: short-action GT and labels, trimmed segments."""
import os.path as osp
import sys

import numpy as np
import pytest
from helpers import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import v2_reclnet  # noqa: E402

from stadl_plugins.evaluation.bootstrap import point_aps  # noqa: E402
from stadl_plugins.evaluation.functional.average_precision import (  # noqa: E402
    average_precision,
    precision_recall,
)


def test_short_action_gt_keeps_only_the_short_actions_and_maps_targets():
    gt = dict(labels=['stand', 'spin', 'walk', 'jump'],
              gttubes={'v': {0: ['st'], 1: ['sp'], 3: ['j1', 'j2']}, 'w': {2: ['wk']}})
    out, lut = v2_reclnet.short_action_gt(gt, short=['jump', 'spin'])
    assert out['labels'] == ['jump', 'spin']
    assert out['gttubes'] == {'v': {0: ['j1', 'j2'], 1: ['sp']}, 'w': {}}
    # file targets are 1 + c over gt['labels']; -1 (padding) stays -1
    targets = np.array([[-1, 0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(v2_reclnet._remap(targets, lut), [[-1, 0, 0, 2, 0, 1]])
    with pytest.raises(ValueError, match='lack the short actions'):
        v2_reclnet.short_action_gt(gt, short=['wave'])


def test_segment_classification_is_the_voc_ap_over_gt_segments():
    rng = np.random.default_rng(0)
    # 3 tracks of 2 videos, steps labelled 0 (background) or 1 + k
    labels = np.array([[0, 1, 1, 0, 2, 2, 2, -1],
                       [2, 2, 0, 1, 0, 0, 1, 1],
                       [1, 1, 1, 1, 0, 2, -1, -1]])
    lengths = np.array([7, 8, 6])
    probs = rng.random((3, 8, 3))
    run = v2_reclnet.segment_run(probs, labels, lengths, ['a', 'a', 'b'], ['a', 'b'], 2)
    # the segments by hand: (track, begin, end, label)
    segs = [(0, 1, 3, 1), (0, 4, 7, 2), (1, 0, 2, 2), (1, 3, 4, 1), (1, 6, 8, 1),
            (2, 0, 4, 1), (2, 5, 6, 2)]
    for k in range(2):
        score = np.array([probs[i, b:e, 1 + k].mean() for i, b, e, _ in segs])
        tp = np.array([lab == 1 + k for *_, lab in segs])
        p, r = precision_recall(score, tp, int(tp.sum()),
                                order=np.argsort(-score, kind='stable'))
        assert point_aps(run, {k: 'c'})['c'] == pytest.approx(average_precision(p, r),
                                                               abs=1e-12)
    np.testing.assert_array_equal(run.classes[0].num_gt, [3, 1])
    np.testing.assert_array_equal(run.classes[1].num_gt, [2, 1])


def _tracks(rng, n=6, t=60, c=2):
    s = rng.random((n, t, c)) * 0.2
    for i in range(n):
        a = int(rng.integers(5, 30))
        s[i, a:a + 15, i % c] += 0.5
    boxes = np.tile(np.array([10., 10., 50., 80.]), (n, t, 1))
    return s, boxes, np.full(n, t), np.ones(n, np.int64), [f'v{i % 3}' for i in range(n)]


def test_localize_per_class_equals_one_run_per_setting():
    from stadl_plugins.localization.temporal import localize_tracks
    s, b, ln, st, vids = _tracks(np.random.default_rng(0))
    vit = {0: dict(switch_penalty=1.0, decision_threshold=0.2, train_ap=0.0),
           1: dict(switch_penalty=4.0, decision_threshold=0.05, train_ap=0.0)}
    thr = {0: dict(theta=0.3, train_ap=0.0), 1: dict(theta=0.05, train_ap=0.0)}
    for params in (vit, thr):
        got = v2_reclnet.localize_per_class(s, b, ln, st, vids, params, fps=10)
        for k, p in params.items():
            kw = (dict(method='threshold', theta=p['theta'], fps=10) if 'theta' in p else
                  dict(method='viterbi', switch_penalty=p['switch_penalty'],
                       viterbi_threshold=p['decision_threshold']))
            want = localize_tracks(s, b, ln, st, vids, **kw).get(k, [])
            assert [(v, sc) for v, sc, _ in got.get(k, [])] == [(v, sc) for v, sc, _ in want]
        assert set(got) <= set(params)
