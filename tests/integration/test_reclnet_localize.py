"""tools/reclnet/localize.py: a trained RecLNet checkpoint + track feature files ->
tubes (threshold and Viterbi) -> video-mAP, tubes pickle and CSV, with a progress
bar; the same numbers as the steps written out by hand."""
import csv
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import REPO

from stadl_plugins.datasets.track_windows import make_synthetic_track_features, read_track_features

CONFIG = osp.join(REPO, 'configs', 'reclnet', 'reclnet-gru_tracks_30e_synthetic-rgb.py')
TOOL = osp.join(REPO, 'tools', 'reclnet', 'localize.py')
EPOCHS = 10


@pytest.fixture(scope='module')
def trained(tiny_synthetic, tmp_path_factory):
    from mmengine.config import Config
    from mmengine.runner import Runner
    root, meta = tiny_synthetic
    gt_file = osp.join(root, 'annotations', 'synthetic_gt.pkl')
    with open(gt_file, 'rb') as f:
        gt = pickle.load(f)
    tmp = tmp_path_factory.mktemp('reclnet_localize')
    feats = str(tmp / 'features')
    make_synthetic_track_features(gt, feats, dim=32, seed=0,
                                  fps=meta['config']['video']['fps'])
    cfg = Config.fromfile(CONFIG)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.feature_dir = feats
        cfg[dl].dataset.gt_file = gt_file
        cfg[dl].batch_size = 8
    cfg.model.update(fc_channels=32, memory=16)
    cfg.optim_wrapper.optimizer.lr = 5e-3
    cfg.train_cfg.max_epochs = EPOCHS
    cfg.train_cfg.val_begin = cfg.train_cfg.val_interval = EPOCHS
    cfg.default_hooks.logger.interval = 50
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=EPOCHS)
    cfg.work_dir = str(tmp / 'work')
    cfg.randomness = dict(seed=0)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
    finally:
        torch.set_num_threads(n)
    cfg_path = str(tmp / 'reclnet.py')
    cfg.dump(cfg_path)
    return dict(cfg=cfg_path, ckpt=osp.join(cfg.work_dir, f'epoch_{EPOCHS}.pth'), gt=gt,
                gt_file=gt_file, feats=feats, model=runner.model, tmp=tmp)


def by_hand(model, gt, feats, method):
    """The steps the tool replaces."""
    from stadl_plugins.datasets.track_feature_io import track_fps
    from stadl_plugins.evaluation.functional.video_ap import video_map
    from stadl_plugins.localization.temporal import localize_tracks
    videos = gt['test_videos'][0]
    tubes = {}
    for v in videos:
        d = read_track_features(osp.join(feats, f'{v}.npz'), ('rgb',))
        assert track_fps(d) == 10  # the synthetic videos' rate, stored in the file
        ln = d['lengths']
        probs = model.score_tracks({'rgb': d['feat_rgb'].astype(np.float32)}, ln).numpy()
        out = localize_tracks(probs[..., 1:], d['boxes'], ln, d['frames'][:, 0],
                              [v] * len(ln), method=method, fps=track_fps(d))
        for k, items in out.items():
            tubes.setdefault(k, []).extend(items)
    return tubes, video_map(gt, tubes, videos, thresholds=(0.2, 0.5), ranges=())


@pytest.mark.parametrize('method', ['threshold', 'viterbi'])
@pytest.mark.slow
def test_localize_cli_matches_the_steps_by_hand(trained, method, tmp_path):
    out_pkl, out_csv = str(tmp_path / 'tubes.pkl'), str(tmp_path / 'tubes.csv')
    res = subprocess.run(
        [sys.executable, TOOL, trained['cfg'], trained['ckpt'], '--method', method,
         '--out', out_pkl, '--csv', out_csv], cwd=REPO, capture_output=True, text=True,
        timeout=600, env=dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1'))
    assert res.returncode == 0, res.stdout + res.stderr
    assert 'tracks -> tubes' in res.stderr and 'video' in res.stderr   # progress bar
    if method == 'threshold':  # the 1-s window at the files' 10 fps
        assert 'median 1 s = 9 frames at 10 fps' in res.stdout, res.stdout
    printed = dict(line.split(': ') for line in res.stdout.splitlines()
                   if line.startswith('v_map@'))
    tubes_ref, map_ref = by_hand(trained['model'], trained['gt'], trained['feats'], method)
    assert set(printed) == {'v_map@0.2', 'v_map@0.5'}
    for k, v in map_ref.items():
        assert float(printed[k]) == pytest.approx(v, abs=0.006)
    with open(out_pkl, 'rb') as f:
        tubes = pickle.load(f)
    assert set(tubes) == set(tubes_ref)
    for k in tubes:
        assert sorted(s for _, s, _ in tubes[k]) == pytest.approx(
            sorted(s for _, s, _ in tubes_ref[k]))
    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(v) for v in tubes.values()) > 0
    assert rows[0]['name'] in trained['gt']['labels']
    assert int(rows[0]['last_frame']) >= int(rows[0]['first_frame'])


@pytest.mark.slow
def test_localize_cli_bad_input_exit_2(trained, tmp_path):
    res = subprocess.run([sys.executable, TOOL, trained['cfg'], trained['ckpt'],
                          '--feature-dir', str(tmp_path / 'nowhere')], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and 'feature folder' in res.stderr
    res = subprocess.run([sys.executable, TOOL, trained['cfg'], trained['ckpt'],
                          '--videos', 'no_such_video', '--gt', 'none'], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and 'without features' in res.stderr


def _untrained_reclnet(tmp_path, fps_in_file):
    """An untrained RecLNet checkpoint for the synthetic config and one feature file
    (with or without its fps): enough to test the window settings of the tool."""
    from stadl_plugins.datasets.track_feature_io import pack_track_features, write_track_file
    from stadl_plugins.models.localizers.reclnet import RecLNet
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'reclnet.pth')
    torch.save({'state_dict': RecLNet(7, {'rgb': 32}).state_dict()}, ckpt)
    feats = tmp_path / 'features'
    rng = np.random.default_rng(0)
    frames = [np.arange(1, 61), np.arange(11, 41)]
    write_track_file(str(feats / 'v.npz'), pack_track_features(
        frames, [np.tile([10.0, 10, 40, 50], (len(f), 1)) for f in frames],
        {'rgb': [rng.normal(size=(len(f), 32)) for f in frames]}, None,
        fps=fps_in_file))
    return ckpt, str(feats)


def _run_tool(config, ckpt, feats, *extra):
    """The tool's main() in this process (one import for all calls): rc, stdout, stderr."""
    import contextlib
    import importlib.util
    import io
    import types
    spec = importlib.util.spec_from_file_location('reclnet_localize_tool', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = mod.main([config, ckpt, '--feature-dir', feats, '--gt', 'none',
                           '--videos', 'v', '--no-progress', *extra])
        except SystemExit as e:  # argparse errors
            rc = e.code
    return types.SimpleNamespace(returncode=rc, stdout=out.getvalue(),
                                 stderr=err.getvalue())


def test_localize_cli_median_window_is_seconds_at_the_data_fps(tmp_path):
    ckpt, feats = _untrained_reclnet(tmp_path, fps_in_file=10)
    # the file's fps (10) turns the config's 1 s into 9 frames; --fps overrides it
    res = _run_tool(CONFIG, ckpt, feats)
    assert res.returncode == 0, res.stdout + res.stderr
    assert 'median 1 s = 9 frames at 10 fps' in res.stdout, res.stdout
    res = _run_tool(CONFIG, ckpt, feats, '--fps', '25', '--median-seconds', '2')
    assert res.returncode == 0 and 'median 2 s = 49 frames at 25 fps' in res.stdout, \
        res.stdout + res.stderr
    # frames instead of seconds; the old --window still works, with a warning
    res = _run_tool(CONFIG, ckpt, feats, '--median-frames', '25')
    assert res.returncode == 0 and 'median 25 frames' in res.stdout, res.stdout + res.stderr
    res = _run_tool(CONFIG, ckpt, feats, '--window', '25')
    assert res.returncode == 0 and 'median 25 frames' in res.stdout
    assert '--window is deprecated' in res.stderr
    res = _run_tool(CONFIG, ckpt, feats, '--window', '25', '--median-seconds', '1')
    assert res.returncode == 2 and 'not allowed with' in res.stderr


def test_localize_cli_without_any_fps_names_the_fixes(tmp_path):
    ckpt, feats = _untrained_reclnet(tmp_path, fps_in_file=None)
    # the synthetic config's fps = 10 is the fallback for a file without one
    res = _run_tool(CONFIG, ckpt, feats)
    assert res.returncode == 0 and '9 frames at 10 fps' in res.stdout, \
        res.stdout + res.stderr
    # no fps in the file nor in the config: exit 2 and the message says what to do
    res = _run_tool(CONFIG, ckpt, feats, '--cfg-options', 'fps=None')
    assert res.returncode == 2, res.stdout + res.stderr
    for fix in ('--fps', 'fps = N in the config', 'extract_track_features.py --fps',
                '--median-frames'):
        assert fix in res.stderr, res.stderr
    # Viterbi and a window in frames need no fps
    assert _run_tool(CONFIG, ckpt, feats, '--cfg-options', 'fps=None', '--method',
                     'viterbi').returncode == 0
    assert _run_tool(CONFIG, ckpt, feats, '--median-frames', '9', '--cfg-options',
                     'fps=None').returncode == 0


def test_localization_settings_viterbi_threshold_cli_over_config_over_default():
    import argparse
    import importlib.util
    spec = importlib.util.spec_from_file_location('_localize_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    base = dict(theta=None, top_k=None, nms=None, switch_penalty=None, median_frames=None,
                window=None, median_seconds=None, viterbi_threshold=None)
    args = argparse.Namespace(**base)
    assert tool.localization_settings(args, {})['viterbi_threshold'] == 0.5
    cfg = dict(localization=dict(viterbi_threshold=0.1))
    assert tool.localization_settings(args, cfg)['viterbi_threshold'] == 0.1
    args = argparse.Namespace(**dict(base, viterbi_threshold=0.05))
    assert tool.localization_settings(args, cfg)['viterbi_threshold'] == 0.05
    assert tool.parse_args(['c.py', 'k.pth', '--viterbi-threshold', '0.2']
                           ).viterbi_threshold == 0.2
    args = argparse.Namespace(**dict(base, viterbi_threshold=1.5))
    with pytest.raises(ValueError, match=r'viterbi_threshold must be in \(0, 1\)'):
        tool.localization_settings(args, {})
