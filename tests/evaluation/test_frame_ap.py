"""AVA frame-mAP: identical to MMAction2's AVAMetric/ava_eval, plus the ActivityNet
protocol, per-class AP and the three AVA groups."""

import numpy as np
import pytest
import torch
from helpers import shared

from stadl_plugins.datasets.ava_io import img_key, read_ava_csv
from stadl_plugins.evaluation.functional import ava_frame_ap


def _read_dets(path):
    dets = {}
    for r in read_ava_csv(path, with_score=True):
        b, lab, s = dets.setdefault(img_key(r.video_id, r.timestamp), ([], [], []))
        b.append(r.box)
        lab.append(r.action_id)
        s.append(r.last)
    return {k: tuple(np.asarray(x) for x in v) for k, v in dets.items()}


def _read_gt(path):
    gt = {}
    for r in read_ava_csv(path):
        b, lab = gt.setdefault(img_key(r.video_id, r.timestamp), ([], []))
        b.append(r.box)
        lab.append(r.action_id)
    return {k: tuple(np.asarray(x) for x in v) for k, v in gt.items()}


def test_eval_detection_fixture_matches_known_value():
    d = shared('eval_detection')
    res = ava_frame_ap(_read_gt(f'{d}/gt.csv'), _read_dets(f'{d}/pred.csv'),
                       [1, 2, 3])
    assert res['mAP'] == pytest.approx(0.09385522, abs=1e-7)
    # per-class APs are real numbers whose mean is the mAP
    aps = [v for v in res['per_class'].values() if not np.isnan(v)]
    assert np.mean(aps) == pytest.approx(res['mAP'])
    assert set(res) >= {'person_movement', 'object_manipulation', 'person_interaction'}


def _random_samples(gt_path, rng, num_classes, n_extra_keys=3, dup_keys=False):
    """Predictions near the GT boxes (some hits, some misses) plus empty keys."""
    gt = _read_gt(gt_path)
    samples = []
    keys = list(gt)
    for key in keys:
        vid, ts = key.split(',')
        boxes = gt[key][0]
        n = len(boxes) + rng.integers(0, 4)
        pick = boxes[rng.integers(0, len(boxes), n)]
        jitter = rng.normal(0, 0.05, pick.shape)
        b = np.clip(pick + jitter, 0, 1)
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 0.01)
        b = np.clip(b, 0, 1)
        scores = rng.random((n, num_classes)).astype(np.float32)
        scores[rng.random(scores.shape) < 0.5] = 0.0  # some below action_thr
        # quantised scores make ties after the CSV's 4-decimal rounding
        scores[:, 1::2] = np.round(scores[:, 1::2], 2)
        samples.append(dict(video_id=vid, timestamp=int(ts),
                            pred_instances=dict(bboxes=torch.tensor(b, dtype=torch.float32),
                                                scores=torch.tensor(scores))))
    return samples


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_random_predictions_identical_to_stock_ava_metric(seed):

    from stadl_plugins.evaluation import evaluate_samples
    d = shared('ava_sample')
    rng = np.random.default_rng(seed)
    label_file = f'{d}/action_list.txt'
    samples = _random_samples(f'{d}/ava_sample.csv', rng, num_classes=81)
    cfg = dict(ann_file=f'{d}/ava_sample.csv', label_file=label_file,
               exclude_file=f'{d}/ava_excluded_timestamps_sample.csv', num_classes=81)
    stock = evaluate_samples(samples, dict(type='AVAMetric', **cfg), per_class=True)
    ours = evaluate_samples(samples, dict(type='AVAFrameAPMetric', **cfg))
    assert ours['overall'] == pytest.approx(stock['overall'], abs=1e-12)
    for g in ('person_movement', 'object_manipulation', 'person_interaction'):
        assert ours[g] == pytest.approx(stock[g], abs=1e-12, nan_ok=True)
    ours_pc = {int(k[len('per_class/'):].split(':')[0]): v for k, v in ours.items()
               if k.startswith('per_class/')}
    assert set(ours_pc) == set(stock['per_class_id'])
    for cid, ap in stock['per_class_id'].items():  # stock prints 4 decimals
        assert ours_pc[cid] == pytest.approx(ap, abs=6e-5, nan_ok=True)
    assert 0 < ours['overall'] < 1


def test_activitynet_protocol_differs_where_documented():
    """Top-50 cap, FPs on keyframes without GT, AP 0 for classes without detections."""
    gt = {'v,0902': (np.array([[0.1, 0.1, 0.5, 0.5]]), np.array([1])),
          'v,0903': (np.array([[0.1, 0.1, 0.5, 0.5]]), np.array([2]))}
    hit = np.array([[0.1, 0.1, 0.5, 0.5]])
    dets = {'v,0902': (hit, np.array([1]), np.array([0.5])),
            # a confident false positive on a keyframe without GT
            'v,0904': (hit, np.array([1]), np.array([0.9]))}
    mm = ava_frame_ap(gt, dets, [1, 2], protocol='mmaction')
    an = ava_frame_ap(gt, dets, [1, 2], protocol='activitynet')
    # mmaction: class 1 AP 1 (the FP frame is ignored), class 2 not evaluated
    assert mm['per_class'] == {1: 1.0}
    assert mm['mAP'] == 1.0
    # activitynet: class 1 ranks the FP first -> AP 0.5; class 2 has GT, no dets -> 0
    assert an['per_class'][1] == pytest.approx(0.5)
    assert an['per_class'][2] == 0.0
    assert an['mAP'] == pytest.approx(0.25)

    # top-50 cap: 60 low-scoring duplicates of a hit, then the real hit at the bottom
    many = np.repeat(np.array([[0.6, 0.6, 0.9, 0.9]]), 60, axis=0)
    boxes = np.concatenate([many, hit])
    scores = np.concatenate([np.linspace(0.9, 0.5, 60), [0.1]])
    dets = {'v,0902': (boxes, np.ones(61, int), scores)}
    gt1 = {'v,0902': gt['v,0902']}
    assert ava_frame_ap(gt1, dets, [1], protocol='mmaction')['mAP'] > 0
    assert ava_frame_ap(gt1, dets, [1], protocol='activitynet')['mAP'] == 0.0


def test_metric_writes_valid_submission(tmp_path):
    from stadl_plugins.evaluation import evaluate_samples, validate_ava_submission
    d = shared('ava_sample')
    samples = _random_samples(f'{d}/ava_sample.csv', np.random.default_rng(0), 81)
    out = tmp_path / 'sub.csv'
    res = evaluate_samples(samples, dict(
        type='AVAFrameAPMetric', ann_file=None, exclude_file=None,
        label_file=f'{d}/action_list.txt', outfile=str(out), format_only=True))
    rep = validate_ava_submission(str(out), f'{d}/action_list.txt')
    assert res['submission_rows'] == rep.num_rows > 0
    assert rep.num_keyframes == len(samples)
    assert not rep.warnings  # <= 50 rows per keyframe


def test_label_map_vs_num_classes_mismatch_is_an_error():
    from stadl_plugins.evaluation import AVAFrameAPMetric
    d = shared('ava_sample')
    with pytest.raises(ValueError, match='num_classes'):
        AVAFrameAPMetric(f'{d}/ava_sample.csv', None, f'{d}/action_list.txt',
                         num_classes=60)
    with pytest.raises(ValueError, match='not in the label map'):
        AVAFrameAPMetric(f'{d}/ava_sample.csv', None, f'{d}/action_list.txt',
                         num_classes=3, custom_classes=[1, 99])
