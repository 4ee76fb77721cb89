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
    rank_video_run,
    resample_weights,
    verdict,
    weighted_act_ap,
    weighted_ap,
)
from stadl_plugins.evaluation.functional.ava_frame_ap import ava_frame_ap
from stadl_plugins.evaluation.functional.average_precision import (
    average_precision,
    precision_recall,
)
from stadl_plugins.evaluation.functional.video_ap import video_ap


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
    # a cache shared across claims (a block's rows recur): identical results,
    # each run computed once per (classes, ap, n_boot, seed), and a key of
    # another seed or class set is not reused
    cache = {}
    kw = dict(groups={'g': ['a', 'b']}, n_boot=200, seed=0, cache=cache)
    assert paired_bootstrap(runs_m, runs_s, {1: 'a', 2: 'b'}, **kw) == res
    assert len(cache) == 6
    assert paired_bootstrap(runs_s, runs_m, {1: 'a', 2: 'b'}, **kw)['overall'][
        'effect'] == pytest.approx(-res['overall']['effect'])
    assert len(cache) == 6  # all hits
    other = paired_bootstrap(runs_m, runs_s, {1: 'a', 2: 'b'}, groups={'g': ['a', 'b']},
                             n_boot=200, seed=1)
    assert paired_bootstrap(runs_m, runs_s, {1: 'a', 2: 'b'}, groups={'g': ['a', 'b']},
                            n_boot=200, seed=1, cache=cache) == other != res
    assert paired_bootstrap(runs_m, runs_s, {1: 'a'}, n_boot=200, seed=0,
                            cache=cache) == paired_bootstrap(runs_m, runs_s, {1: 'a'},
                                                             n_boot=200, seed=0)
    with pytest.raises(ValueError, match='same videos'):
        paired_bootstrap(runs_m, [RankedRun(['x'], {})], {1: 'a'})


def test_verdict():
    assert verdict(-0.1, 0.2) == 'n.s.' and verdict(0.0, 0.1) == 'n.s.'
    assert verdict(0.01, 0.1) == '+' and verdict(-0.3, -0.1) == '-'


# --------------------------------------------------------------- video-AP (ACT)
def _random_tube_case(rng, V=6, labels=('a', 'b')):
    """ACT-schema GT with 0-2 tubes per video and label, detections near them."""
    gttubes, tubes = {}, {i: [] for i in range(len(labels))}
    for v in range(V):
        vid = f'v{v}'
        gttubes[vid] = {}
        for il in range(len(labels)):
            n = int(rng.integers(0, 3))
            g = []
            for _ in range(n):
                s = int(rng.integers(1, 30))
                f = np.arange(s, s + int(rng.integers(5, 20)))
                xy = rng.uniform(0, 100, 2)
                g.append(np.c_[f, np.tile(np.r_[xy, xy + 40], (len(f), 1))].astype(float))
            if g:
                gttubes[vid][il] = g
            for _ in range(int(rng.integers(0, 5))):
                if g and rng.random() < 0.7:
                    base = g[int(rng.integers(len(g)))]
                    cut = int(rng.integers(0, 4))
                    t = base[cut:].copy()
                    t[:, 1:] += rng.normal(0, 8, (len(t), 4))
                else:
                    s = int(rng.integers(1, 30))
                    f = np.arange(s, s + 10)
                    xy = rng.uniform(0, 100, 2)
                    t = np.c_[f, np.tile(np.r_[xy, xy + 30], (10, 1))].astype(float)
                tubes[il].append((vid, float(rng.random()), t))
    return dict(labels=list(labels), gttubes=gttubes), tubes


def _expanded_video_ap(gt, tubes, videos, w, thr):
    """ACT video-AP with video v copied w[v] times (fresh names, own GT)."""
    egt = dict(labels=gt['labels'], gttubes={})
    etubes = {il: [] for il in tubes}
    evideos = []
    for v, n in zip(videos, w):
        for k in range(int(n)):
            name = f'{v}#{k}'
            evideos.append(name)
            egt['gttubes'][name] = gt['gttubes'][v]
            for il, cands in tubes.items():
                etubes[il] += [(name, s, t) for vv, s, t in cands if vv == v]
    res = video_ap(egt, etubes, evideos, thr, protocol='act')
    return {il: res['per_class'][n] / 100 for il, n in enumerate(gt['labels'])}


def test_weighted_act_ap_hand_computed():
    # TP, FP, TP of 3 GT: curve (0,1) (1/3,1) (1/3,1/2) (2/3,2/3)
    rc = RankedClass(tp=np.array([1., 0., 1.]), video=np.array([0, 0, 1]),
                     num_gt=np.array([1, 2]))
    W = np.array([[1, 1], [0, 2], [0, 0]], float)
    ap = weighted_act_ap(rc, W)
    assert ap[0] == pytest.approx(1 / 3 * 1 + 1 / 3 * (1 / 2 + 2 / 3) / 2)
    # video 1 twice: TP TP of 4 GT at P = 1 -> 1/2 (the trapezoid, no envelope)
    assert ap[1] == pytest.approx(0.5)
    assert np.isnan(ap[2])
    # FP first: (0,1) -> (0,0) adds nothing, then TP at P = 1/2
    rc2 = RankedClass(tp=np.array([0., 1.]), video=np.array([0, 0]), num_gt=np.array([1]))
    assert weighted_act_ap(rc2, np.ones((1, 1)))[0] == pytest.approx((0 + 0.5) / 2)


def test_weighted_act_ap_equals_video_ap_on_the_expanded_videos():
    rng = np.random.default_rng(7)
    checked = 0
    for case in range(6):
        gt, tubes = _random_tube_case(rng)
        videos = sorted(gt['gttubes'])
        for thr in (0.2, 0.5):
            run = rank_video_run(gt, tubes, videos, thr)
            # the point estimate is ACT's video-AP
            ref = video_ap(gt, tubes, videos, thr, protocol='act')['per_class']
            mine = point_aps(run, {0: 'a', 1: 'b'}, ap='act')
            for il, n in enumerate(gt['labels']):
                if run.classes[il].num_gt.sum():
                    assert mine[n] * 100 == pytest.approx(ref[n], abs=1e-10)
            W = resample_weights(len(videos), 8, seed=case)
            got = {il: weighted_act_ap(run.classes[il], W, chunk=16) for il in (0, 1)}
            for b, w in enumerate(W):
                want = _expanded_video_ap(gt, tubes, videos, w, thr)
                for il in (0, 1):
                    if np.dot(w, run.classes[il].num_gt) == 0:
                        assert np.isnan(got[il][b])
                        continue
                    assert got[il][b] == pytest.approx(want[il], abs=1e-12)
                    checked += 1
    assert checked > 100


def test_paired_bootstrap_act_rule():
    rng = np.random.default_rng(2)
    gt, tubes = _random_tube_case(rng, V=12)
    videos = sorted(gt['gttubes'])
    perfect = {il: [(v, 1.0 - 0.01 * k, g) for v in videos
                    for k, g in enumerate(gt['gttubes'][v].get(il, []))]
               for il in range(2)}
    m = [rank_video_run(gt, perfect, videos, 0.5)] * 3
    s = [rank_video_run(gt, tubes, videos, 0.5)] * 3
    res = paired_bootstrap(m, s, {0: 'a', 1: 'b'}, n_boot=100, seed=0, ap='act')
    assert res['overall']['method'] == pytest.approx(1.0)
    assert res['overall']['verdict'] == '+'
    with pytest.raises(ValueError, match='ap must be one of'):
        paired_bootstrap(m, s, {0: 'a'}, ap='envelope')
