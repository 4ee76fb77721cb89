"""Property-based tests (hypothesis) of the evaluators: frame-AP
(stadl_plugins.evaluation.functional.act_frame_ap), video-AP (video_ap) and the
stock MMAction2 AVA evaluator (ava_eval on CSV files).

Properties: permuting the predictions does not change mAP; perfect predictions give
the maximum (100 % / 1.0); adding a duplicate of a detection (same box, label and
score) never raises AP; a strictly increasing transform of the scores does not
change AP. Scores are drawn distinct: with tied scores the ranking of equal-score
detections depends on their input order in every evaluator (a documented
tie-break, not a bug), so permutation invariance only holds without ties.
"""
import contextlib
import io
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stadl_plugins.datasets.ava_io import (
    AVARow,
    write_annotation_csv,
    write_detection_csv,
    write_label_map,
)
from stadl_plugins.evaluation.functional.act_frame_ap import act_frame_ap
from stadl_plugins.evaluation.functional.video_ap import video_ap

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
LABELS = ['run', 'jump']


def random_gt(rng, n_videos=2, n_frames=6):
    """ACT-schema GT: per video one tube per present class, boxes in pixels."""
    gttubes, nframes = {}, {}
    for v in range(n_videos):
        name = f'v{v}'
        nframes[name] = n_frames
        gttubes[name] = {}
        for label in range(len(LABELS)):
            if rng.random() < 0.3 and gttubes[name]:
                continue
            start = int(rng.integers(1, 3))
            frames = np.arange(start, n_frames + 1)
            x1, y1 = rng.uniform(0, 50, 2)
            w, h = rng.uniform(10, 40, 2)
            boxes = np.stack([frames, np.full(len(frames), x1), np.full(len(frames), y1),
                              np.full(len(frames), x1 + w), np.full(len(frames), y1 + h)],
                             axis=1)
            gttubes[name][label] = [boxes]
    return dict(labels=LABELS, gttubes=gttubes, nframes=nframes,
                test_videos=[sorted(gttubes)], train_videos=[[]])


def frame_dets(rng, gt, videos, perfect=False):
    """``(N, 8)`` video_index, frame, label, score, x1, y1, x2, y2."""
    rows = []
    for iv, v in enumerate(videos):
        for label, tubes in gt['gttubes'][v].items():
            for tube in tubes:
                for row in tube:
                    if not perfect and rng.random() < 0.3:
                        continue  # missed
                    box = row[1:5] + (0 if perfect else rng.normal(0, 4, 4))
                    lab = label if perfect or rng.random() < 0.8 else 1 - label
                    rows.append([iv, row[0], lab, 0.0, *box])
    if not perfect:
        for _ in range(int(rng.integers(0, 6))):  # false positives anywhere
            x1, y1 = rng.uniform(0, 80, 2)
            rows.append([rng.integers(len(videos)), rng.integers(1, 7),
                         rng.integers(len(LABELS)), 0.0, x1, y1, x1 + 20, y1 + 20])
    dets = np.asarray(rows, dtype=np.float64).reshape(-1, 8)
    # distinct scores (see module docstring)
    dets[:, 3] = (rng.permutation(len(dets)) + 1) / (len(dets) + 1)
    return dets


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_frame_ap_properties(seed):
    rng = np.random.default_rng(seed)
    gt = random_gt(rng)
    videos = gt['test_videos'][0]
    dets = frame_dets(rng, gt, videos)
    base = act_frame_ap(gt, dets, videos)['frameAP']
    assert 0.0 <= base <= 100.0
    # permutation
    perm = dets[rng.permutation(len(dets))]
    assert act_frame_ap(gt, perm, videos)['frameAP'] == base
    # strictly increasing transforms of the scores
    for f in (lambda s: 3 * s + 1, lambda s: s ** 3, np.exp):
        moved = dets.copy()
        moved[:, 3] = f(moved[:, 3])
        assert abs(act_frame_ap(gt, moved, videos)['frameAP'] - base) < 1e-9
    # a duplicate detection never raises AP
    if len(dets):
        j = int(rng.integers(len(dets)))
        dup = np.concatenate([dets, dets[j:j + 1]])
        assert act_frame_ap(gt, dup, videos)['frameAP'] <= base + 1e-9
    # perfect predictions
    perfect = frame_dets(rng, gt, videos, perfect=True)
    assert act_frame_ap(gt, perfect, videos)['frameAP'] == 100.0


def random_tubes(rng, gt, videos, perfect=False):
    tubes = {}
    for v in videos:
        for label, gts in gt['gttubes'][v].items():
            for tube in gts:
                if not perfect and rng.random() < 0.25:
                    continue
                t = tube.copy()
                if not perfect:
                    t[:, 1:] += rng.normal(0, 6, (len(t), 4))
                lab = label if perfect or rng.random() < 0.8 else 1 - label
                tubes.setdefault(lab, []).append([v, 0.0, t])
    if not perfect:
        for _ in range(int(rng.integers(0, 4))):
            v = videos[int(rng.integers(len(videos)))]
            frames = np.arange(1, 7)
            x1, y1 = rng.uniform(0, 80, 2)
            t = np.stack([frames, *(np.full(6, c) for c in
                                    (x1, y1, x1 + 20, y1 + 20))], axis=1)
            tubes.setdefault(int(rng.integers(len(LABELS))), []).append([v, 0.0, t])
    allt = [t for ts in tubes.values() for t in ts]
    for t, s in zip(allt, rng.permutation(len(allt)) + 1):
        t[1] = s / (len(allt) + 1)
    return {k: [tuple(t) for t in ts] for k, ts in tubes.items()}


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_video_ap_properties(seed):
    rng = np.random.default_rng(seed)
    gt = random_gt(rng)
    videos = gt['test_videos'][0]
    tubes = random_tubes(rng, gt, videos)
    base = video_ap(gt, tubes, videos, 0.3)['mAP']
    assert 0.0 <= base <= 100.0
    perm = {k: [ts[i] for i in rng.permutation(len(ts))] for k, ts in tubes.items()}
    assert video_ap(gt, perm, videos, 0.3)['mAP'] == base
    cubed = {k: [(v, s ** 3, t) for v, s, t in ts] for k, ts in tubes.items()}
    assert abs(video_ap(gt, cubed, videos, 0.3)['mAP'] - base) < 1e-9
    for k, ts in tubes.items():
        if ts:
            dup = dict(tubes)
            dup[k] = ts + [ts[int(rng.integers(len(ts)))]]
            assert video_ap(gt, dup, videos, 0.3)['mAP'] <= base + 1e-9
            break
    perfect = random_tubes(rng, gt, videos, perfect=True)
    assert video_ap(gt, perfect, videos, 0.3)['mAP'] == 100.0


def ava_map(tmp, gt_rows, det_rows):
    from mmaction.evaluation.functional.ava_utils import ava_eval
    write_annotation_csv(os.path.join(tmp, 'gt.csv'), gt_rows)
    write_detection_csv(os.path.join(tmp, 'det.csv'), det_rows)
    write_label_map(os.path.join(tmp, 'labels.pbtxt'), [(1, 'a'), (2, 'b')])
    with contextlib.redirect_stdout(io.StringIO()):
        res = ava_eval(os.path.join(tmp, 'det.csv'), 'mAP',
                       os.path.join(tmp, 'labels.pbtxt'),
                       os.path.join(tmp, 'gt.csv'), None, verbose=False)
    return float(res['overall'])


@settings(max_examples=3, deadline=None,  # ava_eval starts a process pool
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_stock_ava_eval_properties(seed, tmp_path):
    rng = np.random.default_rng(seed)
    gt, det = [], []
    for ts in (902, 903, 904):
        for pid in range(int(rng.integers(1, 3))):
            x1, y1 = rng.uniform(0.05, 0.5, 2).round(3)
            box = (float(x1), float(y1), float(x1 + 0.3), float(y1 + 0.3))
            label = int(rng.integers(1, 3))
            gt.append(AVARow('vid', ts, box, label, pid))
            if rng.random() < 0.7:
                jit = tuple(float(np.clip(b + rng.normal(0, 0.03), 0, 1)) for b in box)
                det.append(AVARow('vid', ts, jit, label if rng.random() < 0.8
                                  else 3 - label, 0.0))
    scores = (rng.permutation(len(det)) + 1) / (len(det) + 1)
    det = [AVARow(r.video_id, r.timestamp, r.box, r.action_id, float(s))
           for r, s in zip(det, scores)]
    tmp = str(tmp_path)
    base = ava_map(tmp, gt, det) if det else None
    if det:
        perm = [det[i] for i in rng.permutation(len(det))]
        assert ava_map(tmp, gt, perm) == base or (np.isnan(base) and
                                                  np.isnan(ava_map(tmp, gt, perm)))
    perfect = [AVARow(r.video_id, r.timestamp, r.box, r.action_id, 1.0) for r in gt]
    assert ava_map(tmp, gt, perfect) == 1.0
