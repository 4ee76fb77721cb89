"""Start-up checks of the dataset inputs (issue 14, items 5 and 6): every bad file
built here gives a message naming the file and the row/key; every legitimate
drop or change is counted in ``summary()``. Also the runtime timeout, the
demo's short-read warning and NonFiniteCheckHook after the data preprocessor."""
import os
import os.path as osp
import pickle
import re
import shutil

import numpy as np
import pytest
from helpers import REPO, tiny_runner_config
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

from stadl_plugins.datasets.act_dataset import ACTFormatError
from stadl_plugins.datasets.ava_io import AVAFormatError

TRAIN_CLIP = [dict(type='SampleAVAFrames', clip_len=4, frame_interval=2)]
TEST_CLIP = [dict(type='SampleAVAFrames', clip_len=4, frame_interval=2,
                  test_mode=True)]


def ann(tiny_synthetic, name):
    return osp.join(tiny_synthetic[0], 'annotations', name)


def build(tiny_synthetic, **over):
    root, meta = tiny_synthetic
    cfg = dict(type='CheckedAVADataset', ann_file=ann(tiny_synthetic, 'train.csv'),
               exclude_file=ann(tiny_synthetic, 'train_excluded_timestamps.csv'),
               proposal_file=ann(tiny_synthetic, 'proposals_train.pkl'),
               label_file=ann(tiny_synthetic, 'label_map.pbtxt'), pipeline=[],
               data_prefix=dict(img=osp.join(root, 'rawframes')), fps=10,
               timestamp_start=900, timestamp_end=meta['timestamp_end'],
               num_classes=81, frame_check_cache=False, frame_check_progress=False)
    cfg.update(over)
    if cfg['type'] == 'AVADataset':
        for k in ('frame_check_cache', 'frame_check_progress'):
            cfg.pop(k)
    init_default_scope('mmaction')
    return DATASETS.build(cfg)


def csv_lines(tiny_synthetic):
    with open(ann(tiny_synthetic, 'train.csv')) as f:
        return f.read().splitlines()


def proposals(tiny_synthetic):
    with open(ann(tiny_synthetic, 'proposals_train.pkl'), 'rb') as f:
        return pickle.load(f)


def dump(obj, path):
    with open(path, 'wb') as f:
        pickle.dump(obj, f)
    return str(path)


def frames_copy(tiny_synthetic, tmp_path):
    dst = tmp_path / 'rawframes'
    shutil.copytree(osp.join(tiny_synthetic[0], 'rawframes'), dst)
    return dst


# ------------------------------------------------------------- proposal pickles
def test_proposals_not_a_dict(tiny_synthetic, tmp_path):
    path = dump(list(proposals(tiny_synthetic).values()), tmp_path / 'list.pkl')
    with pytest.raises(AVAFormatError, match=re.escape(path) + r': expected a dict '
                       r'.*got a list'):
        build(tiny_synthetic, proposal_file=path)


@pytest.mark.parametrize('value, problem', [
    (np.array([[0.1, 0.1, 0.5]], np.float32), r'shape \(1, 3\), expected \(N, 4\) '
     r'or \(N, 5\)'),
    (np.array([[0.1, 0.1, np.nan, 0.9, 0.9]], np.float32), 'row 0 is not finite'),
    (np.array([[12.0, 10.0, 80.0, 110.0, 0.9]], np.float32),
     r'row 0 box .* is not normalised to \[0, 1\] \(pixel coordinates'),
    (np.array([[0.6, 0.1, 0.5, 0.9, 0.9]], np.float32), 'has x1 >= x2 or y1 >= y2'),
    (np.array([['a', 'b', 'c', 'd']]), 'is not numeric'),
])
def test_invalid_proposal_arrays_name_file_and_key(value, problem, tiny_synthetic,
                                                   tmp_path):
    props = proposals(tiny_synthetic)
    props['syn_train_001,0904'] = value
    props['syn_train_000,0902'] = value
    path = dump(props, tmp_path / 'props.pkl')
    with pytest.raises(AVAFormatError) as err:
        build(tiny_synthetic, proposal_file=path)
    msg = str(err.value)
    assert msg.startswith(f'{path}: 2 key(s) with invalid proposals')
    assert "'syn_train_000,0902'" in msg and re.search(problem, msg), msg


# ---------------------------------------------------------- CSV / exclude file
def test_empty_csv_names_the_file(tiny_synthetic, tmp_path):
    path = tmp_path / 'empty.csv'
    path.write_text('\n')
    with pytest.raises(AVAFormatError, match=re.escape(f'{path}: no annotation rows')):
        build(tiny_synthetic, ann_file=str(path))


@pytest.mark.parametrize('line, message', [
    ('syn_train_000', 'expected 2 columns (video_id,timestamp), got 1'),
    ('syn_train_000,0902,x', 'expected 2 columns (video_id,timestamp), got 3'),
    ('syn_train_000,09o2', "timestamp '09o2' is not an integer"),
])
def test_malformed_exclude_file_names_file_and_line(line, message, tiny_synthetic,
                                                    tmp_path):
    path = tmp_path / 'excl.csv'
    path.write_text(f'syn_train_000,0901\n\n{line}\n')
    with pytest.raises(AVAFormatError, match=re.escape(f'{path}:3: {message}')):
        build(tiny_synthetic, exclude_file=str(path))


def test_exclusions_are_counted(tiny_synthetic, tmp_path):
    path = tmp_path / 'excl.csv'
    path.write_text('syn_train_000,0901\nsyn_train_001,0903\n')
    ds = build(tiny_synthetic, exclude_file=str(path))
    assert len(ds) == 8 and sorted(ds.excluded) == ['syn_train_000,0901',
                                                    'syn_train_001,0903']
    assert f'excluded by {path}: 2' in ds.summary()


def test_seven_column_rows_are_read_and_counted(tiny_synthetic, tmp_path):
    rows = csv_lines(tiny_synthetic)
    rows[0] = rows[0].rsplit(',', 1)[0]  # drop person_id
    path = tmp_path / 'seven.csv'
    path.write_text('\n'.join(rows) + '\n')
    with pytest.warns(UserWarning, match=r'7-column rows \(no person_id\): '
                      r'entity_id set to -1: 1'):
        ds = build(tiny_synthetic, ann_file=str(path))
    assert ds.changed == {
        '7-column rows (no person_id): entity_id set to -1': [f'{path}:1']}
    stock = build(tiny_synthetic)
    assert len(ds) == len(stock)
    info = ds.get_data_info(0)
    assert -1 in info['entity_ids'].tolist()
    # the stock parser crashes on the same file
    with pytest.raises(IndexError):
        build(tiny_synthetic, type='AVADataset', ann_file=str(path))


def test_rows_dropped_by_custom_classes_are_counted(tiny_synthetic):
    ds = build(tiny_synthetic, custom_classes=[12, 14], num_classes=3)
    dropped = ds.changed['rows whose action is not in custom_classes: dropped']
    rows = csv_lines(tiny_synthetic)
    kept = sum(int(r.split(',')[6]) in (12, 14) for r in rows)
    assert len(dropped) == len(rows) - kept
    assert 'rows whose action is not in custom_classes' in ds.summary()


# ----------------------------------------------------------------- frame files
@pytest.mark.parametrize('damage, problem, mode', [
    (lambda p: open(p, 'wb').close(), 'is empty (0 bytes)', 'quick'),
    (lambda p: open(p, 'r+b').truncate(os.path.getsize(p) // 2),
     'is truncated (no JPEG end-of-image marker FFD9)', 'quick'),
    (lambda p: open(p, 'wb').write(b'GIF89a not an image'),
     'cannot be decoded by OpenCV', 'quick'),
    (lambda p: os.remove(p), 'is missing', 'exists'),
])
def test_bad_frame_names_keyframe_and_file(damage, problem, mode, tiny_synthetic,
                                           tmp_path):
    frames = frames_copy(tiny_synthetic, tmp_path)
    victim = str(frames / 'syn_train_001' / 'img_00022.jpg')  # centre of 0902
    damage(victim)
    with pytest.raises(AVAFormatError) as err:
        build(tiny_synthetic, data_prefix=dict(img=str(frames)), pipeline=TEST_CLIP,
              check_frames=mode)
    msg = str(err.value)
    assert 'train.csv: 1 frame file(s) that clips read are missing or unreadable' \
        in msg
    assert f'keyframe syn_train_001,0902: frame file {victim} {problem}' in msg, msg


def test_corrupt_jpeg_data_needs_the_full_check(tiny_synthetic, tmp_path):
    frames = frames_copy(tiny_synthetic, tmp_path)
    victim = str(frames / 'syn_train_001' / 'img_00022.jpg')
    with open(victim, 'wb') as f:  # JPEG signature and end marker, garbage inside
        f.write(b'\xff\xd8\xff\xe0' + b'\x13' * 500 + b'\xff\xd9')
    build(tiny_synthetic, data_prefix=dict(img=str(frames)), pipeline=TEST_CLIP)
    with pytest.raises(AVAFormatError, match=re.escape(
            f'keyframe syn_train_001,0902: frame file {victim} cannot be decoded')):
        build(tiny_synthetic, data_prefix=dict(img=str(frames)), pipeline=TEST_CLIP,
              check_frames='full')


def test_frames_read_only_by_temporal_jitter_are_checked(tiny_synthetic, tmp_path):
    """SampleAVAFrames(4, 2) in training jitters every index by -1 or 0: a frame
    that only the jitter reaches is checked for training, not for testing."""
    from mmaction.datasets.transforms import SampleAVAFrames
    ds = build(tiny_synthetic, pipeline=TRAIN_CLIP, check_frames=False)
    assert 'frames NOT checked' in ds.summary()
    train_sets, test_sets = {}, {}
    sampler = SampleAVAFrames(4, 2)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        seen = set()
        for _ in range(200):  # the transform itself never reads outside the set
            seen |= set(sampler.transform(dict(info))['frame_inds'].tolist())
        assert seen == set(ds._frame_indices(info).tolist())
        train_sets.setdefault(info['frame_dir'], set()).update(seen)
        test_sets.setdefault(info['frame_dir'], set()).update(
            SampleAVAFrames(4, 2, test_mode=True).transform(dict(info))[
                'frame_inds'].tolist())
    frame_dir = sorted(train_sets)[0]
    only_jitter = sorted(train_sets[frame_dir] - test_sets[frame_dir])[0]
    frames = frames_copy(tiny_synthetic, tmp_path)
    victim = frames / osp.basename(frame_dir) / f'img_{only_jitter:05d}.jpg'
    victim.unlink()
    build(tiny_synthetic, data_prefix=dict(img=str(frames)), pipeline=TEST_CLIP)
    with pytest.raises(AVAFormatError, match=re.escape(f'{victim} is missing')):
        build(tiny_synthetic, data_prefix=dict(img=str(frames)), pipeline=TRAIN_CLIP)


def test_frame_check_cache(tiny_synthetic, tmp_path):
    frames = frames_copy(tiny_synthetic, tmp_path)
    cache = str(tmp_path / 'cache' / 'frames.json')
    kw = dict(data_prefix=dict(img=str(frames)), pipeline=TRAIN_CLIP,
              frame_check_cache=cache)
    first = build(tiny_synthetic, **kw).frame_check
    assert first['checked'] == first['files'] > 0 and first['cache'] == cache
    second = build(tiny_synthetic, **kw).frame_check
    assert second['checked'] == 0 and second['cached'] == first['files']
    full = build(tiny_synthetic, check_frames='full', **kw).frame_check
    assert full['checked'] == first['files']  # a stronger check is not cached yet
    victim = frames / 'syn_train_000' / 'img_00012.jpg'  # changed after caching
    with open(victim, 'r+b') as f:
        f.truncate(100)
    with pytest.raises(AVAFormatError, match=re.escape(f'{victim} is truncated')):
        build(tiny_synthetic, **kw)
    # an unwritable cache location: the check still runs, without a cache
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    shutil.copy(tmp_path / 'rawframes' / 'syn_train_001' / 'img_00011.jpg', victim)
    ds = build(tiny_synthetic, data_prefix=dict(img=str(frames)), pipeline=TRAIN_CLIP,
               frame_check_cache=str(blocker / 'sub' / 'c.json'))
    assert ds.frame_check['cache'] is None and 'cache: None' in ds.summary()


def test_summary_is_logged_with_the_counts(tiny_synthetic, tmp_path):
    ds = build(tiny_synthetic, pipeline=TRAIN_CLIP)
    text = ds.summary()
    assert text.startswith(f'CheckedAVADataset({ann(tiny_synthetic, "train.csv")}): '
                           '10 keyframes')
    assert 'frames checked (quick)' in text and 'below person_det_score_thr' in text


# -------------------------------------------------------------- AVATestDataset
def _test_set(tiny_synthetic, path):
    init_default_scope('mmaction')
    return DATASETS.build(dict(
        type='AVATestDataset', proposal_file=path, pipeline=[], fps=10,
        timestamp_min=901, timestamp_max=905, timestamp_start=900,
        timestamp_end=tiny_synthetic[1]['timestamp_end'],
        data_prefix=dict(img=osp.join(tiny_synthetic[0], 'rawframes'))))


def test_ava_test_dataset_skips_empty_proposal_arrays(tiny_synthetic, tmp_path):
    props = proposals(tiny_synthetic)
    props['syn_train_001,0904'] = np.zeros((0, 5), np.float32)
    path = dump(props, tmp_path / 'props.pkl')
    with pytest.warns(UserWarning, match=r"skipped empty proposal array: 1 "
                      r"\(\['syn_train_001,0904'\]\)"):
        ds = _test_set(tiny_synthetic, path)
    assert len(ds) == len(props) - 1
    for i in range(len(ds)):  # stock: max() arg is an empty sequence
        assert len(ds.get_data_info(i)['proposals'])
    props['syn_train_000,0903'] = np.array([[0.1, 0.1, 0.5, np.inf, 0.9]])
    path = dump(props, tmp_path / 'bad.pkl')
    with pytest.raises(AVAFormatError, match=re.escape(path) + r": 1 key\(s\) .*"
                       r"'syn_train_000,0903': row 0 is not finite"):
        _test_set(tiny_synthetic, path)


# ---------------------------------------------------------------- ACT datasets
def _act(root, gt_path=None, **kw):
    init_default_scope('mmaction')
    cfg = dict(type='ACTDetectionDataset',
               ann_file=gt_path or f'{root}/annotations/synthetic_gt.pkl',
               data_prefix=dict(img=f'{root}/rawframes'),
               filename_tmpl='img_{:05}.jpg', pipeline=[], gt_proposals=True)
    cfg.update(kw)
    return DATASETS.build(cfg)


def _gt(tiny_synthetic):
    with open(ann(tiny_synthetic, 'synthetic_gt.pkl'), 'rb') as f:
        return pickle.load(f)


def _edit_first_tube(gt, fn):
    video = gt['train_videos'][0][0]
    label = sorted(gt['gttubes'][video])[0]
    tube = np.array(gt['gttubes'][video][label][0], np.float64)
    gt['gttubes'][video][label][0] = fn(tube)
    return video, label


def test_act_label_minus_one_is_an_error(tiny_synthetic, tmp_path):
    gt = _gt(tiny_synthetic)
    video = gt['train_videos'][0][0]
    gt['gttubes'][video][-1] = gt['gttubes'][video].pop(sorted(gt['gttubes'][video])[0])
    path = dump(gt, tmp_path / 'gt.pkl')
    with pytest.raises(ACTFormatError, match=re.escape(
            f"{path}: gttubes['{video}'][-1]: label -1 is not an index into labels "
            f"(0..{len(gt['labels']) - 1})")):
        _act(tiny_synthetic[0], path)


@pytest.mark.parametrize('edit, message', [
    (lambda t: (t.__setitem__((2, 3), np.nan), t)[1], r'\[0\] row 2: not finite'),
    (lambda t: (t.__setitem__((2, slice(1, 5)), [50, 10, 20, 60]), t)[1],
     r'\[0\] row 2: inverted box \[50.0, 10.0, 20.0, 60.0\]'),
    (lambda t: (t.__setitem__((2, slice(1, 5)), [170, 10, 190, 60]), t)[1],
     r'\[0\] row 2: box \[170.0, 10.0, 190.0, 60.0\] has no area inside the '
     r'160x120 frame'),
    (lambda t: t[:, :4], r'\[0\]: shape \(\d+, 4\), expected \(n, 5\)'),
])
def test_act_bad_tube_rows_name_file_video_label_row(edit, message, tiny_synthetic,
                                                     tmp_path):
    gt = _gt(tiny_synthetic)
    video, label = _edit_first_tube(gt, edit)
    path = dump(gt, tmp_path / 'gt.pkl')
    with pytest.raises(ACTFormatError, match=re.escape(
            f"{path}: gttubes['{video}'][{label}]") + message):
        _act(tiny_synthetic[0], path)


def test_act_rows_outside_the_video_and_clipped_boxes_are_counted(tiny_synthetic,
                                                                 tmp_path):
    gt = _gt(tiny_synthetic)

    def edit(t):
        t = np.concatenate([t, [[61, 10, 10, 50, 50], [0, 10, 10, 50, 50]]])
        t[1, 3] = 170.0  # x2 beyond the 160 px width
        return t
    video, label = _edit_first_tube(gt, edit)
    path = dump(gt, tmp_path / 'gt.pkl')
    base = _act(tiny_synthetic[0])
    with pytest.warns(UserWarning, match="GT tube rows outside the video's frames "
                      r"1..nframes: dropped: 2 "):
        ds = _act(tiny_synthetic[0], path)
    outside = ds.changed["GT tube rows outside the video's frames 1..nframes: dropped"]
    where = f"{path}: gttubes['{video}'][{label}][0]"
    n = len(gt['gttubes'][video][label][0])
    assert outside == [f'{where} row {n - 2} (frame 61, nframes 60)',
                       f'{where} row {n - 1} (frame 0, nframes 60)']
    assert ds.changed['GT boxes reaching outside the frame: clipped to it'][0] \
        .startswith(f'{where} row 1 ')
    assert len(ds) == len(base)


@pytest.mark.parametrize('value, problem', [
    (np.array([[0.1, np.nan, 0.5, 0.9, 0.9]], np.float32), 'row 0 is not finite'),
    (np.array([[16.0, 12.0, 80.0, 100.0, 0.9]], np.float32),
     'row 0 box [16.0, 12.0, 80.0, 100.0] is not normalised to [0, 1] (pixel'),
])
def test_act_invalid_proposals_name_file_and_key(value, problem, tiny_synthetic,
                                                 tmp_path):
    gt = _gt(tiny_synthetic)
    v = gt['test_videos'][0][0]
    props = {f'{v},{f:05d}': np.array([[0.1, 0.1, 0.5, 0.9, 0.95]], np.float32)
             for f in range(1, 11)}
    props[f'{v},00004'] = value
    path = dump(props, tmp_path / 'props.pkl')
    with pytest.raises(ACTFormatError, match=re.escape(
            f"{path}: 1 key(s) with invalid proposals, e.g. '{v},00004': {problem}")):
        _act(tiny_synthetic[0], subset='test', test_mode=True, gt_proposals=False,
             proposal_file=path)


def test_act_empty_proposal_array_is_skipped_not_the_whole_frame(tiny_synthetic,
                                                                 tmp_path):
    gt = _gt(tiny_synthetic)
    v = gt['test_videos'][0][0]
    props = {f'{v},{f:05d}': np.array([[0.1, 0.1, 0.5, 0.9, 0.95]], np.float32)
             for f in range(1, gt['nframes'][v] + 1)}
    props[f'{v},00004'] = np.zeros((0, 5), np.float32)
    del props[f'{v},00007']
    path = dump(props, tmp_path / 'props.pkl')
    with pytest.warns(UserWarning, match=r'skipped empty proposal array: 1'):
        ds = _act(tiny_synthetic[0], subset='test', test_mode=True,
                  gt_proposals=False, proposal_file=path)
    assert ds.skipped == {'empty proposal array': [f'{v},00004']}
    assert ds.changed['frames without a proposal entry: the whole frame used as '
                      'proposal'] == [f'{v},00007']
    assert len(ds) == gt['nframes'][v] - 1 and ds.missing_proposals == 1


# ----------------------------------------------------------------- track files
def test_track_feature_lengths_must_match_the_tracks(tmp_path):
    from stadl_plugins.datasets.track_windows import read_track_features
    n, t = 3, 8
    good = dict(boxes=np.zeros((n, t, 4), np.float32),
                frames=np.tile(np.arange(1, t + 1), (n, 1)),
                lengths=np.full(n, t), labels=np.zeros((n, t), np.int64),
                feat_rgb=np.zeros((n, t, 2), np.float32))
    for name, over, message in [
        ('short', dict(lengths=np.full(2, t)), r'lengths has shape \(2,\) but the '
         r'file holds 3 tracks'),
        ('long', dict(lengths=np.array([t, t + 1, 2])), r'lengths\[1\] = 9 is outside '
         r'0..8'),
        ('pad', dict(lengths=np.array([2, 4, 2]),
                     frames=np.where(np.arange(t) < 2, 1, -1)[None].repeat(n, 0)),
         r'track 1 has padding \(frame -1\) within its lengths\[1\] = 4'),
    ]:
        path = str(tmp_path / f'{name}.npz')
        np.savez(path, **dict(good, **over))
        with pytest.raises(ValueError, match=re.escape(path) + ': ' + message):
            read_track_features(path, ['rgb'])


def test_track_pickle_with_inconsistent_track(tmp_path):
    from stadl_plugins.tracking.linking import load_tracks, save_tracks
    track = dict(frames=np.arange(5, 10), boxes=np.zeros((4, 4), np.float32),
                 scores=np.ones(5, np.float32), detected=np.ones(5, bool))
    path = str(tmp_path / 'tracks.pkl')
    save_tracks(path, {'vid': [track]})
    with pytest.raises(ValueError, match=re.escape(
            f"{path}: tracks['vid'][0]: boxes must be finite (5, 4)")):
        load_tracks(path)


def test_keyframe_proposals_in_pixels_are_refused():
    from stadl_plugins.tracking.linking import keyframe_proposals_to_frames
    with pytest.raises(AVAFormatError, match=r"p.pkl: 1 key\(s\) .*'v,0902'.*not "
                       'normalised'):
        keyframe_proposals_to_frames({'v,0902': np.array([[10., 10., 50., 90.]])},
                                     fps=10, timestamp_start=900, width=160,
                                     height=120, path='p.pkl')


# ---------------------------------------------------------------------- item 6
def test_every_config_has_a_distributed_timeout():
    import glob

    from mmengine.config import Config
    configs = [p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                                    recursive=True) if '_base_' not in p]
    assert configs
    for path in configs:
        cfg = Config.fromfile(path)
        assert cfg.env_cfg.dist_cfg.timeout == 900, path


def test_env_timeout_overrides_the_config(monkeypatch):
    import datetime

    from stadl_plugins.engine.distributed import _timeout_from_env
    monkeypatch.delenv('STADL_DIST_TIMEOUT', raising=False)
    assert _timeout_from_env(dict(timeout=5)) == dict(timeout=5)
    monkeypatch.setenv('STADL_DIST_TIMEOUT', '42')
    assert _timeout_from_env(dict(timeout=5))['timeout'] == \
        datetime.timedelta(seconds=42)


def test_short_read_warning_on_a_truncated_mjpg_avi(tmp_path):
    import cv2

    from stadl_plugins.apis.inference import VideoFrames, short_read_warning
    path = str(tmp_path / 'clip.avi')
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(40):
        w.write(rng.integers(0, 255, (48, 64, 3), np.uint8))
    w.release()
    frames = VideoFrames(path)
    assert short_read_warning(frames.info, sum(1 for _ in frames)) == ''
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    frames = VideoFrames(path)
    n = sum(1 for _ in frames)
    assert frames.info.num_frames == 40 and n < 30
    assert short_read_warning(frames.info, n).startswith(
        f'{path}: only {n} of the 40 frames the container reports could be decoded')


@pytest.mark.slow
def test_non_finite_normalised_inputs_stop_training(tiny_synthetic, tmp_path):
    """uint8 frames cannot hold NaN; a zero std makes the normalised input inf."""
    from mmengine.runner import Runner
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'inf', batch_size=2)
    cfg.model.data_preprocessor.std = [0.0, 57.12, 57.375]
    cfg.custom_hooks = [dict(type='NonFiniteCheckHook')]
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FloatingPointError, match=r'non-finite values \(NaN/inf\) in '
                       r'the normalised inputs \(after the data preprocessor '
                       r"ActionDataPreprocessor\) at iteration 1 \(batch: \['syn_"):
        runner.train()
