"""RecLNet track head: GRU stack, labels, fusion variants, Runner training, tubes -> video-mAP."""
import os
import pickle

import numpy as np
import pytest
import torch
from helpers import REPO

import stadl_plugins  # noqa: F401
from stadl_plugins.datasets.track_windows import (
    TrackWindowDataset,
    frame_labels_from_gt,
    make_synthetic_track_features,
    read_track_features,
)
from stadl_plugins.models.localizers.reclnet import RecLNet, RecLNetStream

CONFIG = os.path.join(REPO, 'configs', 'reclnet',
                      'reclnet-gru_tracks_30e_synthetic-rgb.py')
FUSION_CONFIG = os.path.join(REPO, 'configs', 'reclnet',
                             'reclnet-fusion-layer_tracks_30e_synthetic-rgb-flow.py')


def test_gru_stack_equals_step_by_step_reference():
    torch.manual_seed(0)
    s = RecLNetStream(6, num_classes=3, fc_channels=8, memory=5)
    x = torch.randn(2, 7, 6)
    mem = s.memory_features(x)  # (2, 7, 10)

    def step(gru, xt, h):  # nn.GRU equations written out
        wi, wh, bi, bh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
        gi, gh = xt @ wi.T + bi, h @ wh.T + bh
        r = torch.sigmoid(gi[:, :5] + gh[:, :5])
        z = torch.sigmoid(gi[:, 5:10] + gh[:, 5:10])
        n = torch.tanh(gi[:, 10:] + r * gh[:, 10:])
        return (1 - z) * n + z * h

    u = torch.relu(s.fc_norm(x))
    h1 = h2 = torch.zeros(2, 5)
    for t in range(7):
        h1 = step(s.layer1, u[:, t], h1)
        h2 = step(s.layer2, h1, h2)
        torch.testing.assert_close(mem[:, t], torch.cat([h1, h2], 1), atol=1e-5, rtol=1e-5)
    # a 2-layer nn.GRU with the same weights returns only the top layer (h2)
    g2 = torch.nn.GRU(8, 5, num_layers=2, batch_first=True)
    with torch.no_grad():
        for k, layer in enumerate((s.layer1, s.layer2)):
            for name in ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'):
                getattr(g2, f'{name}_l{k}').copy_(getattr(layer, f'{name}_l0'))
    top, _ = g2(u)
    assert top.shape[-1] == 5
    torch.testing.assert_close(top, mem[..., 5:], atol=1e-5, rtol=1e-5)


def test_fc_baseline_parameter_count_and_cells():
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    gru = RecLNetStream(4096, 24)
    fc = RecLNetStream(4096, 24, cell='fc')
    assert abs(n(fc) - n(gru)) / n(gru) < 0.01
    lstm = RecLNetStream(16, 3, 8, 4, cell='lstm')
    assert lstm(torch.randn(2, 5, 16))[0].shape == (2, 5, 4)
    with pytest.raises(ValueError, match='cell'):
        RecLNetStream(4, 2, cell='rnn')


def test_frame_labels_from_iou():
    boxes = np.array([[0, 0, 10, 10]] * 4, np.float32)
    frames = np.array([1, 2, 3, 4])
    gt = {0: [np.array([[1, 0, 0, 10, 10], [2, 0, 0, 10, 10], [3, 0, 0, 10, 10]], np.float32)],
          1: [np.array([[2, 0, 0, 10, 10]], np.float32),       # same box, shorter tube
              np.array([[3, 0, 0, 10, 3.2]], np.float32)],     # IoU 0.32 > 0.3 but less
          2: [np.array([[4, 0, 0, 10, 2.9]], np.float32)]}     # IoU 0.29: background
    assert frame_labels_from_gt(boxes, frames, gt).tolist() == [1, 2, 1, 0]


@pytest.mark.slow
def test_fusion_variants():
    torch.manual_seed(0)
    x = {'rgb': torch.randn(3, 6, 10), 'flow': torch.randn(3, 6, 12)}
    labels = torch.randint(-1, 4, (3, 6))
    kw = dict(num_classes=3, in_channels=dict(rgb=10, flow=12), fc_channels=8, memory=4)
    avg = RecLNet(fusion='average', **kw)
    ref = 0.5 * (torch.softmax(avg.streams['rgb'](x['rgb'])[0], -1)
                 + torch.softmax(avg.streams['flow'](x['flow'])[0], -1))
    torch.testing.assert_close(avg(x), ref)
    for fusion in ('gating', 'fusion_layer'):
        m = RecLNet(fusion=fusion, freeze_streams=True, **kw)
        m.train()
        loss = m(x, labels, mode='loss')['loss_cls']
        loss.backward()
        assert all(p.grad is None for p in m.streams.parameters())  # frozen streams
        trained = [p for n_, p in m.named_parameters() if not n_.startswith('streams')]
        assert trained and all(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
        assert m(x).shape == (3, 6, 4)
    with pytest.raises(ValueError, match='fusion'):
        RecLNet(num_classes=3, in_channels=dict(rgb=10, flow=12))
    with pytest.raises(KeyError, match='flow'):
        avg({'rgb': x['rgb']})



def test_stream_checkpoints_load_strictly_and_name_the_fix(tmp_path):
    torch.manual_seed(0)
    kw = dict(num_classes=3, fc_channels=8, memory=4)
    single = RecLNet(in_channels=dict(rgb=10), **kw)
    path = str(tmp_path / 'rgb.pth')
    torch.save({'state_dict': single.state_dict(), 'meta': {}}, path)
    fused = RecLNet(in_channels=dict(rgb=10, flow=12), fusion='fusion_layer',
                    stream_checkpoints=dict(rgb=path), **kw)
    for k, v in single.streams['rgb'].state_dict().items():
        torch.testing.assert_close(fused.streams['rgb'].state_dict()[k], v, msg=k)
    # the flow stream is not in an RGB run's checkpoint: the fix is named
    with pytest.raises(KeyError, match="stream_checkpoints\\['flow'\\] must be"):
        RecLNet(in_channels=dict(rgb=10, flow=12), fusion='average',
                stream_checkpoints=dict(flow=path), **kw)
    # a stream of another width: the shapes are named, nothing half-loaded
    with pytest.raises(ValueError, match='differ in shape'):
        RecLNet(in_channels=dict(rgb=16, flow=12), fusion='average',
                stream_checkpoints=dict(rgb=path), **kw)
    with pytest.raises(KeyError, match='not in'):
        fused.load_streams(dict(depth=path))

@pytest.fixture(scope='module')
def track_features(tiny_synthetic, tmp_path_factory):
    root, meta = tiny_synthetic
    gt_file = os.path.join(root, 'annotations', 'synthetic_gt.pkl')
    with open(gt_file, 'rb') as f:
        gt = pickle.load(f)
    out = str(tmp_path_factory.mktemp('track_features'))
    tracks = make_synthetic_track_features(gt, out, dim=32, seed=0,
                                           fps=meta['config']['video']['fps'])
    return gt_file, gt, out, tracks


def test_track_window_dataset(track_features):
    gt_file, gt, out, _ = track_features
    ds = TrackWindowDataset(out, streams=('rgb', 'flow'), window=20, gt_file=gt_file,
                            split='test')
    data = read_track_features(os.path.join(out, gt['test_videos'][0][0] + '.npz'))
    n_win = sum(-(-int(ln) // 20) for ln in data['lengths'])
    assert len(ds) == n_win and n_win > 0
    item = ds[0]
    assert item['inputs']['rgb'].shape == (20, 32) and item['labels'].shape == (20,)
    assert (data['labels'] > 0).any()  # the synthetic tracks carry action labels
    assert float(data['fps']) == 10  # the videos' frame rate, for the median window
    with pytest.raises(KeyError, match='feat_depth'):
        TrackWindowDataset(out, streams=('depth',))


def test_configs_give_the_median_window_in_seconds():
    import glob

    from mmengine.config import Config

    from stadl_plugins.localization.temporal import median_window_frames
    paths = sorted(glob.glob(os.path.join(REPO, 'configs', 'reclnet', '*.py')))
    assert len(paths) >= 10
    expected_fps = dict(synthetic=10, ucf24=25, daly=None)
    for path in paths:
        cfg = Config.fromfile(path)
        loc = cfg.localization
        assert loc.median_seconds == 1.0, path  # the paper's 25 frames at 25 fps
        assert 'median_frames' not in loc and 'window' not in loc, path
        assert loc.method == 'threshold' and loc.theta == 0.1, path
        dataset = next(k for k in expected_fps if f'_{k}-' in os.path.basename(path))
        assert cfg.fps == expected_fps[dataset], (path, cfg.fps)
    # the synthetic generator's videos are the 10 fps of the synthetic configs
    from stadl_plugins.datasets.synthetic.video import VideoConfig
    assert VideoConfig().fps == 10
    assert median_window_frames(1.0, 10) == 9 and median_window_frames(1.0, 25) == 25


def _runner_cfg(config, out, gt_file, work_dir, epochs):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.feature_dir = out
        cfg[dl].dataset.gt_file = gt_file
        cfg[dl].batch_size = 8
    cfg.model.update(fc_channels=32, memory=16)  # paper: 1024, 256
    cfg.optim_wrapper.optimizer.lr = 5e-3
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_begin = cfg.train_cfg.val_interval = epochs
    cfg.default_hooks.logger.interval = 50
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.fixture
def one_thread():
    """Tiny GRUs run faster on one thread; with more, a busy 2-core machine stalls."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.slow
def test_runner_trains_reclnet_and_tubes_go_to_video_map(track_features, tmp_path, one_thread):
    from mmengine.runner import Runner

    from stadl_plugins.evaluation.functional.video_ap import video_map
    from stadl_plugins.localization.temporal import localize_tracks
    from stadl_plugins.tracking.linking import tracks_to_arrays
    gt_file, gt, out, tracks = track_features
    cfg = _runner_cfg(CONFIG, out, gt_file, tmp_path / 'rgb', epochs=25)
    runner = Runner.from_cfg(cfg)
    batch = next(iter(runner.train_dataloader))
    loss0 = runner.model(**batch, mode='loss')['loss_cls'].item()
    runner.train()
    loss1 = runner.model(**batch, mode='loss')['loss_cls'].item()
    metrics = runner.val()
    assert loss1 < 0.7 * loss0
    # learned, not chance: above always predicting the most frequent label
    assert metrics['track/frame_acc'] > metrics['track/majority_acc'] + 10, metrics

    # whole val tracks -> per-frame scores -> threshold sub-tracks -> video-mAP
    test_videos = gt['test_videos'][0]
    sub = {v: tracks[v] for v in test_videos}
    boxes, lengths, starts, videos, index = tracks_to_arrays(sub)
    feats = np.zeros((len(index), boxes.shape[1], 32), np.float32)
    for i, (v, k) in enumerate(index):
        d = read_track_features(os.path.join(out, f'{v}.npz'), ('rgb',))
        feats[i, :lengths[i]] = d['feat_rgb'][k, :lengths[i]]
    probs = runner.model.score_tracks({'rgb': feats}, lengths).numpy()  # (N, T, C+1)
    fps = float(read_track_features(os.path.join(out, f'{test_videos[0]}.npz'))['fps'])
    tubes = localize_tracks(probs[..., 1:], boxes, lengths, starts, videos, fps=fps)
    res = video_map(gt, tubes, test_videos, thresholds=(0.2, 0.5), ranges=())
    print('video-mAP', res)
    assert res['v_map@0.2'] > 30, res
    viterbi = localize_tracks(probs[..., 1:], boxes, lengths, starts, videos, method='viterbi')
    assert set(viterbi) <= set(range(len(gt['labels'])))

    # fusion layer on top of the frozen RGB stream (flow stream from scratch here)
    ckpt = os.path.join(str(tmp_path / 'rgb'), 'epoch_25.pth')
    fcfg = _runner_cfg(FUSION_CONFIG, out, gt_file, tmp_path / 'fusion', epochs=3)
    fcfg.model.stream_checkpoints = dict(rgb=ckpt)
    frunner = Runner.from_cfg(fcfg)
    before = {k: v.clone() for k, v in frunner.model.streams.state_dict().items()}
    torch.testing.assert_close(before['rgb.classifier.weight'],
                               runner.model.streams['rgb'].classifier.weight)
    frunner.train()
    after = frunner.model.streams.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # streams stayed frozen
    assert frunner.val()['track/frame_acc'] > 0
