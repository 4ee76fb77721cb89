"""Greedy online IoU linking of person boxes into tracks; track files."""
import numpy as np
import pytest

from stadl_plugins.structures.bbox import paired_iou
from stadl_plugins.tracking.linking import (
    keyframe_proposals_to_frames,
    link_person_boxes,
    load_tracks,
    save_tracks,
    tracks_to_arrays,
)


def test_hand_made_two_people_with_gap():
    dets = {}
    for f in range(1, 31):
        a = [10 + f, 10, 30 + f, 50, 0.9]           # walks right
        b = [100, 10 + f, 120, 50 + f, 0.8]         # walks down
        dets[f] = np.array([a, b] if f not in (12, 13) else [b], np.float32)  # a missed twice
    dets[20] = np.vstack([dets[20], [[200, 200, 210, 210, 0.5]]])  # a 1-frame false positive
    tracks = link_person_boxes(dets, iou_thr=0.3, max_gap=2, min_length=5)
    assert len(tracks) == 2
    ta = next(t for t in tracks if t['boxes'][0, 0] == 11)
    np.testing.assert_array_equal(ta['frames'], np.arange(1, 31))
    assert not ta['detected'][11] and not ta['detected'][12] and ta['detected'].sum() == 28
    np.testing.assert_allclose(ta['boxes'][11], [22, 10, 42, 50])  # interpolated frame 12
    assert ta['scores'][11] == 0 and ta['scores'][0] == pytest.approx(0.9)
    # a gap longer than max_gap splits the track
    short = link_person_boxes(dets, iou_thr=0.3, max_gap=1, min_length=5)
    assert len(short) == 3


def _synthetic_actor_boxes(index):
    from stadl_plugins.datasets.synthetic import SyntheticConfig
    from stadl_plugins.datasets.synthetic.generator import _video_seed
    from stadl_plugins.datasets.synthetic.video import SyntheticVideo, VideoConfig
    cfg = SyntheticConfig(seed=7, video=VideoConfig(seconds=6))  # geometry only, no rendering
    video = SyntheticVideo(cfg.video, _video_seed(cfg, index))
    actors = {}
    for t in range(cfg.video.num_frames):
        for a in video.annotations(t):
            actors.setdefault(a.person_id, {})[t + 1] = np.asarray(a.box, np.float32)
    return actors


def test_tracks_recover_synthetic_actors_from_jittered_boxes():
    rng = np.random.default_rng(0)
    recovered, total = 0, 0
    for index in range(4):
        actors = _synthetic_actor_boxes(index)
        dets = {}
        for pid, boxes in actors.items():
            for f, b in boxes.items():
                if rng.random() < 0.1:  # missed detection
                    continue
                wh = np.r_[b[2:] - b[:2], b[2:] - b[:2]]
                jit = b + rng.normal(0, 0.04, 4) * wh
                dets.setdefault(f, []).append([*jit, rng.uniform(0.8, 1)])
        tracks = link_person_boxes({f: np.array(d) for f, d in dets.items()},
                                   iou_thr=0.3, max_gap=5, min_length=10)
        for pid, boxes in actors.items():
            if len(boxes) < 10:
                continue
            total += 1
            frames = np.array(sorted(boxes))
            gt = np.stack([boxes[f] for f in frames])
            best = 0.0  # fraction of the actor's frames covered by one track at IoU > 0.5
            for t in tracks:
                common, ia, ib = np.intersect1d(frames, t['frames'], return_indices=True)
                ok = paired_iou(gt[ia], t['boxes'][ib]) > 0.5
                best = max(best, ok.sum() / len(frames))
            recovered += best > 0.9
        # no track jumps between actors: each row of a track matches its main actor
        for t in tracks:
            votes = {pid: sum(f in b and paired_iou(b[f][None], t['boxes'][k][None])[0] > 0.5
                              for k, f in enumerate(t['frames']))
                     for pid, b in actors.items()}
            assert max(votes.values()) >= 0.9 * len(t['frames'])
    assert total >= 6 and recovered == total


def test_save_load_and_arrays(tmp_path):
    dets = {f: np.array([[f, 0, f + 10, 10]], np.float32) for f in range(5, 25)}
    tracks = {'v1': link_person_boxes(dets, min_length=3), 'v2': []}
    path = str(tmp_path / 'tracks.pkl')
    save_tracks(path, tracks, dict(iou_thr=0.3))
    back = load_tracks(path)
    np.testing.assert_array_equal(back['v1'][0]['boxes'], tracks['v1'][0]['boxes'])
    boxes, lengths, starts, videos, index = tracks_to_arrays(back)
    assert boxes.shape == (1, 20, 4) and lengths.tolist() == [20] and starts.tolist() == [5]
    assert videos == ['v1'] and index == [('v1', 0)]
    import pickle
    with open(path, 'wb') as f:
        pickle.dump({'tracks': {}}, f)
    with pytest.raises(ValueError, match='not a person-track file'):
        load_tracks(path)


def test_keyframe_proposals_and_bad_input():
    props = {'syn_val_000,0902': np.array([[0.1, 0.2, 0.3, 0.4, 0.95]], np.float32)}
    fr = keyframe_proposals_to_frames(props, fps=10, timestamp_start=900, width=160, height=120)
    np.testing.assert_allclose(fr['syn_val_000'][21], [[16, 24, 48, 48, 0.95]], rtol=1e-6)
    with pytest.raises(ValueError, match=r'\(n, 4\) or \(n, 5\)'):
        link_person_boxes({1: np.zeros((2, 3))})
