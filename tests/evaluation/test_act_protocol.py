"""protocol='act' and the MOC linker against the ACT/MOC reference results.

Fixtures: ``../shared/data/eval_act`` (README there): four cases with the numbers
MOC-Detector's ``src/ACT.py`` (``frameAP``, ``videoAP``) and ``BuildTubes`` print on
them. Every mAP must be within 1e-6 points of the reference (``act``: its float32
curves, reproduced with ``pr_dtype=np.float32``; ``act_float64``: the same in
double precision, our default), linked tubes identical.
"""
import json
import pickle
import sys

import numpy as np
import pytest
from helpers import shared

from stadl_plugins.evaluation.functional import act_frame_ap, link_tubes, video_map
from stadl_plugins.evaluation.functional import boxes as boxes_mod
from stadl_plugins.evaluation.functional.average_precision import average_precision
from stadl_plugins.structures.bbox import greedy_match

# the package re-exports functions named like their modules: take the modules
FN = 'stadl_plugins.evaluation.functional.'
frame_mod = sys.modules[FN + 'act_frame_ap']
video_ap_mod = sys.modules[FN + 'video_ap']
linking_mod = sys.modules[FN + 'tube_linking']

CASES = ('S1_ucf_like', 'S2_crowd_row', 'S3_jhmdb_like', 'T_tiny')
THRS = ('0.2', '0.5', '0.75')
KEY = {'0.2': 'v_map@0.2', '0.5': 'v_map@0.5', '0.75': 'v_map@0.75',
       '0.5:0.95': 'v_map_0.5:0.95'}


def load_case(case):
    root = shared('eval_act', case)
    with open(f'{root}/gt.pkl', 'rb') as f:
        gt = pickle.load(f)
    with open(f'{root}/tubes.pkl', 'rb') as f:
        tubes = pickle.load(f)
    with open(f'{root}/linked_tubes_expected.pkl', 'rb') as f:
        linked = pickle.load(f)
    dets = np.load(f'{root}/frame_dets.npy')
    return gt, dets, tubes, linked, gt['test_videos'][0]


@pytest.fixture(scope='module')
def expected():
    with open(shared('eval_act', 'expected.json')) as f:
        return json.load(f)


def vmap(gt, tubes, videos, **kw):
    return video_map(gt, tubes, videos, thresholds=(0.2, 0.5, 0.75),
                     ranges=('0.5:0.95',), protocol='act', per_class=True, **kw)


@pytest.mark.parametrize('case', CASES)
def test_frame_map_equals_reference(case, expected):
    gt, dets, _, _, videos = load_case(case)
    e = expected[case]['frame_map_050']
    r64 = act_frame_ap(gt, dets, videos, 0.5, protocol='act')
    assert abs(r64['frameAP'] - e['act_float64']) < 1e-6
    assert abs(r64['frameAP'] - e['act']) < 1e-4
    r32 = act_frame_ap(gt, dets, videos, 0.5, protocol='act', pr_dtype=np.float32)
    assert abs(r32['frameAP'] - e['act']) < 1e-6
    assert list(r32['per_class']) == gt['labels']  # every label is in the mean
    for name, ap in e['per_class'].items():  # the reference prints float32
        assert abs(r32['per_class'][name] - ap) < 1e-6, name
        assert abs(r64['per_class'][name] - ap) < 1e-4, name


@pytest.mark.parametrize('case', CASES)
def test_video_map_of_given_tubes_equals_reference(case, expected):
    gt, _, tubes, _, videos = load_case(case)
    e = expected[case]['video_map_given_tubes']
    r64, r32 = vmap(gt, tubes, videos), vmap(gt, tubes, videos, pr_dtype=np.float32)
    for thr, key in KEY.items():
        assert abs(r64[key] - e[thr]['act_float64']) < 1e-6, thr
        assert abs(r64[key] - e[thr]['act']) < 1e-4, thr
        assert abs(r32[key] - e[thr]['act']) < 1e-6, thr
    for thr in THRS:
        for name, ap in e[thr]['per_class'].items():
            assert abs(r32[f'v_ap@{thr}/{name}'] - ap) < 1e-6, (thr, name)


def assert_same_tubes(ours, ref):
    assert set(ours) >= set(ref)
    for label in ref:
        assert len(ours[label]) == len(ref[label]), label
        for (v, s, t), (rv, rs, rt) in zip(ours[label], ref[label]):
            assert v == rv
            assert t.shape == rt.shape
            assert (t[0, 0], t[-1, 0]) == (rt[0, 0], rt[-1, 0])
            np.testing.assert_array_equal(t[:, 0], rt[:, 0])
            assert np.abs(t[:, 1:5] - rt[:, 1:5]).max() < 1e-3
            assert np.abs(t[:, 5] - rt[:, 5]).max() < 1e-4
            assert abs(s - rs) < 1e-4
            assert abs(s - float(np.mean(t[:, 5]))) < 1e-4


@pytest.mark.parametrize('case', CASES)
def test_moc_linker_builds_the_reference_tubes(case, expected):
    gt, dets, _, ref, videos = load_case(case)
    e = expected[case]['linking']
    ours = link_tubes(dets, videos, gt['nframes'], len(gt['labels']), style='moc')
    assert_same_tubes(ours, ref)
    assert {gt['labels'][k]: len(v) for k, v in ours.items()} == e['tubes_per_label']
    for tubes in (ours, ref):
        r = vmap(gt, tubes, videos)
        for thr, key in KEY.items():
            assert abs(r[key] - e['video_map'][thr]['act_float64']) < 1e-6, thr


# --- T_tiny: each rule changes a number -------------------------------------

def tiny_numbers(**kw):
    gt, dets, tubes, _, videos = load_case('T_tiny')
    fr = act_frame_ap(gt, dets, videos, 0.5, protocol='act')
    vm = video_map(gt, tubes, videos, thresholds=(0.2, 0.5, 0.75), ranges=(),
                   protocol='act', **kw)
    return {'frame_map_050': fr['frameAP'], 'video_map_0.2': vm['v_map@0.2'],
            'video_map_0.5': vm['v_map@0.5'], 'video_map_0.75': vm['v_map@0.75']}


def alt(expected, rule):
    return expected['T_tiny']['alternative_rules'][rule]


def assert_numbers(ours, ref):
    for k, v in ref.items():
        assert abs(ours[k] - v) < 1e-5, (k, ours[k], v)  # the README rounds to 1e-6


def test_tiny_hand_checked_values():
    gt, dets, _, _, videos = load_case('T_tiny')
    fr = act_frame_ap(gt, dets, videos, 0.5, protocol='act')
    # walk: points (0, 1), (.25, 1), (.25, .5), (.5, 2/3), (.75, .75)
    walk = 100 * (.25 + 0 + .25 * (.5 + 2 / 3) / 2 + .25 * (2 / 3 + .75) / 2)
    assert dict(fr['per_class']) == pytest.approx(
        {'walk': walk, 'run': 100, 'jump': 0, 'wave': 100})
    assert fr['frameAP'] == pytest.approx((57.291666666 + 200) / 4)


def test_rule_trapezoid_not_all_point(expected, monkeypatch):
    allpoint = lambda p, r, dtype=None: average_precision(p, r)  # noqa: E731
    monkeypatch.setattr(frame_mod, 'act_average_precision', allpoint)
    monkeypatch.setattr(video_ap_mod, 'act_average_precision', allpoint)
    assert_numbers(tiny_numbers(),
                   alt(expected, 'all-point (VOC) AP instead of the trapezoid'))


def test_rule_match_remaining_gt(expected, monkeypatch):
    monkeypatch.setattr(frame_mod, 'remaining_match', greedy_match)

    def best_or_taken(ious, free):
        best = int(np.argmax(ious))
        return best if free[best] else -1
    monkeypatch.setattr(video_ap_mod, '_best_remaining', best_or_taken)
    assert_numbers(tiny_numbers(), alt(
        expected, 'a detection whose best GT is taken is a false positive'))


def test_rule_plus_one_pixel(expected, monkeypatch):
    monkeypatch.setattr(boxes_mod, 'ACT_PLUS_ONE', False)
    assert_numbers(tiny_numbers(), alt(expected, 'box areas without the +1 pixel'))


def test_rule_tube_nms(expected):
    assert_numbers(tiny_numbers(tube_nms_thr=None),
                   alt(expected, 'no tube NMS before video AP'))


def test_rule_mean_over_all_labels(expected):
    gt, dets, tubes, _, videos = load_case('T_tiny')
    with_gt = ['walk', 'run', 'wave']  # jump has GT only in a train video
    fr = act_frame_ap(gt, dets, videos, 0.5, protocol='act')
    assert fr['per_class']['jump'] == 0.0
    vm = video_map(gt, tubes, videos, thresholds=(0.2, 0.5, 0.75), ranges=(),
                   protocol='act', per_class=True)
    ours = {'frame_map_050': np.mean([fr['per_class'][n] for n in with_gt])}
    for t in ('0.2', '0.5', '0.75'):
        assert vm[f'v_ap@{t}/jump'] == 0.0
        ours[f'video_map_{t}'] = np.mean([vm[f'v_ap@{t}/{n}'] for n in with_gt])
    assert_numbers(ours, alt(expected, 'mean over labels with GT only'))
    # the default numbers include the label without GT as 0
    assert_numbers(tiny_numbers(), {
        'frame_map_050': expected['T_tiny']['frame_map_050']['act_float64'],
        'video_map_0.5': expected['T_tiny']['video_map_given_tubes']['0.5']['act_float64']})


def test_label_without_gt_but_with_detections_is_zero_not_a_crash():
    """ACT divides 0 by 0 (recall) there; we give AP 0 and keep it in the mean."""
    gt, dets, tubes, _, videos = load_case('T_tiny')
    jump = gt['labels'].index('jump')
    extra = np.array([[0, 1, jump, 0.99, 40, 40, 140, 200]])
    fr = act_frame_ap(gt, np.concatenate([dets, extra]), videos, protocol='act')
    assert fr['per_class']['jump'] == 0.0
    t = tubes[0][0][2]
    vm = video_map(gt, {**tubes, jump: [('walk/tiny_A', 0.99, t)]}, videos,
                   thresholds=(0.5,), ranges=(), protocol='act', per_class=True)
    assert vm['v_ap@0.5/jump'] == 0.0


# --- T_tiny linking: weighted NMS and the +1 link IoU ------------------------

def tiny_link(**kw):
    gt, dets, _, _, videos = load_case('T_tiny')
    return link_tubes(dets, videos, gt['nframes'], len(gt['labels']), **kw)[3]


def test_tiny_linking_two_tubes():
    tubes = tiny_link(style='moc')
    assert [len(t) for _, _, t in tubes] == [16, 16]
    assert tubes[0][1] == pytest.approx(0.9815, abs=1e-4)
    assert tubes[1][1] == pytest.approx(0.147, abs=1e-3)


def test_tiny_linking_alternatives(monkeypatch):
    # plain NMS with the continuous link IoU (style='hard'): no tube at all
    assert len(tiny_link(style='hard')) == 0
    # plain NMS (suppressed boxes dropped) with the inclusive link IoU: one tube
    from stadl_plugins.evaluation.functional import nms
    plain = lambda d, thr, k: d[nms(d[:, :4], d[:, 4], thr, k)]  # noqa: E731
    with monkeypatch.context() as m:
        m.setattr(linking_mod, 'moc_weighted_nms', plain)
        assert [len(t) for _, _, t in tiny_link(style='moc')] == [16]
    # score weighting with the continuous link IoU: one 16-frame tube made of
    # the duplicates in frames 1-8 and the main boxes in frames 9-16
    with monkeypatch.context() as m:
        m.setattr(boxes_mod, 'ACT_PLUS_ONE', False)
        tubes = tiny_link(style='moc')
        assert [len(t) for _, _, t in tubes] == [16]
        t = tubes[0][2]
        assert np.allclose(t[:8, 1], 51.94) and np.allclose(t[8:, 1], 53.6)


# --- ties: numpy's default argsort, as the reference ------------------------

def reference_frame_ap(gt, dets, videos, thr=0.5, kind=None):
    """A plain re-statement of ACT's frameAP rules (independent of ours)."""
    aps = []
    for il in range(len(gt['labels'])):
        d = dets[dets[:, 2] == il]
        g = {}
        for iv, v in enumerate(videos):
            for tube in gt['gttubes'][v].get(il, []):
                for row in tube:
                    g.setdefault((iv, int(row[0])), []).append(list(row[1:5]))
        n = sum(map(len, g.values()))
        if n == 0:
            aps.append(0.0)
            continue
        tp = fp = 0
        prec, rec = [1.0], [0.0]
        for j in np.argsort(-d[:, 3], kind=kind):
            k = (int(d[j, 0]), int(d[j, 1]))
            hit = False
            if g.get(k):
                b = np.array(g[k])
                w = np.maximum(0, np.minimum(b[:, 2], d[j, 6]) - np.maximum(b[:, 0], d[j, 4]) + 1)
                h = np.maximum(0, np.minimum(b[:, 3], d[j, 7]) - np.maximum(b[:, 1], d[j, 5]) + 1)
                a = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
                ad = (d[j, 6] - d[j, 4] + 1) * (d[j, 7] - d[j, 5] + 1)
                iou = w * h / (a + ad - w * h)
                m = int(np.argmax(iou))
                if iou[m] >= thr:
                    hit = True
                    g[k].pop(m)
            tp, fp = tp + hit, fp + (not hit)
            prec.append(tp / (tp + fp))
            rec.append(tp / n)
        p, r = np.array(prec), np.array(rec)
        aps.append(100 * np.sum((r[1:] - r[:-1]) * (p[1:] + p[:-1]) / 2))
    return float(np.mean(aps))


@pytest.mark.parametrize('case', ('S1_ucf_like', 'S3_jhmdb_like'))
def test_tied_scores_fall_as_in_the_reference(case):
    """Scores rounded to 1 decimal: hundreds of ties per label. Ours equals the
    reference order (np.argsort(-s), non-stable) and differs from a stable sort."""
    gt, dets, _, _, videos = load_case(case)
    tied = dets.copy()
    tied[:, 3] = np.round(tied[:, 3], 1)
    ours = act_frame_ap(gt, tied, videos, protocol='act')['frameAP']
    assert abs(ours - reference_frame_ap(gt, tied, videos)) < 1e-9
    # the tie order matters here: a stable sort gives another number
    assert abs(reference_frame_ap(gt, tied, videos, kind='stable') - ours) > 1e-6


# --- small synthetic cases for rules the fixtures do not reach ---------------

def two_actor_gt(nframes=20):
    f = np.arange(1, nframes + 1, dtype=np.float32)[:, None]
    tube = lambda x1: np.hstack([f, np.tile(np.float32([x1, 0, x1 + 100, 100]),  # noqa: E731
                                            (nframes, 1))])
    return dict(labels=['a'], gttubes={'v': {0: [tube(0), tube(50)]}},
                nframes={'v': nframes}, train_videos=[[]], test_videos=[['v']],
                resolution={'v': (240, 320)}), tube


def test_video_matching_uses_the_remaining_gt_tubes():
    """Tube Y's best GT (A, IoU 0.67) is taken by X; B (IoU 0.54) is still free:
    a true positive under ACT's rule (AP 100), a false positive if the search
    ended at the taken best tube (AP 50). No tube NMS here (it would remove Y)."""
    gt, tube = two_actor_gt()
    tubes = {0: [('v', 0.9, tube(0)), ('v', 0.8, tube(20))]}
    r = video_map(gt, tubes, ['v'], thresholds=(0.5,), ranges=(), protocol='act',
                  tube_nms_thr=None)
    assert r['v_map@0.5'] == pytest.approx(100.0)
    # with the tube NMS, Y (tube IoU 0.67 with X) is removed: recall 1/2
    r = video_map(gt, tubes, ['v'], thresholds=(0.5,), ranges=(), protocol='act')
    assert r['v_map@0.5'] == pytest.approx(50.0)


def test_moc_linker_limits():
    """Top 10 boxes per frame, tubes of at least 15 frames and mean score 0.005."""
    def dets(nframes, n, score=0.5):
        rows = [[0, f, 0, score + 0.01 * i, 30 * i, 0, 30 * i + 20, 20]
                for f in range(1, nframes + 1) for i in range(n)]
        return np.array(rows, dtype=np.float64)
    link = lambda d, nframes: link_tubes(d, ['v'], {'v': nframes}, 1,  # noqa: E731
                                         style='moc')[0]
    tubes = link(dets(15, 12), 15)
    assert len(tubes) == 10 and all(len(t) == 15 for _, _, t in tubes)
    # the 10 best boxes (scores 0.52 ... 0.61) survive, not the first 10 rows
    assert sorted(s for _, s, _ in tubes) == pytest.approx([0.52 + 0.01 * i for i in range(10)])
    assert link(dets(14, 3), 14) == []
    assert len(link(dets(15, 1, score=0.005), 15)) == 1
    assert link(dets(15, 1, score=0.0049), 15) == []


@pytest.mark.parametrize('case', ('T_tiny', 'S3_jhmdb_like'))
def test_metric_act_protocol_reproduces_reference(case, expected):
    """VideoMAPMetric(protocol='act'): frame detections as model outputs (normalised
    boxes, one score per label), MOC linking, ACT video-AP."""
    import torch

    from stadl_plugins.evaluation import VideoMAPMetric
    gt, dets, _, _, videos = load_case(case)
    per_frame = {}
    for r in dets:  # a box scored for several labels appears once per label
        scores = per_frame.setdefault((int(r[0]), int(r[1])), {}).setdefault(
            tuple(r[4:8]), np.zeros(len(gt['labels'])))
        scores[int(r[2])] = r[3]
    samples = []
    for (iv, frame), boxes in per_frame.items():
        h, w = gt['resolution'][videos[iv]]
        samples.append(dict(
            video_id=videos[iv], timestamp=frame, pred_instances=dict(
                bboxes=torch.tensor(np.array(list(boxes)) / [w, h, w, h]),
                scores=torch.tensor(np.array(list(boxes.values()))))))
    m = VideoMAPMetric(shared('eval_act', case, 'gt.pkl'), protocol='act',
                       background_class=False, score_thr=0.0,
                       video_iou_thrs=(0.2, 0.5, 0.75))
    assert m.link_cfg['style'] == 'moc'
    m.process(None, samples)
    res = m.compute_metrics(m.results)
    e = expected[case]
    assert abs(res['frameAP'] - e['frame_map_050']['act_float64']) < 1e-6
    for thr, key in KEY.items():
        assert abs(res[key] - e['linking']['video_map'][thr]['act_float64']) < 1e-6
    with pytest.raises(ValueError, match='protocol'):
        VideoMAPMetric(shared('eval_act', case, 'gt.pkl'), protocol='ava')
