"""UCF101-24/JHMDB-style (ACT pickle) datasets, the AVA test-set dataset, and a
real train + frame-/video-mAP evaluation on the synthetic ACT pickle."""
import os.path as osp
import pickle

import numpy as np
import pytest
from helpers import REPO, tiny_runner_config

ACT_CONFIG = osp.join(REPO, 'configs', 'baseline',
                      'slowonly_r18-tiny_4x2x1-15e_synthetic-act-rgb.py')


def _build(root, **kw):
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    cfg = dict(type='ACTDetectionDataset',
               ann_file=f'{root}/annotations/synthetic_gt.pkl',
               data_prefix=dict(img=f'{root}/rawframes'), filename_tmpl='img_{:05}.jpg',
               pipeline=[], gt_proposals=True)
    cfg.update(kw)
    return DATASETS.build(cfg)


def test_act_dataset_frames_labels_and_lengths(tiny_synthetic):
    root, meta = tiny_synthetic
    gt = pickle.load(open(f'{root}/annotations/synthetic_gt.pkl', 'rb'))
    train = _build(root, subset='train', frame_stride=5)
    videos = gt['train_videos'][0]
    # every sample: an annotated frame on the stride, inside its own video length
    for info in (train.get_data_info(i) for i in range(len(train))):
        assert info['video_id'] in videos
        assert (info['timestamp'] - 1) % 5 == 0
        assert info['total_frames'] == gt['nframes'][info['video_id']]
        assert len(info['gt_bboxes']) == len(info['gt_labels']) > 0
        assert info['gt_labels'][:, 0].sum() == 0  # no background label
        assert 0 <= info['gt_bboxes'].min() and info['gt_bboxes'].max() <= 1
        assert info['proposals'].shape == info['gt_bboxes'].shape
    # multi-label: a box shared by two tubes (walk + carry) carries both labels
    multi = [train.get_data_info(i)['gt_labels'].sum(1).max() for i in range(len(train))]
    assert max(multi) >= 2
    # the number of annotated frames on the stride matches the pickle
    expected = 0
    for v in videos:
        frames = {int(r[0]) for tubes in gt['gttubes'][v].values() for t in tubes for r in t}
        expected += sum((f - 1) % 5 == 0 for f in frames)
    assert len(train) == expected


def test_act_dataset_test_split_every_frame_and_errors(tiny_synthetic, tmp_path):
    root, meta = tiny_synthetic
    gt = pickle.load(open(f'{root}/annotations/synthetic_gt.pkl', 'rb'))
    v = gt['test_videos'][0][0]
    props = {f'{v},{f:05d}': np.array([[0.1, 0.1, 0.5, 0.9, 0.95]], np.float32)
             for f in range(1, 11)}
    pfile = tmp_path / 'props.pkl'
    pickle.dump(props, open(pfile, 'wb'))
    test = _build(root, subset='test', test_mode=True, gt_proposals=False,
                  proposal_file=str(pfile))
    # every frame of every test video, annotated or not
    assert len(test) == sum(gt['nframes'][v] for v in gt['test_videos'][0])
    assert test.missing_proposals == len(test) - 10
    info = test.get_data_info(0)
    assert info['timestamp'] == 1 and info['proposals'].shape == (1, 4)
    with pytest.raises(ValueError, match='split 2 does not exist'):
        _build(root, split=2)
    with pytest.raises(ValueError, match='proposal_file'):
        _build(root, gt_proposals=False)


def test_act_pipeline_reads_the_right_frames(tiny_synthetic):
    """Frame f of the GT is file img_{f:05}.jpg: the centre of the sampled clip."""
    root, _ = tiny_synthetic
    ds = _build(root, subset='train', frame_stride=5, pipeline=[
        dict(type='SampleAVAFrames', clip_len=1, frame_interval=1, test_mode=True),
        dict(type='RawFrameDecode')])
    import mmcv
    info = ds.get_data_info(3)
    out = ds[3]
    f = info['timestamp']
    want = mmcv.imread(osp.join(info['frame_dir'], f'img_{f:05d}.jpg'), channel_order='rgb')
    assert np.array_equal(out['imgs'][0], want)
    # clips near the video end stay inside the video
    last = _build(root, subset='train', frame_stride=1, pipeline=[
        dict(type='SampleAVAFrames', clip_len=8, frame_interval=4, test_mode=True)])
    for i in range(len(last)):
        r = last[i]
        assert r['frame_inds'].min() >= 0
        assert r['frame_inds'].max() + 1 <= r['total_frames']


@pytest.mark.slow
def test_act_config_trains_and_reports_video_map(tiny_synthetic, tmp_path):
    from mmengine.runner import Runner
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path, config=ACT_CONFIG)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.pop('timestamp_end')  # AVA-only key set by the helper
    cfg.val_dataloader.dataset.frame_stride = 2  # keep the CPU test short
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    for k in ('mAP/frameAP', 'mAP/v_map@0.2', 'mAP/v_map@0.5', 'mAP/v_map@0.75',
              'mAP/v_map_0.5:0.95'):
        assert k in metrics and 0.0 <= metrics[k] <= 100.0, (k, metrics)


@pytest.mark.slow
def test_ava_test_dataset_writes_a_valid_submission(tiny_synthetic, tmp_path):
    """Proposal-driven AVA test-set inference (no GT) -> a leaderboard CSV."""
    from mmengine.runner import Runner

    from stadl_plugins.evaluation import validate_ava_submission
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path)
    ds = cfg.test_dataloader.dataset
    ds.type = 'AVATestDataset'
    ds.ann_file = None
    ds.exclude_file = None
    ds.timestamp_min, ds.timestamp_max = 902, 904
    out = tmp_path / 'submission.csv'
    cfg.test_evaluator = dict(type='AVAFrameAPMetric', ann_file=None, exclude_file=None,
                              label_file=cfg.test_evaluator.label_file,
                              outfile=str(out), format_only=True)
    runner = Runner.from_cfg(cfg)
    dataset = runner.test_dataloader.dataset
    keys = pickle.load(open(ds.proposal_file, 'rb'))
    expected = sorted(k for k in keys if 902 <= int(k.split(',')[1]) <= 904)
    got = [dataset.get_data_info(i)['img_key'] for i in range(len(dataset))]
    assert sorted(got) == expected
    assert all(len(dataset.get_data_info(i)['gt_bboxes']) == 0 for i in range(len(dataset)))
    metrics = runner.test()
    rep = validate_ava_submission(str(out), cfg.test_evaluator.label_file,
                                  timestamp_range=(902, 904))
    assert metrics['mAP/submission_rows'] == rep.num_rows > 0
    assert rep.num_keyframes <= len(expected)


@pytest.mark.parametrize('name', ['baseline/slowonly_kinetics400-pretrained-r50_8xb16-8x2x1-10e_ucf24-rgb.py',
                                  'baseline/slowonly_kinetics400-pretrained-r50_8xb16-8x2x1-10e_jhmdb-split1-rgb.py'])
def test_ucf24_jhmdb_configs_run_on_the_synthetic_act_pickle(tiny_synthetic, name):
    """The real-dataset configs' datasets, pipelines and metric on data of the same schema."""
    from mmaction.registry import DATASETS, METRICS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    root, _ = tiny_synthetic
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    init_default_scope('mmaction')
    ann = f'{root}/annotations/synthetic_gt.pkl'
    for dl in ('train_dataloader', 'val_dataloader'):
        ds = cfg[dl].dataset
        ds.update(ann_file=ann, data_prefix=dict(img=f'{root}/rawframes'),
                  filename_tmpl='img_{:05}.jpg')
        if dl == 'val_dataloader':
            ds.update(proposal_file=None, gt_proposals=True)
        dataset = DATASETS.build(ds)
        sample = dataset[0]
        assert tuple(sample['inputs'].shape[:2]) == (3, 8)  # C, T of an 8x2 clip
        assert len(sample['data_samples'].proposals) > 0
    metric = METRICS.build(dict(cfg.val_evaluator, ann_file=ann))
    assert metric.videos
