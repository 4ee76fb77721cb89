"""Track features from a trained STAD model -> RecLNet: extraction (CLI and library)
equals a direct recomputation, labels agree with the GT, resume / interrupted runs,
flow streams, RecLNet trained through the Runner on the files, tubes -> video-mAP,
`mim train` on a RecLNet config."""
import importlib.util
import os
import os.path as osp
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO, tiny_runner_config

from stadl_plugins.apis.track_features import (
    TrackFeatureExtractor,
    densify_track_steps,
    extract_track_features,
    track_time_steps,
)
from stadl_plugins.datasets.track_windows import TrackWindowDataset, read_track_features
from stadl_plugins.tracking.linking import load_tracks

TOOL = osp.join(REPO, 'tools', 'reclnet', 'extract_track_features.py')
RECLNET_CONFIG = osp.join(REPO, 'configs', 'reclnet', 'reclnet-gru_tracks_30e_synthetic-rgb.py')
PWC_CONFIG = osp.join(REPO, 'configs', 'pwc_flow',
                      'pwc-two-stream_r18-tiny_3x2x1-15e_synthetic-rgb.py')


def _tool():
    spec = importlib.util.spec_from_file_location('extract_track_features', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def one_thread_module():
    """Tiny models run faster on one thread on the shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def trained(tiny_synthetic, tmp_path_factory, one_thread_module):
    """A tiny SlowOnly detector trained for one real epoch, its config file, and
    features along tracks linked from the dataset's proposals (through the CLI)."""
    from mmengine.runner import Runner
    root, meta = tiny_synthetic
    tmp = tmp_path_factory.mktemp('trackfeat')
    cfg = tiny_runner_config(root, meta, tmp / 'det', max_epochs=1)
    cfg.default_hooks.checkpoint.save_best = None
    cfg.train_cfg.val_begin = 2  # no validation pass: only the weights are needed
    Runner.from_cfg(cfg).train()
    ckpt = str(tmp / 'det' / 'epoch_1.pth')
    cfg.pop('work_dir')
    config_file = str(tmp / 'tiny_det.py')
    cfg.dump(config_file)
    gt_file = osp.join(root, 'annotations', 'synthetic_gt.pkl')
    out = str(tmp / 'features')
    tracks_file = str(tmp / 'tracks.pkl')
    rc = _tool().main([config_file, ckpt, out, '--gt', gt_file, '--save-tracks',
                       tracks_file, '--batch-size', '5', '--no-progress'])
    assert rc == 0
    with open(gt_file, 'rb') as f:
        gt = pickle.load(f)
    return dict(root=root, cfg=cfg, config=config_file, ckpt=ckpt, gt_file=gt_file, gt=gt,
                out=out, tracks=load_tracks(tracks_file), tracks_file=tracks_file, tmp=tmp)


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.slow
def test_files_shapes_labels_and_direct_recomputation(trained):
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    gt, tracks = trained['gt'], trained['tracks']
    videos = sorted(gt['nframes'])
    assert sorted(tracks) == videos and all(tracks[v] for v in videos)
    for v in videos:
        d = read_track_features(osp.join(trained['out'], f'{v}.npz'), ('rgb',))
        n = len(tracks[v])
        assert d['feat_rgb'].shape == (n, d['frames'].shape[1], 64)  # BBoxHeadAVA in_channels
        assert d['lengths'].tolist() == [len(t['frames']) for t in tracks[v]]
        assert int(d['frame_step']) == 1 and d['track_index'].tolist() == list(range(n))
        assert float(d['fps']) == 10  # the config dataset's fps (no --fps given)
        for k, tr in enumerate(tracks[v]):
            ln = len(tr['frames'])
            np.testing.assert_array_equal(d['frames'][k, :ln], tr['frames'])
            assert (d['frames'][k, ln:] == -1).all() and (d['labels'][k, ln:] == -1).all()
            np.testing.assert_allclose(d['boxes'][k, :ln], tr['boxes'])
            assert np.abs(d['feat_rgb'][k, :ln]).sum(1).min() > 0
            # labels vs a naive IoU loop over the GT boxes of each frame
            for j in range(ln):
                f, box, lab = tr['frames'][j], tr['boxes'][j], d['labels'][k, j]
                ious = {c: max((_iou(box, row[1:]) for tube in tubes for row in tube
                                if row[0] == f), default=0.0)
                        for c, tubes in gt['gttubes'][v].items()}
                if lab == 0:
                    assert all(i <= 0.3 for i in ious.values()), (v, f, ious)
                else:
                    assert ious[lab - 1] > 0.3 and ious[lab - 1] >= max(ious.values()) - 1e-9
    assert any((read_track_features(osp.join(trained['out'], f'{v}.npz'))['labels'] > 0).any()
               for v in videos)

    # one frame recomputed directly: frames read with OpenCV, normalised by hand,
    # backbone -> the model's RoI extractor -> the head's pooling on that box
    init_default_scope('mmaction')
    model = MODELS.build(trained['cfg'].model)
    load_checkpoint(model, trained['ckpt'], map_location='cpu', logger='silent')
    model.eval()
    v = videos[-1]
    k = 0
    tr = tracks[v][k]
    j = len(tr['frames']) // 2
    f = int(tr['frames'][j])
    frame_dir = osp.join(trained['root'], 'rawframes', v)
    clip = [cv2.imread(osp.join(frame_dir, f'img_{i:05d}.jpg'))[..., ::-1]
            for i in (f - 4, f - 2, f, f + 2)]  # clip_len 4, interval 2, f at index 2
    x = torch.from_numpy(np.stack(clip).astype(np.float32))           # (T, H, W, 3)
    mean = torch.tensor([123.675, 116.28, 103.53])
    std = torch.tensor([58.395, 57.12, 57.375])
    x = ((x - mean) / std).permute(3, 0, 1, 2)[None]                  # (1, 3, T, H, W)
    rois = torch.tensor([[0, *tr['boxes'][j]]], dtype=torch.float32)
    with torch.no_grad():
        fmap = model.backbone(x)
        pooled, _ = model.roi_head.bbox_roi_extractor(fmap, rois)
        head = model.roi_head.bbox_head
        ref = head.spatial_pool(head.temporal_pool(pooled)).flatten(1)[0].numpy()
    got = read_track_features(osp.join(trained['out'], f'{v}.npz'))['feat_rgb'][k, j]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    # and it is what the classifier reads: fc_cls on it gives the model's logits
    with torch.no_grad():
        logits = model.roi_head._bbox_forward(fmap, rois, [{}])['cls_score'][0]
        np.testing.assert_allclose(head.fc_cls(torch.from_numpy(got)[None])[0].numpy(),
                                   logits.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_resize_in_the_test_pipeline_scales_the_track_boxes(trained):
    # UCF101-24 configs resize in the test pipeline: boxes must follow the frames
    import mmcv
    cfg = trained['cfg'].copy()
    pipe = list(cfg.test_dataloader.dataset.pipeline)
    pipe.insert(2, dict(type='Resize', scale=(80, 60), keep_ratio=False))
    cfg.test_dataloader.dataset.pipeline = pipe
    ex = TrackFeatureExtractor(cfg, trained['ckpt'])
    v = sorted(trained['tracks'])[0]
    tr = trained['tracks'][v][0]
    d = ex.extract_video(osp.join(trained['root'], 'rawframes', v), [tr], every=16)
    f, box = int(d['frames'][0, 0]), d['boxes'][0, 0]
    clip = [mmcv.imresize(cv2.imread(osp.join(trained['root'], 'rawframes', v,
                                              f'img_{i:05d}.jpg'))[..., ::-1], (80, 60))
            for i in ex.clip_indices(f, trained['gt']['nframes'][v])]
    x = (torch.from_numpy(np.stack(clip).astype(np.float32))
         - torch.tensor([123.675, 116.28, 103.53])) / torch.tensor([58.395, 57.12, 57.375])
    rois = torch.tensor([[0, *(box * 0.5)]], dtype=torch.float32)
    model = ex.model
    with torch.no_grad():
        fmap = model.backbone(x.permute(3, 0, 1, 2)[None])
        ref = ex._pool(fmap, rois)[0].numpy()
    np.testing.assert_allclose(d['feat_rgb'][0, 0], ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d['boxes'][0, 0], tr['boxes'][track_time_steps(
        tr['frames'], 16)[0]])  # the file keeps the original-resolution boxes


@pytest.mark.slow
def test_every_n_frames_steps_and_densify(trained):
    assert track_time_steps(np.arange(3, 12), 4).tolist() == [0, 4, 8]  # frames 3, 7, 11
    assert track_time_steps(np.arange(4, 6), 4).tolist() == [0]         # short: middle
    ex = TrackFeatureExtractor(trained['config'], trained['ckpt'], batch_size=3)
    v = sorted(trained['tracks'])[0]
    tr = trained['tracks'][v][0]
    every1 = read_track_features(osp.join(trained['out'], f'{v}.npz'))
    d = ex.extract_video(osp.join(trained['root'], 'rawframes', v), [tr], every=4,
                         gttubes=trained['gt']['gttubes'][v])
    idx = track_time_steps(tr['frames'], 4)
    assert d['lengths'][0] == len(idx) and np.all(np.diff(d['frames'][0]) == 4)
    # the same frames give the same features whatever the step and batch
    np.testing.assert_allclose(d['feat_rgb'][0], every1['feat_rgb'][0, idx], atol=1e-5)
    np.testing.assert_array_equal(d['labels'][0], every1['labels'][0, idx])
    # per-step values spread back to every frame: nearest step, boxes interpolated
    vals = np.arange(3, dtype=np.float32).reshape(1, 3, 1)
    boxes = np.array([[[0, 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10]]], np.float32)
    dv, db, ln, st = densify_track_steps(vals, np.array([[3, 5, 7]]), boxes, np.array([3]))
    assert dv[0, :, 0].tolist() == [0, 0, 1, 1, 2] and ln.tolist() == [5]
    assert st.tolist() == [3] and db[0, :, 0].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_resume_skips_finished_and_redoes_interrupted(trained, tmp_path):
    ex = TrackFeatureExtractor(trained['config'], trained['ckpt'], batch_size=8)
    frames_root = osp.join(trained['root'], 'rawframes')
    out = str(tmp_path / 'feat')
    s1 = extract_track_features(ex, trained['tracks'], frames_root, out, gt=trained['gt'],
                                progress=False)
    videos = sorted(s1)
    assert all(s['status'] == 'written' for s in s1.values())
    paths = {v: osp.join(out, f'{v}.npz') for v in videos}
    mtimes = {v: os.stat(p).st_mtime_ns for v, p in paths.items()}
    before = {v: read_track_features(p)['feat_rgb'] for v, p in paths.items()}
    s2 = extract_track_features(ex, trained['tracks'], frames_root, out, gt=trained['gt'],
                                progress=False)
    assert all(s['status'] == 'skipped' for s in s2.values())
    assert {v: os.stat(p).st_mtime_ns for v, p in paths.items()} == mtimes
    # interrupted: video 0 only left its partial file; video 1 is truncated
    a, b, c = videos
    os.remove(paths[a])
    with open(osp.join(out, f'.{a}.npz.partial'), 'wb') as f:
        f.write(b'PK\x03\x04 half written')
    with open(paths[b], 'r+b') as f:
        f.truncate(os.path.getsize(paths[b]) // 2)
    msgs = []
    s3 = extract_track_features(ex, trained['tracks'], frames_root, out, gt=trained['gt'],
                                progress=False, log=msgs.append)
    assert [s3[v]['status'] for v in videos] == ['written', 'written', 'skipped']
    assert not osp.exists(osp.join(out, f'.{a}.npz.partial'))
    assert any('partial' in m for m in msgs) and any('incomplete' in m for m in msgs)
    assert os.stat(paths[c]).st_mtime_ns == mtimes[c]
    for v in (a, b):
        np.testing.assert_allclose(read_track_features(paths[v])['feat_rgb'], before[v])
    # the CLI on its own finished folder: all skipped, files and per-video records kept
    import json
    cli_out = trained['out']
    cli_mtimes = {p: os.stat(osp.join(cli_out, p)).st_mtime_ns for p in os.listdir(cli_out)
                  if p.endswith('.npz')}
    assert _tool().main([trained['config'], trained['ckpt'], cli_out, '--tracks',
                         trained['tracks_file'], '--no-progress']) == 0
    assert cli_mtimes == {p: os.stat(osp.join(cli_out, p)).st_mtime_ns for p in cli_mtimes}
    with open(osp.join(cli_out, 'extraction_summary.json')) as f:
        records = json.load(f)['videos']
    assert {r['status'] for r in records.values()} == {'written'}
    # --overwrite redoes everything; a glob of the folder sees no partial files
    s4 = extract_track_features(ex, trained['tracks'], frames_root, out, overwrite=True,
                                progress=False)
    assert all(s['status'] == 'written' for s in s4.values())
    assert sorted(os.listdir(out)) == sorted(f'{v}.npz' for v in videos)


@pytest.mark.slow
def test_class_slash_video_names_write_subfolders(trained, tmp_path):
    # UCF101-24 names videos 'class/video' (frames in <root>/class/video/)
    ex = TrackFeatureExtractor(trained['config'], trained['ckpt'])
    assert ex.filename_tmpl == 'img_{:05}.jpg'  # AVADataset's default
    v = sorted(trained['tracks'])[0]
    os.makedirs(tmp_path / 'frames')
    os.symlink(osp.join(trained['root'], 'rawframes'), tmp_path / 'frames' / 'Walk')
    out = str(tmp_path / 'feat')
    s = extract_track_features(ex, {f'Walk/{v}': trained['tracks'][v][:1]},
                               str(tmp_path / 'frames'), out, every=8, progress=False,
                               feature_dtype='float16')
    assert s[f'Walk/{v}']['status'] == 'written'
    assert os.listdir(osp.join(out, 'Walk')) == [f'{v}.npz']
    assert read_track_features(osp.join(out, 'Walk', f'{v}.npz'))['feat_rgb'].dtype == np.float16
    ds = TrackWindowDataset(out, window=4, videos=[f'Walk/{v}'])
    assert ds[0]['inputs']['rgb'].shape == (4, 64)
    assert ds[0]['inputs']['rgb'].dtype == torch.float32


@pytest.mark.parametrize('name', ['reclnet-gru_fc7-4096_30e_ucf24-rgb',
                                  'reclnet-fusion-layer_fc7-4096_30e_daly-rgb-flow'])
def test_paper_scale_configs_take_a_batch_of_100_windows(name, tiny_synthetic, tmp_path,
                                                         one_thread_module):
    # 4096-d files in the documented format stand in for user-extracted FC7
    from mmaction.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import default_collate
    from mmengine.registry import init_default_scope

    from stadl_plugins.datasets.track_windows import make_synthetic_track_features
    root, _ = tiny_synthetic
    gt_file = osp.join(root, 'annotations', 'synthetic_gt.pkl')
    with open(gt_file, 'rb') as f:
        gt = pickle.load(f)
    make_synthetic_track_features(gt, str(tmp_path), dim=4096, seed=0)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'reclnet', name + '.py'))
    assert cfg.train_dataloader.batch_size == 100
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.weight_decay == 5e-4
    ds_cfg = cfg.train_dataloader.dataset
    assert ds_cfg.window == 20 and set(cfg.model.in_channels.values()) == {4096}
    init_default_scope('mmaction')
    ds = DATASETS.build(dict(ds_cfg, feature_dir=str(tmp_path), gt_file=gt_file))
    batch = default_collate([ds[i % len(ds)] for i in range(100)])
    model = MODELS.build(cfg.model)
    model.train()
    loss = model(**batch, mode='loss')['loss_cls']
    loss.backward()
    assert torch.isfinite(loss)
    assert model(batch['inputs']).shape == (100, 20, cfg.model.num_classes + 1)


@pytest.mark.slow
def test_clear_errors(trained, tmp_path):
    ex = TrackFeatureExtractor(trained['config'], trained['ckpt'])
    v = sorted(trained['tracks'])[0]
    tr = dict(trained['tracks'][v][0])
    with pytest.raises(FileNotFoundError, match='no_such_video'):
        ex.extract_video(str(tmp_path / 'no_such_video'), [tr], video='no_such_video')
    bad = dict(tr, frames=tr['frames'] + 1000)
    with pytest.raises(ValueError, match=f'{v}.*outside 1..'):
        ex.extract_video(osp.join(trained['root'], 'rawframes', v), [bad], video=v)
    with pytest.raises(ValueError, match='reclnet-gru.*roi_head'):
        TrackFeatureExtractor(RECLNET_CONFIG, None)
    with pytest.raises(ValueError, match='flow'):
        TrackFeatureExtractor(trained['config'], None, streams=('rgb', 'flow'))
    # the CLI: exit status 2 and a message naming the file
    rc = _tool().main([trained['config'], str(tmp_path / 'missing.pth'), str(tmp_path / 'o'),
                       '--no-progress'])
    assert rc == 2


@pytest.mark.slow
def test_flow_stream_of_a_two_stream_model(trained, tmp_path):
    root = trained['root']
    meta = {'timestamp_end': trained['cfg'].val_dataloader.dataset.timestamp_end}
    cfg = tiny_runner_config(root, meta, tmp_path, config=PWC_CONFIG)
    ex = TrackFeatureExtractor(cfg, None, streams=('rgb', 'flow', 'fused'), batch_size=4)
    assert ex.available_streams == ('rgb', 'flow', 'fused') and ex.clip_len == 3
    v = sorted(trained['tracks'])[0]
    tr = trained['tracks'][v][0]
    d = ex.extract_video(osp.join(root, 'rawframes', v), [tr], every=8)
    n = d['lengths'][0]
    for s in ('rgb', 'flow', 'fused'):
        assert d[f'feat_{s}'].shape == (1, n, 64) and np.isfinite(d[f'feat_{s}']).all()
    assert not np.allclose(d['feat_rgb'], d['feat_flow'])
    # rgb stream = the inner backbone on the keyframe alone, pooled on the box
    model = ex.model
    f, box = int(d['frames'][0, 0]), d['boxes'][0, 0]
    img = cv2.imread(osp.join(root, 'rawframes', v, f'img_{f:05d}.jpg'))[..., ::-1]
    x = (torch.from_numpy(img.astype(np.float32)) - torch.tensor([123.675, 116.28, 103.53])) \
        / torch.tensor([58.395, 57.12, 57.375])
    with torch.no_grad():
        feats = model.backbone.backbone(x.permute(2, 0, 1)[None, :, None])
        ref = ex._pool(feats[model.backbone.out_scale],
                       torch.tensor([[0, *box]], dtype=torch.float32))[0].numpy()
    np.testing.assert_allclose(d['feat_rgb'][0, 0], ref, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_reclnet_trains_on_extracted_features_and_tubes_go_to_video_map(trained, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    from stadl_plugins.evaluation.functional.video_ap import video_map
    from stadl_plugins.localization.temporal import localize_tracks
    cfg = Config.fromfile(RECLNET_CONFIG)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.feature_dir = trained['out']
        cfg[dl].dataset.gt_file = trained['gt_file']
        cfg[dl].batch_size = 8
    cfg.model.update(in_channels=dict(rgb=64), fc_channels=32, memory=16)
    cfg.optim_wrapper.optimizer.lr = 5e-3
    cfg.train_cfg.update(max_epochs=15, val_begin=15, val_interval=15)
    cfg.default_hooks.logger.interval = 50
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=15)
    cfg.work_dir = str(tmp_path / 'reclnet')
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    assert isinstance(runner.train_dataloader.dataset, TrackWindowDataset)
    batch = next(iter(runner.train_dataloader))
    assert batch['inputs']['rgb'].shape[1:] == (20, 64)
    loss0 = runner.model(**batch, mode='loss')['loss_cls'].item()
    runner.train()
    loss1 = runner.model(**batch, mode='loss')['loss_cls'].item()
    assert loss1 < 0.7 * loss0, (loss0, loss1)
    metrics = runner.val()
    assert 0 <= metrics['track/frame_acc'] <= 100 and 'track/majority_acc' in metrics

    # whole val tracks -> scores -> (every-N densified) tubes -> video-mAP
    test_videos = trained['gt']['test_videos'][0]
    rows = [read_track_features(osp.join(trained['out'], f'{v}.npz')) for v in test_videos]
    t = max(r['frames'].shape[1] for r in rows)
    pad = lambda a, fill: np.concatenate(  # noqa: E731
        [np.pad(r[a], [(0, 0), (0, t - r[a].shape[1])] + [(0, 0)] * (r[a].ndim - 2),
                constant_values=fill) for r in rows])
    feats, frames, boxes = pad('feat_rgb', 0), pad('frames', -1), pad('boxes', 0)
    lengths = np.concatenate([r['lengths'] for r in rows])
    videos = [v for v, r in zip(test_videos, rows) for _ in r['lengths']]
    probs = runner.model.score_tracks({'rgb': feats}, lengths).numpy()  # (N, T, C+1)
    assert probs.shape == (len(lengths), t, 8)
    np.testing.assert_allclose(probs[0, :lengths[0]].sum(-1), 1, atol=1e-5)
    scores, dboxes, dlen, starts = densify_track_steps(probs[..., 1:], frames, boxes, lengths)
    assert {float(r['fps']) for r in rows} == {10.0}  # the detector config's dataset fps
    tubes = localize_tracks(scores, dboxes, dlen, starts, videos, fps=float(rows[0]['fps']))
    res = video_map(trained['gt'], tubes, test_videos, thresholds=(0.2, 0.5), ranges=())
    assert set(res) >= {'v_map@0.2', 'v_map@0.5'}
    assert all(0 <= x <= 100 for x in res.values()), res


@pytest.mark.slow
def test_mim_train_on_reclnet_config(trained, tmp_path):
    work = str(tmp_path / 'mim_reclnet')
    opts = [f'{dl}.dataset.{k}={val}' for dl in ('train_dataloader', 'val_dataloader',
                                                 'test_dataloader')
            for k, val in (('feature_dir', trained['out']), ('gt_file', trained['gt_file']))]
    opts += ['model.in_channels.rgb=64', 'model.fc_channels=16', 'model.memory=8',
             'train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'train_cfg.val_begin=2',
             'train_dataloader.batch_size=8']
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    res = subprocess.run([osp.join(osp.dirname(sys.executable), 'mim'), 'train',
                          'stadl_plugins', RECLNET_CONFIG, '--gpus', '0', '--work-dir', work,
                          '--cfg-options', *opts], cwd=str(tmp_path), capture_output=True,
                         text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert osp.exists(osp.join(work, 'epoch_2.pth'))
    logs = [osp.join(dp, fn) for dp, _, fns in os.walk(work) for fn in fns
            if fn.endswith('.log')]
    assert logs and any('track/frame_acc' in open(p).read() for p in logs)
