"""Paired per-video bootstrap: hand-computed case, expansion, AVA evaluator, scipy."""
import numpy as np
import pytest
from scipy import stats

from stadl_plugins.evaluation.bootstrap import (
    RankedClass,
    RankedRun,
    counts_of,
    format_cell,
    paired_bootstrap,
    percentile_ci,
    point_aps,
    rank_run,
    resample_weights,
    verdict,
    weighted_ap,
)
from stadl_plugins.evaluation.functional.ava_frame_ap import ava_frame_ap
from stadl_plugins.evaluation.functional.average_precision import (
    average_precision,
    precision_recall,
)


def test_hand_computed_case():
    # video 0: 0.9 TP, 0.8 FP, 1 GT; video 1: 0.7 TP, 2 GT
    rc = RankedClass(tp=np.array([1., 0., 1.]), video=np.array([0, 0, 1]),
                     num_gt=np.array([1, 2]))
    W = np.array([[1, 1], [2, 0], [0, 2], [0, 0], [3, 1]], float)
    ap = weighted_ap(rc, W)
    # original: P = 1, 1/2, 2/3 at R = 1/3, 1/3, 2/3 -> 1/3 * 1 + 1/3 * 2/3
    assert ap[0] == pytest.approx(1 / 3 + 2 / 9)
    assert ap[1] == pytest.approx(1.0)       # video 0 twice: all its GT found first
    assert ap[2] == pytest.approx(0.5)       # video 1 twice: half of 4 GT, P = 1
    assert np.isnan(ap[3])                   # no GT in the resample
    # 3 x video 0 + video 1: TP 3 (R 3/5, P 1), FP 3, TP 1 (R 4/5, P 4/7)
    assert ap[4] == pytest.approx(3 / 5 + 1 / 5 * 4 / 7)


def _expanded_ap(rc, w):
    """AP of the list with every video's detections and GT copied w[v] times."""
    tp, npos = [], 0
    for d in range(len(rc.tp)):
        tp += [rc.tp[d]] * int(w[rc.video[d]])
    npos = int(np.dot(w, rc.num_gt))
    if npos == 0:
        return float('nan')
    if not tp:
        return 0.0
    tp = np.asarray(tp)
    p, r = precision_recall(np.arange(len(tp))[::-1].astype(float), tp, npos)
    return average_precision(p, r)


def test_weights_equal_expanding_the_copies():
    rng = np.random.default_rng(0)
    for _ in range(20):
        V, D = 5, 30
        rc = RankedClass(tp=(rng.random(D) < 0.5).astype(float),
                         video=rng.integers(0, V, D),
                         num_gt=rng.integers(0, 4, V) + 1)
        W = resample_weights(V, 50, int(rng.integers(1 << 30)))
        got = weighted_ap(rc, W, chunk=64)  # several chunks
        want = [_expanded_ap(rc, w) for w in W]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def _random_case(rng, V=6, K=3, classes=(1, 2)):
    gt, dets = {}, {}
    for v in range(V):
        for k in range(K):
            key = f'v{v},{900 + k:04d}'
            n = int(rng.integers(1, 4))
            xy = rng.uniform(0, 0.6, (n, 2))
            boxes = np.c_[xy, xy + rng.uniform(0.2, 0.4, (n, 2))]
            labels = rng.choice(classes, n)
            gt[key] = (boxes, labels)
            m = int(rng.integers(0, 6))
            pick = rng.integers(0, n, m)
            db = boxes[pick] + rng.normal(0, 0.05, (m, 4))
            db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 0.01)
            dets[key] = (db, rng.choice(classes, m), rng.random(m))
    return gt, dets


def test_point_estimate_matches_the_ava_evaluator():
    rng = np.random.default_rng(3)
    for _ in range(5):
        gt, dets = _random_case(rng)
        run = rank_run(gt, dets, [1, 2])
        mine = point_aps(run, {1: 'a', 2: 'b'})
        ref = ava_frame_ap(gt, dets, [1, 2], protocol='mmaction')['per_class']
        for c, n in ((1, 'a'), (2, 'b')):
            assert mine[n] == pytest.approx(ref[c], abs=1e-12)


def test_counts_of_indices():
    idx = np.array([[0, 0, 2], [1, 2, 2]])
    np.testing.assert_array_equal(counts_of(idx, 3), [[2, 0, 1], [0, 1, 2]])


def test_interval_equals_scipy_bootstrap_with_the_same_draws():
    rng = np.random.default_rng(5)
    gt, dets_a = _random_case(rng)
    _, dets_b = _random_case(np.random.default_rng(6))
    # the second row: same GT, other detections
    dets_b = {k: dets_b[k] for k in gt}
    a, b = rank_run(gt, dets_a, [1, 2]), rank_run(gt, dets_b, [1, 2])
    res = paired_bootstrap([a], [b], {1: 'a', 2: 'b'}, n_boot=300, seed=11)
    V = len(a.videos)

    def stat(idx):  # AP difference of class 1 on the resampled videos
        w = counts_of(np.asarray(idx)[None], V)
        return (weighted_ap(a.classes[1], w) - weighted_ap(b.classes[1], w))[0]

    ref = stats.bootstrap((np.arange(V),), stat, n_resamples=300, vectorized=False,
                          method='percentile', rng=np.random.default_rng(11))
    lo, hi = res['per_class']['a']['ci95']
    assert lo == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=1e-12)


def test_mean_statistic_matches_scipy_paired():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.5, 0.1, 40), rng.normal(0.45, 0.1, 40)
    W = resample_weights(40, 500, seed=2)
    d = (W @ (x - y)) / 40
    mine = percentile_ci(d)
    ref = stats.bootstrap((x, y), lambda a, b: np.mean(a - b), paired=True,
                          vectorized=False, n_resamples=500, method='percentile',
                          rng=np.random.default_rng(2)).confidence_interval
    assert mine == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_paired_bootstrap_seeds_groups_and_verdicts():
    rng = np.random.default_rng(1)
    gt, _ = _random_case(rng, V=10)
    # the method finds every GT box with top scores, the stock row is random
    perfect = {k: (b, l, np.ones(len(l))) for k, (b, l) in gt.items()}
    runs_m = [rank_run(gt, perfect, [1, 2]) for _ in range(3)]
    runs_s = [rank_run(gt, _random_case(np.random.default_rng(s), V=10)[1], [1, 2])
              for s in range(3)]
    res = paired_bootstrap(runs_m, runs_s, {1: 'a', 2: 'b'},
                           groups={'g': ['a', 'b']}, n_boot=200, seed=0)
    assert res['seeds'] == [3, 3] and res['videos'] == 10
    for entry in [*res['per_class'].values(), res['per_group']['g'], res['overall']]:
        assert entry['method'] == pytest.approx(1.0)
        assert entry['effect'] > 0 and entry['verdict'] == '+'
        assert entry['ci95'][0] <= entry['effect'] <= entry['ci95'][1]
    # a row against itself: zero effect, n.s.
    same = paired_bootstrap(runs_s, runs_s, {1: 'a', 2: 'b'}, n_boot=50, seed=0)
    assert same['overall']['effect'] == 0 and same['overall']['verdict'] == 'n.s.'
    assert format_cell(same['overall']).startswith('n.s.')
    # deterministic per seed
    again = paired_bootstrap(runs_m, runs_s, {1: 'a', 2: 'b'},
                             groups={'g': ['a', 'b']}, n_boot=200, seed=0)
    assert again == res
    with pytest.raises(ValueError, match='same videos'):
        paired_bootstrap(runs_m, [RankedRun(['x'], {})], {1: 'a'})


def test_verdict():
    assert verdict(-0.1, 0.2) == 'n.s.' and verdict(0.0, 0.1) == 'n.s.'
    assert verdict(0.01, 0.1) == '+' and verdict(-0.3, -0.1) == '-'
