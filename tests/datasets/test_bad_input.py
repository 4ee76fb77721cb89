"""Bad input -> a clear error naming the file and the row/key (CheckedAVADataset,
ava_io); legitimate skips are counted and reported; NaN/inf inputs or losses stop
training (NonFiniteCheckHook) with the iteration and the batch keys, before the
weights are touched."""
import os
import os.path as osp
import pickle
import re
import shutil

import numpy as np
import pytest
import torch
from helpers import tiny_runner_config
from mmaction.registry import DATASETS
from mmengine.runner import Runner

from stadl_plugins.datasets.ava_io import AVAFormatError, read_ava_csv
from stadl_plugins.registry import TRANSFORMS


def build(tiny_synthetic, **over):
    root, meta = tiny_synthetic
    ann = osp.join(root, 'annotations')
    cfg = dict(type='CheckedAVADataset', ann_file=osp.join(ann, 'train.csv'),
               exclude_file=osp.join(ann, 'train_excluded_timestamps.csv'),
               proposal_file=osp.join(ann, 'proposals_train.pkl'),
               label_file=osp.join(ann, 'label_map.pbtxt'), pipeline=[],
               data_prefix=dict(img=osp.join(root, 'rawframes')), fps=10,
               timestamp_start=900, timestamp_end=meta['timestamp_end'],
               num_classes=81)
    cfg.update(over)
    return DATASETS.build(cfg)


def lines(tiny_synthetic, name='train.csv'):
    with open(osp.join(tiny_synthetic[0], 'annotations', name)) as f:
        return f.read().splitlines()


def write(tmp_path, rows, name='bad.csv'):
    path = str(tmp_path / name)
    with open(path, 'w') as f:
        f.write('\n'.join(rows) + '\n')
    return path


def test_good_input_builds_like_stock(tiny_synthetic):
    ds = build(tiny_synthetic)
    stock = build(tiny_synthetic, type='AVADataset')
    assert len(ds) == len(stock) == 10 and ds.skipped == {}


@pytest.mark.parametrize('edit, message', [
    (lambda r: r.rsplit(',', 1)[0] + ',1,2', 'expected 7 or 8 columns'),
    (lambda r: r.replace(',0.', ',zero.', 1), 'non-numeric field'),
    (lambda r: ','.join(r.split(',')[:2] + ['1.5'] + r.split(',')[3:]),
     'not normalised to [0, 1]'),
    (lambda r: ','.join(r.split(',')[:2] + ['0.9', r.split(',')[3], '0.5']
                        + r.split(',')[5:]), 'x1 >= x2'),
])
def test_malformed_csv_row_names_file_and_line(edit, message, tiny_synthetic,
                                               tmp_path):
    rows = lines(tiny_synthetic)
    rows[3] = edit(rows[3])
    path = write(tmp_path, rows)
    with pytest.raises(AVAFormatError, match=re.escape(message)) as err:
        build(tiny_synthetic, ann_file=path)
    assert f'{path}:4:' in str(err.value)
    with pytest.raises(AVAFormatError):
        read_ava_csv(path)


def test_timestamp_outside_the_video(tiny_synthetic, tmp_path):
    rows = lines(tiny_synthetic)
    parts = rows[2].split(',')
    parts[1] = '0950'
    rows[2] = ','.join(parts)
    path = write(tmp_path, rows)
    with pytest.raises(AVAFormatError, match='row 3 .*timestamp 950 is outside'):
        build(tiny_synthetic, ann_file=path)


def test_missing_frame_file_names_the_path(tiny_synthetic, tmp_path):
    root = tiny_synthetic[0]
    frames = tmp_path / 'rawframes'
    shutil.copytree(osp.join(root, 'rawframes'), frames)
    victim = frames / 'syn_train_001' / 'img_00021.jpg'  # keyframe 0902 at 10 fps
    victim.unlink()
    with pytest.raises(AVAFormatError, match=r'syn_train_001,0902.*img_00021.jpg'):
        build(tiny_synthetic, data_prefix=dict(img=str(frames)))


def _proposals(tiny_synthetic):
    with open(osp.join(tiny_synthetic[0], 'annotations', 'proposals_train.pkl'),
              'rb') as f:
        return pickle.load(f)


def test_proposals_missing_for_a_keyframe(tiny_synthetic, tmp_path):
    props = _proposals(tiny_synthetic)
    del props['syn_train_000,0903']
    path = str(tmp_path / 'props.pkl')
    with open(path, 'wb') as f:
        pickle.dump(props, f)
    with pytest.raises(AVAFormatError, match=r'props.pkl: no proposals .*0903'):
        build(tiny_synthetic, proposal_file=path)


def test_empty_proposal_array_is_skipped_and_reported(tiny_synthetic, tmp_path):
    props = _proposals(tiny_synthetic)
    props['syn_train_001,0904'] = np.zeros((0, 5), np.float32)
    path = str(tmp_path / 'props.pkl')
    with open(path, 'wb') as f:
        pickle.dump(props, f)
    with pytest.warns(UserWarning, match=r'empty proposal array: 1 .*0904'):
        ds = build(tiny_synthetic, proposal_file=path)
    assert len(ds) == 9
    assert ds.skipped == {'empty proposal array': ['syn_train_001,0904']}


def test_label_map_vs_num_classes(tiny_synthetic):
    # ids up to 79 in the label map cannot be evaluated with 60 classes (#1086)
    with pytest.raises(AVAFormatError, match='label id 79 does not fit '
                       'num_classes=60'):
        build(tiny_synthetic, num_classes=60)


def test_action_id_not_in_label_map(tiny_synthetic, tmp_path):
    rows = lines(tiny_synthetic)
    parts = rows[5].split(',')
    parts[6] = '33'
    rows[5] = ','.join(parts)
    path = write(tmp_path, rows)
    with pytest.raises(AVAFormatError, match='row 6: action id 33 is not in the '
                       'label map'):
        build(tiny_synthetic, ann_file=path)


def test_custom_classes_not_in_label_map(tiny_synthetic):
    with pytest.raises(AVAFormatError, match=r'custom_classes \[5\] are not in'):
        build(tiny_synthetic, custom_classes=[4, 5], num_classes=3)
    with pytest.raises(AVAFormatError, match='num_classes=81 but custom_classes'):
        build(tiny_synthetic, custom_classes=[4, 7])


@TRANSFORMS.register_module(force=True)
class PoisonFramesForTest:
    """Test helper: float frames with one NaN pixel (a corrupt decode)."""

    def __call__(self, results):
        imgs = [np.asarray(i, np.float32) for i in results['imgs']]
        imgs[0][0, 0, 0] = np.nan
        results['imgs'] = imgs
        return results


def poisoned_runner(tiny_synthetic, tmp_path, **hook):
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'nan', batch_size=2)
    pipe = list(cfg.train_dataloader.dataset.pipeline)
    at = [i for i, t in enumerate(pipe) if t.type == 'RawFrameDecode'][0] + 1
    pipe.insert(at, dict(type='PoisonFramesForTest'))
    cfg.train_dataloader.dataset.pipeline = pipe
    cfg.custom_hooks = [dict(type='NonFiniteCheckHook', **hook)]
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return Runner.from_cfg(cfg)


@pytest.mark.slow
def test_nan_inputs_stop_with_iteration_and_keys(tiny_synthetic, tmp_path):
    runner = poisoned_runner(tiny_synthetic, tmp_path)
    with pytest.raises(FloatingPointError,
                       match=r"inputs at iteration 1 \(batch: \['syn_train_00"):
        runner.train()


@pytest.mark.slow
def test_nan_loss_stops_before_the_update(tiny_synthetic, tmp_path):
    runner = poisoned_runner(tiny_synthetic, tmp_path, check_inputs=False)
    with pytest.raises(FloatingPointError,
                       match=r"non-finite loss \(nan\) at iteration 1 "
                       r"\(batch: \['syn_train_00"):
        runner.train()
    model = runner.model
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all(), name  # the NaN step never reached them
        assert p.grad is None or torch.isfinite(p.grad).all()


def _videos(tiny_synthetic, tmp_path, corrupt):
    """One mp4 per training video id (written with OpenCV), one of them corrupt."""
    import cv2
    vids = tmp_path / 'videos'
    vids.mkdir(parents=True)
    for vid in ('syn_train_000', 'syn_train_001'):
        path = str(vids / f'{vid}.mp4')
        if vid == corrupt:
            with open(path, 'wb') as f:
                f.write(b'\x00\x00\x00\x18ftypmp42' + b'garbage' * 100)
            continue
        w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 10, (32, 24))
        for _ in range(5):
            w.write(np.zeros((24, 32, 3), np.uint8))
        w.release()
    return str(vids)


def test_corrupt_video_file_names_the_file(tiny_synthetic, tmp_path):
    good = _videos(tiny_synthetic, tmp_path / 'ok', corrupt=None)
    assert len(build(tiny_synthetic, use_frames=False,
                     data_prefix=dict(img=good))) == 10
    vids = _videos(tiny_synthetic, tmp_path, corrupt='syn_train_001')
    with pytest.raises(AVAFormatError, match=r'syn_train_001.mp4 cannot be decoded'):
        build(tiny_synthetic, use_frames=False, data_prefix=dict(img=vids))
    os.remove(osp.join(vids, 'syn_train_001.mp4'))
    with pytest.raises(AVAFormatError, match=r'video file .*syn_train_001\[.ext\] '
                       'is missing'):
        build(tiny_synthetic, use_frames=False, data_prefix=dict(img=vids))


def test_quickstart_config_names_a_label_map_that_does_not_fit(tiny_synthetic,
                                                               tmp_path):
    """Checks are on in the shipped configs: with the quickstart config as it is, a
    label map with an id >= num_classes names the file and the fix (it used to be
    a bare IndexError deep in the stock dataset)."""
    from stadl_plugins.datasets.ava_io import write_label_map
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'work')
    bad = str(tmp_path / 'labels.pbtxt')
    write_label_map(bad, [(1, 'walk'), (95, 'far')])  # num_classes=81
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.label_file = bad
    with pytest.raises(AVAFormatError, match='label id 95 does not fit num_classes') \
            as err:
        DATASETS.build(ds_cfg)
    assert bad in str(err.value)
