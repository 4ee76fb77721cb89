"""AVA frame-mAP against the official ActivityNet evaluator (2019, with exclusions)
and stock MMAction2 ``ava_eval``: the shared fixtures number for number, each rule on
a tiny case, tie order against an independent step-by-step emulation, and the
submission validator on every kind of bad input."""
import heapq
import json
import os.path as osp
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pytest
from helpers import REPO, shared

from stadl_plugins.evaluation.functional.ava_frame_ap import (
    InvalidBoxError,
    ava_frame_ap,
    pair_iou,
)
from stadl_plugins.evaluation.submission import (
    SubmissionError,
    evaluate_submission,
    read_ava_rows,
    validate_ava_submission,
)

CASES = ['A1_exclusions_unmatched', 'A2_top50_cut', 'A3_invalid_boxes']


def _expected():
    with open(shared('eval_ava_official', 'expected.json')) as f:
        return json.load(f)


def _case(name):
    d = shared('eval_ava_official', name)
    return (f'{d}/det.csv', f'{d}/gt.csv', f'{d}/labels.pbtxt', f'{d}/excluded.csv')


# ---------------------------------------------------------------- the fixtures

@pytest.mark.parametrize('case', CASES)
def test_fixture_activitynet_equals_official(case):
    exp = _expected()['cases'][case]['official_activitynet_3fee089']
    det, gt, labels, excl = _case(case)
    res = evaluate_submission(det, gt, labels, excl, protocol='activitynet')
    # mAP in points to 1e-6 (fractions to 1e-8)
    assert 100 * res['mAP'] == pytest.approx(100 * exp['mAP'], abs=1e-6)
    assert set(res['per_class']) == {int(c) for c in exp['per_class_AP']}
    for c, ap in exp['per_class_AP'].items():
        ours = res['per_class'][int(c)]
        if ap is None:
            assert np.isnan(ours), (c, ours)
        else:
            assert 100 * ours == pytest.approx(100 * ap, abs=1e-6), c


@pytest.mark.parametrize('case', CASES)
def test_fixture_in_memory_canonical_order_equals_official(case):
    """The dict API (canonical row order) gives the same numbers: the fixtures have
    no tied scores, so the row order cannot matter."""
    exp = _expected()['cases'][case]['official_activitynet_3fee089']
    det, gt, labels, excl = _case(case)
    keys, kr, b, lab, s = read_ava_rows(det, with_score=True)
    dets = {k: (b[kr == i], lab[kr == i], s[kr == i]) for i, k in enumerate(keys)}
    gk, gkr, gb, gl, _ = read_ava_rows(gt, with_score=False)
    gtd = {k: (gb[gkr == i], gl[gkr == i]) for i, k in enumerate(gk)}
    from stadl_plugins.evaluation.submission import read_excluded
    res = ava_frame_ap(gtd, dets, _expected()['label_map_ids'],
                       excluded=read_excluded(excl), protocol='activitynet')
    assert 100 * res['mAP'] == pytest.approx(100 * exp['mAP'], abs=1e-6)


@pytest.mark.parametrize('case', CASES)
def test_fixture_mmaction_equals_stock(case, tmp_path):
    exp = _expected()['cases'][case]['stock_mmaction2_v1_2_0_ava_eval']
    det, gt, labels, excl = _case(case)
    if exp['mAP'] is None:
        # stock raises on the invalid rows; we raise a clear error, not a number
        with pytest.raises(InvalidBoxError, match=r'x1 > x2 or y1 > y2.*first: '
                           r'keyframe .*,\d{4}, action \d+'):
            evaluate_submission(det, gt, labels, excl, protocol='mmaction')
        # ... and equal stock once the invalid rows are removed
        rows = [ln for ln in open(det).read().splitlines() if ln]
        keep = []
        for ln in rows:
            x1, y1, x2, y2 = map(float, ln.split(',')[2:6])
            if x1 < x2 and y1 < y2:
                keep.append(ln)
        assert len(rows) - len(keep) == exp['invalid_rows'] == 39
        det = tmp_path / 'valid.csv'
        det.write_text('\n'.join(keep) + '\n')
        want = exp['mAP_without_invalid_rows']
    else:
        want = exp['mAP']
    res = evaluate_submission(str(det), gt, labels, excl, protocol='mmaction')
    assert 100 * res['mAP'] == pytest.approx(100 * want, abs=1e-6)


def test_fixture_summaries():
    """The fixture files are what expected.json describes (guards the inputs)."""
    for case in CASES:
        s = _expected()['cases'][case]['summary']
        det, gt, _, excl = _case(case)
        gk, gkr, *_ = read_ava_rows(gt)
        dk, dkr, *_ = read_ava_rows(det, with_score=True)
        assert (len(gkr), len(dkr), len(gk), len(dk)) == (
            s['gt_rows'], s['det_rows'], s['gt_keyframes'], s['det_keyframes'])
        assert sum(np.bincount(dkr) > 50) == s['keyframes_over_50_rows']


# ---------------------------------------------------------- rule by rule, tiny

B = [0.1, 0.1, 0.5, 0.5]
FAR = [0.6, 0.6, 0.9, 0.9]


def _an(gt, dets, ids=(1, 2), excluded=(), protocol='activitynet', **kw):
    return ava_frame_ap(gt, {k: tuple(np.asarray(x) for x in v) for k, v in dets.items()},
                        list(ids), excluded=excluded, protocol=protocol, **kw)


def test_rule_label_map_only():
    gt = {'v,0902': ([B, B], [1, 99])}
    dets = {'v,0902': ([FAR, B], [99, 1], [0.9, 0.5])}
    r = _an(gt, dets, ids=[1])
    assert r['per_class'] == {1: 1.0} and r['num_gt'] == {1: 1}


def test_rule_excluded_keyframes_removed_completely():
    gt = {'v,0902': ([B], [1]), 'v,0903': ([B], [1])}
    dets = {'v,0902': ([B], [1], [0.5]), 'v,0903': ([FAR], [1], [0.9])}
    an = _an(gt, dets, ids=[1], excluded={'v,0903'})
    assert an['num_gt'][1] == 1 and an['per_class'][1] == 1.0  # GT and FP both gone
    # stock: the excluded GT still counts as a positive, its detections are ignored
    mm = _an(gt, dets, ids=[1], excluded={'v,0903'}, protocol='mmaction')
    assert mm['num_gt'][1] == 2 and mm['per_class'][1] == 0.5


def test_rule_top50_strictly_above_the_50th():
    # 50 FPs at 0.5, then the TP at 0.5: a tie does not enter a full keyframe
    boxes = [FAR] * 50 + [B]
    scores = [0.5] * 51
    gt = {'v,0902': ([B], [1])}
    r = _an(gt, {'v,0902': (boxes, [1] * 51, scores)}, ids=[1], row_order='file')
    assert r['per_class'][1] == 0.0
    # the same TP at 0.5001 enters (and evicts one of the 0.5 rows)
    r = _an(gt, {'v,0902': (boxes, [1] * 51, scores[:50] + [0.5001])}, ids=[1])
    assert r['per_class'][1] == 1.0
    # TP first in the file: it is in before the heap is full and stays
    r = _an(gt, {'v,0902': (boxes[::-1], [1] * 51, scores)}, ids=[1], row_order='file')
    assert r['per_class'][1] > 0  # kept (its rank among the 50 ties is argsort's)
    # all actions together: 50 rows of action 2 push out action 1's row
    r = _an({'v,0902': ([B, B], [1, 2])},
            {'v,0902': ([B] * 51, [2] * 50 + [1], [0.9] * 50 + [0.1])}, ids=[1, 2])
    assert r['per_class'][1] == 0.0
    # no cap for stock
    r = _an(gt, {'v,0902': (boxes, [1] * 51, scores)}, ids=[1], protocol='mmaction')
    assert r['per_class'][1] > 0


def test_rule_heap_evicts_the_smallest_tuple():
    """A full heap evicts its smallest (score, action, y1, x1, ...) tuple: among rows
    tied at the lowest score, the one with the smaller action id leaves first."""
    gt = {'v,0902': ([B, B], [1, 2])}
    boxes = [B, B] + [FAR] * 48 + [FAR]
    labels = [2, 1] + [1] * 48 + [1]
    scores = [0.3, 0.3] + [0.9] * 48 + [0.95]
    r = _an(gt, {'v,0902': (boxes, labels, scores)}, ids=[1, 2], row_order='file')
    # the 51st row evicts (0.3, action 1, ...) and keeps (0.3, action 2, ...)
    assert r['per_class'][2] == 1.0 and r['per_class'][1] == 0.0


def test_rule_invalid_boxes_dropped_after_the_cut():
    bad = [0.5, 0.1, 0.1, 0.5]  # x1 > x2
    gt = {'v,0902': ([B], [1])}
    # an invalid box is neither TP nor FP
    r = _an(gt, {'v,0902': ([bad, B], [1, 1], [0.99, 0.5])}, ids=[1])
    assert r['per_class'][1] == 1.0
    # degenerate boxes (x1 == x2, y1 == y2) are invalid too
    for deg in ([0.3, 0.1, 0.3, 0.5], [0.1, 0.3, 0.5, 0.3]):
        assert _an(gt, {'v,0902': ([deg, B], [1, 1], [0.9, 0.5])},
                   ids=[1])['per_class'][1] == 1.0
    # but they take places among the 50 of the keyframe before being dropped
    for order in ('file', 'canonical'):
        r = _an(gt, {'v,0902': ([bad] * 50 + [B], [1] * 51, [0.99] * 50 + [0.5])},
                ids=[1], row_order=order)
        assert r['per_class'][1] == 0.0, order


def test_rule_detections_without_gt_are_false_positives():
    gt = {'v,0902': ([B], [1])}
    dets = {'v,0902': ([B], [1], [0.5]), 'v,0904': ([B], [1], [0.9]),
            'unknown,0902': ([B], [1], [0.8])}
    assert _an(gt, dets, ids=[1])['per_class'][1] == pytest.approx(1 / 3)
    # an action without GT on that keyframe: FP as well
    gt2 = {'v,0902': ([B], [1]), 'v,0903': ([B], [2])}
    d2 = {'v,0902': ([B, B], [1, 2], [0.5, 0.9]), 'v,0903': ([B], [2], [0.4])}
    assert _an(gt2, d2)['per_class'][2] == pytest.approx(0.5)
    assert _an(gt2, d2, protocol='mmaction')['per_class'][2] == pytest.approx(0.5)
    # stock ignores keyframes without GT
    assert _an(gt, dets, ids=[1], protocol='mmaction')['per_class'][1] == 1.0


def test_rule_best_box_without_fall_back():
    g1, g2 = [0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5]
    gt = {'v,0902': ([g1, g2], [1, 1])}
    # both detections overlap g1 most; the second is an FP although it has IoU
    # > 0.5 with the free g2
    d = [0.1, 0.1, 0.5, 0.5], [0.11, 0.1, 0.51, 0.5]
    assert pair_iou(np.array([d[1]]), np.array([g2]))[0] > 0.5
    for p in ('activitynet', 'mmaction'):
        r = _an(gt, {'v,0902': (list(d), [1, 1], [0.9, 0.8])}, ids=[1], protocol=p)
        assert r['per_class'][1] == pytest.approx(0.5), p


# a GT box and a detection whose IoU is exactly 0.5 in float64 but just below in
# stock's float32 arithmetic (found by search over 3-decimal boxes)
HALF_G, HALF_D = [0.133, 0.1, 0.334, 0.6], [0.2, 0.1, 0.401, 0.6]


def test_iou_exactly_half_each_protocol_in_its_reference_precision():
    g, d = np.array([HALF_G]), np.array([HALF_D])
    assert pair_iou(d, g)[0] == 0.5
    assert pair_iou(d, g, stock_precision=True)[0] < 0.5
    gt = {'v,0902': ([HALF_G], [1])}
    dets = {'v,0902': ([HALF_D], [1], [0.9])}
    assert _an(gt, dets, ids=[1])['per_class'][1] == 1.0  # official: TP
    assert _an(gt, dets, ids=[1], protocol='mmaction')['per_class'][1] == 0.0  # stock: FP


def test_pair_iou_is_bitwise_the_references_np_box_ops():
    """Same values, bit for bit, as the ``np_box_ops.iou`` both references use (the
    official script's copy and MMAction2's are the same function), on float64
    (official) and float32 (stock) inputs, in their [y1, x1, y2, x2] layout."""
    from mmaction.evaluation.functional.ava_evaluation import np_box_ops
    rng = np.random.default_rng(0)
    a = np.sort(np.round(rng.random((400, 2, 2)), 3), axis=1).reshape(400, 4)
    a = a[:, [0, 2, 1, 3]]  # x1 y1 x2 y2 with x1 <= x2, y1 <= y2
    b = np.roll(a, 7, axis=0) * 0.5 + a * 0.5
    b = np.round(b, 3)
    yx = [1, 0, 3, 2]
    for stock, dt in ((False, np.float64), (True, np.float32)):
        ref = np.diag(np.asarray(np_box_ops.iou(a[:, yx].astype(dt), b[:, yx].astype(dt))))
        with np.errstate(invalid='ignore'):
            ours = pair_iou(a, b, stock_precision=stock)
        assert np.array_equal(ours, ref, equal_nan=True), stock


def test_rule_ap_zero_nan_and_mean():
    gt = {'v,0902': ([B], [1]), 'v,0903': ([B], [2])}
    dets = {'v,0902': ([B], [1], [0.9])}
    an = _an(gt, dets, ids=[1, 2, 3])
    assert an['per_class'][1] == 1.0 and an['per_class'][2] == 0.0
    assert np.isnan(an['per_class'][3]) and an['mAP'] == 0.5
    mm = _an(gt, dets, ids=[1, 2, 3], protocol='mmaction')
    assert mm['per_class'] == {1: 1.0} and mm['mAP'] == 1.0


def test_mmaction_invalid_boxes_error_where_stock_crashes():
    bad = [0.5, 0.1, 0.1, 0.5]
    gt = {'v,0902': ([B], [1]), 'v,0903': ([B], [1])}
    with pytest.raises(InvalidBoxError, match=r'1 detection box.*keyframe v,0902, '
                       r'action 1'):
        _an(gt, {'v,0902': ([bad], [1], [0.9])}, ids=[1], protocol='mmaction')
    # where stock does not look, there is no error: unscored or excluded keyframes
    ok = _an(gt, {'v,0904': ([bad], [1], [0.9]), 'v,0903': ([bad], [1], [0.9]),
                  'v,0902': ([B], [1], [0.5])}, ids=[1], excluded={'v,0903'},
             protocol='mmaction')
    assert ok['per_class'][1] == 0.5
    # degenerate boxes do not crash stock: evaluated, IoU 0, an FP
    r = _an(gt, {'v,0902': ([[0.3, 0.1, 0.3, 0.5], B], [1, 1], [0.9, 0.5])}, ids=[1],
            protocol='mmaction')
    assert r['per_class'][1] == pytest.approx(0.25)
    # an invalid GT box of an action detected on its keyframe
    with pytest.raises(InvalidBoxError, match='GT box'):
        _an({'v,0902': ([bad], [1])}, {'v,0902': ([B], [1], [0.9])}, ids=[1],
            protocol='mmaction')


# ------------------------------------------- ties: an independent emulation

def _emulate_official(gt_rows, det_rows, ids, excluded, thr=0.5):
    """The 2019 official evaluator step by step, written from its description:
    reader heaps, per-image per-class greedy matching on [y1, x1, y2, x2] float64,
    argsort ranking, VOC AP, nanmean over the id-indexed array."""
    def read(rows, cap):
        heaps = {}
        for r in rows:
            if r[6] not in ids:
                continue
            h = heaps.setdefault(f'{r[0]},{int(r[1]):04d}', [])
            t = (r[7] if len(r) > 7 else 1.0, r[6], r[3], r[2], r[5], r[4])
            if cap < 1 or len(h) < cap:
                heapq.heappush(h, t)
            elif t[0] > h[0][0]:
                heapq.heapreplace(h, t)
        return {k: sorted(h, key=lambda t: -t[0]) for k, h in heaps.items()}

    def iou(t, u):
        a, b = np.array([t[2:]]), np.array([u[2:]])
        h = max(0.0, min(a[0, 2], b[0, 2]) - max(a[0, 0], b[0, 0]))
        w = max(0.0, min(a[0, 3], b[0, 3]) - max(a[0, 1], b[0, 1]))
        area = lambda x: (x[0, 2] - x[0, 0]) * (x[0, 3] - x[0, 1])  # noqa: E731
        return h * w / (area(a) + area(b) - h * w)

    gt, det = read(gt_rows, 0), read(det_rows, 50)
    npos = Counter(t[1] for k, ts in gt.items() if k not in excluded for t in ts)
    sc, tp = defaultdict(list), defaultdict(list)
    for k, ts in det.items():
        if k in excluded:
            continue
        ts = [t for t in ts if t[2] < t[4] and t[3] < t[5]]
        g = gt.get(k, [])
        for c in sorted(set(ids)):
            gs = [u for u in g if u[1] == c]
            taken = [False] * len(gs)
            for t in (t for t in ts if t[1] == c):
                hit = False
                if gs:
                    ov = [iou(t, u) for u in gs]
                    j = int(np.argmax(ov))
                    if ov[j] >= thr and not taken[j]:
                        taken[j] = hit = True
                sc[c].append(t[0])
                tp[c].append(hit)
    aps = np.full(max(ids), np.nan)
    for c in ids:
        if not npos[c]:
            continue
        s, t = np.array(sc[c], dtype=float), np.array(tp[c], dtype=bool)
        o = np.argsort(s)[::-1]
        ctp = np.cumsum(t[o].astype(int))
        prec = ctp / np.arange(1, len(o) + 1)
        rec = ctp / npos[c]
        r = np.concatenate([[0], rec, [1]])
        p = np.concatenate([[0], prec, [0]])
        for i in range(len(p) - 2, -1, -1):
            p[i] = max(p[i], p[i + 1])
        idx = np.where(r[1:] != r[:-1])[0] + 1
        aps[c - 1] = np.sum((r[idx] - r[idx - 1]) * p[idx])
    return aps, float(np.nanmean(aps))


def _tied_case(seed):
    """Quantised scores (many ties), up to ~70 rows per keyframe, invalid boxes,
    unknown ids, excluded and unannotated keyframes."""
    rng = np.random.default_rng(seed)
    gt_rows, det_rows = [], []
    for v in range(3):
        for ts in range(902, 910):
            if rng.random() < 0.8:
                for p in range(rng.integers(1, 4)):
                    x, y = np.round(rng.random(2) * 0.5, 3)
                    box = [x, y, round(x + 0.3, 3), round(y + 0.4, 3)]
                    for a in rng.choice([1, 2, 3, 5], rng.integers(1, 3), replace=False):
                        gt_rows.append((f'v{v}', ts, *box, int(a), p))
            for _ in range(rng.integers(0, 70)):
                x, y = np.round(rng.random(2) * 0.5, 3)
                if gt_rows and rng.random() < 0.6:
                    g = gt_rows[rng.integers(len(gt_rows))]
                    x, y = round(g[2] + rng.normal(0, 0.03), 3), round(g[3], 3)
                box = [x, y, round(x + 0.3, 3), round(y + 0.4, 3)]
                if rng.random() < 0.05:
                    box = [box[2], box[1], box[0], box[3]]
                det_rows.append((f'v{v}', ts, *box, int(rng.choice([1, 2, 3, 5, 9])),
                                 float(rng.integers(1, 12)) / 12))
    order = rng.permutation(len(det_rows))
    det_rows = [det_rows[i] for i in order]
    excluded = {'v0,0903', 'v2,0907'}
    return gt_rows, det_rows, excluded


def _write(path, rows, score):
    with open(path, 'w') as f:
        for r in rows:
            last = f'{r[7]!r}' if score else str(r[7])
            f.write(f'{r[0]},{r[1]:04d},{",".join(repr(float(v)) for v in r[2:6])},'
                    f'{r[6]},{last}\n')


@pytest.mark.parametrize('seed', range(4))
def test_ties_file_order_equals_step_by_step_official(seed, tmp_path):
    gt_rows, det_rows, excluded = _tied_case(seed)
    ids = [1, 2, 3, 5]
    aps, mean = _emulate_official(gt_rows, det_rows, ids, excluded)
    _write(tmp_path / 'gt.csv', gt_rows, False)
    _write(tmp_path / 'det.csv', det_rows, True)
    (tmp_path / 'ex.csv').write_text(''.join(k + '\n' for k in excluded))
    (tmp_path / 'l.pbtxt').write_text(''.join(
        f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n' for i in ids))
    res = evaluate_submission(str(tmp_path / 'det.csv'), str(tmp_path / 'gt.csv'),
                              str(tmp_path / 'l.pbtxt'), str(tmp_path / 'ex.csv'))
    assert res['mAP'] == mean
    for c in ids:
        assert res['per_class'][c] == aps[c - 1] or np.isnan(aps[c - 1]), c
    assert any(n > 50 for n in Counter((r[0], r[1]) for r in det_rows).values())


class _SerialPool:
    def __init__(self, *a, **k):
        pass

    def map(self, fn, items):
        return list(map(fn, items))


@pytest.mark.parametrize('seed', range(3))
def test_ties_and_half_iou_mmaction_equals_stock_ava_eval(seed, tmp_path, monkeypatch):
    import mmaction.evaluation.functional.ava_utils as au
    monkeypatch.setattr(au.multiprocessing, 'Pool', _SerialPool)
    gt_rows, det_rows, excluded = _tied_case(seed)
    det_rows = [r for r in det_rows if r[2] < r[4]]  # stock crashes on invalid ones
    gt_rows.append(('v1', 905, *HALF_G, 1, 9))
    det_rows.append(('v1', 905, *HALF_D, 1, 0.99))
    ids = [1, 2, 3, 5]
    _write(tmp_path / 'gt.csv', gt_rows, False)
    _write(tmp_path / 'det.csv', det_rows, True)
    (tmp_path / 'ex.csv').write_text(''.join(k + '\n' for k in excluded))
    (tmp_path / 'l.pbtxt').write_text(''.join(
        f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n' for i in ids))
    args = [str(tmp_path / n) for n in ('det.csv', 'l.pbtxt', 'gt.csv', 'ex.csv')]
    stock = au.ava_eval(args[0], 'mAP', args[1], args[2], args[3], verbose=False)
    ours = evaluate_submission(args[0], args[2], args[1], args[3], protocol='mmaction')
    assert ours['mAP'] == stock['overall']
    for g in ('person_movement', 'object_manipulation', 'person_interaction'):
        assert ours[g] == pytest.approx(stock[g], abs=0, nan_ok=True)


def test_mmaction_ranks_float32_scores_as_stock(tmp_path, monkeypatch):
    """Stock ranks float32 scores: 0.500000002 and 0.5 tie there (and argsort then
    puts the later row first), although the first is higher in float64."""
    import mmaction.evaluation.functional.ava_utils as au
    monkeypatch.setattr(au.multiprocessing, 'Pool', _SerialPool)
    (tmp_path / 'gt.csv').write_text('v,0902,0.1,0.1,0.5,0.5,1,0\n')
    (tmp_path / 'det.csv').write_text('v,0902,0.6,0.6,0.9,0.9,1,0.500000002\n'
                                      'v,0902,0.1,0.1,0.5,0.5,1,0.5\n')
    (tmp_path / 'l.pbtxt').write_text('item {\n  name: "a"\n  id: 1\n}\n')
    (tmp_path / 'ex.csv').write_text('')
    args = [str(tmp_path / n) for n in ('det.csv', 'l.pbtxt', 'gt.csv', 'ex.csv')]
    stock = au.ava_eval(args[0], 'mAP', args[1], args[2], args[3], verbose=False)
    ours = evaluate_submission(args[0], args[2], args[1], args[3], protocol='mmaction')
    assert ours['mAP'] == stock['overall'] == 1.0
    # the official script ranks float64: the FP first
    assert evaluate_submission(args[0], args[2], args[1], args[3])['mAP'] == 0.5


def test_in_memory_metric_equals_official_on_the_csv_it_writes(tmp_path):
    """Canonical row order: the metric's number equals the official script (file
    order) on the metric's own submission file, with >50 rows per keyframe and tied
    scores, and does not depend on the order of the samples."""
    import torch

    from stadl_plugins.evaluation import evaluate_samples
    det, gt, labels, excl = _case('A1_exclusions_unmatched')
    ids = _expected()['label_map_ids']
    gk, gkr, gb, gl, _ = read_ava_rows(gt)
    rng = np.random.default_rng(5)
    samples = []
    for i, k in enumerate(gk + ['vidA00xyzab,0950']):
        vid, ts = k.rsplit(',', 1)
        boxes = gb[gkr == i] if i < len(gk) else gb[:2]
        b = np.clip(boxes[rng.integers(0, len(boxes), 6)] + rng.normal(0, 0.03, (6, 4)),
                    0, 1)
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 0.05)
        sc = np.zeros((6, 81), np.float32)
        sc[:, ids] = np.round(rng.random((6, len(ids))), 1)  # ties, ~130 rows / key
        samples.append(dict(video_id=vid, timestamp=int(ts), pred_instances=dict(
            bboxes=torch.tensor(np.clip(b, 0, 1), dtype=torch.float32),
            scores=torch.tensor(sc))))
    out = tmp_path / 'sub.csv'
    cfg = dict(type='AVAFrameAPMetric', protocol='activitynet', ann_file=gt,
               label_file=labels, exclude_file=excl)
    res = evaluate_samples(samples, dict(cfg, outfile=str(out)))
    per_key = Counter(tuple(ln.split(',')[:2]) for ln in out.read_text().splitlines())
    assert max(per_key.values()) == 50  # the cut was exercised
    off = evaluate_submission(str(out), gt, labels, excl)
    assert off['mAP'] == res['overall']
    assert 0 < res['overall'] < 1
    rev = evaluate_samples(samples[::-1], cfg)
    assert rev['overall'] == res['overall']


# ------------------------------------------------------------ the validator

GOOD = 'vid_a,0902,0.1000,0.2000,0.5000,0.9000,12,0.8730\n'


def _labels(tmp_path):
    p = tmp_path / 'labels.pbtxt'
    p.write_text(''.join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n' for i in (1, 12)))
    return str(p)


def _cli(*args):
    return subprocess.run([sys.executable, 'tools/submission/validate_ava_submission.py',
                           *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_validator_non_utf8_bytes(tmp_path):
    f = tmp_path / 'sub.csv'
    f.write_bytes(GOOD.encode() + b'vid_\xff\xfeb,0902,0.1,0.2,0.5,0.9,12,0.5\n' +
                  GOOD.replace('0.5000', '0.6000').encode())
    with pytest.raises(SubmissionError) as exc:
        validate_ava_submission(str(f))
    assert f'{f}:2: not valid UTF-8 (byte 0xff at column 5)' in str(exc.value)
    assert str(exc.value).startswith('1 problem(s)')
    r = _cli(f)
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert f'{f}:2: not valid UTF-8' in r.stderr


def test_validator_field_longer_than_csv_limit(tmp_path):
    f = tmp_path / 'sub.csv'
    f.write_text(GOOD + '"' + 'x' * 200_000 + '",0902,0.1,0.2,0.5,0.9,12,0.5\n')
    with pytest.raises(SubmissionError, match=rf'{f}:2: a field of about 200002 '
                       r'characters exceeds the csv field limit \(131072\)'):
        validate_ava_submission(str(f))
    r = _cli(f)
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert 'exceeds the csv field limit' in r.stderr
    # the evaluator's reader says the same, not a csv traceback
    from stadl_plugins.datasets.ava_io import AVAFormatError
    with pytest.raises(AVAFormatError, match=rf'{f}:2: a field'):
        read_ava_rows(str(f), with_score=True)


def test_validator_bom_removed_with_warning(tmp_path):
    f = tmp_path / 'sub.csv'
    f.write_bytes(b'\xef\xbb\xbf' + GOOD.encode())
    rep = validate_ava_submission(str(f), _labels(tmp_path), videos=['vid_a'])
    assert rep.num_rows == 1 and not rep.errors
    assert any('byte-order mark' in w and w.startswith(f'{f}:1:') for w in rep.warnings)
    r = _cli(f, '--label-map', _labels(tmp_path))
    assert r.returncode == 0 and 'byte-order mark' in r.stdout
    with pytest.warns(UserWarning, match='byte-order mark'):
        keys = read_ava_rows(str(f), with_score=True)[0]
    assert keys == ['vid_a,0902']


def test_validator_empty_video_id(tmp_path):
    f = tmp_path / 'sub.csv'
    f.write_text(GOOD + ',0902,0.1,0.2,0.5,0.9,12,0.5\n' + ' ,0903,0.1,0.2,0.5,0.9,12,0.5\n')
    rep = validate_ava_submission(str(f), raise_on_error=False)  # no videos given
    assert [e.split(': ', 1)[1][:14] for e in rep.errors] == ['empty video id'] * 2
    assert rep.errors[0].startswith(f'{f}:2:') and rep.errors[1].startswith(f'{f}:3:')


def test_validator_more_than_50_rows_is_an_error_as_documented(tmp_path):
    f = tmp_path / 'sub.csv'
    f.write_text(''.join(f'vid_a,0902,0.1,0.1,0.5,{0.5 + i / 1000:.4f},12,0.5\n'
                         for i in range(51)))
    with pytest.raises(SubmissionError, match=rf'{f}:1: keyframe vid_a,902 has 51 rows'):
        validate_ava_submission(str(f))
    assert validate_ava_submission(str(f), max_per_keyframe=51).num_rows == 51
    doc = open(osp.join(REPO, 'docs', 'evaluation.md')).read()
    assert 'more than 50 rows' in doc and 'warns about keyframes' not in doc


def test_validator_ends_with_a_count_per_kind(tmp_path):
    f = tmp_path / 'sub.csv'
    f.write_bytes((GOOD + 'vid_a,0902,0.1,0.2,1.5,0.9,12,0.5\n' * 3
                   + 'vid_a,09x2,0.1,0.2,0.5,0.9,12,0.5\n').encode() + b'\xff\n')
    with pytest.raises(SubmissionError) as exc:
        validate_ava_submission(str(f), max_errors=2)
    msg = str(exc.value)
    assert msg.startswith('7 problem(s)')
    assert '(first 2 of 7 shown)' in msg
    assert msg.splitlines()[-1] == (
        f'summary: {f}: 7 problem(s) on 5 line(s) (box: 3, duplicate: 2, '
        'timestamp: 1, not UTF-8: 1)')
    r = _cli(f, '--max-errors', 1)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith('summary:')


def test_fast_csv_reader_equals_the_checked_reader(tmp_path):
    from stadl_plugins.evaluation.submission import _read_ava_rows_checked, _read_ava_rows_fast
    paths = [p for c in CASES for p in _case(c)[:2]]
    gt_rows, det_rows, _ = _tied_case(0)
    _write(tmp_path / 'd.csv', det_rows, True)
    paths.append(str(tmp_path / 'd.csv'))
    for p in paths:
        for ws in (True, False):
            fast, slow = _read_ava_rows_fast(p, ws), _read_ava_rows_checked(p, ws)
            assert fast is not None
            assert fast[0] == slow[0]
            for a, b in zip(fast[1:], slow[1:]):
                assert np.array_equal(a, b) and a.dtype == b.dtype, p
