"""The synthetic benchmark: deterministic, in the real formats, with exact flow."""
import glob
import hashlib
import json
import os.path as osp
import pickle

import cv2
import numpy as np
from helpers import tiny_synthetic_config

from stadl_plugins.datasets.ava_io import read_ava_csv, read_label_map
from stadl_plugins.datasets.synthetic import (
    CLASS_IDS,
    SYNTHETIC_CLASSES,
    SyntheticVideo,
    VideoConfig,
    dataset_ready,
    generate_synthetic,
)


def tree_digest(root):
    h = hashlib.sha256()
    for path in sorted(glob.glob(osp.join(root, '**', '*'), recursive=True)):
        if osp.isfile(path) and not path.endswith('meta.json'):
            h.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def test_same_seed_same_files_any_worker_count(tmp_path, tiny_synthetic):
    root, _ = tiny_synthetic
    again = str(tmp_path / 'again')
    generate_synthetic(again, tiny_synthetic_config(seed=0), workers=2, progress=False)
    assert tree_digest(again) == tree_digest(root)
    other = str(tmp_path / 'other')
    generate_synthetic(other, tiny_synthetic_config(seed=1), workers=1, progress=False)
    assert tree_digest(other) != tree_digest(root)


def test_dataset_ready_checks_parameters(tiny_synthetic):
    root, _ = tiny_synthetic
    assert dataset_ready(root, tiny_synthetic_config(seed=0))
    assert not dataset_ready(root, tiny_synthetic_config(seed=5))


def test_files_in_ava_and_act_formats(tiny_synthetic):
    root, meta = tiny_synthetic
    ann = osp.join(root, 'annotations')
    labels = read_label_map(osp.join(ann, 'label_map.pbtxt'))
    assert labels == {cid: name for cid, name, _ in SYNTHETIC_CLASSES}
    rows = read_ava_csv(osp.join(ann, 'train.csv'))  # validates every row
    assert rows and {r.action_id for r in rows} <= set(labels)
    assert all(901 <= r.timestamp <= 905 for r in rows)
    with open(osp.join(ann, 'proposals_train.pkl'), 'rb') as f:
        props = pickle.load(f)
    keys = {f'{r.video_id},{r.timestamp:04d}' for r in rows}
    assert keys <= set(props)
    for arr in props.values():
        assert arr.ndim == 2 and arr.shape[1] == 5 and arr.dtype == np.float32
        assert (arr[:, :4] >= 0).all() and (arr[:, :4] <= 1).all()
    with open(osp.join(ann, 'synthetic_gt.pkl'), 'rb') as f:
        gt = pickle.load(f)
    assert set(gt) == {'labels', 'gttubes', 'nframes', 'train_videos',
                       'test_videos', 'resolution'}
    assert gt['labels'] == [n for _, n, _ in SYNTHETIC_CLASSES]
    vid = gt['train_videos'][0][0]
    assert gt['nframes'][vid] == 60 and gt['resolution'][vid] == (120, 160)
    for tubes in gt['gttubes'][vid].values():
        for tube in tubes:
            frames = tube[:, 0]
            assert np.all(np.diff(frames) == 1) and frames.min() >= 1
    n_frames = len(glob.glob(osp.join(root, 'rawframes', vid, 'img_*.jpg')))
    assert n_frames == 60
    img = cv2.imread(osp.join(root, 'rawframes', vid, 'img_00001.jpg'))
    assert img.shape == (120, 160, 3)
    assert json.load(open(osp.join(ann, 'meta.json')))['timestamp_end'] == 906


def test_keyframe_labels_match_rendered_timeline():
    cfg = VideoConfig(seconds=6)
    video = SyntheticVideo(cfg, seed=123)
    for t in range(0, cfg.num_frames, cfg.fps):
        for ann in video.annotations(t):
            frame = video.tracks[ann.person_id].frames[t]
            assert frame.action in ann.labels
            assert ('carry' in ann.labels) == frame.carry


def test_segments_never_change_near_a_keyframe():
    cfg = VideoConfig(seconds=8)
    for seed in range(5):
        video = SyntheticVideo(cfg, seed=seed)
        for tr in video.tracks:
            for seg in tr.spec.segments[1:]:
                dist = min(abs(seg.start - k * cfg.fps) for k in range(cfg.seconds + 1))
                assert dist >= cfg.fps // 2 - 1


def _warp_back(next_img, flow):
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(next_img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def test_ground_truth_flow_explains_the_motion():
    cfg = VideoConfig(seconds=3, noise_std=0.0, pan_prob=1.0, max_actors=3)
    video = SyntheticVideo(cfg, seed=7)
    errs_warp, errs_none = [], []
    for t in range(0, cfg.num_frames - 1, 3):
        img0, flow = video.render(t, with_flow=True)
        img1, _ = video.render(t + 1, with_flow=False)
        assert flow.shape == (cfg.height, cfg.width, 2)
        warped = _warp_back(img1.astype(np.float32), flow)
        # ignore a border where content enters the frame and disocclusions
        inner = (slice(4, -4), slice(4, -4))
        errs_warp.append(np.median(np.abs(warped - img0)[inner]))
        errs_none.append(np.mean(np.abs(img1.astype(np.float32) - img0)[inner]))
    assert np.mean(errs_warp) < 0.25 * np.mean(errs_none)
    assert np.mean(errs_warp) < 3.0


def test_flow_files_written(tiny_synthetic):
    root, _ = tiny_synthetic
    flow = np.load(osp.join(root, 'flow', 'syn_train_000.npz'))['flow']
    assert flow.shape == (59, 120, 160, 2) and flow.dtype == np.float16
    assert np.isfinite(flow.astype(np.float32)).all()


def test_every_class_occurs_in_default_sized_data():
    # the default generator parameters produce every class, walk+carry multi-label
    counts = {n: 0 for n in CLASS_IDS}
    multi = 0
    for seed in range(12):
        video = SyntheticVideo(VideoConfig(), seed=seed)
        for t in range(10, 120, 10):
            for ann in video.annotations(t):
                for n in ann.labels:
                    counts[n] += 1
                multi += len(ann.labels) > 1
    assert all(c > 0 for c in counts.values()), counts
    assert multi > 0


def test_proposals_never_empty_where_there_are_people(tiny_synthetic):
    root, _ = tiny_synthetic
    rows = read_ava_csv(osp.join(root, 'annotations', 'val.csv'))
    with open(osp.join(root, 'annotations', 'proposals_val.pkl'), 'rb') as f:
        props = pickle.load(f)
    for key in {f'{r.video_id},{r.timestamp:04d}' for r in rows}:
        assert len(props[key]) >= 1


def test_make_proposals_keeps_one_person_even_at_zero_recall():
    from stadl_plugins.datasets.synthetic.video import make_proposals
    rng = np.random.default_rng(0)
    gts = [np.array([10., 10., 40., 80.]), np.array([60., 20., 90., 100.])]
    for _ in range(20):
        p = make_proposals(rng, gts, 160, 120, recall=0.0, fp_rate=0.0)
        assert len(p) == 1 and p[0, 4] >= 0.9
