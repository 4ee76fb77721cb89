"""The one track type (stadl_plugins.structures.track.Track): rows, queries,
interpolation, the dict format, and its use by linking, the online tracker and
the track pickles."""
import pickle

import numpy as np
import pytest

from stadl_plugins.structures import Track


def _three_rows():
    t = Track(track_id=7, label='walk')
    t.append(3, [0, 0, 10, 20], 0.5)
    t.append(4, np.array([2, 0, 12, 20], np.float64), 0.75)
    t.append(7, (8, 0, 18, 20))
    return t


def test_append_builds_the_columns():
    t = _three_rows()
    assert len(t) == 3 and (t.start, t.end, t.span) == (3, 7, 5)
    assert not t.is_gap_free
    assert t.frames.dtype == np.int64 and t.frames.tolist() == [3, 4, 7]
    assert t.boxes.dtype == np.float32 and t.boxes.shape == (3, 4)
    np.testing.assert_array_equal(t.boxes[1], [2, 0, 12, 20])
    np.testing.assert_array_equal(t.scores, np.float32([0.5, 0.75, 1.0]))
    assert t.detected.tolist() == [True, True, True] and t.class_scores is None
    np.testing.assert_array_equal(t.last_box, [8, 0, 18, 20])
    assert t.last_score == 1.0 and t.box is not None and t.score == t.last_score
    # rows appended after the arrays were read are added to them
    t.append(8, [9, 0, 19, 20], 0.25)
    assert (t.end, t.span, len(t)) == (8, 6, 4) and t.last_score == 0.25
    np.testing.assert_array_equal(t.last_box, [9, 0, 19, 20])
    with pytest.raises(ValueError, match='frame 8 after 8'):
        t.append(8, [0, 0, 1, 1])
    assert t.frames.tolist() == [3, 4, 7, 8]
    assert t.scores.tolist() == [0.5, 0.75, 1.0, 0.25]


def test_frames_must_increase_and_columns_match():
    t = _three_rows()
    with pytest.raises(ValueError, match='frames must increase: frame 7 after 7'):
        t.append(7, [0, 0, 1, 1])
    with pytest.raises(ValueError, match='strictly increasing'):
        Track([1, 3, 2], np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r'boxes must have shape \(2, 4\)'):
        Track([1, 2], np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r'scores must have shape \(2\)'):
        Track([1, 2], np.zeros((2, 4)), scores=[1.0])
    with pytest.raises(ValueError, match='the track is empty'):
        Track().start  # noqa: B018
    # class scores: for every row or for none
    c = Track()
    c.append(1, [0, 0, 1, 1], class_scores=[0.1, 0.9])
    with pytest.raises(ValueError, match='class_scores of length 2, got None'):
        c.append(2, [0, 0, 1, 1])
    with pytest.raises(ValueError, match='class_scores of length 2, got 3'):
        c.append(2, [0, 0, 1, 1], class_scores=[0, 0, 1])
    with pytest.raises(ValueError, match='has no class_scores'):
        t.append(9, [0, 0, 1, 1], class_scores=[1.0])
    c.append(2, [0, 0, 1, 1], class_scores=[0.3, 0.7])
    np.testing.assert_allclose(c.class_scores, [[0.1, 0.9], [0.3, 0.7]])


def test_box_at_and_index_of():
    t = _three_rows()
    np.testing.assert_array_equal(t.box_at(4), [2, 0, 12, 20])
    assert t.index_of(7) == 2 and t.index_of(5) is None and t.box_at(5) is None
    assert t.box_at(2) is None and t.box_at(100) is None


def test_interpolated_fills_the_gaps():
    t = _three_rows()
    full = t.interpolated()
    assert full.is_gap_free and full.frames.tolist() == [3, 4, 5, 6, 7]
    np.testing.assert_allclose(full.boxes[2], [4, 0, 14, 20])   # 1/3 from 4 to 7
    np.testing.assert_allclose(full.boxes[3], [6, 0, 16, 20])
    np.testing.assert_array_equal(full.boxes[[0, 1, 4]], t.boxes)
    assert full.detected.tolist() == [True, True, False, False, True]
    np.testing.assert_array_equal(full.scores, np.float32([0.5, 0.75, 0, 0, 1]))
    assert (full.track_id, full.label) == (7, 'walk')
    assert full.boxes.dtype == np.float32 and len(t) == 3  # the original is kept
    c = Track([1, 3], [[0, 0, 2, 2], [2, 0, 4, 2]], class_scores=[[1, 0], [0, 1]])
    np.testing.assert_array_equal(c.interpolated().class_scores, [[1, 0], [0, 0], [0, 1]])


def test_keep_last_bounds_the_rows():
    t = _three_rows()
    t.keep_last(2)
    assert t.frames.tolist() == [4, 7] and t.start == 4 and t.scores.tolist() == [0.75, 1.0]
    t.keep_last(5)
    assert len(t) == 2
    with pytest.raises(ValueError, match='n >= 1'):
        t.keep_last(0)


def test_dict_format_round_trip_and_dict_access(tmp_path):
    t = _three_rows()
    d = t.to_dict()
    assert list(d) == ['frames', 'boxes', 'scores', 'detected', 'track_id', 'label']
    back = Track.from_dict(pickle.loads(pickle.dumps(d)))
    for key in ('frames', 'boxes', 'scores', 'detected'):
        np.testing.assert_array_equal(back[key], d[key])
        assert back[key].dtype == d[key].dtype
    assert (back.track_id, back.label) == (7, 'walk')
    # a track reads like its dict
    assert t['frames'] is t.frames and 'scores' in t and 'class_scores' not in t
    assert t.get('class_scores', 'none') == 'none' and sorted(dict(t)) == sorted(d)
    assert set(t) == set(d)
    with pytest.raises(KeyError):
        t['nope']
    with pytest.raises(TypeError, match='indexed by its dict keys'):
        t[0]
    # optional keys default; missing required ones are named
    bare = Track.from_dict(dict(frames=[5, 6], boxes=np.zeros((2, 4))))
    assert bare.scores.tolist() == [1, 1] and bare.detected.all() and bare.track_id is None
    with pytest.raises(ValueError, match=r"missing \['boxes'\]"):
        Track.from_dict(dict(frames=[1]))
    assert Track.coerce(t) is t and isinstance(Track.coerce(d), Track)
    assert repr(t) == "Track(3 rows, frames 3..7, track_id=7, label='walk')"


def test_the_track_of_linking_the_online_tracker_and_track_files(tmp_path):
    from stadl_plugins.apis.person_detectors import Track as ApisTrack
    from stadl_plugins.tracking import linking, online
    assert online.Track is Track and ApisTrack is Track
    dets = {f: np.array([[f, 0, f + 10, 10, 0.9]], np.float32)
            for f in range(1, 12) if f not in (4, 5)}
    (tr,) = linking.link_person_boxes(dets, min_length=3)
    assert isinstance(tr, Track) and tr.is_gap_free and tr.frames.tolist() == list(range(1, 12))
    assert tr.detected.sum() == 9 and tr.scores[3] == 0
    path = str(tmp_path / 'tracks.pkl')
    linking.save_tracks(path, {'v': [tr]})
    with open(path, 'rb') as f:
        assert type(pickle.load(f)['tracks']['v'][0]) is dict  # the file holds dicts
    (back,) = linking.load_tracks(path)['v']
    assert isinstance(back, Track)
    np.testing.assert_array_equal(back.boxes, tr.boxes)
    tracker = online.IoUTracker(min_hits=1, smoothing=1.0, max_history=2)
    for f in (10, 13, 16):
        (act,) = tracker.update(np.array([[f, 0, f + 10, 10, 0.8]]), frame=f)
    assert isinstance(act, Track) and act.track_id == 1
    assert act.frames.tolist() == [13, 16]  # the last max_history rows
    np.testing.assert_array_equal(act.box, [16, 0, 26, 10])
