"""Frame-/video-mAP for ACT-schema data: MMAction2's reference values reproduced,
its two linking defects isolated, and the corrected numbers explained."""
import numpy as np
import pytest
from helpers import shared
from mmengine import load

from stadl_plugins.evaluation.functional import (
    act_frame_ap,
    link_tubes,
    link_video,
    split_videos,
    tube_iou,
    video_map,
)

STOCK = {'frameAP': 83.6506, 'v_map@0.2': 37.5, 'v_map@0.5': 37.5,
         'v_map_0.10:0.90': 29.1667}


@pytest.fixture(scope='module')
def multisports():
    gt = load(shared('eval_multisports', 'gt.pkl'))
    samples = load(shared('eval_multisports', 'data_samples.pkl'))
    videos = split_videos(gt)
    rows = []
    for p in samples:  # argmax per box, pixel boxes: what MultiSportsMetric does
        v = p['video_id'].split('.mp4')[0]
        h, w = gt['resolution'][v]
        boxes = p['pred_instances']['bboxes'].numpy().astype(np.float64) * [w, h, w, h]
        for b, s in zip(boxes, p['pred_instances']['scores'].numpy()):
            c = int(np.argmax(s))
            rows.append([videos.index(v), p['timestamp'], c, s[c], *b])
    return gt, samples, videos, np.array(rows)


def test_stock_multisports_metric_runs_and_gives_its_reference_values(multisports):
    """compat.fix_multisports_numpy2 makes the stock metric run on numpy 2."""
    from mmaction.evaluation import MultiSportsMetric
    gt, samples, _, _ = multisports
    m = MultiSportsMetric(shared('eval_multisports', 'gt.pkl'), verbose=False)
    import copy
    m.process(None, copy.deepcopy(samples))  # the stock metric rescales boxes in place
    res = m.compute_metrics(m.results)
    for k, v in STOCK.items():
        assert res[k] == pytest.approx(v, abs=1e-4)


def test_frame_ap_identical_to_stock(multisports):
    gt, _, videos, dets = multisports
    assert act_frame_ap(gt, dets, videos)['frameAP'] == pytest.approx(83.6506, abs=1e-4)


def test_upstream_mode_reproduces_stock_video_map(multisports):
    gt, _, videos, dets = multisports
    tubes = link_tubes(dets, videos, gt['nframes'], len(gt['labels']),
                       upstream_bugs=True)
    vm = video_map(gt, tubes, videos, thresholds=(0.2, 0.5), inclusive=False)
    assert vm['v_map@0.2'] == pytest.approx(37.5)
    assert vm['v_map@0.5'] == pytest.approx(37.5)
    assert vm['v_map_0.1:0.9'] == pytest.approx(29.1667, abs=1e-4)


def test_corrected_linking_and_where_the_difference_comes_from(multisports):
    """Correct linking finds the 4th true tube that MMAction2 loses.

    The GT has 4 actions (each annotated twice). MMAction2 links 3 tubes: its
    per-frame soft NMS keeps suppressed duplicates with down-weighted scores,
    and the duplicate boxes then start competing tubes that break one action
    apart. With hard NMS (ACT) all 4 actions are linked: v-mAP@0.5 50 vs 37.5
    (each class has 2 identical GT tubes, so one detected tube gives AP 50).
    The stale-score bug alone leaves v-mAP@0.5 at 50 here but changes which box
    extends a tube when several qualify (all scores tie), which shortens or
    lengthens tubes: v-mAP 0.5:0.95 36.25 with it vs 32.5 without.
    """
    gt, _, videos, dets = multisports
    n = len(gt['labels'])
    correct = link_tubes(dets, videos, gt['nframes'], n)
    vm = video_map(gt, correct, videos, thresholds=(0.2, 0.5))
    assert sum(map(len, correct.values())) == 4
    assert vm['v_map@0.2'] == pytest.approx(50.0)
    assert vm['v_map@0.5'] == pytest.approx(50.0)
    assert vm['v_map_0.1:0.9'] == pytest.approx(40.2778, abs=1e-4)

    upstream = link_tubes(dets, videos, gt['nframes'], n, upstream_bugs=True)
    assert sum(map(len, upstream.values())) == 3
    # only the stale score: still 4 tubes, but every tube scores the same
    stale = dets.copy()
    stale[:, 3] = stale[-1, 3]
    st = link_tubes(stale, videos, gt['nframes'], n)
    assert sum(map(len, st.values())) == 4
    assert len({round(s, 6) for ts in st.values() for _, s, _ in ts}) == 1
    assert len({round(s, 6) for ts in correct.values() for _, s, _ in ts}) == 4
    assert video_map(gt, st, videos, thresholds=())['v_map_0.5:0.95'] == \
        pytest.approx(36.25)
    assert video_map(gt, correct, videos, thresholds=())['v_map_0.5:0.95'] == \
        pytest.approx(32.5)


def test_tube_iou_counts_frames_inclusively():
    a = np.array([[f, 0, 0, 10, 10] for f in range(1, 11)], float)
    b = np.array([[f, 0, 0, 10, 10] for f in range(6, 16)], float)
    assert tube_iou(a, b) == pytest.approx(5 / 15)
    assert tube_iou(a, b, inclusive=False) == pytest.approx(4 / 14)
    c = np.array([[f, 0, 0, 10, 10] for f in range(10, 20)], float)
    assert tube_iou(a, c) == pytest.approx(1 / 19)   # one shared frame
    assert tube_iou(a, c, inclusive=False) == 0.0     # upstream: nothing
    half = a.copy()
    half[:, 3] = 5  # half the width on every frame
    assert tube_iou(a, half) == pytest.approx(0.5)
    assert tube_iou(a, a[::-1][::-1] + [20, 0, 0, 0, 0]) == 0.0


def test_linked_boxes_keep_their_own_scores():
    fd = {f: np.array([[10 + f, 10, 50 + f, 90, 0.1 * (f % 5) + 0.3]]) for f in range(1, 21)}
    (score, tube), = link_video(fd, 20, min_len=5)
    assert np.allclose(tube[:, 5], [fd[f][0, 4] for f in range(1, 21)], atol=1e-6)
    assert score == pytest.approx(np.mean([fd[f][0, 4] for f in range(1, 21)]))
    # a gap ends a tube (no bridging), short pieces are dropped by min_len
    fd.pop(11)
    tubes = link_video(fd, 20, min_len=5)
    assert sorted(len(t) for _, t in tubes) == [9, 10]


def _perfect(gt, videos, extra_label=None):
    rows = []
    for iv, v in enumerate(videos):
        for label, tubes in gt['gttubes'][v].items():
            for t in tubes:
                for r in t:
                    rows.append([iv, r[0], label, 0.9, *r[1:5]])
                    if extra_label is not None:
                        rows.append([iv, r[0], extra_label, 0.05, *r[1:5]])
    return np.array(rows)


def test_perfect_detections_give_100(tiny_synthetic):
    root, _ = tiny_synthetic
    gt = load(f'{root}/annotations/synthetic_gt.pkl')
    videos = split_videos(gt)
    dets = _perfect(gt, videos)
    assert act_frame_ap(gt, dets, videos)['frameAP'] == pytest.approx(100.0)
    tubes = link_tubes(dets, videos, gt['nframes'], len(gt['labels']), min_len=1)
    vm = video_map(gt, tubes, videos)
    assert vm['v_map@0.5'] == pytest.approx(100.0)
    assert vm['v_map_0.5:0.95'] == pytest.approx(100.0)


def test_metric_multilabel_and_argmax(tiny_synthetic):
    """A box scoring two classes counts for both (multi-label); argmax keeps one."""
    import torch

    from stadl_plugins.evaluation import VideoMAPMetric
    root, _ = tiny_synthetic
    ann = f'{root}/annotations/synthetic_gt.pkl'
    gt = load(ann)
    videos = split_videos(gt)
    samples = []
    nlab = len(gt['labels'])
    for v in videos:
        h, w = gt['resolution'][v]
        per_frame = {}
        for label, tubes in gt['gttubes'][v].items():
            for t in tubes:
                for r in t:
                    per_frame.setdefault(int(r[0]), []).append((label, r[1:5]))
        for f, items in sorted(per_frame.items()):
            boxes, scores = [], []
            for label, b in items:  # one row per (box, label): identical boxes merge
                for i, bb in enumerate(boxes):
                    if np.allclose(bb, b / [w, h, w, h]):
                        scores[i][label + 1] = 0.9
                        break
                else:
                    boxes.append(b / [w, h, w, h])
                    s = np.zeros(nlab + 1)
                    s[label + 1] = 0.9
                    scores.append(s)
            samples.append(dict(video_id=v, timestamp=f, pred_instances=dict(
                bboxes=torch.tensor(np.array(boxes)), scores=torch.tensor(np.array(scores)))))
    multi = VideoMAPMetric(ann, link_cfg=dict(min_len=1))
    multi.process(None, samples)
    res = multi.compute_metrics(multi.results)
    assert res['frameAP'] == pytest.approx(100.0)
    assert res['v_map@0.5'] == pytest.approx(100.0)
    arg = VideoMAPMetric(ann, label_mode='argmax', link_cfg=dict(min_len=1))
    arg.process(None, samples)
    res_arg = arg.compute_metrics(arg.results)
    has_multi = any((s['pred_instances']['scores'] > 0).sum(1).max() > 1 for s in samples)
    assert has_multi  # the synthetic pickle has multi-label boxes (walk + carry)
    assert res_arg['frameAP'] < 100.0


def test_metric_reproduces_stock_in_upstream_mode(multisports):
    from stadl_plugins.evaluation import VideoMAPMetric
    _, samples, _, _ = multisports
    m = VideoMAPMetric(shared('eval_multisports', 'gt.pkl'), background_class=False,
                       label_mode='argmax', upstream_bugs=True,
                       video_iou_thrs=(0.2, 0.5))
    m.process(None, samples)
    res = m.compute_metrics(m.results)
    assert res['frameAP'] == pytest.approx(83.6506, abs=1e-4)
    assert res['v_map@0.2'] == pytest.approx(37.5)
    assert res['v_map_0.1:0.9'] == pytest.approx(29.1667, abs=1e-4)
    fixed = VideoMAPMetric(shared('eval_multisports', 'gt.pkl'), background_class=False,
                           label_mode='argmax', video_iou_thrs=(0.5,))
    fixed.process(None, samples)
    assert fixed.compute_metrics(fixed.results)['v_map@0.5'] == pytest.approx(50.0)
