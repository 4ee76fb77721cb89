"""RecLNet temporal localization: threshold / Viterbi segmentation, top-40 scoring, ST-NMS."""
import numpy as np
import pytest

from stadl_plugins.evaluation.functional.video_ap import tube_iou, video_map
from stadl_plugins.localization.temporal import (
    localize_tracks,
    localize_tracks_naive,
    median_smooth,
    st_nms,
    threshold_segments,
    topk_segment_means,
    viterbi_segments,
)


def _static_boxes(n, t, box=(10, 10, 30, 40)):
    return np.tile(np.asarray(box, np.float32), (n, t, 1))


def _segs(segs):
    return sorted(zip(*(a.tolist() for a in segs)))


def test_threshold_finds_known_subtracks_and_ignores_spikes():
    t = 200
    s = np.full((1, t, 2), 0.02, np.float32)
    s[0, 30:80, 0] = 0.6   # segment 1 of class 0
    s[0, 120:170, 0] = 0.4  # segment 2 of class 0 (several per track)
    s[0, 100:105, 0] = 0.9  # 5-frame spike: removed by the 25-frame median
    s[0, 50:60, 1] = 0.9   # 10 frames only: removed as well
    segs = threshold_segments(median_smooth(s, [t], 25), [t], 0.1)
    assert _segs(segs) == [(0, 0, 30, 79), (0, 0, 120, 169)]
    tubes = localize_tracks(s, _static_boxes(1, t), [t], [1], ['v'], fps=25)  # 1 s = 25
    assert sorted((tb[0, 0], tb[-1, 0]) for _, _, tb in tubes[0]) == [(31, 80), (121, 170)]
    assert sorted(sc for _, sc, _ in tubes[0]) == pytest.approx([0.4, 0.6])  # top-40 means
    # without smoothing the spikes come back
    segs_raw = threshold_segments(s, np.array([t]), 0.1)
    assert (0, 0, 100, 104) in _segs(segs_raw) and (0, 1, 50, 59) in _segs(segs_raw)


def test_median_respects_track_length():
    s = np.zeros((2, 60, 1), np.float32)
    s[0, :40, 0] = 0.5  # track 0 is 40 frames long, padding after must not matter
    s[0, 40:, 0] = 99.0
    s[1, :, 0] = np.linspace(0, 1, 60)
    out = median_smooth(s, [40, 60], 25)
    from scipy.ndimage import median_filter
    np.testing.assert_allclose(out[0, :40, 0], 0.5)
    np.testing.assert_allclose(out[1, :, 0], median_filter(s[1, :, 0], 25, mode='reflect'))


@pytest.mark.parametrize('window', [25, 8, 1])
def test_counting_mask_equals_median_filter(window):
    from stadl_plugins.localization.temporal import median_threshold_mask
    rng = np.random.default_rng(4)
    s = (rng.random((5, 70, 3)) < 0.45).astype(np.float32) * 0.3 + \
        rng.random((5, 70, 3)).astype(np.float32) * 0.05
    lengths = np.array([70, 40, 1, 13, 69])
    from scipy.ndimage import median_filter
    ref = np.zeros_like(s, dtype=bool)
    for i, ln in enumerate(lengths):  # each track filtered on its own
        ref[i, :ln] = median_filter(s[i, :ln], size=(window, 1), mode='reflect') >= 0.1
        np.testing.assert_allclose(median_smooth(s, lengths, window)[i, :ln],
                                   median_filter(s[i, :ln], size=(window, 1), mode='reflect'))
    np.testing.assert_array_equal(median_threshold_mask(s, lengths, window, 0.1), ref)


def test_topk_mean():
    rng = np.random.default_rng(0)
    s = rng.random((3, 100, 2)).astype(np.float32)
    track, cls, b, e = np.array([0, 1, 2]), np.array([1, 0, 1]), np.array([0, 10, 5]), \
        np.array([99, 29, 5])
    got = topk_segment_means(s, track, cls, b, e, k=40, chunk_elems=50)  # forces chunks
    ref = [np.sort(s[0, :, 1])[-40:].mean(), s[1, 10:30, 0].mean(), s[2, 5, 1]]
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_viterbi_finds_planted_segment():
    rng = np.random.default_rng(1)
    t = 150
    s = np.clip(rng.normal(0.2, 0.15, (1, t, 1)), 0, 1).astype(np.float32)
    s[0, 60:100, 0] = np.clip(rng.normal(0.8, 0.15, 40), 0, 1)
    segs = _segs(viterbi_segments(s, [t], switch_penalty=4.0))
    assert len(segs) == 1
    _, _, b, e = segs[0]
    assert abs(b - 60) <= 2 and abs(e - 99) <= 2


def test_viterbi_decision_threshold():
    # with no switch cost every frame decides alone: action iff s > tau
    s = np.array([[[0.05], [0.15], [0.3], [0.6], [0.12]]])
    for tau, want in ((0.5, [(3, 3)]), (0.1, [(1, 4)]), (0.2, [(2, 3)])):
        segs = _segs(viterbi_segments(s, [5], switch_penalty=0.0, decision_threshold=tau))
        assert [(b, e) for _, _, b, e in segs] == want
    # a weak planted segment (0.25 on 0.05) is found only with a low threshold
    rng = np.random.default_rng(3)
    w = np.clip(rng.normal(0.05, 0.02, (1, 120, 1)), 0, 1)
    w[0, 40:70] = np.clip(rng.normal(0.25, 0.05, (30, 1)), 0, 1)
    assert not _segs(viterbi_segments(w, [120], 2.0))
    segs = _segs(viterbi_segments(w, [120], 2.0, decision_threshold=0.12))
    assert [(b, e) for _, _, b, e in segs] == [(40, 69)]
    with pytest.raises(ValueError, match='decision_threshold must be in'):
        viterbi_segments(w, [120], 2.0, decision_threshold=1.0)


def test_vectorized_equals_naive_loop():
    rng = np.random.default_rng(2)
    n, t, c = 12, 90, 3
    s = rng.random((n, t, c)).astype(np.float32) * 0.15
    for i in range(n):  # planted actions + noise
        a, b = sorted(rng.integers(0, t, 2))
        s[i, a:b + 1, rng.integers(c)] += 0.6
    lengths = rng.integers(30, t + 1, n)
    boxes = np.cumsum(rng.normal(0, 1, (n, t, 4)), 1).astype(np.float32) + \
        np.array([20, 20, 60, 80], np.float32)
    videos = [f'v{i % 3}' for i in range(n)]
    starts = rng.integers(1, 20, n)
    for method, tau in (('threshold', 0.5), ('viterbi', 0.5), ('viterbi', 0.12)):
        kw = dict(method=method, median_frames=9, theta=0.3, top_k=10, switch_penalty=1.5,
                  viterbi_threshold=tau)
        fast = localize_tracks(s, boxes, lengths, starts, videos, **kw)
        slow = localize_tracks_naive(s, boxes, lengths, starts, videos, **kw)
        assert fast.keys() == slow.keys() and len(fast) > 0
        for c_ in fast:
            key = lambda x: (x[0], -x[1], x[2][0, 0])  # noqa: E731
            f, sl = sorted(fast[c_], key=key), sorted(slow[c_], key=key)
            assert len(f) == len(sl)
            for (v1, s1, t1), (v2, s2, t2) in zip(f, sl):
                assert v1 == v2 and s1 == pytest.approx(s2)
                np.testing.assert_array_equal(t1, t2)


def test_st_nms_removes_overlapping_duplicate():
    def tube(b, e, box):
        t = np.zeros((e - b + 1, 6), np.float32)
        t[:, 0] = np.arange(b, e + 1)
        t[:, 1:5] = box
        return t
    a = tube(10, 50, (0, 0, 20, 20))
    dup = tube(12, 48, (1, 1, 21, 21))     # ST-IoU ~ 0.8 with a
    far = tube(10, 50, (40, 40, 60, 60))    # same time, other place
    late = tube(45, 90, (0, 0, 20, 20))     # small temporal overlap
    assert tube_iou(a, dup) > 0.2 and tube_iou(a, late) < 0.2
    kept = st_nms([(0.5, dup), (0.9, a), (0.3, far), (0.4, late)], 0.2)
    assert [s for s, _ in kept] == [0.9, 0.4, 0.3]


def test_st_iou_matches_tube_iou():
    from stadl_plugins.localization.temporal import st_iou_one_to_many
    rng = np.random.default_rng(3)
    tubes = []
    for _ in range(6):
        b = int(rng.integers(1, 30))
        e = b + int(rng.integers(0, 40))
        t = np.zeros((e - b + 1, 5), np.float32)
        t[:, 0] = np.arange(b, e + 1)
        xy = rng.uniform(0, 20, (e - b + 1, 2))
        t[:, 1:3], t[:, 3:5] = xy, xy + rng.uniform(5, 25, (e - b + 1, 2))
        tubes.append(t)
    start = np.array([int(t[0, 0]) for t in tubes])
    end = np.array([int(t[-1, 0]) for t in tubes])
    dense = np.zeros((6, end.max() - start.min() + 1, 4), np.float32)
    for j, t in enumerate(tubes):
        dense[j, start[j] - start.min():end[j] - start.min() + 1] = t[:, 1:5]
    got = st_iou_one_to_many(start, end, dense, 0, np.arange(1, 6))
    ref = [tube_iou(tubes[0], tubes[j]) for j in range(1, 6)]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)


def test_tubes_go_into_video_map():
    # one GT tube of class 0, frames 20..59 of a 100-frame video; one track following it
    gt = dict(labels=['a', 'b'], nframes={'v': 100}, test_videos=[['v']], train_videos=[[]],
              resolution={'v': (64, 64)},
              gttubes={'v': {0: [np.c_[np.arange(20, 60), np.tile([5, 5, 25, 35], (40, 1))]
                                .astype(np.float32)]}})
    s = np.full((1, 100, 2), 0.01, np.float32)
    s[0, 19:59, 0] = 0.9  # rows 19..58 = frames 20..59
    tubes = localize_tracks(s, _static_boxes(1, 100, (5, 5, 25, 35)), [100], [1], ['v'],
                            fps=25)
    assert list(tubes) == [0] and len(tubes[0]) == 1
    assert tubes[0][0][2][0, 0] == 20 and tubes[0][0][2][-1, 0] == 59
    res = video_map(gt, tubes, ['v'], thresholds=(0.5,), ranges=())
    assert res['v_map@0.5'] == pytest.approx(100.0)

    # class 0 covers 40 % of the video: a short class; class 1 has no GT at all
    from stadl_plugins.localization.temporal import short_class_report, short_classes
    assert short_classes(gt) == [0]
    rep = short_class_report(gt, tubes, ['v'], 0.5)
    assert rep['short'] == ['a'] and rep['mAP_short'] == pytest.approx(100.0)
    gt['gttubes']['v'][0] = [np.c_[np.arange(1, 61), np.tile([5, 5, 25, 35], (60, 1))]]
    assert short_classes(gt) == []


def test_bad_input_errors():
    with pytest.raises(ValueError, match='boxes must be'):
        localize_tracks(np.zeros((2, 5, 1)), np.zeros((2, 4, 4)), [5, 5], [1, 1], ['a', 'b'])
    with pytest.raises(ValueError, match='method'):
        localize_tracks(np.zeros((1, 5, 1)), np.zeros((1, 5, 4)), [5], [1], ['a'], method='x')


# ---------------------------------------------------------------- median window in seconds

def test_median_window_seconds_to_odd_frames():
    from stadl_plugins.localization.temporal import PAPER_MEDIAN_SECONDS, median_window_frames
    assert PAPER_MEDIAN_SECONDS == 1.0
    assert median_window_frames(1.0, 25) == 25   # the paper's 25 frames on UCF101-24
    assert median_window_frames(1.0, 10) == 9    # 10 is even: tie 9 / 11, rounded down
    assert median_window_frames(1.0, 30) == 29 and median_window_frames(1.0, 24) == 23
    assert median_window_frames(1.3, 10) == 13 and median_window_frames(1.24, 10) == 13
    assert median_window_frames(0.4, 25) == 9    # 10.000000000000002 is still a tie
    assert median_window_frames(1.0, 29.97) == 29 and median_window_frames(2.0, 12.5) == 25
    assert median_window_frames(0.05, 10) == 1   # never below one frame
    for s_ in (0.1, 0.5, 1.0, 1.7, 3.0):
        for f in (5, 10, 12.5, 24, 25, 29.97, 30, 60):
            w = median_window_frames(s_, f)
            assert w % 2 == 1 and w >= 1 and abs(w - s_ * f) <= 1 + 1e-9
    for bad in (0, -1, float('nan'), None):
        with pytest.raises(ValueError, match='positive'):
            median_window_frames(1.0, bad)
        with pytest.raises(ValueError, match='positive'):
            median_window_frames(bad, 10)


def _one_action_track(fps, seconds_action, seconds_track=12.0, dips=()):
    """One track, one class: score 0.8 during a centred action (0.05 at the frames
    ``dips`` of the action, below theta), 0.02 elsewhere."""
    t = int(round(seconds_track * fps))
    n_act = int(round(seconds_action * fps))
    s = np.full((1, t, 1), 0.02, np.float32)
    b = (t - n_act) // 2
    s[0, b:b + n_act, 0] = 0.8
    s[0, [b + d for d in dips], 0] = 0.05
    return s, b, b + n_act - 1


def _spans(tubes):
    return [(int(tb[0, 0]) - 1, int(tb[-1, 0]) - 1) for _, _, tb in tubes.get(0, [])]


def test_short_action_survives_the_1s_window_at_10fps():
    # A median of w frames keeps a frame iff >= (w + 1) / 2 of its window are above
    # theta. The old fixed 25 frames (2.5 s at 10 fps) needs 13: a 1.5 s action
    # (15 frames) whose scores dip below theta on 3 frames has only 12 and is
    # erased, as are clean actions of 1.0 and 1.2 s. The 1-s window (9 frames at
    # 10 fps, 5 needed) keeps all of them whole, dips filled.
    cases = [(1.5, (5, 7, 9)), (1.2, ()), (1.0, ())]
    for secs, dips in cases:
        s, b, e = _one_action_track(10, secs, dips=dips)
        t = s.shape[1]
        args = (s, _static_boxes(1, t), [t], [1], ['v'])
        assert _spans(localize_tracks(*args, fps=10)) == [(b, e)], secs
        assert _spans(localize_tracks(*args, median_frames=25)) == [], secs  # old window
        assert _spans(localize_tracks_naive(*args, fps=10)) == [(b, e)], secs
    # the same action at 25 fps (dips at the same times, 2 frames each): 1 s = 25
    # frames, one tube over the action (its ends may lose a frame or two)
    s25, b25, e25 = _one_action_track(25, 1.5, dips=(12, 13, 17, 18, 22, 23))
    t25 = s25.shape[1]
    (got,) = _spans(localize_tracks(s25, _static_boxes(1, t25), [t25], [1], ['v'], fps=25))
    assert abs(got[0] - b25) <= 2 and abs(got[1] - e25) <= 2, (got, b25, e25)
    # a 0.3 s blip (3 frames) is still smoothed away at 10 fps (needs 5 of 9)
    s, _, _ = _one_action_track(10, 0.3)
    assert localize_tracks(s, _static_boxes(1, s.shape[1]), [s.shape[1]], [1], ['v'],
                           fps=10) == {}


def test_median_window_arguments():
    s, b, e = _one_action_track(10, 1.0)
    t = s.shape[1]
    args = (s, _static_boxes(1, t), [t], [1], ['v'])
    # no fps: an error that names the fixes
    with pytest.raises(ValueError, match=r'fps=.*median_frames='):
        localize_tracks(*args)
    with pytest.raises(ValueError, match='fps'):
        localize_tracks_naive(*args)
    # seconds and frames together: an error; the same window either way: the same tubes
    with pytest.raises(ValueError, match='not both'):
        localize_tracks(*args, fps=10, median_seconds=1.0, median_frames=9)
    with pytest.raises(ValueError, match='positive integer'):
        localize_tracks(*args, median_frames=0)
    a = localize_tracks(*args, fps=10)
    for kw in (dict(median_frames=9), dict(fps=10, median_seconds=0.9),
               dict(fps=20, median_seconds=0.5)):
        got = localize_tracks(*args, **kw)
        assert got.keys() == a.keys() and all(
            np.array_equal(x[2], y[2]) for x, y in zip(got[0], a[0])), kw
    assert localize_tracks_naive(*args, fps=10).keys() == a.keys()
    # the old window= (frames) still works for one release, with a DeprecationWarning
    with pytest.warns(DeprecationWarning, match='median_seconds'):
        old = localize_tracks(*args, window=25)
    assert old == {} and localize_tracks(*args, median_frames=25) == {}
    with pytest.warns(DeprecationWarning):
        with pytest.raises(ValueError, match='disagree'):
            localize_tracks(*args, window=25, median_frames=9)
    # Viterbi has no window: no fps needed
    assert 0 in localize_tracks(*args, method='viterbi')
