"""Overrides as a newcomer types them: ``--cfg-options train_cfg.max_epochs=1`` still
validates, ``--data-root`` / ``data_root=`` move every path, ``custom_imports`` given
on the command line is imported, and ``tools/test.py --show-dir`` writes keyframes
with boxes for a detection config."""
import os
import os.path as osp
import subprocess
import sys

import pytest
from helpers import QUICKSTART_CONFIG, REPO
from mmengine.config import Config

from stadl_plugins.utils import _schedule_snapshot, apply_overrides, follow_max_epochs


def test_schedule_follows_max_epochs():
    cfg = Config.fromfile(QUICKSTART_CONFIG)
    assert cfg.train_cfg.val_begin == cfg.train_cfg.max_epochs == 15
    apply_overrides(cfg, {'train_cfg.max_epochs': 1})
    assert cfg.train_cfg.val_begin == cfg.train_cfg.val_interval == 1
    cosine = [s for s in cfg.param_scheduler if s.type == 'CosineAnnealingLR'][0]
    assert cosine.T_max == cosine.end == 1
    warmup = [s for s in cfg.param_scheduler if s.type == 'LinearLR'][0]
    assert warmup.end == 1  # its own value, not the file's max_epochs
    # longer: values that meant "at the end" move to the new end
    cfg = Config.fromfile(QUICKSTART_CONFIG)
    apply_overrides(cfg, {'train_cfg.max_epochs': 30})
    cosine30 = [s for s in cfg.param_scheduler if s.type == 'CosineAnnealingLR'][0]
    assert cfg.train_cfg.val_begin == 30 and cosine30.T_max == 30
    # an explicit override wins
    cfg = Config.fromfile(QUICKSTART_CONFIG)
    apply_overrides(cfg, {'train_cfg.max_epochs': 4, 'train_cfg.val_interval': 2,
                          'train_cfg.val_begin': 2})
    assert (cfg.train_cfg.val_begin, cfg.train_cfg.val_interval) == (2, 2)
    # unchanged max_epochs: nothing changes
    cfg = Config.fromfile(QUICKSTART_CONFIG)
    assert follow_max_epochs(cfg, _schedule_snapshot(cfg)) == []


def test_data_root_moves_every_path(tmp_path):
    for opts, flag in (({}, '/d/syn'), ({'data_root': '/d/syn'}, None)):
        cfg = Config.fromfile(QUICKSTART_CONFIG)
        apply_overrides(cfg, opts, data_root=flag)
        ds = cfg.train_dataloader.dataset
        assert cfg.data_root == '/d/syn'
        assert ds.ann_file.startswith('/d/syn/annotations/')
        assert ds.data_prefix.img == '/d/syn/rawframes'
        assert cfg.val_evaluator.ann_file.startswith('/d/syn/')
        assert cfg.test_dataloader.dataset.proposal_file.startswith('/d/syn/')
    cfg = Config.fromfile(QUICKSTART_CONFIG)
    apply_overrides(cfg, anno_root='/a', data_root='/d')
    assert cfg.train_dataloader.dataset.ann_file.startswith('/a/')
    assert cfg.train_dataloader.dataset.data_prefix.img == '/d/rawframes'
    with pytest.raises(KeyError, match='no data_root'):
        apply_overrides(Config(dict(a=1)), data_root='/x')


def test_custom_imports_from_cfg_options_are_imported(tmp_path, monkeypatch):
    (tmp_path / 'stadl_marker_mod.py').write_text('IMPORTED = True\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = Config.fromfile(QUICKSTART_CONFIG)
    apply_overrides(cfg, {'custom_imports.imports': ['stadl_plugins', 'stadl_marker_mod']})
    assert 'stadl_marker_mod' in sys.modules


def run(cmd, cwd, env=None):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, PYTHONWARNINGS='ignore', **(env or {})))
    out = res.stdout + res.stderr
    assert res.returncode == 0, f'{" ".join(cmd)} failed:\n{out[-4000:]}'
    return out


@pytest.mark.slow
def test_train_max_epochs_1_validates_then_test_show_dir(tiny_synthetic, tmp_path):
    """The file's schedule (15 epochs, validation at 15), overridden on the command
    line as a user would: trains 1 epoch, validates, then test --show-dir."""
    root, meta = tiny_synthetic
    (tmp_path / 'stadl_marker_cli.py').write_text(
        'import os\nopen(os.environ["STADL_MARKER"], "w").write("imported")\n')
    marker = tmp_path / 'marker.txt'
    env = dict(PYTHONPATH=str(tmp_path), STADL_MARKER=str(marker))
    data = []
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        data += [f'{dl}.dataset.timestamp_end={meta["timestamp_end"]}',
                 f'{dl}.num_workers=0', f'{dl}.persistent_workers=False']
    work = str(tmp_path / 'work')
    out = run([sys.executable, osp.join(REPO, 'tools', 'train.py'), QUICKSTART_CONFIG,
               '--work-dir', work, '--data-root', root, '--cfg-options',
               'train_cfg.max_epochs=1', 'train_dataloader.batch_size=4',
               'custom_imports.imports=[stadl_plugins,stadl_marker_cli]', *data],
              cwd=REPO, env=env)
    assert 'the schedule follows' in out and 'val_begin: 15 -> 1' in out
    assert 'Epoch(val)' in out and 'mAP/overall' in out
    assert marker.read_text() == 'imported'
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.exists(ckpt)
    vis = tmp_path / 'vis'
    out = run([sys.executable, osp.join(REPO, 'tools', 'test.py'), QUICKSTART_CONFIG,
               ckpt, '--work-dir', work, '--data-root', root, '--show-dir', str(vis),
               '--cfg-options', *data,
               'default_hooks.visualization.score_thr=0.0'], cwd=REPO)
    assert 'mAP/overall' in out
    pngs = sorted(os.listdir(vis))
    assert pngs and all(p.endswith('.png') for p in pngs)
    import cv2
    img = cv2.imread(str(vis / pngs[0]))
    assert img is not None and img.ndim == 3 and img.std() > 0
