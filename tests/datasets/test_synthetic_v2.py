"""Synthetic benchmark v2 on tiny sizes: determinism, classes, pan, order pair, GT."""
import csv
import dataclasses
import glob
import hashlib
import os.path as osp
import pickle
from collections import Counter

import cv2
import numpy as np
import pytest

from stadl_plugins.datasets.ava_io import read_ava_csv, read_label_map
from stadl_plugins.datasets.synthetic import (
    MOVEMENTS,
    SHORT_ACTIONS,
    V2_CLASS_IDS,
    V2_CLASSES,
    SyntheticV2Config,
    SyntheticVideoV2,
    VideoConfigV2,
    dataset_ready_v2,
    generate_synthetic_v2,
)
from stadl_plugins.datasets.synthetic.v2 import ORDER_PAIRS, listen_geometry


def tiny_v2_config(seed=0, **video):
    v = dict(min_seconds=10, max_seconds=12)
    v.update(video)
    return SyntheticV2Config(seed=seed, num_train=3, num_val=2,
                             video=VideoConfigV2(**v))


def tree_digest(root):
    h = hashlib.sha256()
    for path in sorted(glob.glob(osp.join(root, '**', '*'), recursive=True)):
        if osp.isfile(path) and not path.endswith('meta.json'):
            h.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


@pytest.fixture(scope='module')
def tiny_v2(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_v2'))
    meta = generate_synthetic_v2(root, tiny_v2_config(), workers=1, progress=False)
    return root, meta


def test_same_seed_same_bytes_any_worker_count(tmp_path, tiny_v2):
    root, _ = tiny_v2
    again = str(tmp_path / 'again')
    generate_synthetic_v2(again, tiny_v2_config(), workers=2, progress=False)
    assert tree_digest(again) == tree_digest(root)
    other = str(tmp_path / 'other')
    generate_synthetic_v2(other, tiny_v2_config(seed=1), workers=1, progress=False)
    assert tree_digest(other) != tree_digest(root)
    assert dataset_ready_v2(root, tiny_v2_config())
    assert not dataset_ready_v2(root, tiny_v2_config(seed=3))


def test_default_sizes_and_v1_stays_the_cli_default():
    cfg = SyntheticV2Config()
    assert (cfg.num_train, cfg.num_val) == (240, 120)
    assert (cfg.video.min_seconds, cfg.video.max_seconds) == (30, 60)
    import inspect

    from stadl_plugins.datasets.synthetic.__main__ import main
    assert "default=1" in inspect.getsource(main)


def _keyframe_labels(video):
    for t in video.keyframe_frames():
        for ann in video.annotations(t):
            yield t, ann


def test_every_class_and_movement_occurs():
    counts, moves = Counter(), Counter()
    for seed in range(16):
        video = SyntheticVideoV2(VideoConfigV2(min_seconds=30, max_seconds=30), seed)
        for t, ann in _keyframe_labels(video):
            counts.update(ann.labels)
            moves[video.tracks[ann.person_id].movements[t]] += 1
    assert set(counts) == set(V2_CLASS_IDS), counts
    assert set(moves) == set(MOVEMENTS), moves


def test_every_class_in_tiny_files(tiny_v2):
    root, meta = tiny_v2
    ann = osp.join(root, 'annotations')
    assert read_label_map(osp.join(ann, 'label_map.pbtxt')) == {
        c: n for c, n, _ in V2_CLASSES}
    ids = {r.action_id for s in ('train', 'val')
           for r in read_ava_csv(osp.join(ann, f'{s}.csv'))}
    assert ids <= set(V2_CLASS_IDS.values())
    assert meta['counts']['train']['labels']['stand'] > 0


def test_camera_pan_is_always_on_and_moves_the_background():
    cfg = VideoConfigV2(min_seconds=8, max_seconds=8, noise_std=0.0)
    for seed in range(6):
        video = SyntheticVideoV2(cfg, seed)
        assert np.ptp(video.pan[:, 0]) >= 2 * cfg.pan_amplitude[0] * 0.5
        speeds = np.abs(np.diff(video.pan[:, 0]))
        assert speeds.max() > 0.3
        t = int(np.argmax(speeds[:-1]))
        _, flow = video.render(t, with_flow=True)
        # the most common flow vector is the background's: minus the pan step
        dx = np.round(flow[..., 0].ravel(), 4)
        vals, n = np.unique(dx, return_counts=True)
        assert vals[np.argmax(n)] == pytest.approx(video.pan[t, 0] - video.pan[t + 1, 0],
                                                   abs=1e-3)


def test_ground_truth_flow_explains_the_motion():
    cfg = VideoConfigV2(min_seconds=6, max_seconds=6, noise_std=0.0, keyframe_margin=1)
    video = SyntheticVideoV2(cfg, seed=5)
    errs_warp, errs_none = [], []
    h, w = cfg.height, cfg.width
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for t in range(0, video.num_frames - 1, 4):
        img0, flow = video.render(t, with_flow=True)
        img1, _ = video.render(t + 1, with_flow=False)
        warped = cv2.remap(img1.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1],
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inner = (slice(6, -6), slice(6, -6))
        errs_warp.append(np.median(np.abs(warped - img0)[inner]))
        errs_none.append(np.mean(np.abs(img1.astype(np.float32) - img0)[inner]))
    assert np.mean(errs_warp) < 0.25 * np.mean(errs_none)


def test_temporal_order_pair_has_the_same_sub_movements():
    cfg = VideoConfigV2(min_seconds=30, max_seconds=30)
    found = {name: [] for name in ORDER_PAIRS}
    for seed in range(12):
        video = SyntheticVideoV2(cfg, seed)
        tr = video.tracks[0]
        labels, moves = tr.labels, tr.movements
        t = 0
        while t < len(labels):
            if labels[t] in ORDER_PAIRS:
                e = t
                while e < len(labels) and labels[e] == labels[t]:
                    e += 1
                found[labels[t]].append(moves[t:e])
                # 2 s; the switch half-way, half-way between two keyframes
                assert e - t == 2 * cfg.fps
                assert moves[t:e] == [ORDER_PAIRS[labels[t]][0]] * cfg.fps + [
                    ORDER_PAIRS[labels[t]][1]] * cfg.fps
                assert (t + cfg.fps) % cfg.fps == cfg.fps // 2
                t = e
            else:
                t += 1
    a, b = found['sway_then_twirl'], found['twirl_then_sway']
    assert a and b
    # identical per-frame sub-movement sets, opposite order
    assert all(Counter(x) == Counter(a[0]) for x in a + b)
    assert a[0] == b[0][::-1]
    # a keyframe of an order action sees one sub-movement within +-0.5 s
    for seed in range(4):
        video = SyntheticVideoV2(cfg, seed)
        tr = video.tracks[0]
        for t in video.keyframe_frames():
            if tr.labels[t] in ORDER_PAIRS:
                assert len(set(tr.movements[t - 4:t + 5])) == 1


def _read(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_ground_truth_is_consistent_with_the_scene(tiny_v2):
    root, meta = tiny_v2
    cfg = SyntheticV2Config.from_dict(meta['config'])
    ann = osp.join(root, 'annotations')
    with open(osp.join(ann, 'synthetic_gt.pkl'), 'rb') as f:
        gt = pickle.load(f)
    with open(osp.join(ann, 'proposals_train.pkl'), 'rb') as f:
        props = pickle.load(f)
    names = {c: n for c, n, _ in V2_CLASSES}
    rows = read_ava_csv(osp.join(ann, 'train.csv'))
    moves = _read(osp.join(ann, 'movements_train.csv'))
    clips = _read(osp.join(ann, 'recognition_train.csv'))
    from stadl_plugins.datasets.synthetic.generator_v2 import video_seed_v2
    W, H = cfg.video.width, cfg.video.height
    for i in range(cfg.num_train):
        vid = f'syn2_train_{i:03d}'
        video = SyntheticVideoV2(cfg.video, video_seed_v2(cfg, i))
        assert meta['video_seconds'][vid] == video.seconds
        assert gt['nframes'][vid] == video.num_frames
        n = len(glob.glob(osp.join(root, 'rawframes', vid, '*.jpg')))
        assert n == video.num_frames
        mine = [r for r in rows if r.video_id == vid]
        assert {r.timestamp - 900 for r in mine} <= set(video.keyframe_seconds())
        for r in mine:
            t = (r.timestamp - 900) * cfg.video.fps
            tr = video.tracks[int(r.last)]
            name = names[r.action_id]
            a = next(a for a in video.annotations(t) if a.person_id == int(r.last))
            assert np.allclose(np.array(r.box) * [W, H, W, H], a.box, atol=0.1)
            assert name in a.labels
            if name == 'carry':
                assert tr.frames[t].obj is not None and tr.movements[t] == 'walk'
                ob = tr.frames[t].obj.x - video.pan[t, 0]
                assert not a.box[0] <= ob <= a.box[2]  # outside the box
            elif name == 'listen_to':
                assert tr.movements[t] == 'stand'
                assert any(listen_geometry(a.box, b.box, cfg.video.talk_gap)
                           and video.tracks[b.person_id].movements[t] == 'nod'
                           for b in video.annotations(t) if b is not a)
            elif name in ORDER_PAIRS:
                assert tr.active and tr.movements[t] in ORDER_PAIRS[name]
            else:
                assert tr.labels[t] == name
            key = f'{vid},{r.timestamp:04d}'
            assert len(props[key]) >= 1
        assert len([m for m in moves if m[0] == vid]) == len(
            {(r.timestamp, r.last) for r in mine})
        for m in moves:
            if m[0] == vid:
                assert m[6] == video.tracks[int(m[7])].movements[
                    (int(m[1]) - 900) * cfg.video.fps]
        for c in clips:
            if c[0] == vid:
                start, length, label = int(c[1]), int(c[2]), c[3]
                assert label in SHORT_ACTIONS
                assert 0 <= start and start + length <= video.num_frames
                assert label in video.tracks[0].labels[start:start + length]
                # distractors never perform a short action
                for tr in video.tracks[1:]:
                    assert not set(tr.labels[start:start + length]) & set(SHORT_ACTIONS)
        # tubes: one per maximal run, frames 1-based and inside the video
        for li, tubes in gt['gttubes'][vid].items():
            for tb in tubes:
                assert tb[0, 0] >= 1 and tb[-1, 0] <= video.num_frames
                assert (np.diff(tb[:, 0]) == 1).all()


def test_mannequins_are_never_annotated_nor_proposed():
    cfg = VideoConfigV2(min_seconds=20, max_seconds=20, mannequin_prob=1.0,
                        anchor_prob=1.0)
    seen = 0
    for seed in range(4):
        video = SyntheticVideoV2(cfg, seed)
        assert video.mannequins
        for spec, fr in video.mannequins:
            for t in video.keyframe_frames():
                mbox = fr.box(spec) - np.r_[video.pan[t], video.pan[t]]
                for a in video.annotations(t):
                    from stadl_plugins.structures.bbox import pairwise_iou
                    assert pairwise_iou(a.box, mbox)[0, 0] < 0.9
                seen += 1
    assert seen


def test_recognition_dataset_reads_clips(tiny_v2):
    from stadl_plugins.datasets.synthetic_recognition import SyntheticClipRecognitionDataset
    root, _ = tiny_v2
    ds = SyntheticClipRecognitionDataset(
        ann_file=osp.join(root, 'annotations', 'recognition_train.csv'),
        pipeline=[], data_prefix=dict(img=osp.join(root, 'rawframes')))
    assert len(ds) > 0
    item = ds.get_data_info(0)
    assert item['start_index'] >= 1 and item['label'] in range(len(SHORT_ACTIONS))
    assert item['total_frames'] == 30


def test_movement_frames_match_the_scene_and_the_backfill(tiny_v2, tmp_path):
    """``movement_frames_<split>.csv``: every frame of the keyframe range, boxes and
    movements as the scene has them, the runs of the same movement counted from the
    tracks; :func:`write_movement_frames` (for datasets generated before the file
    existed) writes the same bytes without rendering."""
    import shutil

    from stadl_plugins.datasets.synthetic.generator_v2 import (
        MOVEMENT_RUN_CAP,
        video_seed_v2,
        write_movement_frames,
    )
    root, meta = tiny_v2
    cfg = SyntheticV2Config.from_dict(meta['config'])
    ann = osp.join(root, 'annotations')
    rows = _read(osp.join(ann, 'movement_frames_train.csv'))
    W, H, fps = cfg.video.width, cfg.video.height, cfg.video.fps
    for i in range(cfg.num_train):
        vid = f'syn2_train_{i:03d}'
        video = SyntheticVideoV2(cfg.video, video_seed_v2(cfg, i))
        mine = [r for r in rows if r[0] == vid]
        lo = fps * cfg.video.keyframe_margin
        frames = sorted({int(r[1]) for r in mine})
        assert frames[0] == lo and frames[-1] == video.num_frames - lo - 1
        assert len(mine) == sum(len(video.annotations(t)) for t in frames)
        for r in mine[::7]:
            t, pid = int(r[1]), int(r[7])
            a = next(a for a in video.annotations(t) if a.person_id == pid)
            assert np.allclose(np.array(r[2:6], float) * [W, H, W, H], a.box, atol=0.1)
            mv = video.tracks[pid].movements
            assert r[6] == mv[t]
            before, after = int(r[8]), int(r[9])
            assert set(mv[t - before:t + after + 1]) == {mv[t]}
            if before < MOVEMENT_RUN_CAP:
                assert t - before == 0 or mv[t - before - 1] != mv[t]
            if after < MOVEMENT_RUN_CAP:
                assert t + after == video.num_frames - 1 or mv[t + after + 1] != mv[t]
    copy = str(tmp_path / 'copy')
    shutil.copytree(root, copy)
    for split in ('train', 'val'):
        os_path = osp.join(copy, 'annotations', f'movement_frames_{split}.csv')
        with open(os_path, 'w'):
            pass
    counts = write_movement_frames(copy, progress=False)
    for split in ('train', 'val'):
        name = f'annotations/movement_frames_{split}.csv'
        with open(osp.join(root, name), 'rb') as a, open(osp.join(copy, name), 'rb') as b:
            assert a.read() == b.read()
        assert counts[split] == len(_read(osp.join(root, name)))


def test_actor_clips_pure_keeps_single_movement_clips(tiny_v2, tmp_path):
    from stadl_plugins.datasets.synthetic_recognition import SyntheticActorClipDataset
    root, _ = tiny_v2
    ann = osp.join(root, 'annotations')
    prefix = dict(img=osp.join(root, 'rawframes'))
    path = osp.join(ann, 'movement_frames_train.csv')
    rows = _read(path)
    every = SyntheticActorClipDataset(path, pipeline=[], data_prefix=prefix)
    pure = SyntheticActorClipDataset(path, pipeline=[], data_prefix=prefix, pure=True,
                                     clip_len=8, frame_interval=1)
    assert len(every) == len(rows)
    assert len(pure) + pure.num_impure == len(rows) and 0 < len(pure) < len(rows)
    kept = {(r[0], int(r[1]), int(r[7])) for r in rows
            if int(r[8]) >= 4 and int(r[9]) >= 3}
    got = {(d['video_id'], d['item_start_index'] - 1 + 4, d['person_id'])
           for d in (pure.get_data_info(i) for i in range(len(pure)))}
    assert got == kept
    # a clip of 8 frames centred on frame t starts at t - 4 (0-based)
    d = every.get_data_info(0)
    assert d['start_index'] == int(rows[0][1]) - 4 + 1 and d['total_frames'] == 8
    with pytest.raises(ValueError, match='pure=True needs'):
        SyntheticActorClipDataset(osp.join(ann, 'movements_train.csv'), pipeline=[],
                                  data_prefix=prefix, pure=True)
    bad = tmp_path / 'bad.csv'
    bad.write_text('syn2_train_000,20,0.1,0.1,0.2,0.2,stand\n')
    with pytest.raises(ValueError, match=r'bad.csv:1: expected 8 columns'):
        SyntheticActorClipDataset(str(bad), pipeline=[], data_prefix=prefix)


def test_person_tracks_follow_the_scene(tiny_v2):
    """Tracks from movement_frames: one per visible run of each person, 1-based
    frames, pixel boxes equal to the scene's boxes (csv rounding: 3 decimals of
    the normalised coordinate, <= 0.5e-3 * 160 px)."""
    from stadl_plugins.datasets.synthetic.generator_v2 import video_seed_v2
    from stadl_plugins.datasets.synthetic.person_tracks import (
        person_tracks_from_movement_frames,
    )
    root, meta = tiny_v2
    cfg = SyntheticV2Config.from_dict(meta['config'])
    W, H = cfg.video.width, cfg.video.height
    path = osp.join(root, 'annotations', 'movement_frames_train.csv')
    tracks, report = person_tracks_from_movement_frames(path, W, H)
    assert report['rows'] == len(_read(path)) and report['dropped_short'] == 0
    for i in range(cfg.num_train):
        vid = f'syn2_train_{i:03d}'
        video = SyntheticVideoV2(cfg.video, video_seed_v2(cfg, i))
        assert tracks[vid], vid
        for tr in tracks[vid]:
            assert (np.diff(tr.frames) == 1).all()
            for t, box in zip(tr.frames[::7], tr.boxes[::7]):
                ann = {a.person_id: a.box for a in video.annotations(int(t) - 1)}
                np.testing.assert_allclose(box, ann[tr.track_id], atol=0.5e-3 * W + 1e-4)
        lo = cfg.video.fps * cfg.video.keyframe_margin
        pids = {a.person_id for a in video.annotations(lo)}
        assert pids <= {tr.track_id for tr in tracks[vid] if tr.frames[0] == lo + 1}


def test_person_tracks_split_drop_and_bad_rows(tmp_path):
    from stadl_plugins.datasets.synthetic.person_tracks import (
        person_tracks_from_movement_frames,
    )
    p = tmp_path / 'mf.csv'
    rows = ['v,0,0.1,0.2,0.3,0.4,stand,0,0,0', 'v,1,0.1,0.2,0.3,0.5,stand,0,0,0',
            'v,3,0.0,0.0,0.5,0.5,walk,0,0,0',               # gap: frames 0-1, 3
            'v,1,0.5,0.5,1.0,1.0,wave,2,0,0', 'w,5,0,0,1,1,stand,0,0,0']
    p.write_text('\n'.join(rows) + '\n')
    tracks, rep = person_tracks_from_movement_frames(str(p), 100, 50, min_length=2)
    assert rep == dict(rows=5, tracks=1, dropped_short=3, splits=1)
    (tr,) = tracks['v']
    assert tr.track_id == 0 and tr.frames.tolist() == [1, 2]
    np.testing.assert_allclose(tr.boxes, [[10, 10, 30, 20], [10, 10, 30, 25]])
    tracks, rep = person_tracks_from_movement_frames(str(p), 100, 50, videos=['w'])
    assert list(tracks) == ['w'] and tracks['w'][0].frames.tolist() == [6]
    p.write_text(rows[0] + '\nv,2,0.3,0.2,0.1,0.4,stand,0,0,0\n')
    with pytest.raises(ValueError, match=r'mf\.csv:2: .*x1 <= x2'):
        person_tracks_from_movement_frames(str(p), 100, 50)
    p.write_text(rows[0] + '\n' + rows[0] + '\n')
    with pytest.raises(ValueError, match=r'mf\.csv:2: person 0 .* twice'):
        person_tracks_from_movement_frames(str(p), 100, 50)
    p.write_text('v,0,0.1\n')
    with pytest.raises(ValueError, match=r'mf\.csv:1: expected 10 columns'):
        person_tracks_from_movement_frames(str(p), 100, 50)
    with pytest.raises(FileNotFoundError, match='movement_frames'):
        person_tracks_from_movement_frames(str(tmp_path / 'nope.csv'), 100, 50)


def test_movement_rows_one_reader_for_both_formats(tmp_path):
    from stadl_plugins.datasets.synthetic.movement_rows import read_movement_rows
    p = tmp_path / 'm.csv'
    p.write_text('v,902,0.1,0.2,0.3,0.4,spin,3\n\nv,5,0.1,0.2,0.3,0.4,walk,1,2,7\n')
    rows = list(read_movement_rows(str(p)))
    assert [(r.line, r.key, r.movement, r.person_id, r.same_before, r.same_after)
            for r in rows] == [(1, 902, 'spin', 3, None, None), (3, 5, 'walk', 1, 2, 7)]
    assert rows[0].box == (0.1, 0.2, 0.3, 0.4)
    with pytest.raises(ValueError, match=r'm\.csv:1: expected 10 columns'):
        list(read_movement_rows(str(p), columns=(10,)))
    for bad, msg in (('v,5,0.3,0.2,0.1,0.4,walk,1,2,7', 'x1 <= x2'),
                     ('v,-1,0.1,0.2,0.3,0.4,walk,1,2,7', '0-based frame'),
                     ('v,5,0.1,0.2,0.3,nan,walk,1,2,7', 'normalised box'),
                     ('v,5,0.1,0.2,0.3,0.4,walk,x,2,7', 'must be integers')):
        p.write_text('\n' + bad + '\n')
        with pytest.raises(ValueError, match=rf'm\.csv:2: .*{msg}'):
            list(read_movement_rows(str(p)))


def test_flow_pass_writes_the_generators_flows_and_loadflowgt_reads_them(tmp_path, tiny_v2):
    """write_flow_v2 on a dataset made without flow == the flows the generator writes
    with with_flow=True (layout 'frames'); the dataset's own bytes do not change."""
    from stadl_plugins.datasets.synthetic import flow_ready_v2
    from stadl_plugins.datasets.synthetic.__main__ import main
    from stadl_plugins.datasets.transforms import LoadFlowGT
    from stadl_plugins.structures import FlowFile
    root, _ = tiny_v2
    cfg = tiny_v2_config()
    assert not flow_ready_v2(root, cfg)
    with_flow = str(tmp_path / 'with_flow')
    generate_synthetic_v2(with_flow, dataclasses.replace(cfg, with_flow=True), workers=1,
                          progress=False)
    assert flow_ready_v2(with_flow, cfg)
    added = str(tmp_path / 'added')
    generate_synthetic_v2(added, cfg, workers=1, progress=False)
    before = tree_digest(added)
    main([added, '--flow-only', '--workers', '1'])
    assert flow_ready_v2(added, cfg) and not flow_ready_v2(added, tiny_v2_config(seed=1))
    # a manifest of another format version, or one that misses a video, is stale
    import json
    man_path = osp.join(added, 'flow', 'manifest.json')
    with open(man_path) as f:
        man = json.load(f)
    for bad in (dict(man, format_version='v2.0'),
                dict(man, flows={k: v for k, v in list(man['flows'].items())[1:]})):
        with open(man_path, 'w') as f:
            json.dump(bad, f)
        assert not flow_ready_v2(added, cfg)
    with open(man_path, 'w') as f:
        json.dump(man, f)
    assert flow_ready_v2(added, cfg)
    for path in sorted(glob.glob(osp.join(with_flow, 'flow', '*.npz'))):
        vid = osp.basename(path)[:-4]
        with FlowFile(path) as a, FlowFile(osp.join(added, 'flow', f'{vid}.npz')) as b:
            assert a.layout == b.layout == 'frames' and a.shape == b.shape
            assert a.shape[0] == len(glob.glob(osp.join(added, 'rawframes', vid, '*.jpg'))) - 1
            for t in range(0, a.shape[0], 7):
                np.testing.assert_array_equal(a[t], b[t])
    # the frames and annotations are those of the dataset without flow
    import shutil
    shutil.rmtree(osp.join(added, 'flow'))
    assert tree_digest(added) == before
    # LoadFlowGT composes the per-frame layout: 0-based frames 18 -> 20 -> 22
    shutil.copytree(osp.join(with_flow, 'flow'), osp.join(added, 'flow'))
    vid = 'syn2_train_000'
    res = dict(video_id=vid, frame_inds=np.array([19, 21, 23]), start_index=1,
               img_shape=(cfg.video.height, cfg.video.width))
    out = LoadFlowGT(osp.join(added, 'flow'), num_frames=3, frame_stride=1,
                     key='input_flow')(res)['input_flow']
    assert out.shape == (2, 2, cfg.video.height, cfg.video.width)
    from stadl_plugins.datasets.transforms import compose_flows
    with FlowFile(osp.join(added, 'flow', f'{vid}.npz')) as f:
        np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), compose_flows(f, 18, 20))
        np.testing.assert_allclose(out[1].permute(1, 2, 0).numpy(), compose_flows(f, 20, 22))
